"""Training plans: CP-SAT against the exhaustive oracle, limits respected, infeasibility explained, plans verified."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.api import load_scenario
from planner.errors import InfeasibleError, VerificationError
from planner.memory.parameters import count_parameters
from planner.memory.training import TrainingRecipe
from planner.performance.training_flops import attention_flops_per_token_forward, matmul_parameters, training_flops_per_token
from planner.pipeline.training import build_training_plan, prepare_training, solve_training
from planner.schema import validate_scenario
from planner.solver.training_cpsat import solve_training_cpsat
from planner.solver.training_problem import Choice, TrainingProblem, TrainingRow, solve_exhaustive
from planner.verify.training import verify_training_plan
from tests.conftest import SCENARIOS

TRAINING_EXAMPLES = sorted(SCENARIOS.glob("training-*.yaml"))


def training(**fields):
    base = {"kind": "training", "model": "llama-3.1-8b", "gpus": ["h100-sxm", "a100-80gb"],
            "data": {"tokens": 1e9, "sequence_length": 4096, "global_batch_sequences": 64},
            "parallelism": {"tp": [1, 2, 4], "pp": [1, 2], "zero_stages": [0, 1, 3], "max_gpus": 16}}
    base.update(fields)
    return validate_scenario(base)


# ------------------------------------------------------------------ CP-SAT equals the oracle


@pytest.mark.parametrize("path", TRAINING_EXAMPLES, ids=lambda p: p.name)
def test_cpsat_finds_the_exhaustive_optimum_on_every_example(path):
    problem = prepare_training(load_scenario(path)).problem()
    oracle, cpsat = solve_exhaustive(problem), solve_training_cpsat(problem)
    assert cpsat.status == "optimal"
    assert cpsat.objective == oracle.objective
    assert cpsat.choice == oracle.choice  # same lexicographic tie-breaks, so the same plan


@pytest.mark.parametrize("objective", ["cost", "time"])
def test_cpsat_equals_the_oracle_with_deadline_budget_and_inventory(objective):
    scenario = training(objective=objective, deadline_hours=30, budget={"max_usd": 400}, inventory={"h100-sxm": 4})
    problem = prepare_training(scenario).problem()
    oracle, cpsat = solve_exhaustive(problem), solve_training_cpsat(problem)
    assert cpsat.objective == oracle.objective and cpsat.choice == oracle.choice


@pytest.mark.parametrize("objective", ["cost", "time"])
def test_pruning_dominated_choices_keeps_the_optimum_and_the_plan(objective):
    scenario = training(deadline_hours=40, objective=objective, inventory={"h100-sxm": 8})
    pruned = prepare_training(scenario)
    full = prepare_training(scenario, prune=False)
    assert len(pruned.candidates) < len(full.candidates) / 4
    unpruned = solve_exhaustive(full.problem())
    assert solve_training_cpsat(pruned.problem()).choice == unpruned.choice


def rows_strategy():
    """Layouts whose job times and costs are floats with ties and neighbours one ulp apart (what rounding would merge)."""
    near = st.sampled_from([1000.0, 1000.0000000000001, 1000.0000000000002, 999.9999999999999, 1200.5, 3600.0])
    row = st.fixed_dictionaries({
        "gpu": st.sampled_from(["a", "b"]), "gpus": st.sampled_from([1, 2, 4, 8]),
        "sizes": st.lists(st.sampled_from([1, 2, 4]), min_size=1, max_size=3, unique=True),
        "memory": st.lists(st.integers(0, 80), min_size=3, max_size=3), "limit": st.integers(40, 80),
        "seconds": st.lists(near, min_size=3, max_size=3), "cost": st.lists(near, min_size=3, max_size=3)})
    return st.lists(row, min_size=1, max_size=7)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows_strategy(), st.one_of(st.none(), st.sampled_from([0.2777777777777778, 0.3, 1 / 3.6, 1.0])),
       st.one_of(st.none(), st.sampled_from([1000.0, 1000.0000000000001, 1200.5])),
       st.one_of(st.none(), st.integers(1, 8)), st.sampled_from(["cost", "time"]),
       st.one_of(st.none(), st.sampled_from([1000.0, 1000.0000000000001, 1200.5])))
def test_cpsat_matches_brute_force_on_random_small_problems(rows, deadline, budget, stock, objective, faster_than):
    """``faster_than`` is the Pareto sweep's strict bound on the job's seconds."""
    problem = TrainingProblem(
        tuple(TrainingRow(f"r{i}", r["gpu"], r["gpus"], 10 * r["gpus"], tuple(sorted(r["sizes"])),
                          tuple(r["memory"][:len(r["sizes"])]), r["limit"], tuple(r["seconds"][:len(r["sizes"])]),
                          tuple(r["cost"][:len(r["sizes"])]), i) for i, r in enumerate(rows)),
        deadline, budget, None, {"a": stock} if stock is not None else {}, objective, faster_than)
    oracle = solve_exhaustive(problem)
    for tighten in (True, False):  # untightened, the posted constraints alone must exclude what breaks a limit
        cpsat = solve_training_cpsat(problem, tighten=tighten)
        assert cpsat.status == oracle.status
        assert cpsat.objective == oracle.objective and cpsat.choice == oracle.choice


# ------------------------------------------------------------------ the plan respects every limit


def test_plan_respects_batch_divisibility_and_pipeline_depth():
    plan = solve_training(training()).plans[0]
    lay = plan.layout
    assert 64 % (lay.dp * lay.micro_batch) == 0
    assert lay.num_microbatches == 64 // (lay.dp * lay.micro_batch) and lay.num_microbatches >= lay.pp


def test_inventory_caps_the_gpus_of_a_type():
    plan = solve_training(training(gpus=["h100-sxm"], inventory={"h100-sxm": 4}, objective="time")).plans[0]
    assert plan.layout.gpus <= 4


def test_deadline_forces_a_dearer_gpu_when_stock_is_short():
    """70B example: 128 H100s would take 551 h; the 504 h deadline moves the job to 256 H200s at a higher cost."""
    scenario = load_scenario(SCENARIOS / "training-llama-3.1-70b-pretraining.yaml")
    with_deadline = solve_training(scenario).plans[0]
    without = solve_training(scenario.model_copy(update={"deadline_hours": None})).plans[0]
    assert with_deadline.time.hours <= 504 < without.time.hours
    assert without.time.cost_usd < with_deadline.time.cost_usd
    assert with_deadline.layout.gpus >= 100


def test_time_objective_is_never_slower_and_cost_objective_never_dearer():
    fast = solve_training(training(objective="time")).plans[0]
    cheap = solve_training(training(objective="cost")).plans[0]
    assert fast.time.total_seconds <= cheap.time.total_seconds
    assert cheap.time.cost_usd <= fast.time.cost_usd


def test_budget_per_hour_limits_the_cluster_size():
    plan = solve_training(training(objective="time", budget={"max_usd_per_hour": 20})).plans[0]
    assert plan.time.usd_per_hour <= 20


def test_same_scenario_gives_the_same_plan_twice():
    first = solve_training(training(deadline_hours=40)).to_dict()
    second = solve_training(training(deadline_hours=40)).to_dict()
    first["solver"].pop("wall_time_s"), second["solver"].pop("wall_time_s")
    assert first == second


# ------------------------------------------------------------------ infeasibility and verification


def test_impossible_deadline_names_the_deadline_and_what_would_suffice():
    with pytest.raises(InfeasibleError) as caught:
        solve_training(training(deadline_hours=0.5))
    error = caught.value
    assert "deadline" in error.message
    assert any(i.field_path == "deadline_hours" and "would suffice" in (i.suggestion or "") for i in error.issues)


def test_budget_below_the_cheapest_plan_names_the_budget():
    with pytest.raises(InfeasibleError) as caught:
        solve_training(training(budget={"max_usd": 5}))
    assert "budget" in caught.value.message


def test_model_that_fits_nowhere_reports_the_closest_miss():
    scenario = training(model="llama-3.1-70b", gpus=["rtx-4090"],
                        parallelism={"tp": [1], "pp": [1], "zero_stages": [0], "recompute": ["none"], "max_gpus": 8})
    with pytest.raises(InfeasibleError) as caught:
        solve_training(scenario)
    assert "no layout fits" in caught.value.message and "GiB more" in caught.value.message
    assert any("ZeRO stage 3" in i.message for i in caught.value.issues)


def test_verification_rejects_a_plan_that_does_not_fit():
    prepared = prepare_training(training())
    plan = solve_training(training()).plans[0]
    tampered = replace(plan, layout=replace(plan.layout, micro_batch=64, num_microbatches=1))
    with pytest.raises(VerificationError):
        verify_training_plan(tampered, prepared.context, prepared.limits)


def test_verification_rejects_a_plan_over_the_deadline():
    prepared = prepare_training(training())
    plan = build_training_plan(prepared, Choice(prepared.candidates[0].key, prepared.candidates[0].micro_batches[0]), "optimal")
    tight = replace(prepared.limits, deadline_hours=plan.time.hours / 2)
    with pytest.raises(VerificationError):
        verify_training_plan(plan, prepared.context, tight)


# ------------------------------------------------------------------ FLOPs


def test_training_flops_are_6n_plus_attention_12lhqt(catalog):
    """PaLM Appendix B: 6N + 12·L·H·Q·T per token."""
    arch = catalog.architecture("llama-3.1-8b")
    n = count_parameters(arch).total - arch.vocab_size * arch.hidden_size  # the LM head multiplies, the lookup does not
    assert matmul_parameters(arch) == n
    expected = 6 * n + 12 * 32 * 32 * 128 * 8192
    assert training_flops_per_token(arch, TrainingRecipe(), 8192, "none") == expected


def test_full_recomputation_costs_a_second_forward_pass(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    plain = training_flops_per_token(arch, TrainingRecipe(), 4096, "none")
    full = training_flops_per_token(arch, TrainingRecipe(), 4096, "full")
    assert full == pytest.approx(plain * 4 / 3)


def test_moe_training_counts_active_parameters_only(catalog):
    arch = catalog.architecture("mixtral-8x7b")
    counts = count_parameters(arch)
    flops = training_flops_per_token(arch, TrainingRecipe(), 4096, "none")
    assert flops < 6 * counts.total / 2
    assert flops == 6 * (counts.active - arch.vocab_size * arch.hidden_size) + 3 * attention_flops_per_token_forward(arch, 4096)


def test_lora_skips_the_frozen_weight_gradients(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    full = training_flops_per_token(arch, TrainingRecipe(), 4096, "none")
    lora = training_flops_per_token(arch, TrainingRecipe(method="lora"), 4096, "none")
    adapters = 6_815_744  # r = 16 on q_proj and v_proj
    assert full - lora == 2 * matmul_parameters(arch) - 6 * adapters  # no 2N weight-gradient pass for the base


def test_solve_scenario_from_python_solves_a_training_scenario_too():
    from planner.api import solve_scenario
    from planner.plans.training import TrainingSolveReport

    report = solve_scenario(load_scenario(SCENARIOS / "training-llama-3.1-8b-lora-consumer-gpu.yaml"))
    assert isinstance(report, TrainingSolveReport) and report.plans[0].to_dict()["gpus"] >= 1
