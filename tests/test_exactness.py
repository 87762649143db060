"""The solver's integer model has the feasible set of the exact memory and cost models: no rounding moves an answer."""

import math
import random

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.exactness import Tally, check_scenario, exact_capacity, random_scenario
from planner.api import solve_scenario
from planner.cli import cli
from planner.errors import InfeasibleError
from planner.pipeline.serving import prepare
from planner.pipeline.training import solve_training
from planner.schema import validate_scenario
from planner.units import BYTES_PER_MIB, format_usd

RANDOM_SCENARIOS = 60


def test_on_random_scenarios_capacity_price_optimum_and_budgets_match_the_exact_models():
    rng, tally = random.Random(12), Tally()
    for _ in range(RANDOM_SCENARIOS):
        check_scenario(random_scenario(rng), tally)
    assert tally.failures == []
    assert tally.scenarios + tally.rejected == RANDOM_SCENARIOS and tally.scenarios >= 50
    assert tally.short_context_scenarios >= 15 and tally.shapes > 300
    assert tally.budget_equal_cost_feasible == tally.budget_checks == tally.budget_below_cost_infeasible > 40


def test_a_short_context_holds_what_the_bytes_allow_not_what_whole_mib_would():
    s = validate_scenario({"model": "qwen2.5-7b", "gpus": ["l4"], "kv_cache_dtypes": ["fp8"], "parallelism": {"tp": [1], "pp": [1]},
                           "workload": {"concurrency": 64, "context_tokens": 16}})
    prepared = prepare(s, prune=False)
    (candidate,) = prepared.candidates
    memory = candidate.memory
    assert memory.kv_cache_bytes_per_sequence == 28 * 2 * 4 * 128 * 16  # 458,752 B: 0.44 MiB, one block of 16 tokens
    whole_mib = candidate.limit_bytes // BYTES_PER_MIB - math.ceil(memory.fixed_bytes / BYTES_PER_MIB)  # 1 MiB each
    assert candidate.max_sequences == exact_capacity(prepared, candidate) > 2.2 * whole_mib


def test_the_printed_cost_of_80_rtx_4090s_is_a_budget_that_admits_them():
    """$0.34625 per GPU-hour: per-replica rounding to milli-USD used to charge $27.76 for a $27.70 fleet."""
    data = {"model": "llama-3.1-8b", "gpus": ["rtx-4090"], "parallelism": {"tp": [1], "pp": [1]},
            "workload": {"concurrency": 80, "context_tokens": 30_000}}
    plan = solve_scenario(validate_scenario(data)).plans[0]
    assert plan.gpu_mix == "80x rtx-4090" and format_usd(plan.cost_micro_usd_per_hour) == "27.70"
    with_budget = solve_scenario(validate_scenario({**data, "budget": {"max_usd_per_hour": 27.70}})).plans[0]
    assert with_budget.cost_micro_usd_per_hour == plan.cost_micro_usd_per_hour
    with pytest.raises(InfeasibleError) as info:
        solve_scenario(validate_scenario({**data, "budget": {"max_usd_per_hour": 27.69}}))
    assert info.value.explanation.relaxation("budget").value == pytest.approx(27.70)
    assert "costs $27.70/h, over the budget of $27.69/h" in info.value.explanation.relaxation("budget").message


def test_the_table_json_and_csv_print_the_exact_cost(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model: llama-3.1-8b\ngpus: {l4: {price_usd_per_gpu_hour: 0.123456}}\nparallelism: {tp: [1], pp: [1]}\n"
                    "workload: {concurrency: 1, context_tokens: 1024}\n")
    table = CliRunner().invoke(cli, ["solve", str(path)])
    assert "$0.123456/h" in table.stdout
    import json

    assert json.loads(CliRunner().invoke(cli, ["solve", str(path), "--format", "json"]).stdout)["plans"][0]["cost_usd_per_hour"] == 0.123456
    assert ",0.123456," in CliRunner().invoke(cli, ["solve", str(path), "--format", "csv"]).stdout.splitlines()[1]


