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

from .candidates import tp_crosses_network
from .errors import Issue, VerificationError
from .memory.serving import serving_memory
from .plan import Plan
from .units import MICRO_USD_PER_USD, decimal_fraction, format_usd, usd_to_micro_usd_ceil


@dataclass(frozen=True)
class Violation:
    check: str
    expected: str
    actual: str


def plan_violations(plan: Plan, context, demand: int, inventory: dict[str, int | None], budget_usd_per_hour: float | None,
                    mixed_fleet: bool = True, max_gpus_per_replica: int | None = None,
                    instance_sizes: dict[str, int] | None = None) -> list[Violation]:
    violations: list[Violation] = []
    arch = context.arch
    if not mixed_fleet and len(plan.groups) > 1:
        violations.append(Violation("one replica shape (mixed_fleet: false)", "1 shape", str(len(plan.groups))))
    for group in plan.groups:
        cand = group.candidate
        lay = cand.layout
        if tp_crosses_network(cand.node_topology, lay.tp):
            violations.append(Violation(f"{cand.key}: tp inside a node", f"<= {cand.node_topology.max_group_without_network}", str(lay.tp)))
        if not arch.tp_is_valid(lay.tp):
            violations.append(Violation(f"{cand.key}: tp divides heads", f"{arch.num_attention_heads} heads, {arch.kv_heads} KV heads", str(lay.tp)))
        if lay.pp > arch.num_layers:
            violations.append(Violation(f"{cand.key}: pp within layers", f"<= {arch.num_layers}", str(lay.pp)))
        if max_gpus_per_replica is not None and lay.tp * lay.pp > max_gpus_per_replica:
            violations.append(Violation(f"{cand.key}: GPUs per replica", f"<= {max_gpus_per_replica}", str(lay.tp * lay.pp)))
        fmt = lay.weight_format
        if (fmt.needs_fp8_hardware and not cand.gpu.supports_fp8) or (fmt.needs_bf16_hardware and not cand.gpu.supports_bf16):
            violations.append(Violation(f"{cand.key}: format supported by the GPU", f"{fmt.name} on {cand.gpu.id}", "unsupported"))
        if group.count < 1 or group.concurrency < group.count:
            violations.append(Violation(f"{cand.key}: every replica serves", f">= {group.count} sequences", str(group.concurrency)))
        bill = serving_memory(arch, lay, context.engine_for(cand.gpu, lay), cand.gpu.capacity_bytes,
                              group.concurrency_per_replica, context.context_tokens)
        if bill.total_bytes > bill.usable_bytes:
            violations.append(Violation(f"{cand.key}: memory within usable", f"<= {bill.usable_bytes} B", f"{bill.total_bytes} B"))
        if Fraction(bill.free_bytes, bill.capacity_bytes) < decimal_fraction(context.min_headroom):
            violations.append(Violation(f"{cand.key}: headroom", f">= {context.min_headroom}", f"{bill.free_bytes / bill.capacity_bytes!r}"))
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


def verify_plan(plan: Plan, context, demand: int, inventory: dict[str, int | None], budget_usd_per_hour: float | None,
                mixed_fleet: bool = True, max_gpus_per_replica: int | None = None, instance_sizes: dict[str, int] | None = None) -> None:
    violations = plan_violations(plan, context, demand, inventory, budget_usd_per_hour, mixed_fleet, max_gpus_per_replica,
                                 instance_sizes)
    if violations:
        raise VerificationError(
            f"internal error: plan {plan.gpu_mix} failed verification (this is a bug in planner)",
            [Issue(f"{v.check}: expected {v.expected}, got {v.actual}") for v in violations],
        )
