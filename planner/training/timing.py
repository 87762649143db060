"""Training time and cost from FLOPs: step time, tokens per second, wall-clock hours and USD.

FLOPs per token (PaLM, Chowdhery et al. 2022, arXiv:2204.02311, Appendix B): ``6N + 12·L·H·Q·T`` for a
dense model of N matrix parameters, L layers, H heads of size Q and context T; the first term is the forward
(2N) and backward (4N) matrix products, the second attention's quadratic part. MoE models count only the
active parameters (the ``k`` routed experts per token). Full recomputation repeats the forward pass (8N);
selective recomputation repeats only the attention core (Korthikanti et al. 2022, arXiv:2205.05198, Sec. 5).
LoRA skips the weight gradients of the frozen base: 4N for the base plus 6 per adapter parameter.

Step time = executed FLOPs / (GPUs x dense peak of the compute precision x assumed utilisation), stretched by
the 1F1B pipeline bubble ``(p - 1) / m`` (Narayanan et al. 2021, arXiv:2104.04473, Sec. 2.2.1). Data- and
tensor-parallel communication is inside the assumed utilisation; CPU offload adds its PCIe traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ..architecture import ModelArchitecture
from ..catalog import GpuSpec
from ..memory.parameters import count_parameters
from ..memory.training import TrainingLayout, TrainingRecipe, lora_tensors, stage_parameters_per_gpu, stage_tensors

DEFAULT_MFU = 0.40
"""Assumed model-FLOPs utilisation. Llama 3 405B pre-training reached 38-43 % of BF16 peak on H100s
(Dubey et al. 2024, arXiv:2407.21783, Table 4); override it per scenario or per GPU."""

PCIE_BYTES_PER_SECOND = 25e9
"""Effective host<->GPU bandwidth of PCIe Gen4 x16 (32 GB/s peak) for ZeRO-Offload traffic."""

SECONDS_PER_HOUR = 3600.0

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


def attention_flops_per_token_forward(arch: ModelArchitecture, sequence_length: int) -> int:
    """QK^T and attention-times-V: 2 x 2 x T x H x Q per layer per token (T capped by a sliding window)."""
    if arch.uses_mla:
        width = arch.num_attention_heads * ((arch.qk_nope_head_dim or 0) + (arch.qk_rope_head_dim or 0)
                                            + (arch.v_head_dim or arch.attention_head_dim)) // 2
    else:
        width = arch.num_attention_heads * arch.attention_head_dim
    total = 0
    for layer in range(arch.num_layers):
        context = sequence_length
        if arch.is_sliding_layer(layer) and arch.sliding_window is not None:
            context = min(context, arch.sliding_window)
        total += 4 * context * width
    return total


@lru_cache(maxsize=4096)
def training_flops_per_token(arch: ModelArchitecture, recipe: TrainingRecipe, sequence_length: int, recompute: str) -> float:
    """Executed FLOPs per trained token, recomputation included."""
    dense = 2 * matmul_parameters(arch)
    attention = attention_flops_per_token_forward(arch, sequence_length)
    forward = dense + attention
    if recipe.method == "full":
        total = 3 * forward
    elif recipe.method == "frozen":  # backward (2x forward) only through the trained blocks and the output layer
        total = forward + 2 * forward * min(recipe.trainable_layers, arch.num_layers) / arch.num_layers
    else:
        adapters = sum(t.parameters for t in lora_tensors(stage_tensors(arch, 1)[0], recipe.lora_rank, recipe.lora_targets))
        total = forward + dense + 2 * attention + 6 * adapters
    if recompute == "full":
        total += forward
    elif recompute == "selective":
        total += attention
    return float(total)


def peak_flops_per_second(gpu: GpuSpec, precision: str) -> float | None:
    """Dense tensor-core peak of the GPU for the precision's compute type (None when unsupported)."""
    if COMPUTE_DTYPE[precision] == "bf16" and not gpu.supports_bf16:
        return None
    if COMPUTE_DTYPE[precision] == "fp8" and not gpu.supports_fp8:
        return None
    if precision == "fp32":
        bf16 = gpu.dense_tflops("bf16")
        return bf16 * 1e12 * FP32_SHARE_OF_BF16 if bf16 else None
    tflops = gpu.dense_tflops(COMPUTE_DTYPE[precision])
    return tflops * 1e12 if tflops else None


@dataclass(frozen=True)
class TrainingTime:
    """How long the job takes and what it costs on one layout."""

    flops_per_token: float
    steps: int
    tokens_per_step: int
    compute_seconds_per_step: float
    bubble_fraction: float
    offload_seconds_per_step: float
    gpus: int
    price_usd_per_gpu_hour: float

    @property
    def step_seconds(self) -> float:
        return self.compute_seconds_per_step * (1 + self.bubble_fraction) + self.offload_seconds_per_step

    @property
    def total_seconds(self) -> float:
        return self.steps * self.step_seconds

    @property
    def hours(self) -> float:
        return self.total_seconds / SECONDS_PER_HOUR

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_per_step / self.step_seconds

    @property
    def usd_per_hour(self) -> float:
        return self.gpus * self.price_usd_per_gpu_hour

    @property
    def cost_usd(self) -> float:
        return self.usd_per_hour * self.hours


def offload_seconds_per_step(arch: ModelArchitecture, layout: TrainingLayout) -> float:
    """ZeRO-Offload moves each GPU's 16-bit gradient partition to the host and the updated 16-bit parameters
    back every step: 2 + 2 bytes per parameter of its shard (Ren et al. 2021, arXiv:2101.06840, Sec. 4.1)."""
    if layout.offload == "none":
        return 0.0
    shard = max(stage_parameters_per_gpu(arch, layout.tp, layout.pp)) / layout.dp
    return 4 * shard / PCIE_BYTES_PER_SECOND


def training_time(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, gpu: GpuSpec,
                  tokens: int, global_batch_sequences: int, mfu: float, price_usd_per_gpu_hour: float) -> TrainingTime:
    """Steps x step time for ``tokens`` trained tokens in global batches of ``global_batch_sequences``."""
    peak = peak_flops_per_second(gpu, recipe.precision)
    if peak is None:
        raise ValueError(f"{gpu.id} has no {COMPUTE_DTYPE[recipe.precision]} tensor throughput in the catalog")
    tokens_per_step = global_batch_sequences * layout.sequence_length
    steps = math.ceil(tokens / tokens_per_step)
    flops = training_flops_per_token(arch, recipe, layout.sequence_length, layout.recompute)
    compute = flops * tokens_per_step / (layout.gpus * peak * mfu)
    bubble = (layout.pp - 1) * layout.dp * layout.micro_batch / global_batch_sequences  # (p - 1) / m
    return TrainingTime(flops, steps, tokens_per_step, compute, bubble, offload_seconds_per_step(arch, layout),
                        layout.gpus, price_usd_per_gpu_hour)
