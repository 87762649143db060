"""The ``kind: training`` scenario: train or fine-tune a model on the cheapest cluster within a deadline.

Validated with the same located errors and did-you-mean as serving scenarios (``planner.schema``), which
registers this class under ``kind: training``.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, StrictInt, field_validator, model_validator

from ..limits import MAX_DEGREE_OPTIONS, MAX_NAME_CHARS, MAX_TEXT_CHARS
from .base import CatalogPaths, GpuChoices, GpuOverride, ModelRef, Number, StrictModel, _model_ref, parallel_degrees
from .choices import (
    Attention,
    ConventionChoice,
    LoraTargetChoice,
    MethodChoice,
    OffloadChoice,
    OptimizerChoice,
    PrecisionChoice,
    RecomputeChoice,
    TrainingObjective,
)
from .procurement import OfferRules

MAX_TRAINING_TOKENS = 10**15
MAX_SEQUENCE_LENGTH = 1_048_576


def _some(values: list[str], what: str) -> list[str]:
    """A non-empty list of choices, each once, in the order given."""
    if not values:
        raise ValueError(f"list at least one {what}")
    return list(dict.fromkeys(values))


class LoraOptions(StrictModel):
    """LoRA adapters: rank and the weight matrices they are attached to (PEFT ``target_modules`` names)."""

    rank: StrictInt = Field(16, ge=1, le=4096, description="Adapter rank r")
    dropout: Number = Field(0.0, ge=0.0, lt=1.0, description="PEFT lora_dropout; > 0 keeps a dropped copy of each adapted input")
    target_modules: list[LoraTargetChoice] = Field(default=["q_proj", "v_proj"],
                                      description="q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head or all-linear")

    @field_validator("target_modules")
    @classmethod
    def _known_targets(cls, values: list[str]) -> list[str]:
        return _some(values, "target module")


class DataOptions(StrictModel):
    """How much is trained, and in which batches."""

    tokens: Number | None = Field(None, ge=1, le=MAX_TRAINING_TOKENS, description="Tokens to train on in total")
    epochs: Number | None = Field(None, gt=0, le=10_000, description="Passes over the dataset (with dataset_tokens)")
    dataset_tokens: Number | None = Field(None, ge=1, le=MAX_TRAINING_TOKENS, description="Tokens in the dataset")
    sequence_length: StrictInt = Field(..., ge=16, le=MAX_SEQUENCE_LENGTH, description="Tokens per training sequence")
    global_batch_sequences: StrictInt | None = Field(None, ge=1, le=10_000_000, description="Sequences per optimizer step")
    global_batch_tokens: StrictInt | None = Field(None, ge=16, le=10**10, description="Tokens per optimizer step")

    @model_validator(mode="after")
    def _consistent(self) -> DataOptions:
        if (self.tokens is None) == (self.epochs is None and self.dataset_tokens is None):
            raise ValueError("give either tokens, or epochs and dataset_tokens")
        if self.tokens is None and (self.epochs is None or self.dataset_tokens is None):
            raise ValueError("epochs and dataset_tokens go together")
        if (self.global_batch_sequences is None) == (self.global_batch_tokens is None):
            raise ValueError("give exactly one of global_batch_sequences or global_batch_tokens")
        if self.global_batch_tokens is not None and self.global_batch_tokens % self.sequence_length:
            raise ValueError(f"global_batch_tokens ({self.global_batch_tokens}) must be a multiple of "
                             f"sequence_length ({self.sequence_length})")
        return self

    @property
    def total_tokens(self) -> int:
        if self.tokens is not None:
            return math.ceil(self.tokens)
        return math.ceil(float(self.epochs or 0) * float(self.dataset_tokens or 0))

    @property
    def global_batch(self) -> int:
        """Sequences per optimizer step."""
        if self.global_batch_sequences is not None:
            return self.global_batch_sequences
        return int(self.global_batch_tokens or 0) // self.sequence_length


def _degrees(values: list[int]) -> list[int]:
    return parallel_degrees(values, 65_536)


class TrainingParallelism(StrictModel):
    """The layouts to search: parallel degrees, ZeRO stages, recomputation, sequence parallelism, offload."""

    tp: list[StrictInt] = Field(default_factory=lambda: [1, 2, 4, 8], max_length=MAX_DEGREE_OPTIONS, description="Tensor-parallel degrees")
    pp: list[StrictInt] = Field(default_factory=lambda: [1, 2, 4, 8], max_length=MAX_DEGREE_OPTIONS,
                                description="Pipeline-parallel degrees")
    dp: list[StrictInt] | None = Field(None, max_length=MAX_DEGREE_OPTIONS,
                                       description="Data-parallel degrees (default: every divisor of the global batch)")
    zero_stages: list[StrictInt] = Field(default_factory=lambda: [0, 1, 2, 3], description="ZeRO stages 0-3")
    recompute: list[RecomputeChoice] = Field(default=["none", "selective", "full"], description="Activation recomputation")
    sequence_parallel: list[bool] = Field(default_factory=lambda: [False, True], description="Megatron sequence parallelism")
    offload: list[OffloadChoice] = Field(default=["none"], description="none, optimizer, optimizer_and_parameters")
    ep: list[StrictInt] = Field(default_factory=lambda: [1], max_length=MAX_DEGREE_OPTIONS,
                                description="Expert-parallel degrees (MoE models; multiples of tp dividing tp x dp)")
    virtual_stages: list[StrictInt] = Field(default_factory=lambda: [1], max_length=MAX_DEGREE_OPTIONS,
                                            description="Interleaved 1F1B model chunks per pipeline rank (1 = plain 1F1B)")
    max_gpus: StrictInt = Field(1024, ge=1, le=1_000_000, description="Most GPUs one job may use")

    _tp = field_validator("tp", "pp", "ep", "virtual_stages")(classmethod(lambda cls, v: _degrees(v)))

    @field_validator("dp")
    @classmethod
    def _dp(cls, values: list[int] | None) -> list[int] | None:
        return None if values is None else _degrees(values)

    @field_validator("zero_stages")
    @classmethod
    def _stages(cls, values: list[int]) -> list[int]:
        if not values or any(v not in (0, 1, 2, 3) for v in values):
            raise ValueError("ZeRO stages are 0, 1, 2 and 3")
        return sorted(set(values))

    @field_validator("recompute")
    @classmethod
    def _recompute(cls, values: list[str]) -> list[str]:
        return _some(values, "recomputation mode")

    @field_validator("offload")
    @classmethod
    def _offload(cls, values: list[str]) -> list[str]:
        return _some(values, "offload mode")

    @field_validator("sequence_parallel")
    @classmethod
    def _sp(cls, values: list[bool]) -> list[bool]:
        if not values:
            raise ValueError("list at least one of false, true")
        return sorted(set(values))


class TrainingGpuOverride(GpuOverride):
    """Per-GPU changes to the catalog for this scenario (serving's: price, stock, node size and bandwidths; plus
    an optional assumed utilisation that replaces the time model on this GPU)."""

    mfu: Number | None = Field(None, gt=0, le=1, description="Assumed model-FLOPs utilisation on this GPU "
                                                           "(replaces the step-time model; default: modelled)")


class MemoryOptions(StrictModel):
    """How the memory model counts: byte convention, attention kernel and dropout masks."""

    convention: ConventionChoice = Field("zero-paper", description="zero-paper (16 B/param), megatron (18) or deepspeed (estimator)")
    attention: Attention = Field("flash", description="flash: no s^2 activations; eager: Korthikanti's 5as^2b")
    dropout: bool = Field(True, description="Count dropout masks (Korthikanti Table 2 does)")


class TrainingBudget(StrictModel):
    max_usd: Number | None = Field(None, gt=0, le=1e12, description="Ceiling on the whole job's cost, USD")
    max_usd_per_hour: Number | None = Field(None, gt=0, le=1e9, description="Ceiling on the cluster's price, USD per hour")


class TrainingSolverOptions(StrictModel):
    time_limit_s: Number = Field(10.0, gt=0, le=3600)
    workers: StrictInt = Field(1, ge=1, le=64, description="CP-SAT workers (1 is deterministic)")
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1)


class TrainingScenario(GpuChoices):
    """A training scenario: the cheapest (or fastest) layout and cluster that trains ``data`` in time."""

    _override_class: ClassVar[type[BaseModel]] = TrainingGpuOverride

    name: str | None = Field(None, max_length=MAX_NAME_CHARS)
    description: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    kind: Literal["training"] = "training"
    model: ModelRef = Field(..., description="Catalog id, {config: path} or {architecture: {...}}")
    method: MethodChoice = Field("full", description="full (pre-training / full fine-tune), lora, qlora or frozen (backbone)")
    lora: LoraOptions = Field(default_factory=LoraOptions)
    trainable_layers: StrictInt = Field(0, ge=0, le=10_000, description="method frozen: the last blocks trained with the output layer")
    precision: PrecisionChoice = Field("bf16-mixed", description="bf16-mixed, fp16-mixed, fp8-mixed, bf16 (pure) or fp32 (pure)")
    optimizer: OptimizerChoice = Field("adamw", description="adamw, adam8bit, sgd (with momentum) or adafactor")
    data: DataOptions
    micro_batch: list[StrictInt] = Field(default_factory=lambda: [1, 2, 4], max_length=MAX_DEGREE_OPTIONS,
                                         description="Micro-batch sizes to consider")
    parallelism: TrainingParallelism = Field(default_factory=TrainingParallelism)
    memory: MemoryOptions = Field(default_factory=MemoryOptions)
    mfu: Number | None = Field(None, gt=0, le=1, description="Assumed model-FLOPs utilisation instead of the step-time model "
                                                           "(default: modelled compute + communication + bubble)")
    deadline_hours: Number | None = Field(None, gt=0, le=1e6, description="Wall-clock limit for the whole job")
    budget: TrainingBudget = Field(default_factory=TrainingBudget)
    gpus: list[str] | dict[str, TrainingGpuOverride | None] | None = Field(
        None, description="Allowed GPU ids (default: all), as a list or a mapping id -> overrides")
    inventory: dict[str, StrictInt] = Field(default_factory=dict, description="Max GPUs available per GPU id")
    min_headroom: Number = Field(0.05, ge=0.0, lt=1.0, description="Fraction of each GPU's memory left free")
    objective: TrainingObjective = Field("cost", description="Minimise total USD, or wall-clock time")
    pricing: OfferRules | None = Field(None, description="Which rental prices to use: allow_estimated, offers, tiers (as serving)")
    whole_instances: bool = Field(False, description="Rent whole instances of each GPU's instance_gpus (idle GPUs in them "
                                                     "are paid for); off: any number of GPUs")
    solver: TrainingSolverOptions = Field(default_factory=TrainingSolverOptions)
    catalog: CatalogPaths = Field(default_factory=CatalogPaths)

    _model_ref = field_validator("model", mode="before")(classmethod(lambda cls, v: _model_ref(v)))

    @field_validator("micro_batch")
    @classmethod
    def _micro_batch(cls, values: list[int]) -> list[int]:
        if not values or any(v < 1 or v > 65_536 for v in values):
            raise ValueError("micro-batch sizes are between 1 and 65536")
        return sorted(set(values))

    def mfu_of(self, gpu_id: str) -> float | None:
        """The user's assumed MFU on this GPU, or None: the step-time model decides."""
        override = self.gpu_override(gpu_id).mfu
        return override if override is not None else self.mfu
