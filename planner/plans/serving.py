"""Result types: a plan of replica groups, with its cost and per-GPU memory bill."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..candidates.serving import Candidate
from ..memory.serving import ServingMemory
from ..schema.outputs import (
    Candidates,
    IdleGpusOutput,
    Latencies,
    OfflineJobOutput,
    ReplicaGroupOutput,
    ReplicaPerformance,
    ServingPlanOutput,
    ServingSolveOutput,
    StatedDemand,
)
from ..units import micro_usd_to_usd, rounded, usd_to_micro_usd_ceil

if TYPE_CHECKING:
    from ..performance.serving import Latency, ServingPerformance


def latencies(latency: Latency, digits: int = 2) -> Latencies:
    """A latency's mean and percentiles in ms for the JSON (None: unbounded, a queue that never drains)."""
    return Latencies(**{key: None if math.isinf(value) else round(value, digits)
                        for key, value in (("mean", latency.mean), ("p50", latency.p50), ("p90", latency.p90), ("p99", latency.p99))})


@dataclass(frozen=True)
class ReplicaGroup:
    """``count`` identical replicas of one shape serving ``concurrency`` sequences between them."""

    candidate: Candidate
    count: int
    concurrency: int  # sequences held (traffic: in flight at the assigned load, by Little's law)
    memory: ServingMemory  # bill of one GPU of the busiest replica
    performance: ServingPerformance | None = None  # one replica at its load, as the performance model predicts it
    load_requests_per_s: float | None = None  # traffic: requests/s the group serves
    max_requests_per_s_per_replica: float | None = None  # traffic: the most one replica sustains within the SLO
    percentile: str = "mean"  # the percentile latencies are reported at (the SLO's)

    @property
    def load_factor(self) -> float | None:
        """Load over the most the replicas sustain within the SLO (1.0: at the limit)."""
        if self.load_requests_per_s is None or not self.max_requests_per_s_per_replica:
            return None
        return self.load_requests_per_s / (self.count * self.max_requests_per_s_per_replica)

    def performance_dict(self) -> dict[str, Any] | None:
        """Predicted throughput of the group and latency of each replica at its load."""
        output = self.performance_output()
        return None if output is None else output.model_dump()

    def performance_output(self) -> ReplicaPerformance | None:
        perf = self.performance
        if perf is None:
            return None

        def at(latency: Latency) -> float:
            return latency.mean if self.percentile == "mean" else latency.at(self.percentile)

        return ReplicaPerformance(
            requests_per_s=round(perf.requests_per_s * self.count, 4),
            output_tokens_per_s=round(perf.output_tokens_per_s * self.count, 2),
            percentile=self.percentile,  # type: ignore[arg-type]
            ttft_ms=round(at(perf.ttft_ms), 2), tpot_ms=round(at(perf.tpot_ms), 3),
            e2e_latency_ms=round(at(perf.e2e_latency_ms), 1),
            ttft_ms_all=latencies(perf.ttft_ms), tpot_ms_all=latencies(perf.tpot_ms, 3),
            batch_size=round(perf.batch_size, 2), bound=perf.bound,
            max_requests_per_s_per_replica=None if self.max_requests_per_s_per_replica is None
            else round(self.max_requests_per_s_per_replica, 4),
            load_factor=rounded(self.load_factor),
        )

    @property
    def concurrency_per_replica(self) -> int:
        return -(-self.concurrency // self.count)

    @property
    def gpus(self) -> int:
        return self.count * self.candidate.gpus_per_replica

    @property
    def cost_micro_usd_per_hour(self) -> int:
        """Exact: replicas x the replica's price in micro-USD (the cost model's, see ``units``)."""
        return self.count * self.candidate.price_micro_usd_per_hour

    @property
    def cost_usd_per_hour(self) -> float:
        return micro_usd_to_usd(self.cost_micro_usd_per_hour)

    def to_dict(self) -> dict[str, Any]:
        return self.output().model_dump(exclude_unset=True)

    def output(self) -> ReplicaGroupOutput:
        lay, mem = self.candidate.layout, self.memory
        performance = self.performance_output()
        return ReplicaGroupOutput(
            gpu=self.candidate.gpu.id,
            count=self.count,
            tp=lay.tp,
            pp=lay.pp,
            ep=lay.ep,
            weight_format=lay.weight_format.name,
            kv_cache_dtype=lay.kv_cache_dtype.name if lay.kv_cache_dtype else "fp16",
            gpus_per_replica=self.candidate.gpus_per_replica,
            concurrency=self.concurrency,
            concurrency_per_replica=self.concurrency_per_replica,
            max_concurrency=self.candidate.max_sequences,
            cost_usd_per_hour=self.cost_usd_per_hour,
            price_usd_per_gpu_hour=micro_usd_to_usd(self.candidate.price_micro_usd_per_gpu_hour),
            price_source=self.candidate.gpu.price_source,
            price_estimated=self.candidate.gpu.price_estimated,
            headroom_fraction=round(mem.headroom_fraction, 4),
            memory_per_gpu_gib=mem.per_gpu_gib(),
            tp_link=self.candidate.tp_link,
            spans_nodes=self.candidate.crosses_network,
            **({"performance": performance} if performance is not None else {}),
        )


@dataclass(frozen=True)
class IdleGpus:
    """GPUs rented as part of whole instances that no replica uses: paid for, free for other work."""

    gpu: str
    count: int
    instance_gpus: int
    price_usd_per_gpu_hour: float

    @property
    def cost_micro_usd_per_hour(self) -> int:
        return self.count * usd_to_micro_usd_ceil(self.price_usd_per_gpu_hour)

    @property
    def cost_usd_per_hour(self) -> float:
        return micro_usd_to_usd(self.cost_micro_usd_per_hour)


@dataclass(frozen=True)
class Plan:
    groups: tuple[ReplicaGroup, ...]
    status: str
    idle: tuple[IdleGpus, ...] = ()

    @property
    def cost_micro_usd_per_hour(self) -> int:
        """Exact fleet cost: the replicas' and the idle GPUs of whole instances, micro-USD per hour."""
        return sum(g.cost_micro_usd_per_hour for g in self.groups) + sum(i.cost_micro_usd_per_hour for i in self.idle)

    @property
    def cost_usd_per_hour(self) -> float:
        return micro_usd_to_usd(self.cost_micro_usd_per_hour)

    @property
    def total_gpus(self) -> int:
        """GPUs paid for: the replicas' and the idle ones of whole instances."""
        return sum(g.gpus for g in self.groups) + sum(i.count for i in self.idle)

    @property
    def concurrency(self) -> int:
        return sum(g.concurrency for g in self.groups)

    @property
    def requests_per_s(self) -> float:
        return sum(g.load_requests_per_s or 0.0 for g in self.groups)

    @property
    def load_factor(self) -> float | None:
        """The fleet's load over the most it sustains within the SLO (traffic plans)."""
        capacity = sum(g.count * (g.max_requests_per_s_per_replica or 0.0) for g in self.groups)
        return self.requests_per_s / capacity if capacity and self.requests_per_s else None

    def worst(self, metric: str) -> float | None:
        """The slowest group's predicted ``ttft_ms`` or ``tpot_ms`` at the reported percentile."""
        values = [figures[metric] for g in self.groups if (figures := g.performance_dict()) is not None]
        return max(values) if values else None

    @property
    def min_headroom_fraction(self) -> float:
        return min(g.memory.headroom_fraction for g in self.groups)

    @property
    def gpu_mix(self) -> str:
        counts: dict[str, int] = {}
        for group in self.groups:
            counts[group.candidate.gpu.id] = counts.get(group.candidate.gpu.id, 0) + group.gpus
        for idle in self.idle:
            counts[idle.gpu] = counts.get(idle.gpu, 0) + idle.count
        return " + ".join(f"{n}x {gpu}" for gpu, n in sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return self.output().model_dump(exclude_unset=True)

    def output(self) -> ServingPlanOutput:
        worst_ttft, worst_tpot = self.worst("ttft_ms"), self.worst("tpot_ms")
        optional: dict[str, Any] = {}  # set only when they apply: the JSON leaves the others out (exclude_unset)
        if self.load_factor is not None:
            optional.update(requests_per_s=round(self.requests_per_s, 4), load_factor=round(self.load_factor, 4))
        if worst_tpot is not None:
            optional.update(ttft_ms=worst_ttft, tpot_ms=worst_tpot)
        if self.idle:
            optional["idle_gpus"] = [IdleGpusOutput(gpu=i.gpu, count=i.count, instance_gpus=i.instance_gpus,
                                                    cost_usd_per_hour=i.cost_usd_per_hour) for i in self.idle]
        return ServingPlanOutput(
            status=self.status,
            cost_usd_per_hour=self.cost_usd_per_hour,
            total_gpus=self.total_gpus,
            concurrency=self.concurrency,
            min_headroom_fraction=round(self.min_headroom_fraction, 4),
            gpu_mix=self.gpu_mix,
            replicas=[g.output() for g in self.groups],
            **optional,
        )


@dataclass(frozen=True)
class SolveReport:
    """Everything ``planner solve`` prints: the plans and how they were found."""

    scenario_name: str
    model_name: str
    status: str
    plans: tuple[Plan, ...]
    demand_sequences: int | None
    context_tokens: int
    candidates_total: int
    candidates_after_pruning: int
    solver: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # e.g. GPUs left out because their only price is estimated
    demand: StatedDemand | None = None  # the workload as stated (traffic, SLO, offline job)
    demand_text: str = ""  # one line for people
    rejections: dict[str, int] = field(default_factory=dict)  # shapes left out, by reason
    job: dict[str, Any] | None = None  # offline: hours, cost, USD per million tokens

    def to_dict(self) -> dict[str, Any]:
        return self.output().model_dump(exclude_unset=True)

    def output(self) -> ServingSolveOutput:
        job: dict[str, Any] = {"job": self.job} if self.job else {}  # offline jobs only: left out of the JSON otherwise
        return ServingSolveOutput(
            scenario=self.scenario_name,
            model=self.model_name,
            status=self.status,
            demand=self.demand or StatedDemand(concurrency=self.demand_sequences, context_tokens=self.context_tokens),
            **job,
            candidates=Candidates(total=self.candidates_total, after_pruning=self.candidates_after_pruning,
                                  **({"rejected": self.rejections} if self.rejections else {})),
            solver=self.solver,
            notes=list(self.notes),
            plans=[p.output() for p in self.plans],
        )


def offline_job(plan: Plan, requests: int, deadline_hours: float, tokens_per_request: float, output_tokens_per_request: float
                ) -> dict[str, Any]:
    """An offline job on ``plan``: hours to finish at the fleet's full throughput, its cost if the fleet is released
    when done and if it is held until the deadline, and the price per million tokens (prompt + output, and output
    only) at the finishing-time cost (``OfflineJobOutput``)."""
    capacity_per_s = sum(g.count * (g.max_requests_per_s_per_replica or 0.0) for g in plan.groups)
    hours = requests / capacity_per_s / 3600 if capacity_per_s else float("inf")
    cost = plan.cost_usd_per_hour * hours
    tokens_m = requests * tokens_per_request / 1e6
    output_m = requests * output_tokens_per_request / 1e6
    return OfflineJobOutput(requests=requests, deadline_hours=deadline_hours, hours_to_finish=round(hours, 4),
                            throughput_requests_per_s=round(capacity_per_s, 4), cost_usd=round(cost, 2),
                            cost_usd_held_to_deadline=round(plan.cost_usd_per_hour * deadline_hours, 2),
                            usd_per_million_tokens=round(cost / tokens_m, 4) if tokens_m else None,
                            usd_per_million_output_tokens=round(cost / output_m, 4) if output_m else None).model_dump()
