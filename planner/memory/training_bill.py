"""The lines of a training stage's bill, each with the formula that produced its bytes.

The model-state and buffer lines list the very ``Term`` values ``training.stage_states`` sums; activations and the
measured-peak lines are written from the variables ``training.training_memory`` computes them from.
"""

from __future__ import annotations

from typing import Protocol

from ..model.architecture import ModelArchitecture
from .bill import BillLine, Term, gib_text, line_of_terms, number_text
from .runtime import ALLOCATOR_RESERVE_FRACTION, TrainingGpu


class TrainingRecipe(Protocol):
    """What the lines name of ``training.TrainingRecipe`` (a protocol, so this module does not import training's)."""

    @property
    def precision(self) -> str: ...
    @property
    def convention(self) -> str: ...
    @property
    def optimizer(self) -> str: ...


ZERO = "ZeRO, Rajbhandari et al. 2019, arXiv:1910.02054, Sec. 3.1 and 5 (Table 1)"
SOURCES = {
    "parameters": ZERO + "; LoRA, Hu et al. 2021, arXiv:2106.09685; QLoRA NF4, Dettmers et al. 2023, arXiv:2305.14314",
    "gradients": ZERO + "; ZeRO-Offload, Ren et al. 2021, arXiv:2101.06840, Sec. 4.1",
    "optimizer_states": ZERO + "; 8-bit Adam, arXiv:2110.02861; Adafactor, arXiv:1804.04235",
    "activations": "Korthikanti et al. 2022, arXiv:2205.05198, Sec. 4 (Table 2); 1F1B in flight, Narayanan et al. 2021, "
                   "arXiv:2104.04473, Sec. 2.2",
    "buffers": "DeepSpeed estimate_zero3_model_states_mem_needs (largest layer); PyTorch DDP bucket_cap_mb=25; "
               "bitsandbytes NF4 dequantization",
    "overhead": "formula accounting (ZeRO / Korthikanti): a flat non-torch margin",
    "cuda_context": "planner.memory.runtime (CUDA context per GPU generation, fitted on case megatron-gpt2xl-h100)",
    "nccl": "planner.memory.engine_budgets.collective_bytes (NCCL buffers per NVLink peer)",
    "allocator_reserve": "planner.memory.runtime.ALLOCATOR_RESERVE_FRACTION (fitted on case megatron-gpt2xl-h100)",
    "cpu_offload": "ZeRO-Offload, Ren et al. 2021, arXiv:2101.06840; ZeRO-Infinity, arXiv:2104.07857",
}


def stage_lines(recipe: TrainingRecipe, terms: dict[str, tuple[Term, ...]], activation_bytes: int, activation_formula: str,
                overhead_bytes: int, gpus: int, gpu: TrainingGpu, nccl_bytes: int, allocated_bytes: int,
                reserve_bytes: int) -> tuple[BillLine, ...]:
    """The bill of one GPU of a stage: the lines of the measured peak (``in_total``), then the formulas' flat
    overhead and the host memory offloading uses."""
    offloaded = "offloaded to host memory (ZeRO-Offload)"
    notes = {"parameters": f"{recipe.precision}, {recipe.convention} convention", "gradients": "",
             "optimizer_states": recipe.optimizer + (" (moments factored per tensor)" if recipe.optimizer == "adafactor" else "")}
    lines = [line_of_terms(name, terms[name], SOURCES[name], note, empty=offloaded if terms["cpu_offload"] else "none")
             for name, note in notes.items()]
    lines.append(BillLine("activations", activation_bytes, activation_formula, SOURCES["activations"]))
    lines.append(line_of_terms("buffers", terms["buffers"], SOURCES["buffers"]))
    lines.append(BillLine("cuda_context", gpu.cuda_context_bytes, f"CUDA context, libraries and workspaces of a training "
                          f"process on {gpu.generation}: {gib_text(gpu.cuda_context_bytes)}", SOURCES["cuda_context"]))
    nccl = (f"NCCL / communicator buffers: {gpus} GPUs, {gpu.nvlink_peers(gpus)} peers over {gpu.scale_up_link}: {gib_text(nccl_bytes)}"
            if gpus > 1 else "none: one GPU")
    lines.append(BillLine("nccl", nccl_bytes, nccl, SOURCES["nccl"]))
    fraction = ALLOCATOR_RESERVE_FRACTION
    lines.append(BillLine("allocator_reserve", reserve_bytes, f"PyTorch caching allocator, cached or split at the peak: "
                          f"ceil({number_text(allocated_bytes)} B allocated x {fraction.numerator}/{fraction.denominator})",
                          SOURCES["allocator_reserve"]))
    lines.append(BillLine("overhead", overhead_bytes, f"flat non-torch memory of the formulas' total: {gib_text(overhead_bytes)} "
                          "(the measured peak counts cuda_context, nccl and allocator_reserve instead)", SOURCES["overhead"],
                          in_total=False))
    lines.append(line_of_terms("cpu_offload", terms["cpu_offload"], SOURCES["cpu_offload"], in_total=False))
    return tuple(lines)


def activation_formula(arch: ModelArchitecture, flash_attention: bool, recompute: str, sequence_parallel: bool,
                       held_microbatches: object, trained_layers: int, first_stage: bool, last_stage: bool,
                       width_bytes: int) -> str:
    """The activations line in words, from the values ``training._activations`` computes it with."""
    attention = "FlashAttention" if flash_attention else "eager attention (5as^2b)"
    moe = ", MoE layers counted with their routed experts" if arch.is_moe else ""
    extras = (["embedding dropout mask"] if first_stage else []) + (["fp32 logits and loss"] if last_stage else [])
    return (f"Korthikanti Table 2 per layer ({attention}, recompute={recompute}, SP={'on' if sequence_parallel else 'off'}"
            f"{moe}, {width_bytes}-byte values) x {trained_layers} trained layers x {held_microbatches} in-flight "
            f"micro-batches (1F1B), + one layer's working set" + "".join(f" + {extra}" for extra in extras))
