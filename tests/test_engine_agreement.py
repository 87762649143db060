"""`planner solve` and `planner memory` bill a replica shape the same way: one source of engine defaults.

For every serving example, each replica group of the solved plan is billed again by `planner memory --json`
with the same model, GPU, layout, sequences and engine options; every line must be equal.
"""

import json

import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.errors import InfeasibleError
from planner.planning import solve_scenario
from planner.scenario import load_scenario
from tests.conftest import SCENARIOS

SERVING_EXAMPLES = sorted(p for p in SCENARIOS.glob("*.yaml")
                          if not p.name.startswith(("sweep", "training")) and p.name != "budget-infeasible.yaml")
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
