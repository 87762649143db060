"""Training memory per GPU: parameters, gradients, optimizer states, activations, buffers, in bytes.

Model states follow the ZeRO paper (Rajbhandari et al. 2019, arXiv:1910.02054, Sec. 3.1 and 5, Table 1): with
mixed-precision Adam every parameter costs 2 bytes (16-bit weights) + 2 (16-bit gradients) + K = 12 (fp32
master weights, momentum and variance); ZeRO stage 1 shards the K bytes over the data-parallel degree N_d,
stage 2 also the gradients, stage 3 also the parameters. The byte split is a *convention* chosen by the user:
the paper's 16 bytes, Megatron-LM's 18 (fp32 gradient buffer) or DeepSpeed's memory estimator.

Activations follow Korthikanti et al. 2022 (arXiv:2205.05198, Sec. 4, Table 2), counted tensor by tensor so
that the paper's closed forms come out exactly for its GPT models while GQA, SwiGLU and MoE layers are
counted as they are. Pipeline stages are billed separately; 1F1B keeps ``pp - i`` micro-batches in flight
on stage ``i`` (Narayanan et al. 2021, arXiv:2104.04473, Sec. 2.2.1), so stage 0 holds ``L`` layers' worth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from ..architecture import ModelArchitecture
from .. import formats
from ..formats import SIXTEEN_BIT
from ..units import BYTES_PER_MIB, ceil_div
from .parameters import (Role, Split, Tensor, count_parameters, held_by_stage, largest_layer_parameters, layer_tensors,
                         non_layer_tensors)
from .engine_budgets import NON_TORCH_BYTES_PER_COLLECTIVE_GROUP, NON_TORCH_BYTES_SINGLE_GPU
from .serving import ServingLayout, stage_layer_ranges, tensor_bytes_per_gpu
from .training_activations import (ActivationTerms, cached_layer_terms, layer_activation_terms,  # noqa: F401 (re-exported)
                                   loss_activation_bytes, stored_layer_bytes)

CONVENTIONS: tuple[str, ...] = ("zero-paper", "megatron", "deepspeed")
PRECISIONS: tuple[str, ...] = ("bf16-mixed", "fp16-mixed", "fp8-mixed", "bf16")
OPTIMIZERS: tuple[str, ...] = ("adamw", "adam8bit", "sgd", "adafactor")
RECOMPUTE: tuple[str, ...] = ("none", "selective", "full")
METHODS: tuple[str, ...] = ("full", "lora", "qlora")
OFFLOADS: tuple[str, ...] = ("none", "optimizer", "optimizer_and_parameters")
LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                 "lm_head", "all-linear")

ADAM8BIT_BLOCK = 2048
"""bitsandbytes block-wise quantization: one fp32 absmax per 2048 values (Dettmers et al. 2021, arXiv:2110.02861, Sec. 2.1)."""

COMMUNICATION_BUCKET_BYTES = 2 * 25 * BYTES_PER_MIB
"""Gradient all-reduce buckets with data parallelism: PyTorch DDP's ``bucket_cap_mb=25``, two in flight."""


def optimizer_moment_bytes_per_parameter(optimizer: str) -> float:
    """Bytes of optimizer moments per trainable parameter in fp32 (Adafactor is per tensor, see below).

    AdamW: momentum + variance, 4 + 4 (Loshchilov & Hutter 2019). 8-bit Adam: two 1-byte states plus a fp32
    absmax per block of 2048 (arXiv:2110.02861). SGD with momentum: one fp32 buffer.
    """
    if optimizer == "adamw":
        return 8.0
    if optimizer == "adam8bit":
        return 2 * (1 + 4 / ADAM8BIT_BLOCK)
    if optimizer == "sgd":
        return 4.0
    raise ValueError(f"optimizer {optimizer!r} has no per-parameter moment size (Adafactor is factored per tensor)")


