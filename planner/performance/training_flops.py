"""Training FLOPs and the GPU peak they run against: executed FLOPs per token (PaLM convention, recomputation
and LoRA included) and the model FLOPs MFU counts. Pure: no solver, no I/O."""

from __future__ import annotations

from functools import lru_cache

from ..catalog import GpuSpec
from ..memory.parameters import count_parameters
from ..memory.training import TrainingRecipe, lora_tensors, stage_tensors
from ..model.architecture import ModelArchitecture

COMPUTE_DTYPE = {"bf16-mixed": "bf16", "bf16": "bf16", "fp16-mixed": "fp16", "fp8-mixed": "fp8", "fp32": "fp32"}

FP32_SHARE_OF_BF16 = 1 / 16
"""Pure fp32 training runs on the CUDA cores (PyTorch leaves TF32 matmuls off by default): NVIDIA's data sheets give
19.5 of 312 dense BF16 TFLOPS on an A100 and 67 of 989 on an H100 SXM, about 1/16."""


@lru_cache(maxsize=256)
def matmul_parameters(arch: ModelArchitecture) -> int:
    """Parameters that take part in a matrix product per token: active parameters minus the input embedding
    lookup (the LM head multiplies, tied or not)."""
    active = count_parameters(arch).active
    return active if arch.tie_word_embeddings else active - arch.vocab_size * arch.hidden_size


def attention_width(arch: ModelArchitecture) -> int:
    if arch.uses_mla:
        return arch.num_attention_heads * ((arch.qk_nope_head_dim or 0) + (arch.qk_rope_head_dim or 0)
                                           + (arch.v_head_dim or arch.attention_head_dim)) // 2
    return arch.num_attention_heads * arch.attention_head_dim


def layer_context(arch: ModelArchitecture, layer: int, sequence_length: int) -> int:
    if arch.is_sliding_layer(layer) and arch.sliding_window is not None:
        return min(sequence_length, arch.sliding_window)
    return sequence_length


def attention_flops_per_token_forward(arch: ModelArchitecture, sequence_length: int) -> int:
    """QK^T and attention-times-V: 2 x 2 x T x H x Q per layer per token (T capped by a sliding window)."""
    width = attention_width(arch)
    return sum(4 * layer_context(arch, layer, sequence_length) * width for layer in range(arch.num_layers))


@lru_cache(maxsize=4096)
def training_flops_per_token(arch: ModelArchitecture, recipe: TrainingRecipe, sequence_length: int, recompute: str) -> float:
    """FLOPs per trained token (PaLM, Chowdhery et al. 2022, arXiv:2204.02311, App. B: ``6N + 12·L·H·Q·T``),
    recomputation included: full recomputation repeats the forward pass, selective the attention core
    (Korthikanti et al. 2022, arXiv:2205.05198, Sec. 5). LoRA skips the frozen base's weight gradients:
    ``4N`` for the base plus 6 per adapter parameter (Hu et al. 2021); a frozen backbone runs the backward pass
    (2x forward) only through its trained last blocks."""
    dense = 2 * matmul_parameters(arch)
    attention = attention_flops_per_token_forward(arch, sequence_length)
    forward = dense + attention
    total: float
    if recipe.method == "full":
        total = 3 * forward
    elif recipe.method == "frozen":
        total = forward + 2 * forward * backward_share(arch, recipe)
    else:
        total = forward + dense + 2 * attention + 6 * adapter_parameters(arch, recipe)
    if recompute == "full":
        total += forward
    elif recompute == "selective":
        total += attention
    return float(total)


def model_flops_per_token(arch: ModelArchitecture, recipe: TrainingRecipe, sequence_length: int) -> float:
    """The FLOPs MFU counts: the model's, without recomputation (Korthikanti et al. 2022, Sec. 6.3)."""
    return training_flops_per_token(arch, recipe, sequence_length, "none")


def backward_share(arch: ModelArchitecture, recipe: TrainingRecipe) -> float:
    """Share of the blocks the backward pass runs through: all of them, or a frozen backbone's trained last ones."""
    if recipe.method != "frozen":
        return 1.0
    return min(recipe.trainable_layers, arch.num_layers) / arch.num_layers


@lru_cache(maxsize=256)
def adapter_parameters(arch: ModelArchitecture, recipe: TrainingRecipe) -> int:
    return sum(t.parameters for t in lora_tensors(stage_tensors(arch, 1)[0], recipe.lora_rank, recipe.lora_targets))


def peak_flops_per_second(gpu: GpuSpec, precision: str) -> float | None:
    """Dense tensor-core peak of the GPU for the precision's compute type (None when unsupported)."""
    dtype = COMPUTE_DTYPE[precision]
    if dtype == "bf16" and not gpu.supports_bf16:
        return None
    if dtype == "fp8" and not gpu.supports_fp8:
        return None
    if dtype == "fp32":
        bf16 = gpu.dense_tflops("bf16")
        return bf16 * 1e12 * FP32_SHARE_OF_BF16 if bf16 else None
    tflops = gpu.dense_tflops(dtype)
    return tflops * 1e12 if tflops else None
