"""What one replica shape serves under a scenario's workload: the integers of its solver row.

``shape_capacity`` is the one place a candidate shape meets the performance model (``planner.performance.serving``):
the sequences its memory holds (the memory model's bill), the request rate it sustains within the SLO (traffic,
in milli-requests/s, rounded down so the solver never promises more than the model predicts), the sequences it
holds at that rate (Little's law: the batch in flight at the operating point) and its TPOT there (the latency
tie-break at equal cost). The single-period planner and the multi-period procurement model both call it.

Operating points, by how the scenario states its load:

- ``request_rate`` with an SLO: the largest Poisson rate at which every SLO term holds at its percentile
  (``max_request_rate_within_slo``); without an SLO, the largest rate whose queue stays stable;
- ``offline``: everything queued at once, the engine running the largest batch memory and its limits allow
  (``predict(..., Offline())``): the throughput is the rate;
- ``concurrency``: no rate; the latency is the TPOT of the sequences one replica holds when the shape serves the
  whole demand alone (``ceil(demand / ceil(demand / max_sequences))``), decoding together
  (``predict(..., StaticBatch(...))``: one step-time evaluation per shape); a plan's groups report the same
  measure at the sequences they hold.

For traffic the latency of the tie-break is likewise the TPOT of the batch a replica holds at the load it carries
when the shape serves the whole demand alone: at the largest sustainable rate every SLO-bound shape sits at the
SLO, which would tell the shapes apart by nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from ..performance.serving import (
    Offline,
    RequestMix,
    RequestRate,
    ServingPerformance,
    ServingShape,
    Slo,
    StaticBatch,
    max_request_rate_within_slo,
    predict,
)

if TYPE_CHECKING:
    from ..limits import Deadline
    from ..schema.workload import Workload
    from .enumeration import Enumeration
    from .serving import Candidate, ServingContext

MILLI = 1000
MICRO = 1_000_000


@dataclass(frozen=True)
class Traffic:
    """The workload as the performance model reads it: mode, request mix, SLO and demand (sequences or requests/s)."""

    mode: Literal["concurrency", "request_rate", "offline"]
    mix: RequestMix
    slo: Slo | None = None
    concurrency: int | None = None
    requests_per_s: float | None = None

    @classmethod
    def of(cls, workload: Workload) -> Traffic:
        buckets = tuple((b.prompt_tokens, b.output_tokens, b.weight) for b in workload.buckets)
        mix = RequestMix(buckets, workload.prefix_cache_hit_rate)
        slo = None
        if workload.slo is not None:
            s = workload.slo
            slo = Slo(s.ttft_ms, s.tpot_ms, s.percentile, s.min_output_tokens_per_s_per_user)
        return cls(workload.kind, mix, slo, workload.concurrency, workload.demand_requests_per_s)

    @property
    def percentile(self) -> str:
        """The percentile latencies are read at: the SLO's, else the mean."""
        return self.slo.percentile if self.slo is not None else "mean"

    def latency_ms(self, performance: ServingPerformance) -> float:
        """TPOT at the reported percentile (the SLO's, else the mean)."""
        return performance.tpot_ms.mean if self.percentile == "mean" else performance.tpot_ms.at(self.percentile)


@dataclass(frozen=True)
class ShapeCapacity:
    """One shape's row constants and the performance behind them."""

    max_sequences: int  # sequences one replica's memory holds
    rate_milli_rps: int  # traffic: sustainable requests/s within the SLO x 1000, rounded down (0: none)
    sequences_at_rate: int  # traffic: sequences in flight at that rate, rounded up, <= max_sequences
    latency_us: int  # TPOT at the operating point (SLO percentile, else mean), microseconds, rounded up
    limit: str  # what binds the operating point: an SLO term, the KV cache, max_num_seqs, the token budget
    performance: ServingPerformance | None  # one replica at its operating point (None when no rate meets the SLO)

    def unit(self, traffic: bool) -> int:
        """Capacity in the demand's unit: milli-requests/s for traffic, sequences otherwise."""
        return self.rate_milli_rps if traffic else self.max_sequences


