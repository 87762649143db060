"""Training memory per GPU: parameters, gradients, optimizer states, activations, buffers, in bytes.

Model states (parameters, gradients, optimizer states with ZeRO sharding) are in ``model_states``: the ZeRO paper
(Rajbhandari et al. 2019, arXiv:1910.02054) and the conventions of Megatron-LM and DeepSpeed.

Activations follow Korthikanti et al. 2022 (arXiv:2205.05198, Sec. 4, Table 2), counted tensor by tensor so
that the paper's closed forms come out exactly for its GPT models while GQA, SwiGLU and MoE layers are
counted as they are. Pipeline stages are billed separately; 1F1B keeps ``pp - i`` micro-batches in flight
on stage ``i`` (Narayanan et al. 2021, arXiv:2104.04473, Sec. 2.2.1), so stage 0 holds ``L`` layers' worth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache

from ..model import formats
from ..model.architecture import ModelArchitecture
from ..model.formats import SIXTEEN_BIT, WeightFormat
from ..schema.choices import Convention, LoraTarget, Method, Offload, Optimizer, Precision, Recompute, values_of
from ..units import BYTES_PER_MIB, ceil_div
from .bill import BillLine, Term, formulas, sum_formula
from .engine_budgets import NON_TORCH_BYTES_PER_COLLECTIVE_GROUP, NON_TORCH_BYTES_SINGLE_GPU
from .model_states import StateBytes, adafactor_moment_bytes, model_state_terms, state_bytes, zero3_gather_term
from .parameters import Role, Split, Tensor, count_parameters, held_by_stage, largest_layer_parameters, layer_tensors, non_layer_tensors
from .runtime import ALLOCATOR_RESERVE_FRACTION, TrainingGpu
from .serving import ServingLayout, stage_layer_ranges, tensor_bytes_per_gpu
from .training_activations import cached_layer_terms, loss_activation_bytes, stored_layer_bytes
from .training_bill import activation_formula, stage_lines

CONVENTIONS = values_of(Convention)
PRECISIONS = values_of(Precision)
OPTIMIZERS = values_of(Optimizer)
RECOMPUTE = values_of(Recompute)
METHODS = values_of(Method)
OFFLOADS = values_of(Offload)
LORA_TARGETS = values_of(LoraTarget)

COMMUNICATION_BUCKET_BYTES = 2 * 25 * BYTES_PER_MIB
"""Gradient all-reduce buckets with data parallelism: PyTorch DDP's ``bucket_cap_mb=25``, two in flight."""


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
    trainable_layers: int = 0  # method "frozen": the last blocks trained with the output layer; the backbone frozen
    lora_dropout: bool = False  # PEFT lora_dropout > 0: each adapted matrix keeps a dropped copy of its input

    def __post_init__(self) -> None:
        for value, known in ((self.method, METHODS), (self.precision, PRECISIONS), (self.optimizer, OPTIMIZERS),
                             (self.convention, CONVENTIONS)):
            if value not in known:
                raise ValueError(f"{value!r} is not one of {', '.join(known)}")
        if self.lora_rank < 1 or any(t not in LORA_TARGETS for t in self.lora_targets):
            raise ValueError(f"LoRA needs rank >= 1 and targets among {', '.join(LORA_TARGETS)}")
        if self.trainable_layers < 0:
            raise ValueError("trainable_layers must be >= 0")

    @property
    def activation_bytes(self) -> int:
        """Bytes of one stored activation value: 4 in pure fp32 training, else 2 (16-bit)."""
        return 4 if self.precision == "fp32" else 2

    def first_trained_layer(self, arch: ModelArchitecture) -> int:
        """Layers before it are frozen and store no activations (``frozen``: the last ``trainable_layers``)."""
        return max(0, arch.num_layers - self.trainable_layers) if self.method == "frozen" else 0


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
    ep: int = 1  # expert parallelism: routed experts spread over ep GPUs of the tp x dp ranks (Megatron-Core)
    virtual_stages: int = 1  # interleaved 1F1B: model chunks per pipeline rank (Narayanan 2021, Sec. 2.2.2)

    def __post_init__(self) -> None:
        if min(self.tp, self.pp, self.dp, self.micro_batch, self.sequence_length, self.ep, self.virtual_stages) < 1:
            raise ValueError("parallel degrees, micro-batch and sequence length must be >= 1")
        if self.ep > 1 and (self.ep % self.tp or (self.tp * self.dp) % self.ep):
            raise ValueError("ep must be a multiple of tp that divides tp x dp (experts spread over the TP and DP ranks)")
        if self.virtual_stages > 1 and self.pp == 1:
            raise ValueError("virtual pipeline stages need pp > 1")
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

    @property
    def expert_data_parallel(self) -> int:
        """Replicas of each expert: the tp x dp ranks of a stage share ``ep``-way spread experts."""
        return self.dp if self.ep == 1 else self.tp * self.dp // self.ep

    @property
    def interleaving_activation_factor(self) -> Fraction:
        """The interleaved schedule keeps ``1 + (p - 1)/(p v)`` times the 1F1B activations on the first stage
        (Korthikanti et al. 2022, arXiv:2205.05198, Sec. 4.2.3)."""
        if self.virtual_stages == 1:
            return Fraction(1)
        return 1 + Fraction(self.pp - 1, self.pp * self.virtual_stages)

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