def adafactor_moment_bytes(tensors: tuple[Tensor, ...] | list[Tensor], tp: int = 1) -> int:
    """Adafactor's factored second moment: one fp32 row and one column vector per matrix, the full vector for
    1-D tensors, no first moment (beta1 = 0). Source: Shazeer & Stern 2018, arXiv:1804.04235, Sec. 3, Alg. 4.
    """
    total = 0
    for tensor in tensors:
        if tensor.role is Role.VECTOR or tensor.rows == 1:
            total += 4 * tensor.parameters
        else:
            total += 4 * (tensor.rows + tensor.cols) * tensor.copies
    return ceil_div(total, tp)


@dataclass(frozen=True)
class StateBytes:
    """Bytes per parameter of each model-state line, and which ZeRO stage starts sharding it.

    ``parameter`` is sharded from stage 3, ``gradient`` from stage 2 (DeepSpeed's estimator keeps the fp16
    gradients whole until stage 3, where it stops keeping them), ``gradient_partition`` (an fp32 gradient copy for
    the local optimizer partition) and ``optimizer`` (fp32 master + moments) from stage 1.
    """

    parameter: float
    gradient: float
    optimizer: float
    gradient_partition: float = 0.0
    gradient_sharded_at_stage2: bool = True
    gradient_kept_at_stage3: bool = True

    @property
    def unsharded_total(self) -> float:
        return self.parameter + self.gradient + self.gradient_partition + self.optimizer


def state_bytes(convention: str = "zero-paper", precision: str = "bf16-mixed", optimizer: str = "adamw",
                moment_bytes: float | None = None) -> StateBytes:
    """Per-parameter bytes of the model states under a convention.

    - ``zero-paper`` (arXiv:1910.02054, Sec. 3.1): 2 (fp16 weights) + 2 (fp16 gradients) + K, K = 4 (fp32
      master) + moments; 16 bytes for Adam.
    - ``megatron`` (Megatron-LM ``theoretical_memory_usage.py``; NVIDIA/Megatron-LM#654): gradients accumulate
      in an fp32 buffer, 2 + 4 + 12 = 18 bytes; the distributed optimizer (stage 1) gives 6 + 12/DP.
    - ``deepspeed`` (DeepSpeed ``estimate_zero2/3_model_states_mem_needs``): fp16 weights and gradients
      replicated (4 bytes) plus an fp32 gradient partition with the 12 optimizer bytes (16/N) at stages 1-2;
      at stage 3 the fp16 gradients are reduce-scattered straight into the partition, 18/N in all.
    ``fp8-mixed`` adds the 1-byte FP8 weight copy Transformer Engine caches between micro-batches; ``bf16``
    (pure) keeps no master copy and its moments in bf16.
    """
    moments = optimizer_moment_bytes_per_parameter(optimizer) if moment_bytes is None else moment_bytes
    if precision == "bf16":
        pure_moments = moments if optimizer == "adam8bit" else moments / 2
        return StateBytes(parameter=2.0, gradient=2.0, optimizer=pure_moments)
    parameter = 3.0 if precision == "fp8-mixed" else 2.0
    optimizer_bytes = 4.0 + moments
    if convention == "megatron":
        return StateBytes(parameter=parameter, gradient=4.0, optimizer=optimizer_bytes)
    if convention == "deepspeed":
        return StateBytes(parameter=parameter, gradient=2.0, optimizer=optimizer_bytes, gradient_partition=4.0,
                          gradient_sharded_at_stage2=False, gradient_kept_at_stage3=False)
    if convention == "zero-paper":
        return StateBytes(parameter=parameter, gradient=2.0, optimizer=optimizer_bytes)
    raise ValueError(f"unknown convention {convention!r}")


@dataclass(frozen=True)
class ModelStates:
    """Model-state bytes on one GPU, and the bytes moved to host memory by offloading."""

    parameters_bytes: int
    gradients_bytes: int
    optimizer_states_bytes: int
    cpu_offload_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.parameters_bytes + self.gradients_bytes + self.optimizer_states_bytes


