"""CP-SAT plans: optimal against the exhaustive enumerator, mixed when cheaper, honest when infeasible."""

import pytest

from planner.api import solve_scenario
from planner.errors import InfeasibleError
from planner.pipeline.serving import prepare, solve_prepared
from planner.schema import validate_scenario
from planner.solver.cpsat import solve_cpsat
from planner.solver.enumerate import solve_enumerate
from planner.solver.problem import Problem, Row


def scenario(**fields):
    base = {"model": "llama-3.1-8b", "workload": {"concurrency": 16, "context_tokens": 4096}}
    base.update(fields)
    return validate_scenario(base)


HOMOGENEOUS = [
    dict(model="llama-3.1-8b", gpus=["l4", "a10g", "rtx-4090"], workload={"concurrency": 40, "context_tokens": 4096}),
    dict(model="llama-3.1-70b", precisions=["bf16", "fp8"], gpus=["h100-sxm", "a100-80gb", "l40s"],
         workload={"concurrency": 100, "context_tokens": 8192}),
    dict(model="mixtral-8x7b", precisions=["bf16", "int4-awq"], gpus=["a100-80gb", "l40s"],
         workload={"concurrency": 64, "context_tokens": 2048}),
    dict(model="qwen2.5-72b-instruct", gpus=["h200", "h100-sxm"], inventory={"h200": 4},
         workload={"concurrency": 32, "context_tokens": 16384}),
]


@pytest.mark.parametrize("fields", HOMOGENEOUS)
def test_cpsat_homogeneous_optimum_equals_the_enumerator(fields):
    prepared = prepare(scenario(**fields))
    problem = prepared.problem(mixed_fleet=False)
    exhaustive = solve_enumerate(problem)
    cpsat = solve_cpsat(problem)
    assert cpsat.status == "optimal"
    assert cpsat.objective_micro_usd == exhaustive.objective_micro_usd


@pytest.mark.parametrize("fields", HOMOGENEOUS)
def test_mixed_fleet_is_never_dearer_than_homogeneous(fields):
    prepared = prepare(scenario(**fields))
    mixed = solve_cpsat(prepared.problem(mixed_fleet=True))
    single = solve_cpsat(prepared.problem(mixed_fleet=False))
    assert mixed.objective_micro_usd <= single.objective_micro_usd


def test_inventory_forces_a_mix_of_gpu_types():
    s = scenario(model="llama-3.1-70b", precisions=["bf16"], gpus=["h100-sxm", "a100-80gb"],
                 inventory={"h100-sxm": 8, "a100-80gb": 8}, workload={"concurrency": 300, "context_tokens": 8192})
    plan = solve_scenario(s).plans[0]
    assert {g.candidate.gpu.id for g in plan.groups} == {"h100-sxm", "a100-80gb"}
    used = {}
    for g in plan.groups:
        used[g.candidate.gpu.id] = used.get(g.candidate.gpu.id, 0) + g.gpus
    assert used["h100-sxm"] <= 8 and used["a100-80gb"] <= 8


def test_plan_covers_demand_and_respects_budget():
    s = scenario(gpus=["l4", "a10g"], budget={"max_usd_per_hour": 50}, workload={"concurrency": 64, "context_tokens": 4096})
    plan = solve_scenario(s).plans[0]
    assert plan.concurrency == 64
    assert plan.cost_usd_per_hour <= 50


def test_budget_infeasible_names_the_budget_that_would_suffice():
    s = scenario(model="llama-3.1-405b", gpus=["h100-sxm"], budget={"max_usd_per_hour": 10})
    with pytest.raises(InfeasibleError) as caught:
        solve_scenario(s)
    text = caught.value.render()
    assert "budget" in text and "would suffice" in text


def test_model_too_big_for_any_gpu_reports_the_shortfall():
    s = scenario(model="llama-3.1-405b", precisions=["bf16"], gpus=["rtx-4090"], parallelism={"tp": [1], "pp": [1]})
    with pytest.raises(InfeasibleError) as caught:
        solve_scenario(s)
    assert "GiB more per GPU" in caught.value.message


def test_headroom_is_kept_on_every_gpu():
    s = scenario(gpus=["l4", "a10g", "l40s"], min_headroom=0.3, workload={"concurrency": 50, "context_tokens": 4096})
    plan = solve_scenario(s).plans[0]
    assert plan.min_headroom_fraction >= 0.3


def test_same_input_gives_identical_output():
    s = scenario(model="llama-3.1-70b", precisions=["bf16", "fp8"], workload={"concurrency": 200, "context_tokens": 8192})
    assert solve_scenario(s).plans[0].to_dict() == solve_scenario(s).plans[0].to_dict()


def test_status_is_optimal_only_when_proven():
    s = scenario(model="llama-3.1-70b", workload={"concurrency": 200, "context_tokens": 8192})
    report = solve_scenario(s)
    assert report.status == "optimal"
    assert report.solver["gap"] == 0.0


def test_memory_constraint_is_linear_in_assigned_sequences():
    """A tiny problem by hand: two shapes, 1 GiB fixed, 100 MiB per sequence, 2 GiB limit -> 10 seqs/replica."""
    rows = (Row("a", "g1", 1, 1000, 1024, 100, 2048, 2048), Row("b", "g2", 2, 1500, 1024, 100, 2048 + 1000, 4096))
    outcome = solve_cpsat(Problem(rows, 25, None, {}))
    assert outcome.status == "optimal"
    # a holds 10 per replica at 1.000/h; b holds 20 per replica at 1.500/h: cheapest for 25 is b + a = 2.500
    assert outcome.objective_micro_usd == 2500
    assert sum(outcome.assignment.sequences.values()) == 25


def test_enumerate_method_solves_homogeneous_fleets_through_the_library():
    prepared = prepare(scenario(gpus=["l4", "a10g"]))
    outcome, plan = solve_prepared(prepared, "enumerate")
    assert outcome.status == "optimal" and len({g.candidate.gpu.id for g in plan.groups}) == 1


def test_verification_rejects_a_plan_that_breaks_a_structural_rule():
    """The verifier re-derives the shape rules itself: a mixed plan under mixed_fleet: false is a violation."""
    from planner.verify.serving import plan_violations

    prepared = prepare(scenario(model="llama-3.1-70b", precisions=["bf16"], gpus=["h100-sxm", "a100-80gb"],
                                inventory={"h100-sxm": 8, "a100-80gb": 8}, workload={"concurrency": 300, "context_tokens": 8192}))
    _, plan = solve_prepared(prepared)
    assert len(plan.groups) > 1
    ctx = prepared.context
    assert plan_violations(plan, ctx, 300, prepared.inventory, None) == []
    checks = [v.check for v in plan_violations(plan, ctx, 300, prepared.inventory, None, mixed_fleet=False, max_gpus_per_replica=1)]
    assert "one replica shape (mixed_fleet: false)" in checks
    assert any("GPUs per replica" in c for c in checks)
