"""The library refuses what the command line refuses: ``memory_bill``, ``performance_report``,
``training_memory_bill`` and ``training_performance`` called from Python hold a request to its flags' bounds and
choices (``planner.configuration.flags``), bad input (exit 2) naming the field, never a division by zero."""

from __future__ import annotations

import math

import pytest

from planner.catalog import default_catalog
from planner.configuration import flags
from planner.configuration.memory import MemoryRequest, memory_bill
from planner.configuration.performance import PerfRequest, performance_report
from planner.configuration.training import TrainingMemoryRequest, TrainingPerfRequest, training_memory_bill, training_performance
from planner.errors import InputError

MODEL = {"model_id": "llama-3.1-8b", "gpu_id": "h100-sxm"}


def refusal(function, request):
    with pytest.raises(InputError) as caught:
        function(request, default_catalog())
    assert caught.value.exit_code == 2
    return caught.value.render()


def test_a_tensor_parallel_degree_of_zero_from_python_is_bad_input_not_a_division_by_zero():
    text = refusal(memory_bill, MemoryRequest(**MODEL, tp=0))
    assert "tp: 0: expected a whole number from 1 to 1,024" in text and "--tp" in text


@pytest.mark.parametrize(("field", "value"), [("batch", -1), ("context", 0), ("gpu_memory_utilization", math.nan),
                                              ("gpu_memory_utilization", 1.5), ("tp", True), ("memory_mode", "guess")])
def test_a_serving_memory_request_outside_its_flags_range_or_choices_is_refused_naming_the_field(field, value):
    assert f"{field}: {value!r}: expected" in refusal(memory_bill, MemoryRequest(**MODEL, **{field: value}))


def test_a_performance_request_with_a_negative_request_rate_is_refused():
    assert "request_rate: -1.0: expected a finite number" in refusal(
        performance_report, PerfRequest(**MODEL, input_tokens=512, output_tokens=128, request_rate=-1.0))


def test_a_training_request_with_zero_stage_four_is_refused_in_both_configuration_functions():
    memory_text = refusal(training_memory_bill, TrainingMemoryRequest(**MODEL, zero_stage=4))
    assert "zero_stage: 4: expected a whole number from 0 to 3" in memory_text
    assert "zero_stage: 4" in refusal(training_performance, TrainingPerfRequest(**MODEL, zero_stage=4))


def test_every_flag_default_is_within_its_own_bounds():
    for table in (flags.MEMORY, flags.PERF):
        for item in table:
            if item.default is not None and item.kind in ("int", "float"):
                assert item.low <= item.default <= item.high, item.names
            if item.default is not None and item.kind == "choice":
                assert item.default in item.choices, item.names


def test_a_request_within_bounds_is_answered_as_before():
    bill = memory_bill(MemoryRequest(**MODEL, tp=2, batch=8, context=8192), default_catalog())
    assert bill.to_dict()["model"] == "llama-3.1-8b"


def test_a_training_request_left_empty_resolves_to_the_defaults_its_flags_help_quotes():
    from planner.configuration.training import resolve_configuration

    _, _, recipe, layout = resolve_configuration(TrainingMemoryRequest(**MODEL), default_catalog())
    default = flags.TRAINING_DEFAULTS
    assert (recipe.method, recipe.precision, recipe.optimizer, recipe.convention, recipe.lora_rank) == \
           (default["training_method"], default["precision"], default["optimizer"], default["convention"], default["lora_rank"])
    assert (layout.zero_stage, layout.micro_batch, layout.sequence_length, layout.recompute, layout.offload) == \
           (default["zero_stage"], default["micro_batch"], default["sequence_length"], default["recompute"], default["offload"])
    helps = {item.field: item.help for item in flags.MEMORY}
    quoted = [field for field in default if field in helps and f"[{default[field]}]" in helps[field]]
    assert sorted(quoted) == sorted(field for field in default if field != "precision")  # --precision: the checkpoint's
