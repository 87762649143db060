"""Safe reductions of the procurement model: committed pools that another pool replaces in every plan.

A pool of committed GPUs (bought, or reserved in one cloud fleet) is left out when another GPU type's pool of the
same kind would do everything it does, no worse, in any plan:

- **capacity**: with any number of GPUs ``G`` the other type's replicas serve at least as much,
  ``cap_A(G) >= cap_B(G)`` for every ``G`` the pool could ever use (``cap`` is the most a pool's shapes serve with
  ``G`` GPUs: a knapsack over its replica shapes, computed exactly);
- **cost**: every decision of B has a twin in A that costs no more: for reservations the same term starting in the
  same period (``start_cost_A <= start_cost_B``, covering the same periods), for purchases the same order period
  (``buy_cost_A <= buy_cost_B``, delivered no later, a nominal price no higher under a capex cap) and power per
  GPU no higher in every period;
- **limits**: A has no stock limit (reservations) or purchase limit, and B owns no GPUs (owned GPUs are free).

Replacing B's decisions by A's twins then keeps every period's GPUs, so its capacity only grows (two fleets of one
type together serve at least what each serves alone: ``cap_A(x + y) >= cap_A(x) + cap_A(y)``), and its cost only
falls. Dropping every dominated pool at once is safe because the relation is transitive and, between two pools
that replace each other, the earlier one is kept. This is the multi-period counterpart of the single-period
shape pruning (``planner.candidates.serving.prune_dominated``); tests compare the pruned model with the full one.

Within one fleet, a commitment term is not offered at a start period where another term starting then covers at
least the same periods for no more (``drop_dominated_starts``): a 36-month term at 55 % off started in the second
year of a 24-month horizon covers to its end, as a 12-month term at 35 % off does, and costs less.
"""

from __future__ import annotations

from dataclasses import replace

from .procurement import OnPremPool, ProcurementProblem, ReservedPool


def capacity_by_gpus(problem: ProcurementProblem, shapes: tuple[str, ...], most_gpus: int) -> list[int]:
    """``cap[G]``: the most the shapes serve with at most G GPUs, G = 0..most_gpus (unbounded knapsack)."""
    items = [(problem.row(k).gpus_per_replica, problem.capacity(k)) for k in shapes]
    best = [0] * (most_gpus + 1)
    for gpus in range(1, most_gpus + 1):
        best[gpus] = best[gpus - 1]
        for size, capacity in items:
            if size <= gpus and best[gpus - size] + capacity > best[gpus]:
                best[gpus] = best[gpus - size] + capacity
    return best


def _most_gpus(problem: ProcurementProblem, shapes: tuple[str, ...]) -> int:
    """The most GPUs a pool can run in any period (the model's replica bounds)."""
    peak = max(max(p.demand) for p in problem.periods)
    exchange = problem.exchange_bounds(shapes)
    return sum(problem.row(k).gpus_per_replica * min(problem.replica_bound(k, peak), exchange.get(k, peak)) for k in shapes)


def _serves_at_least(problem: ProcurementProblem, a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    most = _most_gpus(problem, b)
    cap_a, cap_b = capacity_by_gpus(problem, a, most), capacity_by_gpus(problem, b, most)
    return all(x >= y for x, y in zip(cap_a, cap_b))


def _no_dearer(a: tuple[int | None, ...], b: tuple[int | None, ...]) -> bool:
    """Every decision B can take (cost not None), A can take too at no higher cost."""
    return all(cb is None or (ca is not None and ca <= cb) for ca, cb in zip(a, b))


def _buys_no_worse(problem: ProcurementProblem, a: OnPremPool, b: OnPremPool) -> bool:
    return (b.owned == 0 and a.max_purchase is None and _no_dearer(a.buy_cost, b.buy_cost)
            and all(cb is None or a.arrival[h] <= b.arrival[h] for h, cb in enumerate(b.buy_cost))
            and all(x <= y for x, y in zip(a.power_cost, b.power_cost))
            and (problem.capex_cap_micro_usd_per_quarter is None or a.purchase_micro_usd <= b.purchase_micro_usd))


def _reserves_no_worse(a: list[ReservedPool], b: list[ReservedPool]) -> bool:
    if any(p.max_units is not None for p in a) or {p.unit_gpus for p in a} != {p.unit_gpus for p in b}:
        return False
    return all(any(pa.covers == pb.covers and _no_dearer(pa.start_cost, pb.start_cost) for pa in a) for pb in b)


def drop_dominated_pools(problem: ProcurementProblem) -> tuple[ProcurementProblem, tuple[str, ...]]:
    """The problem without committed pools another pool replaces (module docstring), and the dropped pools' keys."""
    dropped: list[str] = []
    onprem = list(problem.onprem)
    keep = []
    for index, b in enumerate(onprem):
        beaten = any(a is not b and _buys_no_worse(problem, a, b) and _serves_at_least(problem, a.shapes, b.shapes)
                     and not (index < i and _buys_no_worse(problem, b, a) and _serves_at_least(problem, b.shapes, a.shapes))
                     for i, a in enumerate(onprem))
        (dropped.append(b.key) if beaten else keep.append(b))
    groups: dict[str, list[ReservedPool]] = {}
    for pool in problem.reserved:
        groups.setdefault(pool.group, []).append(pool)
    names = list(groups)
    kept_groups = []
    for index, name in enumerate(names):
        terms = groups[name]
        beaten = any(other != name and _reserves_no_worse(groups[other], terms)
                     and _serves_at_least(problem, groups[other][0].shapes, terms[0].shapes)
                     and not (index < i and _reserves_no_worse(terms, groups[other])
                              and _serves_at_least(problem, terms[0].shapes, groups[other][0].shapes))
                     for i, other in enumerate(names))
        (dropped.append(name) if beaten else kept_groups.append(name))
    reserved = drop_dominated_starts(tuple(p for p in problem.reserved if p.group in kept_groups))
    return replace(problem, onprem=tuple(keep), reserved=reserved), tuple(dropped)


def drop_dominated_starts(pools: tuple[ReservedPool, ...]) -> tuple[ReservedPool, ...]:
    """Each term's start periods where another term of the same fleet, started then, covers at least the same
    periods at no more cost per unit (ties: the earlier term is kept); terms left without a start are dropped."""
    out = []
    for index, b in enumerate(pools):
        starts = list(b.start_cost)
        for h, cost in enumerate(starts):
            if cost is None:
                continue
            for other, a in enumerate(pools):
                other_cost = a.start_cost[h]
                if a is b or a.group != b.group or a.unit_gpus != b.unit_gpus or other_cost is None:
                    continue
                better = set(a.covers[h]) >= set(b.covers[h]) and other_cost <= cost
                mutual = set(b.covers[h]) >= set(a.covers[h]) and cost <= other_cost
                if better and (not mutual or other < index):
                    starts[h] = None
                    break
        if any(c is not None for c in starts):
            out.append(replace(b, start_cost=tuple(starts)))
    return tuple(out)