def test_a_training_deadline_and_budget_equal_to_the_printed_plan_admit_it():
    data = {"kind": "training", "model": "llama-3.1-8b", "gpus": ["h100-sxm"],
            "data": {"tokens": 1e9, "sequence_length": 4096, "global_batch_sequences": 64},
            "parallelism": {"tp": [1, 2], "pp": [1], "zero_stages": [1, 3], "max_gpus": 16}}
    printed = solve_training(validate_scenario(data)).plans[0].to_dict()
    limited = solve_training(validate_scenario({**data, "deadline_hours": printed["hours"],
                                                "budget": {"max_usd": printed["cost_usd"]}})).plans[0].to_dict()
    assert (limited["gpus"], limited["tp"], limited["micro_batch"]) == (printed["gpus"], printed["tp"], printed["micro_batch"])


def test_training_memory_per_micro_batch_is_the_memory_model_at_that_micro_batch():
    from planner.api import load_scenario
    from planner.candidates.training import layout_at
    from planner.memory.runtime import training_gpu
    from planner.memory.training import training_memory
    from planner.pipeline.training import prepare_training
    from tests.conftest import SCENARIOS

    for path in sorted(SCENARIOS.glob("training-*.yaml")):
        prepared = prepare_training(load_scenario(path), prune=False)
        ctx = prepared.context
        for candidate in prepared.candidates[::97]:
            for micro_batch, memory in zip(candidate.micro_batches, candidate.memory_bytes):
                at = layout_at(candidate.layout, ctx, micro_batch)
                gpu = candidate.gpu
                runtime = training_gpu(gpu.id, gpu.release_year, gpu.scale_up_link, gpu.nvlink_domain_size)
                assert memory == training_memory(ctx.arch, ctx.recipe, at, runtime).total_bytes, (candidate.key, micro_batch)


def test_json_and_csv_bills_add_up_to_capacity_with_the_cuda_graph_line(tmp_path):
    import csv
    import io
    import json

    path = tmp_path / "s.yaml"
    path.write_text("model: llama-3.1-8b\ngpus: [l4]\nparallelism: {tp: [1], pp: [1]}\nworkload: {concurrency: 4, context_tokens: 4096}\n")
    plan = json.loads(CliRunner().invoke(cli, ["solve", str(path), "--format", "json"]).stdout)["plans"][0]
    memory = plan["replicas"][0]["memory_per_gpu_gib"]
    lines = ("weights", "kv_cache", "activations", "overhead", "cuda_graphs", "free")
    assert memory["cuda_graphs"] > 0
    assert sum(memory[line] for line in lines) == pytest.approx(memory["capacity"], abs=0.005)
    row = next(csv.DictReader(io.StringIO(CliRunner().invoke(cli, ["solve", str(path), "--format", "csv"]).stdout)))
    parts = ("weights_gib", "kv_cache_gib", "activations_gib", "overhead_gib", "cuda_graphs_gib", "free_gib")
    assert sum(float(row[p]) for p in parts) == pytest.approx(float(row["capacity_gib"]), abs=0.005)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**48), st.decimals(0, 1, places=6).map(float), st.decimals(0, 10**5, places=7).map(float))
def test_integer_rounding_of_fractions_and_prices_equals_the_exact_rationals(num_bytes, fraction, usd):
    """The byte and micro-USD conversions compute in integers from the cached exact rational; the reference is the
    ``Fraction`` product rounded (what they computed before)."""
    from fractions import Fraction

    from planner.units import fraction_of_bytes_ceil, fraction_of_bytes_floor, usd_to_micro_usd_ceil, usd_to_micro_usd_floor

    share, price = Fraction(repr(fraction)), Fraction(repr(usd))
    assert fraction_of_bytes_ceil(num_bytes, fraction) == math.ceil(num_bytes * share)
    assert fraction_of_bytes_floor(num_bytes, fraction) == math.floor(num_bytes * share)
    assert usd_to_micro_usd_ceil(usd) == math.ceil(price * 10**6)
    assert usd_to_micro_usd_floor(usd) == math.floor(price * 10**6)
