"""Serving performance of one replica shape: throughput, TTFT, TPOT and the load it sustains within an SLO.

The public API (pure: no solver, no I/O):

- ``ServingShape`` (model, GPU, layout, engine), ``RequestMix`` (input/output lengths as buckets, prefix-cache
  hit rate), ``Slo`` (TTFT/TPOT or per-user speed at a percentile);
- loads: ``Offline`` (every request queued at once), ``StaticBatch`` (one batch, no admissions),
  ``Concurrency`` (a closed loop of clients), ``RequestRate`` (Poisson arrivals);
- ``predict(shape, mix, load, max_sequences) -> ServingPerformance``;
- ``max_request_rate_within_slo(shape, mix, slo, max_sequences) -> SustainableRate``.

The model: step times from ``serving_steps`` (rooflines with fitted efficiencies, collectives over the real
links), the steady state of continuous batching from ``batching`` (Little's law), the waits from
``queueing`` (M/G/1 prefill queue, M/G/c slot queue, exponential tails). Sources in each module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from ..catalog import GpuSpec
from ..memory.serving import EngineSettings, ServingLayout
from ..memory.serving_bill import serving_memory
from ..model.architecture import ModelArchitecture
from ..schema.choices import Percentile
from .batching import PERCENTILES, Limits, MixStats, OperatingPoint, Replica
from .efficiency import canonical_engine, efficiency_for, mixes_prefill
from .serving_steps import StepModel, step_model
from .topology import NodeTopology, node_topology


@dataclass(frozen=True)
class ServingShape:
    """One replica: model, GPU, parallel layout and formats, engine settings and name, node topology.

    ``engine_name`` (vllm, sglang, trtllm, llamacpp) overrides the settings' ``engine``. ``num_scheduler_steps`` is
    vLLM 0.6's multi-step scheduling (new requests join only every that many steps)."""

    arch: ModelArchitecture
    gpu: GpuSpec
    layout: ServingLayout = field(default_factory=ServingLayout)
    engine: EngineSettings = field(default_factory=EngineSettings)
    engine_name: str | None = None
    topology: NodeTopology | None = None
    num_scheduler_steps: int = 1

    @property
    def engine_id(self) -> str:
        return canonical_engine(self.engine_name or self.engine.engine)

    @property
    def node_topology(self) -> NodeTopology:
        return self.topology or node_topology(self.gpu)

    @property
    def gpus_per_replica(self) -> int:
        return self.layout.gpus_per_replica


@dataclass(frozen=True)
class RequestMix:
    """Request lengths as weighted buckets of (input_tokens, output_tokens, weight); the share of input
    tokens found in the prefix cache (their prefill is skipped, their KV still read)."""

    buckets: tuple[tuple[int, int, float], ...]
    prefix_cache_hit_rate: float = 0.0

    def __post_init__(self) -> None:
        if not self.buckets:
            raise ValueError("a request mix needs at least one (input_tokens, output_tokens, weight) bucket")
        for bucket in self.buckets:
            if len(bucket) != 3:
                raise ValueError(f"bucket {bucket!r} is not (input_tokens, output_tokens, weight)")
            tokens_in, tokens_out, weight = bucket
            if tokens_in < 1 or tokens_out < 1 or not weight > 0:
                raise ValueError(f"bucket {bucket!r}: token counts must be >= 1 and the weight > 0")
        if not 0.0 <= self.prefix_cache_hit_rate < 1.0:
            raise ValueError("prefix_cache_hit_rate must be in [0, 1)")

    @classmethod
    def single(cls, input_tokens: int, output_tokens: int, prefix_cache_hit_rate: float = 0.0) -> RequestMix:
        return cls(((int(input_tokens), int(output_tokens), 1.0),), prefix_cache_hit_rate)

    @property
    def mean_input_tokens(self) -> float:
        total = sum(w for _, _, w in self.buckets)
        return sum(i * w for i, _, w in self.buckets) / total

    @property
    def mean_output_tokens(self) -> float:
        total = sum(w for _, _, w in self.buckets)
        return sum(o * w for _, o, w in self.buckets) / total

    @property
    def mean_context_tokens(self) -> int:
        """Tokens a sequence holds at its end, averaged over the mix (what the KV cache must hold per slot)."""
        return math.ceil(self.mean_input_tokens + self.mean_output_tokens)

    @property
    def max_context_tokens(self) -> int:
        return max(i + o for i, o, _ in self.buckets)