def model_state_bytes(parameter_count: int | float, per_parameter: StateBytes, dp: int = 1, zero_stage: int = 0,
                      offload: str = "none") -> ModelStates:
    """Parameters, gradients and optimizer states of ``parameter_count`` parameters on one GPU.

    ZeRO-DP (arXiv:1910.02054, Sec. 5.1-5.3): P_os = 4Ψ + KΨ/N_d, P_os+g = 2Ψ + (2+K)Ψ/N_d,
    P_os+g+p = (2+2+K)Ψ/N_d. ZeRO-Offload (Ren et al. 2021, arXiv:2101.06840, Sec. 4.1) keeps only the 16-bit
    parameters on the GPU and moves gradients and optimizer states to the host; ZeRO-Infinity also the parameters.
    """
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError("zero_stage must be 0, 1, 2 or 3")

    def line(bytes_per_parameter: float, sharded: bool) -> int:
        return math.ceil(parameter_count * bytes_per_parameter / (dp if sharded else 1))

    parameters = line(per_parameter.parameter, zero_stage >= 3)
    if zero_stage >= 3 and not per_parameter.gradient_kept_at_stage3:
        working = 0
    else:
        working = line(per_parameter.gradient, zero_stage >= 3 or (zero_stage == 2 and per_parameter.gradient_sharded_at_stage2))
    gradients = working + line(per_parameter.gradient_partition, zero_stage >= 1)
    optimizer = line(per_parameter.optimizer, zero_stage >= 1)
    cpu = 0
    if offload in ("optimizer", "optimizer_and_parameters"):
        cpu, gradients, optimizer = gradients + optimizer, 0, 0
    if offload == "optimizer_and_parameters":
        cpu, parameters = cpu + parameters, 0
    return ModelStates(parameters, gradients, optimizer, cpu)


def zero3_gather_bytes(largest_layer_parameter_count: int, tp: int = 1, trains_weights: bool = True) -> int:
    """ZeRO-3's temporary buffer: the largest layer gathered in 16-bit with its 16-bit gradients, 4 bytes per
    parameter (DeepSpeed ``estimate_zero3_model_states_mem_needs``: ``largest_layer_memory = 4 * largest_layer_params``);
    2 bytes when the weights are frozen (LoRA: no gradients to reduce-scatter)."""
    return (4 if trains_weights else 2) * ceil_div(largest_layer_parameter_count, tp)


@dataclass(frozen=True)
class TrainingRecipe:
    """What is trained and how: method, number formats, optimizer and the memory convention."""

    method: str = "full"
    precision: str = "bf16-mixed"
    optimizer: str = "adamw"
    convention: str = "zero-paper"
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    flash_attention: bool = True
    dropout: bool = True

    def __post_init__(self) -> None:
        for value, known in ((self.method, METHODS), (self.precision, PRECISIONS), (self.optimizer, OPTIMIZERS),
                             (self.convention, CONVENTIONS)):
            if value not in known:
                raise ValueError(f"{value!r} is not one of {', '.join(known)}")
        if self.lora_rank < 1 or any(t not in LORA_TARGETS for t in self.lora_targets):
            raise ValueError(f"LoRA needs rank >= 1 and targets among {', '.join(LORA_TARGETS)}")


