"""Bill lines carry the formula that produced their bytes: the text, read back, gives the number it explains."""

import math
import re

import pytest

from planner.configuration.memory import MemoryRequest, memory_bill
from planner.configuration.training import TrainingMemoryRequest, resolve_configuration
from planner.memory.bill import TERM_SEPARATOR, BillLine, total_bytes
from planner.memory.training import training_memory
from planner.units import BYTES_PER_GIB

SERVING = {
    "dense": {"model_id": "llama-3.1-70b", "gpu_id": "h100-sxm", "tp": 4, "batch": 32, "context": 8192},
    "fp8 KV": {"model_id": "llama-3.1-8b", "gpu_id": "h100-sxm", "kv_cache_dtype": "fp8", "batch": 16},
    "MoE with MLA and EP": {"model_id": "deepseek-v3", "gpu_id": "h200", "tp": 8, "ep": 8, "batch": 64, "context": 32768},
    "SGLang": {"model_id": "qwen2.5-32b", "gpu_id": "l4", "tp": 4, "engine": "sglang"},
    "TensorRT-LLM": {"model_id": "llama-3.1-8b", "gpu_id": "h100-sxm", "engine": "trtllm", "batch": 8},
    "FP8 checkpoint": {"model_id": "qwen3-30b-a3b-fp8", "gpu_id": "h100-sxm", "batch": 4},
}

TRAINING = {
    "LoRA with ZeRO-3": {"model_id": "llama-3.1-8b", "training_method": "lora", "zero_stage": 3, "dp": 8},
    "QLoRA": {"model_id": "llama-3.1-8b", "training_method": "qlora"},
    "MoE with SP": {"model_id": "mixtral-8x7b", "tp": 2, "dp": 4, "zero_stage": 1, "sequence_parallel": True},
    "pipeline": {"model_id": "llama-3.1-70b", "tp": 8, "pp": 4, "dp": 2, "zero_stage": 1, "sequence_parallel": True,
                 "recompute": "selective"},
    "DeepSpeed ZeRO-2": {"model_id": "llama-3.1-8b", "dp": 8, "zero_stage": 2, "convention": "deepspeed"},
    "ZeRO-Infinity": {"model_id": "llama-3.1-8b", "dp": 8, "zero_stage": 3, "offload": "optimizer_and_parameters"},
    "frozen backbone": {"model_id": "llama-3.1-8b", "training_method": "frozen", "trainable_layers": 4, "dp": 4, "zero_stage": 3},
    "Adafactor": {"model_id": "llama-3.1-8b", "optimizer": "adafactor"},
}

TERM = re.compile(r"^(?:[^:]*: )?(?:(?P<count>[\d,]+(?:\.\d+)?) [a-z]+ x (?P<each>[\d,.e+-]+) B|(?P<gib>-?[\d.]+) GiB)"
                  r"(?: / (?P<over>\d+)(?: .*)?)?$")


def formula_bytes(line: BillLine) -> tuple[int, int]:
    """(bytes, tolerance) that the line's formula text says: its terms read back and added up ("none": 0); a term
    shown in GiB is exact to its three decimals."""
    total, tolerance = 0, 0
    for term in line.formula.split("; ")[0].split(TERM_SEPARATOR):
        if term == "none":
            continue
        match = TERM.match(term)
        assert match, f"{line.name}: term {term!r} is not 'count unit x bytes B / over' or 'size GiB'"
        over = int(match["over"] or 1)
        if match["gib"] is not None:
            total += round(float(match["gib"]) * BYTES_PER_GIB / over)
            tolerance += BYTES_PER_GIB // 2000 + 1
        else:
            total += math.ceil(float(match["count"].replace(",", "")) * float(match["each"].replace(",", "")) / over)
    return total, tolerance


def serving(catalog, name):
    return memory_bill(MemoryRequest(**SERVING[name]), catalog).memory


def training(catalog, name):
    arch, _, recipe, layout = resolve_configuration(TrainingMemoryRequest(gpu_id="h100-sxm", **TRAINING[name]), catalog)
    return training_memory(arch, recipe, layout)


