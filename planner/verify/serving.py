"""Independent verification of serving plans.

Each plan is re-checked from the scenario through the memory model, not through the solver's rows, in exact
arithmetic: bytes, micro-USD (the catalog price read as the decimal written) and the headroom and budget as the
rationals written. Memory per GPU of the busiest replica within the engine's usable memory and the headroom,
demand covered, inventory and budget respected, shapes structurally valid.
A violation is a bug in the planner and raises ``VerificationError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from ..errors import Issue, VerificationError
from ..memory.serving_bill import serving_memory
from ..plans.serving import Plan
from ..rules import format_breach, shape_breach
from ..units import MICRO_USD_PER_USD, decimal_fraction, format_usd, usd_to_micro_usd_ceil

if TYPE_CHECKING:
    from ..candidates.capacity import Traffic
    from ..candidates.serving import ServingContext


@dataclass(frozen=True)
class Violation:
    check: str
    expected: str
    actual: str


def plan_violations(plan: Plan, context: ServingContext, demand: int, inventory: dict[str, int | None], budget_usd_per_hour: float | None,
                    mixed_fleet: bool = True, max_gpus_per_replica: int | None = None,
                    instance_sizes: dict[str, int] | None = None) -> list[Violation]:
    violations: list[Violation] = []
    arch = context.arch
    if not mixed_fleet and len(plan.groups) > 1:
        violations.append(Violation("one replica shape (mixed_fleet: false)", "1 shape", str(len(plan.groups))))
    for group in plan.groups:
        cand = group.candidate
        lay = cand.layout
        for breach in (shape_breach(arch, lay.tp, lay.pp, cand.node_topology, max_gpus_per_replica),
                       format_breach(cand.gpu, lay.weight_format)):
            if breach is not None:
                violations.append(Violation(f"{cand.key}: {breach.rule.value}", "no rule broken", breach.detail))
        if group.count < 1 or group.concurrency < group.count:
            violations.append(Violation(f"{cand.key}: every replica serves", f">= {group.count} sequences", str(group.concurrency)))
        bill = serving_memory(arch, lay, context.engine_for(cand.gpu, lay), cand.gpu.capacity_bytes,
                              group.concurrency_per_replica, context.context_tokens)
        if bill.total_bytes > bill.usable_bytes:
            violations.append(Violation(f"{cand.key}: memory within usable", f"<= {bill.usable_bytes} B", f"{bill.total_bytes} B"))
        if Fraction(bill.free_bytes, bill.capacity_bytes) < decimal_fraction(context.min_headroom):
            violations.append(Violation(f"{cand.key}: headroom", f">= {context.min_headroom}",
                                        f"{bill.free_bytes / bill.capacity_bytes!r}"))
        if bill.total_bytes != group.memory.total_bytes:
            violations.append(Violation(f"{cand.key}: reported memory", f"{bill.total_bytes} B", f"{group.memory.total_bytes} B"))
    if plan.concurrency < demand:
        violations.append(Violation("demand covered", f">= {demand}", str(plan.concurrency)))
    used: dict[str, int] = {}
    for group in plan.groups:
        used[group.candidate.gpu.id] = used.get(group.candidate.gpu.id, 0) + group.gpus
    idle = {i.gpu: i.count for i in plan.idle}
    for gpu, count in used.items():
        stock = inventory.get(gpu)
        rented = count + idle.get(gpu, 0)
        if stock is not None and rented > stock:
            violations.append(Violation(f"inventory of {gpu}", f"<= {stock}", str(rented)))
        size = (instance_sizes or {}).get(gpu)
        if size is not None and (rented % size or idle.get(gpu, 0) >= size):
            violations.append(Violation(f"whole instances of {gpu}", f"a multiple of {size} GPUs, fewer than {size} idle",
                                        f"{count} used + {idle.get(gpu, 0)} idle"))
    cost = sum(g.count * g.candidate.gpus_per_replica * usd_to_micro_usd_ceil(g.candidate.price_usd_per_gpu_hour) for g in plan.groups)
    cost += sum(i.count * usd_to_micro_usd_ceil(i.price_usd_per_gpu_hour) for i in plan.idle)
    if cost != plan.cost_micro_usd_per_hour:
        violations.append(Violation("cost", f"{cost} micro-USD/h", f"{plan.cost_micro_usd_per_hour} micro-USD/h"))
    if budget_usd_per_hour is not None and Fraction(cost, MICRO_USD_PER_USD) > decimal_fraction(budget_usd_per_hour):
        violations.append(Violation("budget", f"<= {budget_usd_per_hour}", format_usd(cost)))
    return violations


SLO_TOLERANCE = 1e-6
"""Relative slack on SLO and demand comparisons (float noise of the performance model, not a modelling margin)."""


def traffic_violations(plan: Plan, context: ServingContext, traffic: Traffic, demand_requests_per_s: float) -> list[Violation]:
    """Each replica at its share of the load, re-predicted by the performance model: within the SLO at its
    percentile, its queue stable (offline: within its throughput), the reported figures as predicted, and the
    groups' loads adding up to the demand."""
    from ..candidates.capacity import performance_at, shape_capacity

    violations: list[Violation] = []
    slo, at = traffic.slo, traffic.percentile
    for group in plan.groups:
        cand, load = group.candidate, (group.load_requests_per_s or 0.0) / group.count
        if traffic.mode == "offline":
            most = shape_capacity(cand, context, traffic).performance
            if most is None or load > most.requests_per_s * (1 + SLO_TOLERANCE):
                violations.append(Violation(f"{cand.key}: load within offline throughput", f"<= {most.requests_per_s if most else 0:.6g}/s",
                                            f"{load:.6g}/s"))
            continue
        perf = performance_at(cand, context, traffic, load)
        if perf.saturated:
            violations.append(Violation(f"{cand.key}: stable queue", f"< {perf.max_requests_per_s_per_replica:.6g} requests/s",
                                        f"{load:.6g} requests/s"))
        reported = group.performance
        if reported is None or abs(reported.tpot_ms.mean - perf.tpot_ms.mean) > SLO_TOLERANCE * perf.tpot_ms.mean:
            violations.append(Violation(f"{cand.key}: reported TPOT", f"{perf.tpot_ms.mean:.6g} ms",
                                        "missing" if reported is None else f"{reported.tpot_ms.mean:.6g} ms"))
        if slo is None:
            continue
        ttft, tpot = perf.ttft_ms.at(at), perf.tpot_ms.at(at)
        if slo.ttft_ms is not None and ttft > slo.ttft_ms * (1 + SLO_TOLERANCE):
            violations.append(Violation(f"{cand.key}: TTFT {at} at {load:.4g} requests/s per replica", f"<= {slo.ttft_ms:g} ms",
                                        f"{ttft:.4g} ms"))
        if slo.tpot_bound_ms is not None and tpot > slo.tpot_bound_ms * (1 + SLO_TOLERANCE):
            violations.append(Violation(f"{cand.key}: TPOT {at} at {load:.4g} requests/s per replica", f"<= {slo.tpot_bound_ms:g} ms",
                                        f"{tpot:.4g} ms"))
    if plan.requests_per_s < demand_requests_per_s * (1 - SLO_TOLERANCE):
        violations.append(Violation("request rate covered", f">= {demand_requests_per_s:.6g}/s", f"{plan.requests_per_s:.6g}/s"))
    return violations


def verify_plan(plan: Plan, context: ServingContext, demand: int, inventory: dict[str, int | None], budget_usd_per_hour: float | None,
                mixed_fleet: bool = True, max_gpus_per_replica: int | None = None, instance_sizes: dict[str, int] | None = None,
                traffic: Traffic | None = None, demand_requests_per_s: float | None = None) -> None:
    violations = plan_violations(plan, context, demand, inventory, budget_usd_per_hour, mixed_fleet, max_gpus_per_replica,
                                 instance_sizes)
    if traffic is not None and demand_requests_per_s is not None:
        violations += traffic_violations(plan, context, traffic, demand_requests_per_s)
    if violations:
        raise VerificationError(
            f"internal error: plan {plan.gpu_mix} failed verification (this is a bug in planner)",
            [Issue(f"{v.check}: expected {v.expected}, got {v.actual}") for v in violations],
        )
