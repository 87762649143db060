"""The ``kind: serving`` scenario: serve a workload with the cheapest fleet of replicas.

Glossary of parallel degrees used everywhere in the planner:

- ``tp``: tensor parallelism, each layer's matrices split over ``tp`` GPUs inside one NVLink domain.
- ``pp``: pipeline parallelism, the layers split into ``pp`` consecutive stages.
- ``ep``: expert parallelism, MoE experts spread over the GPUs of a replica's TP group.
- ``dp``: data parallelism, whole replicas; in serving these are the replica counts the solver chooses.
- ``zero_stage``: ZeRO sharding of optimizer states (1), gradients (2) and parameters (3) over ``dp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictInt, WithJsonSchema, field_validator, model_validator

from ..errors import did_you_mean
from ..limits import MAX_DEGREE_OPTIONS, MAX_GPUS_PER_REPLICA, MAX_NAME_CHARS, MAX_TEXT_CHARS
from ..model.formats import (
    KV_CACHE_DTYPE_ALIASES,
    KV_CACHE_DTYPES,
    WEIGHT_FORMAT_ALIASES,
    WEIGHT_FORMAT_VARIANT_PATTERN,
    WEIGHT_FORMATS,
    canonical_kv_dtype,
    canonical_weight_format,
    is_weight_format,
)
from .base import Budget, CatalogPaths, GpuChoices, GpuOverride, ModelRef, Number, SolverOptions, StrictModel, _model_ref, parallel_degrees
from .choices import EngineNameChoice, Entrypoint, MemoryMode
from .procurement import DemandProfile, PricingOptions, source_inventory
from .workload import Workload

if TYPE_CHECKING:
    from ..engines import EngineChoice


def _weight_format(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    name = canonical_weight_format(value)
    if not is_weight_format(name):
        raise ValueError(f"unknown weight format {value!r}; {did_you_mean(name, WEIGHT_FORMATS) or 'known: ' + ', '.join(WEIGHT_FORMATS)}")
    return name


def _kv_dtype(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    name = canonical_kv_dtype(value)
    if name not in KV_CACHE_DTYPES:
        known = did_you_mean(name, KV_CACHE_DTYPES) or "known: " + ", ".join(KV_CACHE_DTYPES)
        raise ValueError(f"unknown KV-cache dtype {value!r}; {known}")
    return name


WeightFormatName = Annotated[str, BeforeValidator(_weight_format), WithJsonSchema({
    "anyOf": [{"enum": [*WEIGHT_FORMATS, *WEIGHT_FORMAT_ALIASES]}, {"type": "string", "pattern": WEIGHT_FORMAT_VARIANT_PATTERN}],
    "description": "A weight format of 'planner formats' or an alias (awq, gptq, bfloat16, ...), read case-insensitively; "
                   "GPTQ/AWQ group-size variants such as int4-gptq-g32"})]
"""A weight format, its aliases mapped to the catalogued name before validation."""

KvCacheDtypeName = Annotated[str, BeforeValidator(_kv_dtype), WithJsonSchema({
    "enum": [*KV_CACHE_DTYPES, *KV_CACHE_DTYPE_ALIASES],
    "description": "A KV-cache dtype of 'planner formats' or an alias (auto, e4m3, ...), read case-insensitively"})]
"""A KV-cache dtype, its aliases mapped to the catalogued name before validation."""


class EngineOptions(StrictModel):
    """The serving engine and its memory knobs, in the engine's own names; an unset knob takes the engine's
    default for each GPU and layout (``planner.engines``, docs/engines.md)."""

    name: EngineNameChoice = Field("vllm", description="vllm | sglang | trtllm | llamacpp (also vllm-v0, vllm-v1, tensorrt-llm, llama.cpp)")
    version: str | None = Field(None, description="Release whose defaults apply, e.g. 0.6.3 (vLLM), 0.4.6 (SGLang), b4500")
    entrypoint: Entrypoint = Field("server", description="vLLM: OpenAI server or LLM class defaults")
    gpu_memory_utilization: Number | None = Field(None, gt=0.05, le=1.0, description="vLLM: fraction of GPU memory [0.9]")
    max_num_batched_tokens: StrictInt | None = Field(None, ge=16, le=1_048_576, description="vLLM: tokens per forward pass")
    max_num_seqs: StrictInt | None = Field(None, ge=1, le=65_536, description="vLLM: sequences per batch")
    block_size: StrictInt | None = Field(None, ge=1, le=1024, description="Paged-KV block size in tokens")
    mem_fraction_static: Number | None = Field(None, gt=0.05, lt=1.0, description="SGLang: weights + KV pool fraction")
    chunked_prefill_size: StrictInt | None = Field(None, ge=16, le=1_048_576, description="SGLang")
    cuda_graph_max_bs: StrictInt | None = Field(None, ge=1, le=65_536, description="SGLang")
    free_gpu_memory_fraction: Number | None = Field(None, gt=0.0, le=1.0, description="TensorRT-LLM: KV share of free memory [0.9]")
    max_num_tokens: StrictInt | None = Field(None, ge=16, le=1_048_576, description="TensorRT-LLM [8192]")
    max_batch_size: StrictInt | None = Field(None, ge=1, le=65_536, description="TensorRT-LLM [2048]")
    n_gpu_layers: StrictInt | None = Field(None, ge=0, le=100_000, description="llama.cpp -ngl: blocks on the GPU [all]")
    n_ubatch: StrictInt | None = Field(None, ge=1, le=1_048_576, description="llama.cpp physical batch [512]")
    cuda_graphs_in_budget: bool = Field(False, description="vLLM: charge CUDA graphs to the KV budget")
    memory_mode: MemoryMode = Field(
        "engine", description="'engine': the engine's budget; 'formula': weights x 1.2 + KV + 1 GiB rule of thumb"
    )

    @model_validator(mode="after")
    def _known_engine(self) -> EngineOptions:
        from ..engines import check_choice

        check_choice(self.choice())
        return self

    def choice(self) -> EngineChoice:
        """The ``planner.engines.EngineChoice`` these options ask for."""
        from ..engines import EngineChoice

        return EngineChoice(**self.model_dump())


class ParallelismOptions(StrictModel):
    tp: list[StrictInt] = Field(default_factory=lambda: [1, 2, 4, 8], max_length=MAX_DEGREE_OPTIONS,
                                description="Tensor-parallel degrees to consider")
    pp: list[StrictInt] = Field(default_factory=lambda: [1, 2, 4], max_length=MAX_DEGREE_OPTIONS,
                                description="Pipeline-parallel degrees to consider")
    expert_parallel: list[bool] = Field(default_factory=lambda: [False, True], max_length=2, description="Try EP=TP for MoE experts")
    max_gpus_per_replica: StrictInt = Field(64, ge=1, le=MAX_GPUS_PER_REPLICA)

    @field_validator("tp", "pp")
    @classmethod
    def _positive_degrees(cls, values: list[int]) -> list[int]:
        return parallel_degrees(values, 1024)


class ServingScenario(GpuChoices):
    """A serving scenario: serve ``workload`` with the cheapest fleet of replicas."""

    name: str | None = Field(None, max_length=MAX_NAME_CHARS)
    description: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    kind: Literal["serving"] = "serving"
    model: Annotated[ModelRef, Field(description="Catalog id, {config: path} or {architecture: {...}}")]
    precisions: list[WeightFormatName] | None = Field(None, description="Weight formats to consider (default: the checkpoint's)")
    kv_cache_dtypes: list[KvCacheDtypeName] = Field(default_factory=lambda: ["fp16"], description="KV-cache dtypes to consider")
    workload: Workload
    gpus: list[str] | dict[str, GpuOverride | None] | None = Field(
        None, description="Allowed GPU ids (default: all), as a list or a mapping id -> overrides"
    )
    inventory: dict[str, StrictInt] = Field(default_factory=dict, description="Max GPUs available per GPU id")
    budget: Budget = Field(default_factory=Budget)
    min_headroom: Number = Field(0.0, ge=0.0, lt=1.0, description="Fraction of each GPU's memory left free")
    whole_instances: bool = Field(False, description="Rent whole instances of each GPU's catalog instance_gpus "
                                                     "(idle GPUs in them are paid for); off: any number of GPUs")
    engine: EngineOptions = Field(default_factory=EngineOptions)
    parallelism: ParallelismOptions = Field(default_factory=ParallelismOptions)
    solver: SolverOptions = Field(default_factory=SolverOptions)
    catalog: CatalogPaths = Field(default_factory=CatalogPaths)
    pricing: PricingOptions | None = Field(None, description="Rent (on demand, reserved, spot), buy or own; hourly or TCO objective")
    demand: DemandProfile | None = Field(None, description="Load per period over a horizon or a typical day/week: a procurement plan")

    _model_ref = field_validator("model", mode="before")(classmethod(lambda cls, v: _model_ref(v)))

    @field_validator("precisions")
    @classmethod
    def _some_formats(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and not values:
            raise ValueError("list at least one weight format")
        return None if values is None else list(dict.fromkeys(values))

    @field_validator("kv_cache_dtypes")
    @classmethod
    def _some_kv_dtypes(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("list at least one KV-cache dtype")
        return list(dict.fromkeys(values))

    def inventory_of(self, gpu_id: str) -> int | None:
        if "@" in gpu_id and self.pricing is not None:  # a pricing source such as 'a100-80gb@owned'
            return source_inventory(self.pricing, gpu_id, self.inventory_of(gpu_id.partition("@")[0]))
        return super().inventory_of(gpu_id)