def serving_shape(candidate: Candidate, context: ServingContext) -> ServingShape:
    """The performance model's view of a candidate: model, GPU, layout, engine settings and name, node topology."""
    return ServingShape(context.arch, candidate.gpu, candidate.layout, context.engine_for(candidate.gpu, candidate.layout),
                        context.engine.name, candidate.node_topology)


LATENCY_CAP_US = 10**8
"""Latencies for the tie-break are capped at 100 s (an unbounded one counts as that): keeps the folded objective small."""


def _micro(ms: float) -> int:
    return min(LATENCY_CAP_US, max(1, math.ceil(ms * 1000 - 1e-9))) if math.isfinite(ms) else LATENCY_CAP_US


def shape_capacity(candidate: Candidate, context: ServingContext, traffic: Traffic) -> ShapeCapacity:
    """The capacity of one replica of ``candidate`` under ``traffic``, latency included (see the module docstring)."""
    found = sustainable(candidate, context, traffic)
    return replace(found, latency_us=operating_latency_us(candidate, context, traffic, found))


def sustainable(candidate: Candidate, context: ServingContext, traffic: Traffic) -> ShapeCapacity:
    """Sequences and (traffic) the sustainable rate, without the latency (``latency_us`` 0): what covering the
    demand needs. Concurrency needs no performance-model call at all."""
    sequences = candidate.max_sequences
    if traffic.mode == "concurrency":
        return ShapeCapacity(sequences, 0, 0, 0, "memory", None)
    shape = serving_shape(candidate, context)
    performance: ServingPerformance | None
    if traffic.mode == "offline":
        performance = predict(shape, traffic.mix, Offline(), sequences)
        rate, limit = performance.requests_per_s, performance.limit
    else:
        found = max_request_rate_within_slo(shape, traffic.mix, traffic.slo or Slo(), sequences)
        rate, limit, performance = found.requests_per_s, found.limit, found.performance
    milli = math.floor(rate * MILLI + 1e-9) if performance is not None and math.isfinite(rate) else 0
    if milli < 1 or performance is None:
        return ShapeCapacity(sequences, 0, 0, 0, limit, performance if milli >= 1 else None)
    in_flight = min(sequences, max(1, math.ceil(performance.batch_size - 1e-9)))
    return ShapeCapacity(sequences, milli, in_flight, 0, limit, performance)


