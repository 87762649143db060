"""What ``planner memory --json`` and ``planner perf --json`` write for one configuration (serving, or training with
``--training``), as pydantic models: ``planner schema memory`` and ``planner schema perf`` print their JSON Schema,
and ``planner.configuration`` builds its JSON through them.

Like the plan's models (``planner.schema.outputs``) every model refuses unknown keys. Memory figures are GiB
(``_gib`` or under ``memory_per_gpu_gib``), KV-cache sizes per token and per sequence exact bytes, times ms or s
as their names say.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from ..model.architecture import AttentionKind
from .base import StrictModel
from .choices import Attention, MemoryMode
from .outputs import Latencies, MemoryGib

Explanations = dict[str, str]
"""Bill line -> the formula that produced its figure (``planner.memory.bill``), as ``--explain`` prints it."""


class ServingMemoryOutput(StrictModel):
    """``planner memory --json``: one serving configuration's memory bill per GPU and the KV-cache capacity left."""

    model: str
    gpu: str | None = Field(description="Catalog GPU id (None: --gpu-memory-gib or the 80 GiB default)")
    attention: AttentionKind = Field(description="How keys and values are kept: MHA, GQA, MQA or MLA")
    moe: bool
    parameter_count: int
    active_parameter_count: int = Field(description="Parameters one token reads (MoE: the routed experts it uses)")
    tp: int
    pp: int
    ep: int
    dp: int
    weight_format: str = Field(description="Weight format, or a .gguf file's ggml types with their tensor counts")
    gpu_layers: int | None = Field(description="llama.cpp -ngl: layers on the GPU (None: other engines)")
    kv_cache_dtype: str
    memory_mode: MemoryMode
    engine: str
    engine_version: str
    engine_settings: dict[str, int | float | str | None] = Field(description="The engine's resolved knobs, in its own names")
    max_num_batched_tokens: int
    max_num_seqs: int
    gpu_memory_utilization: float
    batch: int = Field(description="Sequences held at once")
    context_tokens: int
    kv_cache_bytes_per_token: int
    kv_cache_bytes_per_sequence: int
    kv_cache_block_size: int = Field(description="Tokens per KV-cache block (page)")
    kv_cache_capacity_tokens: int
    kv_cache_capacity_blocks: int
    max_concurrency: int = Field(description="Sequences of context_tokens the KV cache holds")
    max_concurrency_at_max_model_len: float = Field(description="The same at max_model_len (the figure vLLM logs)")
    max_model_len: int
    fits: bool
    memory_per_gpu_gib: MemoryGib = Field(description="The bill's lines, the budgets and the CUDA graphs, GiB")
    explain: Explanations
    vision_parameter_count: int
    architecture_assumptions: list[str] = Field(description="Rules assumed where config.json is silent")


class TrainingMemoryOutput(StrictModel):
    """``planner memory --training --json``: the worst pipeline stage's bill per GPU and the configuration."""

    model: str
    gpu: str | None
    method: str
    precision: str
    optimizer: str
    convention: str
    attention: Attention
    parameter_count: int
    trainable_parameter_count: int
    tp: int
    pp: int
    dp: int
    zero_stage: int
    micro_batch: int
    sequence_length: int
    recompute: str
    sequence_parallel: bool
    offload: str
    worst_stage: int
    fits: bool | None = Field(description="Within the GPU's capacity (None: no GPU or capacity given)")
    memory_per_gpu_gib: MemoryGib
    stages_total_gib: list[float] = Field(description="Each pipeline stage's total per GPU, GiB")
    explain: Explanations


class BatchSizeLoad(StrictModel):
    kind: Literal["batch_size"]
    batch_size: int


class ConcurrencyLoad(StrictModel):
    kind: Literal["concurrency"]
    clients: int


class RequestRateLoad(StrictModel):
    kind: Literal["request_rate"]
    requests_per_s: float


class OfflineLoad(StrictModel):
    kind: Literal["offline"]
    num_requests: int | None


PerfLoad = Annotated[BatchSizeLoad | ConcurrencyLoad | RequestRateLoad | OfflineLoad, Field(discriminator="kind")]
"""The one load ``planner perf`` was asked about."""