@pytest.mark.parametrize("name", SERVING)
def test_serving_lines_in_the_total_add_up_to_the_bill_total(catalog, name):
    memory = serving(catalog, name)
    assert total_bytes(memory.lines) == memory.total_bytes


@pytest.mark.parametrize("name", TRAINING)
def test_training_lines_in_the_total_add_up_to_every_stage_total(catalog, name):
    for stage in training(catalog, name).stages:
        assert total_bytes(stage.lines) == stage.total_bytes
        beside = {line.name: line.bytes for line in stage.lines if not line.in_total}
        assert (beside["overhead"], beside["cpu_offload"]) == (stage.overhead_bytes, stage.cpu_offload_bytes)


@pytest.mark.parametrize("name", SERVING)
def test_serving_weight_kv_and_graph_formulas_give_their_bytes(catalog, name):
    lines = {line.name: line for line in serving(catalog, name).lines}
    for line_name in ("weights", "kv_cache", "cuda_graphs"):
        said, tolerance = formula_bytes(lines[line_name])
        assert abs(said - lines[line_name].bytes) <= tolerance, lines[line_name].formula


@pytest.mark.parametrize("name", TRAINING)
def test_training_state_and_buffer_formulas_give_their_bytes(catalog, name):
    memory = training(catalog, name)
    for line in memory.lines:
        if line.name in ("parameters", "gradients", "optimizer_states", "buffers", "cpu_offload") and line.bytes:
            said, tolerance = formula_bytes(line)
            assert abs(said - line.bytes) <= tolerance, line.formula


@pytest.mark.parametrize("name", TRAINING)
def test_allocator_reserve_formula_gives_its_bytes(catalog, name):
    reserve = {line.name: line for line in training(catalog, name).lines}["allocator_reserve"]
    allocated, numerator, denominator = re.search(r"ceil\(([\d,]+) B allocated x (\d+)/(\d+)\)", reserve.formula).groups()
    assert reserve.bytes == -(-int(allocated.replace(",", "")) * int(numerator) // int(denominator))


@pytest.mark.parametrize("name", ["dense", "MoE with MLA and EP", "SGLang", "TensorRT-LLM"])
def test_activation_formula_shows_the_peaks_it_takes_the_larger_of(catalog, name):
    activations = {line.name: line for line in serving(catalog, name).lines}["activations"]
    peaks = [float(gib) for gib in re.findall(r": ([\d.]+) GiB", activations.formula)]
    assert len(peaks) == (2 if "max(" in activations.formula else 1)
    assert abs(max(peaks) * BYTES_PER_GIB - activations.bytes) <= BYTES_PER_GIB / 2000


def test_lora_with_zero3_gathers_two_bytes_per_parameter_and_says_so(catalog):
    buffers = {line.name: line for line in training(catalog, "LoRA with ZeRO-3").lines}["buffers"]
    largest = int(re.search(r"([\d,]+) params x 2 B", buffers.formula).group(1).replace(",", ""))
    assert buffers.bytes == 2 * largest
    assert "4 B" not in buffers.formula


def test_qlora_buffers_are_explained_as_the_dequantized_copy_not_none(catalog):
    buffers = {line.name: line for line in training(catalog, "QLoRA").lines}["buffers"]
    assert round(buffers.bytes / BYTES_PER_GIB, 2) == 0.98
    assert "none" not in buffers.formula and "dequantized" in buffers.formula
    assert formula_bytes(buffers) == (buffers.bytes, 0)


def test_total_formulas_are_written_from_the_lines_in_the_total(catalog):
    memory = serving(catalog, "SGLang")
    charged = [line.name for line in memory.lines if line.in_total]
    assert memory.explanations["total"].endswith(" + ".join(charged)) and "activations" not in charged
    trained = training(catalog, "pipeline")
    assert trained.explanations["total"].split(" + ") == [line.name for line in trained.lines if line.in_total]


def test_memory_json_explains_each_line_with_the_lines_formula(catalog):
    bill = memory_bill(MemoryRequest(**SERVING["fp8 KV"]), catalog)
    explain = bill.to_dict()["explain"]
    assert all(explain[line.name] == line.formula for line in bill.memory.lines)
