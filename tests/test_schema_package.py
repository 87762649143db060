"""The schema package: one strict base, a union on ``kind``, closed choices as enums, one error translator."""

import json

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from planner.cli import cli
from planner.engines import ENGINE_CHOICES
from planner.errors import ScenarioError
from planner.schema import validate_scenario
from planner.schema.base import StrictModel
from planner.schema.choices import EngineName, values_of
from planner.schema.serving import ServingScenario
from planner.schema.training import TrainingScenario
from planner.yaml_io import parse_yaml

SERVING = "model: llama-3.1-8b\nworkload: {concurrency: 4, context_tokens: 2048}\n"
TRAINING = ("kind: training\nmodel: llama-3.1-8b\ndeadline_hours: 100\n"
            "data: {tokens: 1e9, sequence_length: 2048, global_batch_sequences: 64}\n")


def issues_of(text: str):
    data, locator = parse_yaml(text, "s.yaml")
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data, locator, "s.yaml")
    return caught.value.issues


def models_under(model: type[BaseModel]) -> set[type[BaseModel]]:
    from planner.schema.translate import first_model

    found = {model}
    for field in model.model_fields.values():
        nested = first_model(field.annotation)
        if nested is not None and nested not in found:
            found |= models_under(nested)
    return found


def test_kind_picks_the_scenario_model_and_serving_is_the_default():
    from planner.schema import SCENARIO

    for text, model in ((SERVING, ServingScenario), (TRAINING, TrainingScenario)):
        data = parse_yaml(text, "s.yaml")[0]
        assert isinstance(validate_scenario(data), model)
        assert SCENARIO.validate_python(data) == validate_scenario(data), "the union and validate_scenario agree"
    assert SCENARIO.json_schema()["discriminator"]["propertyName"] == "kind"


def test_a_boolean_is_not_a_gpu_count_in_training_inventory():
    (issue,) = issues_of(TRAINING + "inventory: {h100-sxm: true}\n")
    assert issue.field_path == "inventory.h100-sxm" and "valid integer" in issue.message and "got True" in issue.message
    assert issue.line == 5


def test_a_boolean_is_not_a_count_anywhere_in_a_training_scenario():
    (issue,) = issues_of(TRAINING + "micro_batch: [true]\n")
    assert issue.field_path == "micro_batch.0" and "valid integer" in issue.message


def test_choices_are_normalised_before_validation():
    data = parse_yaml(TRAINING + "method: LoRA\nprecision: ' BF16-mixed '\nlora: {target_modules: [Q_PROJ, q_proj]}\n", "s.yaml")[0]
    scenario = validate_scenario(data)
    assert (scenario.method, scenario.precision, scenario.lora.target_modules) == ("lora", "bf16-mixed", ["q_proj"])
    serving = validate_scenario(parse_yaml(SERVING + "precisions: [AWQ]\nkv_cache_dtypes: [auto, e4m3]\n", "s.yaml")[0])
    assert serving.precisions == ["int4-awq"] and serving.kv_cache_dtypes == ["fp16", "fp8-e4m3"]


def test_an_unknown_choice_names_the_nearest_once():
    (issue,) = issues_of(TRAINING + "optimizer: adamv\n")
    assert issue.message.startswith("unknown optimizer 'adamv'; did you mean 'adamw'") and issue.message.count("'adamv'") == 1
    (issue,) = issues_of(TRAINING + "objective: costs\n")
    assert issue.field_path == "objective" and "'cost'" in issue.message and issue.suggestion == "did you mean 'cost'?"


def test_the_json_schema_lists_every_closed_choice_as_an_enum():
    training = TrainingScenario.model_json_schema()
    defs = training["$defs"]
    assert training["properties"]["method"]["enum"] == ["full", "lora", "qlora", "frozen"]
    assert "adafactor" in training["properties"]["optimizer"]["enum"]
    assert defs["TrainingParallelism"]["properties"]["offload"]["items"]["enum"] == ["none", "optimizer", "optimizer_and_parameters"]
    serving = ServingScenario.model_json_schema()
    assert "trtllm" in serving["$defs"]["EngineOptions"]["properties"]["name"]["enum"]
    assert {"fp8", "auto"} <= set(serving["properties"]["kv_cache_dtypes"]["items"]["enum"])
    formats = serving["properties"]["precisions"]["anyOf"][0]["items"]["anyOf"]
    assert "int4-awq" in formats[0]["enum"] and formats[1]["pattern"]


def test_the_schema_engine_names_are_the_engines_module_names():
    assert set(values_of(EngineName)) == set(ENGINE_CHOICES)


def test_every_model_of_a_scenario_or_catalog_refuses_unknown_keys_and_inf():
    from planner.catalog.catalog import _GpuFile, _ModelFile
    from planner.catalog.offers import _OfferFile

    for root in (ServingScenario, TrainingScenario, _GpuFile, _ModelFile, _OfferFile):
        for model in models_under(root):
            config = model.model_config
            assert config.get("extra") == "forbid" and config.get("allow_inf_nan") is False, model
            assert issubclass(model, StrictModel) or model.__module__.startswith("planner.model."), model


def test_planner_schema_training_shows_the_enums():
    schema = json.loads(CliRunner().invoke(cli, ["schema", "training"]).stdout)
    assert schema["properties"]["precision"]["enum"][0] == "bf16-mixed"


def test_a_boolean_is_not_a_number_either():
    (issue,) = issues_of(SERVING + "budget: {max_usd_per_hour: true}\n")
    assert issue.field_path == "budget.max_usd_per_hour" and issue.message == "Input should be a valid number (got True)"
    assert issue.line == 3


def test_the_translator_locates_sweep_file_problems_with_did_you_mean(tmp_path):
    from planner.analysis.sweep import load_sweep

    sweep = tmp_path / "s.sweep.yaml"
    sweep.write_text("sweep:\n  - path: gpus.h100-sxm.price\n    rnage: -50%..0%\n")
    with pytest.raises(ScenarioError) as caught:
        load_sweep(sweep)
    (issue,) = [i for i in caught.value.issues if i.message.startswith("unknown key")]
    assert (issue.field_path, issue.line) == ("sweep.0.rnage", 3) and issue.suggestion.startswith("did you mean 'range'")