@dataclass(frozen=True)
class TrainingLayout:
    """How the job is laid out: parallel degrees, ZeRO stage, recomputation, micro-batch and sequence length."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    zero_stage: int = 0
    micro_batch: int = 1
    sequence_length: int = 2048
    recompute: str = "none"
    sequence_parallel: bool = False
    offload: str = "none"
    num_microbatches: int | None = None  # per pipeline per step; None = at least pp (1F1B steady state)

    def __post_init__(self) -> None:
        if min(self.tp, self.pp, self.dp, self.micro_batch, self.sequence_length) < 1:
            raise ValueError("parallel degrees, micro-batch and sequence length must be >= 1")
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError("zero_stage must be 0, 1, 2 or 3")
        if self.recompute not in RECOMPUTE or self.offload not in OFFLOADS:
            raise ValueError(f"recompute is one of {', '.join(RECOMPUTE)}; offload one of {', '.join(OFFLOADS)}")
        if self.offload != "none" and self.zero_stage == 0:
            raise ValueError("CPU offload needs ZeRO stage 1 or more")
        if self.offload == "optimizer_and_parameters" and self.zero_stage != 3:
            raise ValueError("offloading parameters needs ZeRO stage 3")

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp

    def in_flight_microbatches(self, stage: int) -> int:
        """1F1B: stage ``i`` of ``pp`` runs ``pp - i`` forwards before its first backward (Narayanan 2021)."""
        held = self.pp - stage
        return max(1, min(held, self.num_microbatches)) if self.num_microbatches else held


@lru_cache(maxsize=256)
def stage_tensors(arch: ModelArchitecture, pp: int) -> tuple[tuple[Tensor, ...], ...]:
    """Tensors held by each pipeline stage: its layers, the embedding (and vision tower) on the first stage and
    the final norm and LM head on the last (a tied embedding is kept on both ends, as Megatron-LM does)."""
    ranges = stage_layer_ranges(arch.num_layers, pp)
    stages = []
    for stage, layers in enumerate(ranges):
        tensors = [t for i in layers for t in layer_tensors(arch, i)]
        first, last = stage == 0, stage == len(ranges) - 1
        tensors += [t for t in non_layer_tensors(arch) if held_by_stage(t, arch, first, last)]
        stages.append(tuple(tensors))
    return tuple(stages)


@lru_cache(maxsize=1024)
def stage_parameters_per_gpu(arch: ModelArchitecture, tp: int, pp: int) -> tuple[int, ...]:
    """Parameters one GPU of each stage holds (TP shards as in Megatron-LM, vocabulary padded to 64)."""
    layout = ServingLayout(tp=tp, weight_format=SIXTEEN_BIT)
    return tuple(sum(tensor_bytes_per_gpu(t, arch, layout) for t in tensors) // 2 for tensors in stage_tensors(arch, pp))


@lru_cache(maxsize=1024)
def stage_weight_bytes(arch: ModelArchitecture, tp: int, pp: int, weight_format: str) -> tuple[int, ...]:
    """Bytes of the (frozen) weights per GPU of each stage in a storage format (``nf4`` for QLoRA)."""
    layout = ServingLayout(tp=tp, weight_format=formats.weight_format(weight_format))
    return tuple(sum(tensor_bytes_per_gpu(t, arch, layout) for t in tensors) for tensors in stage_tensors(arch, pp))


def _lora_matches(tensor: Tensor, target: str) -> int:
    """How many LoRA adapters ``target`` puts on ``tensor`` (0, 1, or 2 for a fused gate/up matrix)."""
    base = tensor.name.split(".")[-1]
    if target == "all-linear":
        if tensor.role in (Role.LINEAR, Role.EXPERT, Role.SHARED_EXPERT):
            return 2 if base == "gate_up_proj" else 1
        return 0
    if base == "gate_up_proj" and target in ("gate_proj", "up_proj"):
        return 1
    return 1 if base == target else 0


def lora_tensors(tensors: tuple[Tensor, ...] | list[Tensor], rank: int, targets: tuple[str, ...]) -> list[Tensor]:
    """The adapter matrices A (r x d_in) and B (d_out x r) on every targeted weight W (d_out x d_in).

    Source: Hu et al. 2021, LoRA, arXiv:2106.09685, Sec. 4.1: W + BA with rank r; r x (d_in + d_out) parameters.
    """
    adapters = []
    for tensor in tensors:
        count = min(2, sum(_lora_matches(tensor, t) for t in set(targets)))
        rows = tensor.rows // 2 if tensor.name.endswith("gate_up_proj") else tensor.rows
        for index in range(count):
            name = f"{tensor.name}.lora{index}"
            adapters.append(Tensor(name + "_A", rank, tensor.cols, Role.LINEAR, Split.REPLICATED, tensor.copies))
            adapters.append(Tensor(name + "_B", rows, rank, Role.LINEAR, Split.REPLICATED, tensor.copies))
    return adapters


@dataclass(frozen=True)
class StageMemory:
    """The memory bill of one GPU of one pipeline stage, in bytes."""

    stage: int
    layers: int
    in_flight_microbatches: int
    parameters_bytes: int
    gradients_bytes: int
    optimizer_states_bytes: int
    activations_bytes: int
    buffers_bytes: int
    overhead_bytes: int
    cpu_offload_bytes: int

    @property
    def fixed_bytes(self) -> int:
        """Everything that does not grow with the micro-batch."""
        return self.total_bytes - self.activations_bytes

    @property
    def total_bytes(self) -> int:
        return (self.parameters_bytes + self.gradients_bytes + self.optimizer_states_bytes + self.activations_bytes
                + self.buffers_bytes + self.overhead_bytes)


@dataclass(frozen=True)
class TrainingMemory:
    """Per-stage bills; ``worst`` is the stage that needs the most memory per GPU."""

    stages: tuple[StageMemory, ...]
    parameter_count: int
    trainable_parameter_count: int
    explanations: dict[str, str] = field(default_factory=dict)

    @property
    def worst(self) -> StageMemory:
        return max(self.stages, key=lambda s: (s.total_bytes, -s.stage))

    @property
    def total_bytes(self) -> int:
        return self.worst.total_bytes


def _activations(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, stage: int,
                 layers: range) -> int:
    return _stage_activations(arch, recipe.flash_attention, recipe.dropout, layout.sequence_length, layout.micro_batch,
                              layout.tp, layout.sequence_parallel, layout.recompute, layout.pp, stage,
                              layout.in_flight_microbatches(stage), layers.start, layers.stop)


@lru_cache(maxsize=65536)
def _stage_activations(arch: ModelArchitecture, flash: bool, dropout: bool, s: int, b: int, tp: int, sp: bool,
                       recompute: str, pp: int, stage: int, held: int, first_layer: int, end_layer: int) -> int:
    """Activations one GPU of a stage holds at its peak: ``held`` micro-batches of its layers, one layer being
    recomputed, the embedding dropout mask on the first stage and the loss on the last (cached: layouts that
    differ only in dp, ZeRO stage or GPU share it)."""
    moe_layers = sum(1 for i in range(first_layer, end_layer) if arch.is_moe_layer(i))
    stored, working = Fraction(0), Fraction(0)
    for moe, count in ((False, end_layer - first_layer - moe_layers), (True, moe_layers)):
        if count:
            terms = cached_layer_terms(arch, moe, s, b, flash, dropout)
            kept = stored_layer_bytes(terms, tp, sp, recompute)
            stored += count * kept
            working = max(working, stored_layer_bytes(terms, tp, sp, "none") - kept)
    total = held * stored + working
    if stage == 0 and dropout:
        total += held * Fraction(s * b * arch.hidden_size, tp if sp else 1)
    if stage == pp - 1:
        total += loss_activation_bytes(arch, s * b, tp, sp)
    return math.ceil(total)


@lru_cache(maxsize=256)
def _parameter_count(arch: ModelArchitecture) -> int:
    return count_parameters(arch).total


@lru_cache(maxsize=256)
def _largest_layer_parameters(arch: ModelArchitecture) -> int:
    return largest_layer_parameters(arch)


@lru_cache(maxsize=1024)
def _trained_tensors(arch: ModelArchitecture, pp: int, stage: int, rank: int, targets: tuple[str, ...]) -> tuple[Tensor, ...]:
    return tuple(lora_tensors(stage_tensors(arch, pp)[stage], rank, targets))


def training_memory(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout) -> TrainingMemory:
    """The per-GPU bill of every pipeline stage of one training configuration."""
    if layout.pp > arch.num_layers:
        raise ValueError(f"pipeline degree {layout.pp} exceeds the {arch.num_layers} layers")
    ranges = stage_layer_ranges(arch.num_layers, layout.pp)
    all_tensors = stage_tensors(arch, layout.pp)
    base_params = stage_parameters_per_gpu(arch, layout.tp, layout.pp)
    qlora_bytes = stage_weight_bytes(arch, layout.tp, layout.pp, "nf4") if recipe.method == "qlora" else None
    overhead = NON_TORCH_BYTES_SINGLE_GPU + (NON_TORCH_BYTES_PER_COLLECTIVE_GROUP if layout.gpus > 1 else 0)
    full = recipe.method == "full"
    stages = []
    per_parameter = state_bytes(recipe.convention, recipe.precision, "adamw")
    for stage, layers in enumerate(ranges):
        tensors = all_tensors[stage]
        trained = tensors if full else list(_trained_tensors(arch, layout.pp, stage, recipe.lora_rank, recipe.lora_targets))
        trainable = base_params[stage] if full else sum(t.parameters for t in trained)
        frozen_bytes = 0
        if not full:
            frozen = qlora_bytes[stage] if qlora_bytes else 2 * base_params[stage]
            frozen_bytes = math.ceil(frozen / (layout.dp if layout.zero_stage >= 3 else 1))
        moments = None
        if recipe.optimizer == "adafactor":
            moments = adafactor_moment_bytes(trained, layout.tp if full else 1) / max(1, trainable)
        per_parameter = state_bytes(recipe.convention, recipe.precision, recipe.optimizer, moments)
        states = model_state_bytes(trainable, per_parameter, layout.dp, layout.zero_stage, layout.offload)
        buffers = 0
        if layout.zero_stage == 3 and layout.dp > 1:
            buffers += zero3_gather_bytes(_largest_layer_parameters(arch), layout.tp, full)
        elif layout.dp > 1:
            buffers += COMMUNICATION_BUCKET_BYTES
        if recipe.method == "qlora":
            largest = max((t.rows * t.cols for t in tensors if t.role is not Role.VECTOR), default=0)
            buffers += 2 * ceil_div(largest, layout.tp)
        stages.append(StageMemory(
            stage=stage, layers=len(layers), in_flight_microbatches=layout.in_flight_microbatches(stage),
            parameters_bytes=states.parameters_bytes + frozen_bytes, gradients_bytes=states.gradients_bytes,
            optimizer_states_bytes=states.optimizer_states_bytes,
            activations_bytes=_activations(arch, recipe, layout, stage, layers), buffers_bytes=buffers,
            overhead_bytes=overhead, cpu_offload_bytes=states.cpu_offload_bytes))
    total = _parameter_count(arch)
    trainable_total = total if full else sum(t.parameters for t in _trained_tensors(arch, 1, 0, recipe.lora_rank, recipe.lora_targets))
    return TrainingMemory(tuple(stages), total, trainable_total, _explain(recipe, layout, per_parameter))


def _explain(recipe: TrainingRecipe, layout: TrainingLayout, per_parameter: StateBytes) -> dict[str, str]:
    def shard(stage: int) -> str:
        return f"/{layout.dp} (ZeRO-{layout.zero_stage})" if layout.zero_stage >= stage and layout.dp > 1 else ""

    base = {"full": "", "lora": "frozen bf16 base + LoRA adapters; ", "qlora": "frozen NF4 base + LoRA adapters; "}[recipe.method]
    offloaded = "; on the CPU (ZeRO-Offload)" if layout.offload != "none" else ""
    working = shard(2) if per_parameter.gradient_sharded_at_stage2 else shard(3)
    partition = f" + fp32 partition {per_parameter.gradient_partition:g} B{shard(1)}" if per_parameter.gradient_partition else ""
    return {
        "parameters": f"{base}{per_parameter.parameter:g} B/param{shard(3)}, TP={layout.tp}, worst PP stage ({recipe.convention})",
        "gradients": f"{per_parameter.gradient:g} B/param{working}{partition}{offloaded}",
        "optimizer_states": f"{recipe.optimizer} {per_parameter.optimizer:.4g} B/param (master + moments){shard(1)}{offloaded}",
        "activations": f"Korthikanti Table 2, recompute={layout.recompute}, SP={'on' if layout.sequence_parallel else 'off'}, "
                       f"{'FlashAttention' if recipe.flash_attention else 'eager attention (5as^2b)'}, x in-flight "
                       "micro-batches (1F1B), + embedding dropout and fp32 logits",
        "buffers": "ZeRO-3 gather of the largest layer (4 B/param)" if layout.zero_stage == 3 and layout.dp > 1 else
                   "gradient buckets 2 x 25 MiB" if layout.dp > 1 else "none",
        "overhead": "CUDA context + NCCL communicators (non-torch memory)",
    }
