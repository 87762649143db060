"""What ``planner solve --format json`` writes, as pydantic models: serving plans, training plans and procurement
schedules. ``planner schema plan`` prints their JSON Schema (``PLAN``), and the plan objects build their JSON
through these models, so the documented shape and the written one cannot drift. The analyses' outputs are in
``outputs_analysis``, those of ``memory`` and ``perf`` in ``outputs_configuration``.

Every model refuses unknown keys: a key added to the output without its field here is a failing test, not an
undocumented change. Memory bills are mappings of line name to GiB (their lines are the memory models'; see
``planner memory``); the solver's statistics are a flat mapping (CP-SAT's parameters, status, objective, bound).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, TypeAdapter

from .base import StrictModel
from .choices import Percentile, PricingObjective
from .workload import LengthBucket, Workload

SolverStatistics = dict[str, bool | int | float | str | None]
"""CP-SAT's parameters (workers, seed, time limit), the status, objective and bound, wall time, model size."""

MemoryGib = dict[str, float]
"""A per-GPU memory bill: line name -> GiB, with total, free and capacity."""


class Candidates(StrictModel):
    """Candidate shapes enumerated, those left after pruning, and those rejected by reason."""

    total: int
    after_pruning: int
    rejected: dict[str, int] | None = Field(None, description="Shapes left out, by reason (does_not_fit, ...)")


class Latencies(StrictModel):
    """One latency at the mean and at each reported percentile, ms (None: unbounded, a queue that never drains)."""

    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None


class ReplicaPerformance(StrictModel):
    """Predicted throughput of a replica group and latency of each replica at its load."""

    requests_per_s: float
    output_tokens_per_s: float
    percentile: Percentile | Literal["mean"] = Field(description="The percentile ttft_ms, tpot_ms and e2e_latency_ms are at")
    ttft_ms: float
    tpot_ms: float
    e2e_latency_ms: float
    ttft_ms_all: Latencies
    tpot_ms_all: Latencies
    batch_size: float
    bound: str = Field(description="What limits a decode step: memory-bandwidth, compute, ...")
    max_requests_per_s_per_replica: float | None
    load_factor: float | None


class ReplicaGroupOutput(StrictModel):
    """``count`` identical replicas of one shape."""

    gpu: str
    count: int
    tp: int
    pp: int
    ep: int
    weight_format: str
    kv_cache_dtype: str
    gpus_per_replica: int
    concurrency: int
    concurrency_per_replica: int
    max_concurrency: int
    cost_usd_per_hour: float
    price_usd_per_gpu_hour: float
    price_source: str
    price_estimated: bool
    headroom_fraction: float
    memory_per_gpu_gib: MemoryGib
    tp_link: str
    spans_nodes: bool
    performance: ReplicaPerformance | None = None


class IdleGpusOutput(StrictModel):
    """GPUs of whole rented instances that no replica uses."""

    gpu: str
    count: int
    instance_gpus: int
    cost_usd_per_hour: float


class ServingPlanOutput(StrictModel):
    """One serving plan: its replica groups, fleet cost and the slowest group's latencies."""

    status: str
    cost_usd_per_hour: float
    total_gpus: int
    concurrency: int
    min_headroom_fraction: float
    gpu_mix: str
    requests_per_s: float | None = None
    load_factor: float | None = None
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    replicas: list[ReplicaGroupOutput]
    idle_gpus: list[IdleGpusOutput] | None = None


class SloOutput(StrictModel):
    """The scenario's latency targets as stated, and the TPOT limit they make together."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    percentile: Percentile
    min_output_tokens_per_s_per_user: float | None = None
    tpot_limit_ms: float | None = Field(description="The tighter of tpot_ms and 1000 / min_output_tokens_per_s_per_user")


class OfflineDemand(StrictModel):
    requests: int
    deadline_hours: float


class StatedDemand(StrictModel):
    """The workload as the scenario states it: a concurrency, or a request rate (live traffic or an offline job)
    with its lengths and SLO. Only the keys that apply are written."""

    concurrency: int | None = None
    request_rate: float | None = Field(None, description="Requests/s the fleet must sustain (an offline job: over its deadline)")
    prompt_tokens: float | None = Field(None, description="Mean prompt tokens per request")
    output_tokens: float | None = Field(None, description="Mean output tokens per request")
    context_tokens: int = Field(description="Tokens per sequence the KV cache holds")
    length_mix: list[LengthBucket] | None = None
    prefix_cache_hit_rate: float | None = None
    slo: SloOutput | None = None
    offline: OfflineDemand | None = None


def stated_demand(workload: Workload) -> StatedDemand:
    """The demand as the scenario states it, for the JSON (only the keys that apply are set)."""
    if workload.concurrency is not None:
        return StatedDemand(concurrency=workload.concurrency, context_tokens=workload.tokens_per_sequence)
    slo = workload.slo
    optional: dict[str, Any] = {}
    if workload.length_mix is not None:
        optional["length_mix"] = [bucket.model_dump() for bucket in workload.buckets]
    if workload.prefix_cache_hit_rate:
        optional["prefix_cache_hit_rate"] = workload.prefix_cache_hit_rate
    if slo is not None:
        optional["slo"] = SloOutput(**slo.model_dump(exclude_none=True), tpot_limit_ms=slo.tpot_limit_ms)
    if workload.offline is not None:
        optional["offline"] = OfflineDemand(requests=workload.offline_requests or 0, deadline_hours=workload.offline.deadline_hours)
    return StatedDemand(request_rate=round(workload.demand_requests_per_s or 0.0, 6), prompt_tokens=round(workload.mean_prompt_tokens, 2),
                        output_tokens=round(workload.mean_output_tokens, 2), context_tokens=workload.tokens_per_sequence, **optional)


class PricingSummary(StrictModel):
    """What a serving plan's cost means under the scenario's ``pricing`` section."""

    objective: PricingObjective
    cost_usd_per_hour_means: str = Field(description="USD per hour of service, or per wall-clock hour over the horizon")
    utilisation: float
    horizon_years: float
    total_cost_of_ownership_usd: float | None = Field(None, description="objective tco: the cost over the horizon")


class OfflineJobOutput(StrictModel):
    """An offline job on the plan: time to finish, its cost and the price per million tokens."""

    requests: int
    deadline_hours: float
    hours_to_finish: float
    throughput_requests_per_s: float
    cost_usd: float
    cost_usd_held_to_deadline: float
    usd_per_million_tokens: float | None
    usd_per_million_output_tokens: float | None


class ServingSolveOutput(StrictModel):
    """``planner solve`` of a serving scenario."""

    scenario: str
    model: str
    status: str
    demand: StatedDemand
    job: OfflineJobOutput | None = None
    candidates: Candidates
    solver: SolverStatistics
    notes: list[str]
    plans: list[ServingPlanOutput]
    pricing: PricingSummary | None = Field(None, description="How prices were counted (hourly or TCO) when the scenario sets pricing")


class TrainingPlanOutput(StrictModel):
    """One training layout on one GPU type: degrees, time, cost, and the worst stage's memory bill."""

    status: str
    gpu: str
    gpus: int
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
    micro_batches_per_step: int
    hours: float
    cost_usd: float
    cost_usd_per_hour: float
    steps: int
    step_seconds: float
    step_breakdown_s: dict[str, float]
    tokens_per_second: float
    tokens_per_second_per_gpu: float
    model_tflops_per_gpu: float
    mfu: float
    time_model: str
    pipeline_bubble_fraction: float
    flops_per_token: float
    headroom_fraction: float
    worst_stage: int
    memory_per_gpu_gib: MemoryGib
    instance_gpus: int | None = Field(None, description="whole_instances: GPUs per rented instance (only when more than 1)")
    billed_gpus: int | None = Field(None, description="whole_instances: GPUs paid for, the layout's rounded up to instances")
    price_estimated: bool | None = Field(None, description="present (true) when the GPU's price is estimated (allow_estimated)")