@dataclass(frozen=True)
class Slo:
    """A service-level objective at one percentile; ``min_output_tokens_per_s_per_user`` is a TPOT bound
    in another unit (1000 / TPOT ms)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    percentile: Percentile = "p90"
    min_output_tokens_per_s_per_user: float | None = None

    def __post_init__(self) -> None:
        if self.percentile not in PERCENTILES:
            raise ValueError(f"percentile must be one of {', '.join(PERCENTILES)}")
        for name in ("ttft_ms", "tpot_ms", "min_output_tokens_per_s_per_user"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0")

    @property
    def tpot_bound_ms(self) -> float | None:
        bounds = [b for b in (self.tpot_ms, 1000.0 / self.min_output_tokens_per_s_per_user
                              if self.min_output_tokens_per_s_per_user else None) if b is not None]
        return min(bounds) if bounds else None


@dataclass(frozen=True)
class Offline:
    """Every request queued at once; ``None`` = an endless queue (throughput only)."""

    num_requests: int | None = None


@dataclass(frozen=True)
class StaticBatch:
    """One batch of ``batch_size`` requests per replica started together, no admissions until it ends."""

    batch_size: int


@dataclass(frozen=True)
class Concurrency:
    """A closed loop of ``clients`` (whole system) each sending its next request when the last one ends."""

    clients: int


@dataclass(frozen=True)
class RequestRate:
    """Poisson arrivals at ``requests_per_s`` (whole system), spread evenly over the replicas."""

    requests_per_s: float


Load = Offline | StaticBatch | Concurrency | RequestRate


@dataclass(frozen=True)
class Latency:
    """A latency in milliseconds: mean and percentiles (``inf`` when the queue grows without bound)."""

    mean: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def from_seconds(cls, values: dict[str, float]) -> Latency:
        return cls(*(values[key] * 1000.0 for key in ("mean", "p50", "p90", "p99")))

    def at(self, percentile: str) -> float:
        return float(getattr(self, percentile))


@dataclass(frozen=True)
class ServingPerformance:
    """Predicted performance of the whole system (``replicas`` identical replicas) under one load."""

    output_tokens_per_s: float
    requests_per_s: float
    ttft_ms: Latency
    tpot_ms: Latency
    e2e_latency_ms: Latency
    batch_size: float
    bound: str
    breakdown_ms: dict[str, float]
    replicas: int = 1
    saturated: bool = False
    max_requests_per_s_per_replica: float = 0.0
    max_sequences: float = 0.0
    limit: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def output_tokens_per_s_per_user(self) -> float:
        return 1000.0 / self.tpot_ms.mean if self.tpot_ms.mean > 0 else math.inf


@dataclass(frozen=True)
class SustainableRate:
    """The largest Poisson request rate one replica serves within an SLO, what binds it, and the performance
    there (``None`` when no rate meets the SLO; ``limit`` then says why). The performance is worked out when
    first read: a solve asks for thousands of rates and reports a few."""

    requests_per_s: float
    limit: str
    _replica: Replica | None = field(default=None, repr=False, compare=False)
    _x: float = field(default=0.0, repr=False, compare=False)

    @property
    def performance(self) -> ServingPerformance | None:
        if self._replica is None:
            return None
        return _steady(self._replica, self._replica.point(self._x), 1)


# --- model assembly ---------------------------------------------------------------------------------------

def shape_steps(shape: ServingShape) -> StepModel:
    """The step-time constants of a shape (cached per shape)."""
    return step_model(shape.arch, shape.layout, shape.gpu, shape.node_topology, efficiency_for(shape.gpu, shape.engine_id))


def kv_max_sequences(shape: ServingShape, mix: RequestMix) -> int:
    """Sequences of the mix's mean final context one replica's KV cache holds (the memory model's bill)."""
    memory = serving_memory(shape.arch, shape.layout, shape.engine, shape.gpu.capacity_bytes, 1,
                            mix.mean_context_tokens, explain=False)
    return memory.max_concurrency()


@lru_cache(maxsize=65536)
def _replica(shape: ServingShape, mix: RequestMix, max_sequences: float) -> Replica:
    steps = shape_steps(shape)
    # SGLang's max_num_seqs is its CUDA-graph batch, not a cap: it runs as many requests as its KV pool holds
    seqs = math.inf if shape.engine_id == "sglang" else float(shape.engine.max_num_seqs * shape.layout.dp)
    limits = Limits(kv_sequences=float(max_sequences), max_num_seqs=seqs,
                    token_budget=float(shape.engine.max_num_batched_tokens), scheduler_steps=shape.num_scheduler_steps,
                    mixed_prefill=mixes_prefill(shape.engine_id, shape.engine.engine_version))
    return Replica(steps, MixStats.of(mix.buckets, mix.prefix_cache_hit_rate), limits)


def _breakdown_ms(replica: Replica, decode_seqs: float, prefill_tokens: float) -> dict[str, float]:
    mix = replica.mix
    parts = replica.steps.breakdown(max(decode_seqs, replica._min_decode), prefill_tokens, mix.decode_context, mix.prefill_context)
    return {key.removesuffix("_s") + "_ms": value * 1000.0 for key, value in parts.items()}


def _bound(replica: Replica, op: OperatingPoint, at_limit: bool) -> str:
    if at_limit and replica.limit_at_max == "kv-capacity":
        return "kv-capacity"
    mix = replica.mix
    return replica.steps.bound(max(op.decode_seqs, replica._min_decode), op.prefill_tokens, mix.decode_context, mix.prefill_context)


def _steady(replica: Replica, op: OperatingPoint, replicas: int, clients: float | None = None, extra_wait_s: float = 0.0,
            saturated: bool = False, notes: tuple[str, ...] = ()) -> ServingPerformance:
    mix = replica.mix
    ttft = replica.ttft(op, clients, extra_wait_s)
    if saturated and clients is None:
        ttft = dict.fromkeys(ttft, math.inf)
    tpot = replica.tpot(op)
    e2e = replica.e2e(ttft, op, clients) if not math.isinf(ttft["mean"]) else dict.fromkeys(ttft, math.inf)
    if extra_wait_s and mix.single is False:
        e2e = {key: value + extra_wait_s for key, value in e2e.items()}
    at_limit = saturated or op.x >= replica.x_max * 0.999
    return ServingPerformance(
        output_tokens_per_s=op.arrival_rate * mix.mean_output_tokens * replicas,
        requests_per_s=op.arrival_rate * replicas,
        ttft_ms=Latency.from_seconds(ttft), tpot_ms=Latency.from_seconds(tpot), e2e_latency_ms=Latency.from_seconds(e2e),
        batch_size=op.slots_used, bound=_bound(replica, op, at_limit),
        breakdown_ms=_breakdown_ms(replica, op.decode_seqs, op.prefill_tokens),
        replicas=replicas, saturated=saturated, max_requests_per_s_per_replica=replica.max_rate,
        max_sequences=replica.limits.slots, limit=replica.limit_at_max, notes=notes,
    )


def _request_rate(replica: Replica, rate: float, replicas: int) -> ServingPerformance:
    per_replica = rate / replicas
    if per_replica >= replica.max_rate:
        note = (f"{per_replica:.3g} requests/s per replica exceed the {replica.max_rate:.3g} it sustains "
                f"({replica.limit_at_max}): the queue grows without bound")
        return _steady(replica, replica.point(replica.x_max), replicas, saturated=True, notes=(note,))
    return _steady(replica, replica.point(replica.x_for_rate(per_replica)), replicas)


def _concurrency(replica: Replica, clients: int, replicas: int) -> ServingPerformance:
    """Closed loop: the ``x`` at which throughput x latency (Little) equals the clients per replica."""
    per_replica = clients / replicas
    mix = replica.mix

    def population(op: OperatingPoint) -> float:
        ttft = replica.ttft(op, per_replica)["mean"]
        return op.arrival_rate * (ttft + (mix.mean_output_tokens - 1.0) * op.step_s)

    top = replica.point(replica.x_max)
    if replica.x_max <= 0 or population(top) <= per_replica:
        in_service = population(top) if replica.x_max > 0 else 0.0
        wait = (per_replica - in_service) / top.arrival_rate if top.arrival_rate > 0 else math.inf
        notes = ((f"{per_replica:g} clients per replica exceed the {replica.limits.slots:g} sequences it runs at once "
                  f"({replica.limit_at_max}); the rest wait in the queue"),) if wait > 0 else ()
        return _steady(replica, top, replicas, clients=per_replica, extra_wait_s=max(wait, 0.0), notes=notes)
    low, high = 0.0, replica.x_max
    for _ in range(48):
        middle = 0.5 * (low + high)
        if population(replica.point(middle)) < per_replica:
            low = middle
        else:
            high = middle
        if high - low <= 1e-6 * replica.x_max:
            break
    return _steady(replica, replica.point(0.5 * (low + high)), replicas, clients=per_replica)


def _static(replica: Replica, batch: float, replicas: int, notes: tuple[str, ...] = ()) -> ServingPerformance:
    """One batch started together: prefill every prompt (in token-budget chunks), then decode together."""
    mix, steps = replica.mix, replica.steps
    slots = replica.limits.slots
    if batch > slots >= 1:
        notes += ((f"batch {batch:g} exceeds the {slots:g} sequences the replica holds ({replica.limit_at_max}); "
                  f"modelled at {slots:g}"),)
        batch = slots
    prompt = mix.mean_prefill_tokens
    total_prompt = batch * prompt
    budget = max(replica.limits.token_budget, 1.0)
    full_chunks, rest = divmod(total_prompt, budget)
    chunk_time = steps.token_time_s(0.0, min(budget, total_prompt), 0.0, mix.prefill_context)
    prefill_s = full_chunks * chunk_time + (steps.token_time_s(0.0, rest, 0.0, mix.prefill_context) if rest >= 1 else 0.0)
    chunks = max(1, math.ceil(total_prompt / budget - 1e-9))
    if steps.pp > 1 and chunks > 1:  # chunks follow each other through the stages: (chunks + pp - 1) stage steps
        prefill_s *= (chunks + steps.pp - 1) / (chunks * steps.pp)

    # prompts complete in order, evenly over the chunks: request i's first token comes with chunk ceil((i + 1) I / budget)
    def first_token(q: float) -> float:
        return prefill_s * max(1, math.ceil(q * chunks - 1e-9)) / chunks

    ttft = {"mean": prefill_s * (chunks + 1) / (2 * chunks), "p50": first_token(0.5), "p90": first_token(0.9), "p99": first_token(0.99)}
    decode_steps = max(mix.mean_output_tokens - 1.0, 0.0)
    decode_s = steps.token_time_s(batch, 0.0, mix.decode_context, 0.0)
    total_s = prefill_s + decode_steps * decode_s
    e2e = {key: value + decode_steps * decode_s for key, value in ttft.items()}
    bound = "kv-capacity" if any("exceeds" in n for n in notes) and replica.limits.slot_limit() == "kv-capacity" else \
        steps.bound(batch, 0.0, mix.decode_context, 0.0)
    return ServingPerformance(
        output_tokens_per_s=batch * mix.mean_output_tokens / total_s * replicas, requests_per_s=batch / total_s * replicas,
        ttft_ms=Latency.from_seconds(ttft), tpot_ms=Latency.from_seconds(dict.fromkeys(ttft, decode_s)),
        e2e_latency_ms=Latency.from_seconds(e2e), batch_size=batch, bound=bound,
        breakdown_ms=_breakdown_ms(replica, batch, 0.0), replicas=replicas, max_requests_per_s_per_replica=replica.max_rate,
        max_sequences=slots, limit=replica.limit_at_max, notes=notes,
    )


def _offline(replica: Replica, num_requests: int | None, replicas: int) -> ServingPerformance:
    """Every request queued at once: a batch if they all fit, else the saturated steady state."""
    per_replica = None if num_requests is None else math.ceil(num_requests / replicas)
    if per_replica is not None and per_replica <= replica.limits.slots and per_replica * replica.mix.mean_output_tokens > 0:
        return _static(replica, float(per_replica), replicas)
    top = replica.point(replica.x_max)
    if per_replica is None:
        return _steady(replica, top, replicas, saturated=True, notes=(("endless queue: throughput at the largest batch; "
                                                                       "TTFT is unbounded"),))
    rate, slots = top.arrival_rate, replica.limits.slots
    queued = max(per_replica - slots, 0.0)
    mean_admission = queued * queued / (2.0 * per_replica * rate) if rate > 0 else math.inf

    def admission(q: float) -> float:
        return max(0.0, (q * per_replica - slots) / rate) if rate > 0 else math.inf

    performance = _steady(replica, top, replicas, clients=slots)  # admissions wait below, not in an open slot queue
    shift = {"mean": mean_admission, "p50": admission(0.5), "p90": admission(0.9), "p99": admission(0.99)}
    ttft = {k: performance.ttft_ms.at(k) / 1000.0 + shift[k] for k in shift}
    e2e = {k: performance.e2e_latency_ms.at(k) / 1000.0 + shift[k] for k in shift}
    return ServingPerformance(**{**performance.__dict__, "ttft_ms": Latency.from_seconds(ttft),
                                 "e2e_latency_ms": Latency.from_seconds(e2e), "saturated": True})


def predict(shape: ServingShape, mix: RequestMix, load: Load, max_sequences: float | None = None,
            replicas: int = 1) -> ServingPerformance:
    """Predicted performance of ``replicas`` replicas of ``shape`` serving ``mix`` under ``load``.

    ``max_sequences``: sequences one replica's KV cache holds (the memory model's; computed from the mix's
    mean context when omitted). Loads other than ``StaticBatch`` are for the whole system."""
    if replicas < 1:
        raise ValueError("replicas must be >= 1")
    if max_sequences is None:
        max_sequences = kv_max_sequences(shape, mix)
    replica = _replica(shape, mix, float(max_sequences))
    if replica.limits.slots < 1:
        raise ValueError(f"the KV cache of one replica holds {max_sequences:g} sequences of "
                         f"{mix.mean_context_tokens:,} tokens: nothing can run")
    if isinstance(load, RequestRate):
        if not load.requests_per_s > 0:
            raise ValueError("requests_per_s must be > 0")
        return _request_rate(replica, load.requests_per_s, replicas)
    if isinstance(load, Concurrency):
        if load.clients < 1:
            raise ValueError("clients must be >= 1")
        return _concurrency(replica, load.clients, replicas)
    if isinstance(load, StaticBatch):
        if load.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        return _static(replica, float(load.batch_size), replicas)
    if isinstance(load, Offline):
        if load.num_requests is not None and load.num_requests < 1:
            raise ValueError("num_requests must be >= 1")
        return _offline(replica, load.num_requests, replicas)
    raise TypeError(f"unknown load {load!r}")


# --- the largest rate within an SLO ----------------------------------------------------------------------

@lru_cache(maxsize=256)
def _tpot_bound_ms(slo: Slo) -> float | None:
    return slo.tpot_bound_ms


def _slo_ratio(replica: Replica, op: OperatingPoint, slo: Slo) -> tuple[float, list[str]]:
    """The worst ratio of a predicted latency to its SLO bound at ``op`` (<= 1 meets the SLO), and the terms
    it breaks, as text."""
    worst, broken = 0.0, []
    tpot_bound = _tpot_bound_ms(slo)
    if tpot_bound is not None:
        tpot = replica.tpot_at(op, slo.percentile) * 1000.0
        worst = max(worst, tpot / tpot_bound)
        if tpot > tpot_bound:
            broken.append(f"TPOT {slo.percentile} {tpot:.3g} ms > {tpot_bound:.3g} ms")
    if slo.ttft_ms is not None:
        ttft = replica.ttft_at(op, slo.percentile) * 1000.0
        worst = max(worst, ttft / slo.ttft_ms)
        if ttft > slo.ttft_ms:
            broken.append(f"TTFT {slo.percentile} {ttft:.3g} ms > {slo.ttft_ms:.3g} ms")
    return worst, broken


def max_request_rate_within_slo(shape: ServingShape, mix: RequestMix, slo: Slo,
                                max_sequences: float | None = None, relative_tolerance: float = 5e-3) -> SustainableRate:
    """The largest Poisson arrival rate one replica sustains with every SLO term met at its percentile.

    TTFT and TPOT grow with the load, so the feasible loads are an interval ``[0, x*]``: bisection on the
    admitted requests per step ``x`` (each evaluation is a handful of step-time formulas; no inner solve).
    The result is limited by the SLO or, when the SLO still holds at the largest batch, by the KV cache,
    ``max_num_seqs`` or the token budget; stable queues need a rate strictly below that capacity, so the
    capacity itself is shaved by ``relative_tolerance``."""
    if max_sequences is None:
        max_sequences = kv_max_sequences(shape, mix)
    replica = _replica(shape, mix, float(max_sequences))
    if replica.limits.slots < 1 or replica.x_max <= 0:
        return SustainableRate(0.0, f"the KV cache holds {max_sequences:g} sequences of {mix.mean_context_tokens:,} tokens")
    lightest = replica.point(replica.x_max * 1e-6)
    ratio_low, broken = _slo_ratio(replica, lightest, slo)
    if broken:
        return SustainableRate(0.0, "; ".join(b.replace("TPOT", "TPOT at batch 1", 1).replace("TTFT", "TTFT on an idle replica", 1)
                                              for b in broken))
    high = replica.x_max * (1.0 - relative_tolerance)
    top = replica.point(high)
    ratio_high, broken_high = _slo_ratio(replica, top, slo)
    if not broken_high:
        limit = {"kv-capacity": f"KV cache ({replica.limits.kv_sequences:g} sequences)",
                 "max-num-seqs": f"max_num_seqs ({replica.limits.max_num_seqs:g})",
                 "token-budget": f"token budget ({replica.limits.token_budget:g} tokens per step)"}[replica.limit_at_max]
        return SustainableRate(top.arrival_rate, limit, replica, top.x)
    low = lightest.x
    # Illinois regula falsi on ln(ratio), monotone in x; bisection while the top ratio is infinite. Stops when
    # the bracket is tight or the feasible end is within the tolerance of the SLO bound.
    log_low, log_high = math.log(ratio_low), math.log(ratio_high) if math.isfinite(ratio_high) else math.inf
    side = 0
    while high - low > relative_tolerance * high and log_low < -relative_tolerance:
        if math.isfinite(log_high) and log_high > log_low:
            middle = high - log_high * (high - low) / (log_high - log_low)
            middle = min(max(middle, low + 0.02 * (high - low)), high - 0.02 * (high - low))
        else:
            middle = 0.5 * (low + high)
        ratio, broken = _slo_ratio(replica, replica.point(middle), slo)
        value = math.log(ratio) if ratio > 0 and math.isfinite(ratio) else (math.inf if ratio > 0 else -math.inf)
        if value > 0:
            high, log_high, broken_high = middle, value, broken
            if side == 1:
                log_low /= 2.0
            side = 1
        else:
            low, log_low = middle, value
            if side == -1 and math.isfinite(log_high):
                log_high /= 2.0
            side = -1
    op = replica.point(low)
    return SustainableRate(op.arrival_rate, "; ".join(broken_high), replica, op.x)
