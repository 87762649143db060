"""`planner solve` and `planner memory` bill a replica shape the same way: one source of engine defaults.

For every serving example, each replica group of the solved plan is billed again by `planner memory --json`
with the same model, GPU, layout, sequences and engine options; every line must be equal.
"""

import json

import pytest
from click.testing import CliRunner

from planner.api import load_scenario, solve_scenario
from planner.cli import cli
from planner.errors import InfeasibleError
from tests.conftest import SCENARIOS

SERVING_EXAMPLES = sorted(p for p in SCENARIOS.glob("*.yaml")
                          if not p.name.startswith(("sweep", "training", "procurement")) and p.name != "budget-infeasible.yaml")
ENGINE_FLAGS = ("version", "gpu_memory_utilization", "max_num_batched_tokens", "max_num_seqs", "mem_fraction_static",
                "chunked_prefill_size", "free_gpu_memory_fraction", "max_num_tokens", "max_batch_size", "n_gpu_layers",
                "n_ubatch")


def memory_flags(scenario, group) -> list[str]:
    """The `planner memory` command line of one replica group of a solved serving scenario."""
    lay, engine = group.candidate.layout, scenario.engine
    model = scenario.model
    flags = ["--model", model.id] if model.id else ["--config", model.config]
    flags += ["--gpu", group.candidate.gpu.id.split("@")[0], "--precision", lay.weight_format.name,
              "--kv-cache-dtype", lay.kv_cache_dtype.name, "--tp", str(lay.tp), "--pp", str(lay.pp), "--ep", str(lay.ep),
              "--batch", str(group.concurrency_per_replica), "--context", str(scenario.workload.tokens_per_sequence),
              "--engine", engine.name, "--memory-mode", engine.memory_mode, "--json"]
    for knob in ENGINE_FLAGS:
        value = getattr(engine, knob)
        if value is not None:
            flags += ["--engine-version" if knob == "version" else "--" + knob.replace("_", "-"), str(value)]
    return flags + (["--cuda-graphs-in-budget"] if engine.cuda_graphs_in_budget else [])


def test_there_are_serving_examples_for_several_engines():
    engines = {load_scenario(p).engine.name for p in SERVING_EXAMPLES}
    assert len(SERVING_EXAMPLES) >= 6 and {"vllm", "sglang", "trtllm", "llamacpp"} <= engines


@pytest.mark.parametrize("path", SERVING_EXAMPLES, ids=lambda p: p.name)
def test_every_replica_of_the_solved_plan_is_billed_exactly_as_planner_memory_bills_it(path):
    scenario = load_scenario(path)
    try:
        plan = solve_scenario(scenario).plans[0]
    except InfeasibleError:  # pragma: no cover - every listed example has a plan
        pytest.fail(f"{path.name} has no plan")
    runner = CliRunner()
    for group in plan.groups:
        result = runner.invoke(cli, ["memory", *memory_flags(scenario, group)])
        assert result.exit_code == 0, result.output
        billed = json.loads(result.output)["memory_per_gpu_gib"]
        solved = group.memory.per_gpu_gib(4)
        for line in ("weights", "kv_cache", "activations", "overhead", "total", "usable", "free", "capacity"):
            assert billed[line] == solved[line], (path.name, group.candidate.key, line)


def test_70b_int8_on_two_a100_40gb_fits_in_solve_exactly_when_planner_memory_says_it_fits(tmp_path):
    """The shape the issue names: solve and memory used different vLLM defaults and disagreed on it."""
    from planner.catalog import default_catalog
    from planner.configuration.memory import MemoryRequest, memory_bill

    outcomes = []
    for concurrency in (1, 2, 8):
        path = tmp_path / f"s{concurrency}.yaml"
        path.write_text(f"model: llama-3.1-70b\nprecisions: [int8]\nworkload: {{concurrency: {concurrency}, context_tokens: 1024}}\n"
                        "gpus: [a100-40gb]\nparallelism: {tp: [2], pp: [1], expert_parallel: [false]}\n"
                        "solver: {mixed_fleet: false}\ninventory: {a100-40gb: 2}\n")
        bill = memory_bill(MemoryRequest(model_id="llama-3.1-70b", gpu_id="a100-40gb", precision="int8", tp=2,
                                         batch=concurrency, context=1024), default_catalog())
        try:
            solved = solve_scenario(load_scenario(path)).plans[0].groups[0].memory
        except InfeasibleError:
            assert not bill.to_dict()["fits"], concurrency
            outcomes.append(False)
            continue
        assert bill.to_dict()["fits"] and solved.per_gpu_gib(4) == bill.memory.per_gpu_gib(4), concurrency
        outcomes.append(True)
    assert outcomes == [True, True, False]