class EfficiencyOutput(StrictModel):
    """Fractions of the GPU's datasheet peaks the prediction assumes (``planner.performance.efficiency``)."""

    compute: float
    fp8_compute: float
    bandwidth: float
    fitted: bool = Field(description="Fitted on this GPU family's measurements, or carried over from another")


class ServingPerfOutput(StrictModel):
    """``planner perf --json``: the configuration, its load, and the predicted throughput and latencies."""

    model: str
    gpu: str
    gpu_family: str
    tp: int
    pp: int
    ep: int
    replicas: int
    gpus: int
    weight_format: str
    kv_cache_dtype: str
    compute_precision: str
    engine: str
    engine_version: str
    max_num_batched_tokens: int
    max_num_seqs: int
    input_tokens: int
    output_tokens: int
    prefix_cache_hit_rate: float
    load: PerfLoad
    kv_cache_sequences_per_replica: int
    tp_link: str
    pp_link: str
    efficiency: EfficiencyOutput
    output_tokens_per_s: float = Field(description="All replicas together")
    requests_per_s: float
    ttft_ms: Latencies
    tpot_ms: Latencies
    e2e_latency_ms: Latencies
    batch_size: float = Field(description="Mean sequences in a decode step")
    bound: str = Field(description="What limits a decode step: memory-bandwidth, compute, ...")
    breakdown: dict[str, float] = Field(description="One decode step's parts, ms (see 'planner perf --explain')")
    saturated: bool = Field(description="The load exceeds what the replicas sustain (the queue grows)")
    max_requests_per_s_per_replica: float
    max_sequences_per_replica: float
    batch_limit: str = Field(description="What caps the batch: kv-capacity, max-num-seqs, ...")
    output_tokens_per_s_per_user: float
    notes: list[str]


class LinksOutput(StrictModel):
    """The link each parallel group's traffic crosses (None: the degree is 1)."""

    tp: str | None
    dp: str | None
    dp_bus_gb_per_s: float | None = Field(description="Bus bandwidth of the data-parallel all-reduce, GB/s")
    pp: str | None
    ep: str | None


class TopologyOutput(StrictModel):
    """The cluster the step time is predicted on (the catalog's, or the --gpus-per-node / bandwidth flags)."""

    gpus_per_node: int
    scale_up_domain: int
    scale_up_gb_per_s: float | None
    inter_node_gb_per_s_per_gpu: float
    links: LinksOutput


class KernelsOutput(StrictModel):
    """The compute of one step by kernel kind, s."""

    gemm: float
    attention: float
    elementwise: float


class TrainingPerfOutput(StrictModel):
    """``planner perf --training --json``: one training configuration's step time, throughput and MFU."""

    model: str
    gpu: str
    gpus: int
    method: str
    precision: str
    tp: int
    pp: int
    dp: int
    ep: int
    virtual_stages: int
    zero_stage: int
    recompute: str
    sequence_parallel: bool
    offload: str
    micro_batch: int
    sequence_length: int
    global_batch_sequences: int
    micro_batches_per_step: int
    topology: TopologyOutput
    time_model: str = Field(description="'assumed MFU' or which fitted constants the time model used")
    step_seconds: float
    step_breakdown_s: dict[str, float] = Field(description="Compute, exposed DP / TP / PP / EP communication, bubble, "
                                                           "optimizer and offload, s")
    kernels_s: KernelsOutput
    dp_traffic_s: float = Field(description="The data-parallel gradient traffic, overlapped or not, s")
    tokens_per_second: float
    tokens_per_second_per_gpu: float
    model_tflops_per_gpu: float
    mfu: float
    hfu: float = Field(description="Hardware FLOPs utilisation (recomputation counted)")
    memory_per_gpu_gib: float = Field(description="The worst stage's total per GPU")
    fits: bool


MemoryOutput = ServingMemoryOutput | TrainingMemoryOutput
PerfOutput = ServingPerfOutput | TrainingPerfOutput

MEMORY: TypeAdapter[MemoryOutput] = TypeAdapter(MemoryOutput)
"""Validates ``planner memory --json`` (serving or ``--training``) and describes it (``planner schema memory``)."""
PERF: TypeAdapter[PerfOutput] = TypeAdapter(PerfOutput)
"""Validates ``planner perf --json`` (serving or ``--training``) and describes it (``planner schema perf``)."""

