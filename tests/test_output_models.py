"""Every JSON output has a strict pydantic model: the commands' JSON validates against it exactly (validating and
writing it again gives the same JSON), ``planner schema NAME`` prints its JSON Schema, and a key a builder adds
without a field in its model is refused."""

import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from planner.cli import cli
from planner.schema.output_schemas import OUTPUT_NAMES, output_adapter
from planner.schema.outputs_analysis import PARETO, WHATIF, ServingParetoOutput, TrainingParetoOutput, WhatIfOutput
from planner.schema.outputs_configuration import (
    MEMORY,
    PERF,
    ServingMemoryOutput,
    ServingPerfOutput,
    TrainingMemoryOutput,
    TrainingPerfOutput,
)
from tests.conftest import SCENARIOS

SMALL = str(SCENARIOS / "llama-3.1-8b-consumer-gpu.yaml")
TRAFFIC = str(SCENARIOS / "chat-service-slo.yaml")
TRAINING = str(SCENARIOS / "training-llama-3.1-8b-lora-consumer-gpu.yaml")
PROCUREMENT = str(SCENARIOS / "procurement-spot-batch.yaml")
WHATIF_ARGS = ("whatif", SMALL, "--set", "workload.concurrency=16", "--workers", "1", "--format", "json")
MEMORY_ARGS = ("memory", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--batch", "8", "--json")
TRAINING_MEMORY_ARGS = ("memory", "--training", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--dp", "8", "--zero", "3", "--json")
PERF_ARGS = ("perf", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--input-tokens", "1000", "--output-tokens", "200",
             "--request-rate", "4", "--json")
TRAINING_PERF_ARGS = ("perf", "--training", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--tp", "2", "--dp", "4",
                      "--sequence-parallel", "--json")


def output_of(*args):
    """The JSON a command writes (it must succeed)."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def validated(adapter, data):
    """``data`` validated against ``adapter``'s model, after checking the model writes it back unchanged."""
    output = adapter.validate_python(data)
    assert json.loads(json.dumps(adapter.dump_python(output, exclude_unset=True))) == data
    return output


def test_a_serving_pareto_set_is_what_planner_schema_pareto_describes():
    output = validated(PARETO, output_of("solve", SMALL, "--pareto", "cost,gpus", "--format", "json"))
    assert isinstance(output, ServingParetoOutput) and output.objectives == ("cost", "gpus") and output.pareto


def test_a_latency_pareto_set_carries_each_points_latencies_and_the_stated_slo():
    output = validated(PARETO, output_of("solve", TRAFFIC, "--pareto", "cost,tpot", "--pareto-points", "2", "--format", "json"))
    assert isinstance(output, ServingParetoOutput) and output.demand.slo is not None
    assert all(point.tpot_ms is not None and point.plan.replicas for point in output.pareto)


def test_a_training_pareto_set_is_what_planner_schema_pareto_describes():
    output = validated(PARETO, output_of("solve", TRAINING, "--pareto", "cost,time", "--pareto-points", "3", "--format", "json"))
    assert isinstance(output, TrainingParetoOutput) and output.kind == "training" and output.pareto


def test_a_whatif_with_rent_vs_buy_and_sensitivity_is_what_planner_schema_whatif_describes():
    output = validated(WHATIF, output_of("whatif", SMALL, "--set", "workload.concurrency=16", "--sensitivity", "--workers", "1",
                                         "--format", "json"))
    assert isinstance(output, WhatIfOutput) and len(output.variations) == 1
    assert output.rent_vs_buy and output.sensitivity and output.baseline.plan is not None


def test_a_whatif_of_a_demand_profile_carries_the_procurement_answer_as_each_plan():
    output = validated(WHATIF, output_of("whatif", PROCUREMENT, "--set", "solver.time_limit_s=5", "--workers", "1", "--format", "json"))
    assert output.baseline.plan is not None and getattr(output.baseline.plan, "kind", None) == "procurement"
    assert output.rent_vs_buy is None  # a demand profile's plan lists its own break-even points


@pytest.mark.parametrize(("args", "model"), [(MEMORY_ARGS, ServingMemoryOutput), (TRAINING_MEMORY_ARGS, TrainingMemoryOutput)],
                         ids=["serving", "training"])
def test_memory_json_is_what_planner_schema_memory_describes(args, model):
    assert isinstance(validated(MEMORY, output_of(*args)), model)


@pytest.mark.parametrize(("args", "model"), [(PERF_ARGS, ServingPerfOutput), (TRAINING_PERF_ARGS, TrainingPerfOutput)],
                         ids=["serving", "training"])
def test_perf_json_is_what_planner_schema_perf_describes(args, model):
    assert isinstance(validated(PERF, output_of(*args)), model)


@pytest.mark.parametrize("name", OUTPUT_NAMES)
def test_planner_schema_prints_each_outputs_json_schema(name):
    printed = output_of("schema", name)
    command, adapter = output_adapter(name)
    assert printed["title"] == command and printed["$defs"]
    assert {key: value for key, value in printed.items() if key != "title"} == \
           {key: value for key, value in adapter.json_schema().items() if key != "title"}


def test_every_output_model_refuses_unknown_keys_in_its_schema():
    for name in OUTPUT_NAMES:
        schema = output_adapter(name)[1].json_schema()
        objects = [d for d in schema["$defs"].values() if d.get("type") == "object" and "properties" in d]
        assert objects and all(d.get("additionalProperties") is False for d in objects), name


def _with_key(data, path):
    """A copy of ``data`` with an ``unexpected`` key added in the mapping at ``path`` (keys and list indexes)."""
    data = json.loads(json.dumps(data))
    node = data
    for step in path:
        node = node[step]
    node["unexpected"] = 1
    return data


@pytest.mark.parametrize(("args", "adapter", "path"), [
    (("solve", SMALL, "--pareto", "cost,gpus", "--format", "json"), PARETO, ()),
    (("solve", SMALL, "--pareto", "cost,gpus", "--format", "json"), PARETO, ("pareto", 0)),
    (("solve", SMALL, "--pareto", "cost,gpus", "--format", "json"), PARETO, ("pareto", 0, "plan", "replicas", 0)),
    (("solve", SMALL, "--pareto", "cost,gpus", "--format", "json"), PARETO, ("demand",)),
    (WHATIF_ARGS, WHATIF, ("variations", 0)),
    (WHATIF_ARGS, WHATIF, ("rent_vs_buy", 0)),
    (MEMORY_ARGS, MEMORY, ()),
    (TRAINING_MEMORY_ARGS, MEMORY, ()),
    (PERF_ARGS, PERF, ("load",)),
    (TRAINING_PERF_ARGS, PERF, ("topology", "links")),
], ids=["pareto", "pareto-point", "pareto-plan-group", "pareto-demand", "whatif-variation", "rent-vs-buy", "memory",
        "training-memory", "perf-load", "training-perf-links"])
def test_a_key_added_to_an_output_without_its_model_field_is_refused(args, adapter, path):
    data = output_of(*args)
    adapter.validate_python(data)
    with pytest.raises(ValidationError, match="unexpected"):
        adapter.validate_python(_with_key(data, path))


@pytest.mark.parametrize(("module", "model", "args"), [
    ("planner.analysis.pricing", "RentVsBuyOutput", WHATIF_ARGS),
    ("planner.configuration.memory", "ServingMemoryOutput", MEMORY_ARGS),
    ("planner.configuration.training", "TrainingPerfOutput", TRAINING_PERF_ARGS),
], ids=["whatif-rent-vs-buy", "memory", "training-perf"])
def test_a_builder_that_writes_a_key_its_model_lacks_is_an_internal_error(monkeypatch, module, model, args):
    """The producers build their JSON through the models: a key a builder adds without a field fails (exit 3, a
    bug), it is never written as an undocumented change of the output."""
    import importlib

    producer = importlib.import_module(module)
    original = getattr(producer, model)
    monkeypatch.setattr(producer, model, lambda **fields: original(**fields, payback_years=1.0))
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 3 and "payback_years" in result.output and "extra_forbidden" in result.output