def operating_latency_us(candidate: Candidate, context: ServingContext, traffic: Traffic, found: ShapeCapacity) -> int:
    """TPOT at the shape's operating point, microseconds: the decode step of the batch one replica holds when the
    shape serves the whole demand alone with ``ceil(demand / capacity)`` replicas, its operating point in its own
    cheapest fleet. Concurrency: that many sequences; traffic: the sequences in flight at that load by Little's
    law (``sequences_at_rate x load / rate``); offline: the full batch, where every replica runs. One step-time
    evaluation (``StaticBatch``) per shape: the tie-break ranks shapes, the plan reports the queueing model."""
    if traffic.mode == "concurrency":
        demand, capacity = max(1, traffic.concurrency or 1), max(1, found.max_sequences)
        batch = -(-demand // -(-demand // capacity))
    elif found.rate_milli_rps < 1:
        return 0
    elif traffic.mode == "offline" or not traffic.requests_per_s:
        batch = found.sequences_at_rate
    else:
        demand = math.ceil(traffic.requests_per_s * MILLI - 1e-9)
        load = demand / -(-demand // found.rate_milli_rps)
        batch = math.ceil(found.sequences_at_rate * load / found.rate_milli_rps - 1e-9)
    return _static_tpot_us(serving_shape(candidate, context), traffic.mix, max(1, batch), found.max_sequences)


@lru_cache(maxsize=65536)
def _static_tpot_us(shape: ServingShape, mix: RequestMix, batch: int, max_sequences: int) -> int:
    """Mean TPOT of ``batch`` sequences decoding together, microseconds (cached: the levels of a Pareto sweep over
    headroom prune the same shapes again, most at the same capacity)."""
    return _micro(predict(shape, mix, StaticBatch(batch), max_sequences).tpot_ms.mean)


def best_latency(candidate: Candidate, context: ServingContext, traffic: Traffic) -> ServingPerformance:
    """The fastest a shape can serve one request: one sequence, no queue (for explaining an unreachable SLO)."""
    return predict(serving_shape(candidate, context), traffic.mix, StaticBatch(1), candidate.max_sequences)


def performance_at(candidate: Candidate, context: ServingContext, traffic: Traffic, load_requests_per_s: float | None,
                   sequences: int | None = None) -> ServingPerformance:
    """One replica at its load in a plan: a request rate (traffic), or ``sequences`` held at once (concurrency)."""
    shape = serving_shape(candidate, context)
    if traffic.mode == "concurrency" or load_requests_per_s is None:
        return predict(shape, traffic.mix, StaticBatch(max(1, sequences or 1)), candidate.max_sequences)
    return predict(shape, traffic.mix, RequestRate(load_requests_per_s), candidate.max_sequences)


class CapacityTable:
    """Capacities of many shapes under one traffic, each computed once (screening, pruning, rows, explanations)."""

    def __init__(self, context: ServingContext, traffic: Traffic):
        self.context, self.traffic = context, traffic
        self.is_traffic = traffic.mode != "concurrency"
        self._by_key: dict[str, ShapeCapacity] = {}
        self._latency: dict[str, int] = {}
        self.unreachable: list[Candidate] = []  # traffic shapes screened out: no load meets the SLO

    def __call__(self, candidate: Candidate) -> ShapeCapacity:
        found = self._by_key.get(candidate.key)
        if found is None:
            found = self._by_key[candidate.key] = sustainable(candidate, self.context, self.traffic)
        return found

    def unit(self, candidate: Candidate) -> int:
        """Capacity of one replica in the demand's unit (requests/s x 1000, or sequences)."""
        return self(candidate).unit(self.is_traffic)

    def latency_us(self, candidate: Candidate) -> int:
        """TPOT at the operating point (``operating_latency_us``), computed when first asked: pruning asks only for
        equal-cost comparisons, the rows for the shapes that survive."""
        found = self._latency.get(candidate.key)
        if found is None:
            found = self._latency[candidate.key] = operating_latency_us(candidate, self.context, self.traffic, self(candidate))
        return found

    def screen(self, enumeration: Enumeration[Candidate], deadline: Deadline | None = None) -> Enumeration[Candidate]:
        """Traffic: shapes that sustain no rate within the SLO leave the candidates, as rejections with the reason
        (kept with their capacity for explanations); concurrency: unchanged. The SLO searches share the solve's
        ``deadline`` (about 0.1-0.5 ms each)."""
        from ..errors import Issue
        from ..limits import TimeLimitReached
        from .enumeration import Enumeration, Rejection
        from .serving import RejectReason

        if not self.is_traffic:
            return enumeration
        kept, dropped = [], []
        for done, candidate in enumerate(enumeration.candidates):
            if deadline is not None and done % 64 == 0 and deadline.expired():
                raise TimeLimitReached(f"the time limit of {deadline.seconds:g} s ran out while finding each shape's rate "
                                       f"within the SLO ({done:,} of {len(enumeration.candidates):,} done)", [Issue(
                                           "raise --time-limit (solver.time_limit_s) or narrow the GPU list or precisions",
                                           field_path="gpus")])
            capacity = self(candidate)
            if capacity.rate_milli_rps >= 1:
                kept.append(candidate)
            else:
                dropped.append(Rejection(candidate.key, RejectReason.SLO_UNREACHABLE, capacity.limit))
                self.unreachable.append(candidate)
        return Enumeration(kept, enumeration.rejections + dropped)