def _shard_layout(tp: int, ep: int, weight_format: WeightFormat = SIXTEEN_BIT) -> ServingLayout:
    """The serving layout whose shard shapes match training's: experts TP-split, or spread over ``ep`` GPUs."""
    return ServingLayout(tp=tp, ep=ep, dp=max(1, ep // tp), weight_format=weight_format)


@lru_cache(maxsize=1024)
def stage_parameters_per_gpu(arch: ModelArchitecture, tp: int, pp: int, ep: int = 1) -> tuple[int, ...]:
    """Parameters one GPU of each stage holds (TP shards as in Megatron-LM, vocabulary padded to 64)."""
    layout = _shard_layout(tp, ep)
    return tuple(sum(tensor_bytes_per_gpu(t, arch, layout) for t in tensors) // 2 for tensors in stage_tensors(arch, pp))


@lru_cache(maxsize=1024)
def stage_expert_parameters_per_gpu(arch: ModelArchitecture, tp: int, pp: int, ep: int = 1) -> tuple[int, ...]:
    """The routed-expert part of ``stage_parameters_per_gpu`` (sharded by ZeRO over the expert data-parallel ranks)."""
    layout = _shard_layout(tp, ep)
    return tuple(sum(tensor_bytes_per_gpu(t, arch, layout) for t in tensors if t.role is Role.EXPERT) // 2
                 for tensors in stage_tensors(arch, pp))


@lru_cache(maxsize=1024)
def stage_weight_bytes(arch: ModelArchitecture, tp: int, pp: int, weight_format: str, ep: int = 1) -> tuple[int, ...]:
    """Bytes of the (frozen) weights per GPU of each stage in a storage format (``nf4`` for QLoRA)."""
    layout = _shard_layout(tp, ep, formats.weight_format(weight_format))
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
    cuda_context_bytes: int = 0
    nccl_bytes: int = 0
    allocator_reserve_bytes: int = 0
    lines: tuple[BillLine, ...] = field(default=(), compare=False)

    @property
    def allocated_bytes(self) -> int:
        """The tensors alone (``torch.cuda.max_memory_allocated``): what the papers' formulas count."""
        return (self.parameters_bytes + self.gradients_bytes + self.optimizer_states_bytes + self.activations_bytes
                + self.buffers_bytes)

    @property
    def reserved_bytes(self) -> int:
        """What PyTorch's caching allocator holds at the peak (``torch.cuda.max_memory_reserved``)."""
        return self.allocated_bytes + self.allocator_reserve_bytes

    @property
    def formula_total_bytes(self) -> int:
        """The formulas' total: tensors plus a flat non-torch ``overhead`` (ZeRO / Korthikanti accounting)."""
        return self.allocated_bytes + self.overhead_bytes

    @property
    def total_bytes(self) -> int:
        """The measured peak (``nvidia-smi``): the allocator's reserve, the CUDA context and NCCL's buffers."""
        return self.reserved_bytes + self.cuda_context_bytes + self.nccl_bytes

    @property
    def fixed_bytes(self) -> int:
        """Everything but the activations."""
        return self.total_bytes - self.activations_bytes


@dataclass(frozen=True)
class TrainingMemory:
    """Per-stage bills; ``worst`` is the stage that needs the most memory per GPU."""

    stages: tuple[StageMemory, ...]
    parameter_count: int
    trainable_parameter_count: int

    @property
    def worst(self) -> StageMemory:
        return max(self.stages, key=lambda s: (s.total_bytes, -s.stage))

    @property
    def lines(self) -> tuple[BillLine, ...]:
        """The worst stage's bill lines, each with the formula that produced it."""
        return self.worst.lines

    @property
    def explanations(self) -> dict[str, str]:
        """Line -> formula of the worst stage, with the totals written from the lines themselves."""
        lines = self.lines
        return formulas(lines) | {"total": sum_formula(lines), "formula_total": sum_formula(
            [replace(line, in_total=line.in_total and line.name not in MEASURED_PEAK_ONLY) for line in lines]) + " + overhead"}

    @property
    def total_bytes(self) -> int:
        return self.worst.total_bytes


def _held_microbatches(layout: TrainingLayout, stage: int) -> int | Fraction:
    """Micro-batches' worth of activations a stage holds: 1F1B's in flight, times interleaving's factor."""
    held = layout.in_flight_microbatches(stage)
    return held * layout.interleaving_activation_factor if layout.virtual_stages > 1 else held


def _activations(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, stage: int,
                 layers: range) -> int:
    trained = max(layers.start, recipe.first_trained_layer(arch))
    lora = _lora_dropout_bytes(arch, recipe, layout) if recipe.lora_dropout and recipe.method in ("lora", "qlora") else 0
    held = _held_microbatches(layout, stage)
    values = _stage_activations(arch, recipe.flash_attention, recipe.dropout, layout.sequence_length, layout.micro_batch,
                                layout.tp, layout.sequence_parallel, layout.recompute, layout.pp, stage,
                                held, trained, layers.stop, layers.start, recipe.activation_bytes)
    return values + math.ceil(held * lora * max(0, layers.stop - trained))


def _lora_dropout_bytes(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout) -> int:
    """Per layer and micro-batch: each adapted matrix keeps its dropped input (16-bit) and the 1-byte mask (PEFT
    ``LoraLayer``: ``lora_B(lora_A(dropout(x)))``); row-parallel inputs (o, down) are split by TP."""
    tokens, total = layout.sequence_length * layout.micro_batch, 0
    for tensor in layer_tensors(arch, arch.num_layers - 1):
        matches = sum(_lora_matches(tensor, t) for t in set(recipe.lora_targets))
        if matches:
            width = ceil_div(tensor.cols, layout.tp) if tensor.split is Split.ROW else tensor.cols
            total += min(2, matches) * tokens * width * (recipe.activation_bytes + 1)
    return total


@lru_cache(maxsize=65536)
def _stage_activations(arch: ModelArchitecture, flash: bool, dropout: bool, s: int, b: int, tp: int, sp: bool,
                       recompute: str, pp: int, stage: int, held: int | Fraction, first_layer: int, end_layer: int,
                       stage_start: int | None = None, width: int = 2) -> int:
    """Activations one GPU of a stage holds at its peak: ``held`` micro-batches of its layers from ``first_layer``
    (frozen ones before it store nothing), one layer being recomputed, the embedding dropout mask on the first stage
    when the embedding trains and the (fp32) loss on the last (cached: layouts that differ only in dp, ZeRO stage or
    GPU share it). ``width`` 4 (pure fp32) doubles the layers' 16-bit values (and, approximately, their masks)."""
    start = first_layer if stage_start is None else stage_start
    trained = range(min(max(first_layer, start), end_layer), end_layer)
    moe_layers = sum(1 for i in trained if arch.is_moe_layer(i))
    stored, working = Fraction(0), Fraction(0)
    for moe, count in ((False, len(trained) - moe_layers), (True, moe_layers)):
        if count:
            terms = cached_layer_terms(arch, moe, s, b, flash, dropout)
            kept = stored_layer_bytes(terms, tp, sp, recompute)
            stored += count * kept
            working = max(working, stored_layer_bytes(terms, tp, sp, "none") - kept)
    if len(trained) < end_layer - start:  # a frozen layer's forward runs without storing: its working set
        terms = cached_layer_terms(arch, arch.is_moe_layer(start), s, b, flash, dropout)
        working = max(working, stored_layer_bytes(terms, tp, sp, "none"))
    total = (held * stored + working) * Fraction(width, 2)
    if stage == 0 and dropout and trained.start == 0:
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


@lru_cache(maxsize=1024)
def _frozen_backbone_trained(arch: ModelArchitecture, pp: int, stage: int, tp: int, trainable_layers: int) -> int:
    """Parameters one GPU trains with a frozen backbone: its share of the last ``trainable_layers`` blocks and,
    on the last stage, the output layer (final norm and LM head; the tied embedding when it is the head)."""
    first = max(0, arch.num_layers - trainable_layers)
    layout, ranges = ServingLayout(tp=tp, weight_format=SIXTEEN_BIT), stage_layer_ranges(arch.num_layers, pp)
    tensors = [t for i in ranges[stage] if i >= first for t in layer_tensors(arch, i)]
    if stage == pp - 1:
        tensors += [t for t in stage_tensors(arch, pp)[stage] if t.role in (Role.LM_HEAD, Role.VECTOR)
                    and t.name in ("final_norm", "lm_head")]
        if arch.tie_word_embeddings:
            tensors += [t for t in stage_tensors(arch, pp)[stage] if t.role is Role.EMBEDDING]
    return sum(tensor_bytes_per_gpu(t, arch, layout) for t in tensors) // 2


def trained_parameters_per_gpu(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, stage: int) -> int:
    """Parameters with gradients (and optimizer states) on one GPU of ``stage``: its shard of the model, the LoRA
    adapters, or a frozen backbone's trained last blocks and output layer (what the data-parallel collectives and
    the optimizer step move)."""
    if recipe.method == "full":
        return stage_parameters_per_gpu(arch, layout.tp, layout.pp, layout.ep)[stage]
    if recipe.method == "frozen":
        return _frozen_backbone_trained(arch, layout.pp, stage, layout.tp, recipe.trainable_layers)
    return sum(t.parameters for t in _trained_tensors(arch, layout.pp, stage, recipe.lora_rank, recipe.lora_targets))


def _state_terms(dense: int, experts: int, per_parameter: StateBytes, layout: TrainingLayout,
                 what: str = "") -> dict[str, tuple[Term, ...]]:
    """Model-state terms of the dense part (ZeRO over dp) plus the routed experts (ZeRO over the expert data-parallel
    ranks, Megatron-Core's expert-DP group); ``what`` names the trained parameters in the terms' labels."""
    zero, offload = layout.zero_stage, layout.offload
    if not experts:
        return model_state_terms(dense, per_parameter, layout.dp, zero, offload, what=what)
    dense_terms = model_state_terms(dense, per_parameter, layout.dp, zero, offload, what="dense ")
    expert_terms = model_state_terms(experts, per_parameter, layout.expert_data_parallel, zero, offload, "expert-DP ranks", "expert ")
    return {name: dense_terms[name] + expert_terms[name] for name in dense_terms}


_RESERVE_NUMERATOR, _RESERVE_DENOMINATOR = ALLOCATOR_RESERVE_FRACTION.numerator, ALLOCATOR_RESERVE_FRACTION.denominator


def allocator_reserve_bytes(allocated_bytes: int) -> int:
    """The caching allocator's reserve at the peak: ``ceil(allocated x ALLOCATOR_RESERVE_FRACTION)``, in integers."""
    return -(-allocated_bytes * _RESERVE_NUMERATOR // _RESERVE_DENOMINATOR)


def measured_peak_terms(allocated_bytes: int, layout: TrainingLayout, gpu: TrainingGpu) -> tuple[int, int, int]:
    """(CUDA context, NCCL buffers, caching-allocator reserve) of one GPU at the peak (``runtime``)."""
    return gpu.cuda_context_bytes, gpu.nccl_bytes(layout.gpus), allocator_reserve_bytes(allocated_bytes)


MEASURED_PEAK_ONLY = ("cuda_context", "nccl", "allocator_reserve")
"""Lines of the measured peak the formulas' total replaces by the flat ``overhead``."""

STATE_LINES = ("parameters", "gradients", "optimizer_states", "buffers", "cpu_offload")


@dataclass(frozen=True)
class StageStates:
    """What one GPU of a stage holds whatever the micro-batch: model states (frozen weights in ``parameters_bytes``)
    and communication buffers, with the terms each line sums (``STATE_LINES``; the bill's formulas)."""

    parameters_bytes: int
    gradients_bytes: int
    optimizer_states_bytes: int
    buffers_bytes: int
    cpu_offload_bytes: int
    terms: dict[str, tuple[Term, ...]] = field(default_factory=dict, compare=False)

    @classmethod
    def of_terms(cls, terms: dict[str, tuple[Term, ...]]) -> StageStates:
        parameters, gradients, optimizer, buffers, cpu = (sum(t.bytes for t in terms[name]) for name in STATE_LINES)
        return cls(parameters, gradients, optimizer, buffers, cpu, terms)

    @property
    def allocated_bytes(self) -> int:
        return self.parameters_bytes + self.gradients_bytes + self.optimizer_states_bytes + self.buffers_bytes


def stage_states(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout) -> tuple[StageStates, ...]:
    """Model states and buffers of every stage (they depend on TP, PP, EP, DP, ZeRO and offload only)."""
    base_params = stage_parameters_per_gpu(arch, layout.tp, layout.pp, layout.ep)
    expert_params = stage_expert_parameters_per_gpu(arch, layout.tp, layout.pp, layout.ep)
    qlora_bytes = stage_weight_bytes(arch, layout.tp, layout.pp, "nf4", layout.ep) if recipe.method == "qlora" else None
    full, backbone = recipe.method == "full", recipe.method == "frozen"
    weight_width = 4 if recipe.precision == "fp32" else 2
    frozen_over = layout.dp if layout.zero_stage >= 3 else 1
    frozen_label = "frozen " + ("fp32" if weight_width == 4 else "16-bit") + (" backbone" if backbone else " base")
    trained_label = {"full": "", "lora": "LoRA ", "qlora": "LoRA ", "frozen": "trained blocks' "}[recipe.method]
    stages = []
    for stage, tensors in enumerate(stage_tensors(arch, layout.pp)):
        trained = tensors if full or backbone else list(_trained_tensors(arch, layout.pp, stage, recipe.lora_rank, recipe.lora_targets))
        if backbone:
            trainable = _frozen_backbone_trained(arch, layout.pp, stage, layout.tp, recipe.trainable_layers)
        else:
            trainable = base_params[stage] if full else sum(t.parameters for t in trained)
        frozen: tuple[Term, ...] = ()
        if qlora_bytes:
            frozen = (Term("frozen NF4 base", qlora_bytes[stage], over=frozen_over, over_label="DP ranks (ZeRO-3)"),)
        elif not full:
            frozen = (Term(frozen_label, base_params[stage] - trainable if backbone else base_params[stage], weight_width,
                           "params", frozen_over, "DP ranks (ZeRO-3)"),)
        moments = None
        if recipe.optimizer == "adafactor":
            moments = adafactor_moment_bytes(trained, layout.tp if full else 1) / max(1, trainable)
        per_parameter = state_bytes(recipe.convention, recipe.precision, recipe.optimizer, moments)
        experts = expert_params[stage] if full else 0
        terms = _state_terms(trainable - experts, experts, per_parameter, layout, trained_label)
        buffers: tuple[Term, ...] = ()
        if layout.zero_stage == 3 and layout.dp > 1:
            buffers += (zero3_gather_term(_largest_layer_parameters(arch), layout.tp, full),)
        elif layout.dp > 1:
            buffers += (Term("gradient all-reduce buckets (2 x 25 MiB in flight)", COMMUNICATION_BUCKET_BYTES),)
        if recipe.method == "qlora":
            largest = max((t.rows * t.cols for t in tensors if t.role is not Role.VECTOR), default=0)
            buffers += (Term("16-bit dequantized copy of the largest NF4 matrix", ceil_div(largest, layout.tp), 2, "params"),)
        stages.append(StageStates.of_terms({**terms, "parameters": terms["parameters"] + frozen, "buffers": buffers}))
    return tuple(stages)


def stage_activation_bytes(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout) -> tuple[int, ...]:
    """Activations one GPU of each stage holds at its peak (``_activations``)."""
    return tuple(_activations(arch, recipe, layout, stage, layers)
                 for stage, layers in enumerate(stage_layer_ranges(arch.num_layers, layout.pp)))


def training_memory(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout,
                    gpu: TrainingGpu | None = None) -> TrainingMemory:
    """The per-GPU bill of every pipeline stage of one training configuration, with the terms a measured peak
    holds beyond the formulas on ``gpu`` (default: a Hopper GPU on NVSwitch)."""
    gpu = gpu or TrainingGpu()
    ranges = stage_layer_ranges(arch.num_layers, layout.pp)  # refuses more stages than layers
    overhead = NON_TORCH_BYTES_SINGLE_GPU + (NON_TORCH_BYTES_PER_COLLECTIVE_GROUP if layout.gpus > 1 else 0)
    states = stage_states(arch, recipe, layout)
    activations = stage_activation_bytes(arch, recipe, layout)
    stages = []
    for stage, layers in enumerate(ranges):
        held = states[stage]
        allocated = held.allocated_bytes + activations[stage]
        context, nccl, reserve = measured_peak_terms(allocated, layout, gpu)
        trained = max(0, layers.stop - max(layers.start, recipe.first_trained_layer(arch)))
        first = stage == 0 and recipe.dropout and recipe.first_trained_layer(arch) == 0
        words = activation_formula(arch, recipe.flash_attention, layout.recompute, layout.sequence_parallel,
                                   _held_microbatches(layout, stage), trained, first, stage == layout.pp - 1, recipe.activation_bytes)
        stages.append(StageMemory(
            stage=stage, layers=len(layers), in_flight_microbatches=layout.in_flight_microbatches(stage),
            parameters_bytes=held.parameters_bytes, gradients_bytes=held.gradients_bytes,
            optimizer_states_bytes=held.optimizer_states_bytes, activations_bytes=activations[stage],
            buffers_bytes=held.buffers_bytes, overhead_bytes=overhead, cpu_offload_bytes=held.cpu_offload_bytes,
            cuda_context_bytes=context, nccl_bytes=nccl, allocator_reserve_bytes=reserve,
            lines=stage_lines(recipe, held.terms, activations[stage], words, overhead, layout.gpus, gpu, nccl,
                              allocated, reserve)))
    total = _parameter_count(arch)
    full, backbone = recipe.method == "full", recipe.method == "frozen"
    if backbone:
        trainable_total = _frozen_backbone_trained(arch, 1, 0, 1, recipe.trainable_layers)
    else:
        trainable_total = total if full else sum(t.parameters for t in _trained_tensors(arch, 1, 0, recipe.lora_rank, recipe.lora_targets))
    return TrainingMemory(tuple(stages), total, trainable_total)