class TrainingJob(StrictModel):
    tokens: int
    global_batch_sequences: int
    sequence_length: int
    deadline_hours: float | None


class TrainingSolveOutput(StrictModel):
    """``planner solve`` of a training scenario."""

    scenario: str
    kind: Literal["training"]
    model: str
    method: str
    objective: str
    status: str
    parameter_count: int
    trainable_parameter_count: int
    job: TrainingJob
    candidates: Candidates
    solver: SolverStatistics
    plans: list[TrainingPlanOutput]
    notes: list[str] | None = Field(None, description="GPUs left out for their prices (present only when some were)")


class PoolOutput(StrictModel):
    """A source of GPUs of a procurement plan (owned, bought, reserved, on demand or spot) and its prices."""

    gpu: str
    source: str
    offer: str
    unit_gpus: int
    usd_per_gpu_hour: float | None
    upfront_usd_per_gpu: float | None
    term_hours: float | None
    purchase_usd: float | None
    power_usd_per_gpu_hour: float | None
    lead_time_hours: float | None
    owned: int | None
    price_estimated: bool
    interruption_probability: float | None


class ReplicasInPool(StrictModel):
    pool: str
    shape: str
    count: int


class SpotUnits(StrictModel):
    pool: str
    shape: str
    provisioned: int
    guaranteed: int


class SlotOutput(StrictModel):
    """One slot of a period (an hour of the typical day, ...): its load and the fleet serving it."""

    slot: str
    hours: float
    load: int | float
    capacity: dict[str, int]
    gpus: dict[str, int]
    replicas: list[ReplicasInPool]
    spot_units: list[SpotUnits]


class PeriodOutput(StrictModel):
    """One period of the horizon: GPUs ordered and on premises, reservations, cost by source, slots."""

    period: str
    start_hours: float
    hours: float
    ordered_gpus: dict[str, int]
    onprem_gpus: dict[str, int]
    reserved_started_units: dict[str, int]
    reserved_active_units: dict[str, int]
    cost_usd: dict[str, float]
    slots: list[SlotOutput]


class BreakEvenOutput(StrictModel):
    """Utilisation above which buying (or reserving) a GPU beats renting it on demand."""

    gpu: str
    on_demand_usd_per_gpu_hour: float
    buy_break_even_utilisation: float | None = None
    buy_payback_months: float | None = None
    reserved_break_even_utilisation: dict[str, float] | None = None


class ProcurementSolveOutput(StrictModel):
    """``planner solve`` of a scenario with a demand profile: what to buy, reserve and rent in every period."""

    scenario: str
    model: str
    status: str
    kind: Literal["procurement"]
    steady_state: bool
    horizon_hours: float
    total_cost_usd: float
    cost_usd_per_hour: float
    discount_rate: float | None
    cost_by_source_usd: dict[str, float]
    pools: dict[str, PoolOutput]
    periods: list[PeriodOutput]
    utilisation: dict[str, dict[str, float]]
    break_even: list[BreakEvenOutput]
    solver: SolverStatistics
    notes: list[str]


SolveOutput = TrainingSolveOutput | ProcurementSolveOutput | ServingSolveOutput
"""What ``planner solve --format json`` writes for any scenario (training and procurement say their ``kind``)."""

PLAN: TypeAdapter[SolveOutput] = TypeAdapter(SolveOutput)
"""Validates a solve's JSON and describes it (``PLAN.json_schema()``, ``planner schema plan``)."""

