"""Result types: a plan of replica groups, with its cost and per-GPU memory bill."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .candidates import Candidate
from .memory.serving import ServingMemory
from .units import micro_usd_to_usd, usd_to_micro_usd_ceil


@dataclass(frozen=True)
class ReplicaGroup:
    """``count`` identical replicas of one shape serving ``concurrency`` sequences between them."""

    candidate: Candidate
    count: int
    concurrency: int
    memory: ServingMemory  # bill of one GPU of the busiest replica

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
        lay, mem = self.candidate.layout, self.memory
        return {
            "gpu": self.candidate.gpu.id,
            "count": self.count,
            "tp": lay.tp,
            "pp": lay.pp,
            "ep": lay.ep,
            "weight_format": lay.weight_format.name,
            "kv_cache_dtype": lay.kv_cache_dtype.name if lay.kv_cache_dtype else "fp16",
            "gpus_per_replica": self.candidate.gpus_per_replica,
            "concurrency": self.concurrency,
            "concurrency_per_replica": self.concurrency_per_replica,
            "max_concurrency": self.candidate.max_sequences,
            "cost_usd_per_hour": self.cost_usd_per_hour,
            "price_usd_per_gpu_hour": micro_usd_to_usd(self.candidate.price_micro_usd_per_gpu_hour),
            "price_source": self.candidate.gpu.price_source,
            "price_estimated": self.candidate.gpu.price_estimated,
            "headroom_fraction": round(mem.headroom_fraction, 4),
            "memory_per_gpu_gib": mem.per_gpu_gib(),
        }


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
        return {
            "status": self.status,
            "cost_usd_per_hour": self.cost_usd_per_hour,
            "total_gpus": self.total_gpus,
            "concurrency": self.concurrency,
            "min_headroom_fraction": round(self.min_headroom_fraction, 4),
            "gpu_mix": self.gpu_mix,
            "replicas": [g.to_dict() for g in self.groups],
            **({"idle_gpus": [{"gpu": i.gpu, "count": i.count, "instance_gpus": i.instance_gpus,
                               "cost_usd_per_hour": i.cost_usd_per_hour} for i in self.idle]} if self.idle else {}),
        }


@dataclass(frozen=True)
class SolveReport:
    """Everything ``planner solve`` prints: the plans and how they were found."""

    scenario_name: str
    model_name: str
    status: str
    plans: tuple[Plan, ...]
    demand_sequences: int
    context_tokens: int
    candidates_total: int
    candidates_after_pruning: int
    solver: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # e.g. GPUs left out because their only price is estimated

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario_name,
            "model": self.model_name,
            "status": self.status,
            "demand": {"concurrency": self.demand_sequences, "context_tokens": self.context_tokens},
            "candidates": {"total": self.candidates_total, "after_pruning": self.candidates_after_pruning},
            "solver": self.solver,
            "notes": list(self.notes),
            "plans": [p.to_dict() for p in self.plans],
        }
