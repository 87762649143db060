"""Safe reductions of the procurement model: committed pools that another pool replaces in every plan.

(The committed capacities one more replica improves are left out where the model is built:
``planner.solver.procurement.undominated_capacities``.)

A source of committed GPUs (an on-premises pool: owned + bought; or a reserved fleet: every term of one GPU type)
is a list of **acquisitions**, each a decision that brings ``unit`` GPUs for a set of periods at a cost (a
purchase ordered in period h serves from its arrival to the horizon's end; a term started in h covers its
periods), plus a power cost per running GPU and period (on premises only). Source B is left out when another
source A (of any GPU type, bought or reserved) replaces it in every plan, no worse:

- **capacity**: ``f(x)``, the fewest A GPUs that serve what x B GPUs serve (``cap_A(f(x)) >= cap_B(x)``, ``cap``
  the most a source's shapes serve on a GPU count: a knapsack over its replica shapes, computed exactly), is at
  most ``L x`` for a whole factor L, for every x the model lets B run;
- **cost**: every acquisition of B has a twin in A, acquisitions covering at least its periods (a purchase
  arriving no later, or a term covering them), and ``L`` GPUs of the twin per GPU of B, plus the power the extra
  A GPUs could draw over B's periods (``(L power_A - power_B)+`` per period), cost no more than B's acquisition;
- **limits**: A has no stock or purchase limit and B owns no GPUs (owned GPUs are free); under a capex cap a
  purchase's twin is a purchase in the same period whose nominal price, L times, is no higher (no quarter spends
  more), and a reservation has no purchase twin.

Why it is exact: take any plan and replace B's acquisitions by their twins; where B ran ``r <= X_B`` GPUs (X_B:
what B's acquisitions hold then) A now runs ``f(r) <= L X_B`` more, which its twins hold. A's capacity only grows,
since a knapsack over more GPUs serves at least the sum, ``cap_A(y + f(r)) >= cap_A(y) + cap_A(f(r)) >= cap_A(y) +
cap_B(r)`` (and capped at the load, ``min(., d)``, the sum still covers what B covered), so every period is
still covered; the cost changes by the twins' cost less B's, and the extra power is at most
``(L power_A - power_B) r <= (L power_A - power_B)+ X_B``, so it does not rise. With ``L = 1`` and twins at the
same periods this is the plain rule "another type serves at least as much on every GPU count, for no more".
Sources are examined last to first and B is dropped only when a source still kept replaces it, so every dropped
source's plan moves, through a chain of replacements, into a kept one (ties: the earlier source is kept). This is
the multi-period counterpart of the single-period shape pruning (``planner.candidates.serving.prune_dominated``);
it is dominance of whole decision sets (the "dominance rules" of integer programming: e.g. Jouglet & Carlier,
"Dominance rules in combinatorial optimization problems", EJOR 212, 2011); tests compare the pruned model with
the full one.

Within one fleet, a commitment term is not offered at a start period where another term starting then covers at
least the same periods for no more (``drop_dominated_starts``): a 36-month term at 55 % off started in the second
year of a 24-month horizon covers to its end, as a 12-month term at 35 % off does, and costs less.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .procurement import ProcurementProblem, ReservedPool

MAX_FACTOR = 8  # the largest L tried: A needs at most L GPUs for what one GPU of B serves
MAX_GPUS = 1 << 15  # the knapsack tables stop here (a source that could run more is kept)


@dataclass(frozen=True)
class Acquisition:
    period: int  # when it is ordered or started
    micro_usd_per_unit: int
    covers: frozenset[int]  # the periods its GPUs can serve in
    purchase_micro_usd: int | None  # nominal price per GPU (capex), purchases only


@dataclass(frozen=True)
class Source:
    """A committed supply of one GPU type as the dominance rule sees it (module docstring)."""

    key: str  # the pool's key (on premises) or the fleet's group (reserved)
    shapes: tuple[str, ...]
    unit_gpus: int
    acquisitions: tuple[Acquisition, ...]
    power: tuple[int, ...]  # per period, micro-USD per running GPU (zero for reservations)
    owned: int
    limited: bool  # a stock or purchase limit
    onprem: bool


def sources(problem: ProcurementProblem) -> list[Source]:
    horizon = len(problem.periods)
    out = []
    for pool in problem.onprem:
        acquisitions = tuple(Acquisition(h, cost, frozenset(range(pool.arrival[h], horizon)), pool.purchase_micro_usd)
                             for h, cost in enumerate(pool.buy_cost) if cost is not None)
        out.append(Source(pool.key, pool.shapes, 1, acquisitions, pool.power_cost, pool.owned, pool.max_purchase is not None, True))
    groups: dict[str, list[ReservedPool]] = {}
    for term in problem.reserved:
        groups.setdefault(term.group, []).append(term)
    for group, terms in groups.items():
        acquisitions = tuple(Acquisition(h, cost, frozenset(term.covers[h]), None)
                             for term in terms for h, cost in enumerate(term.start_cost) if cost is not None)
        out.append(Source(group, terms[0].shapes, terms[0].unit_gpus, acquisitions, (0,) * horizon, 0,
                          any(t.max_units is not None for t in terms), False))
    return out


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


def most_gpus(problem: ProcurementProblem, shapes: tuple[str, ...]) -> int:
    """The most GPUs a pool can run in any period (the model's replica bounds)."""
    peak = max(max(p.demand) for p in problem.periods)
    exchange = problem.exchange_bounds(shapes)
    return sum(problem.row(k).gpus_per_replica * min(problem.replica_bound(k, peak), exchange.get(k, peak)) for k in shapes)


def gpu_factor(cap_a: list[int], cap_b: list[int]) -> int | None:
    """The least whole L with ``f(x) <= L x`` for x = 1..len(cap_b)-1 (``f(x)``: the fewest GPUs on which ``cap_a``
    reaches ``cap_b[x]``), or None when L would exceed ``MAX_FACTOR`` or ``cap_a`` never gets there."""
    factor, fewest = 1, 0
    for x in range(1, len(cap_b)):
        while fewest < len(cap_a) and cap_a[fewest] < cap_b[x]:
            fewest += 1
        if fewest == len(cap_a):
            return None
        factor = max(factor, -(-fewest // x))
        if factor > MAX_FACTOR:
            return None
    return factor


def _twin_micro_usd(a: Source, acquisition: Acquisition, capex: bool) -> int | None:
    """The cheapest acquisition of A per unit that holds GPUs through every period B's acquisition covers (under a
    capex cap, a purchase twin is ordered in the same period)."""
    if not acquisition.covers:
        return 0
    costs = [t.micro_usd_per_unit for t in a.acquisitions
             if t.covers >= acquisition.covers and not (capex and a.onprem and t.period != acquisition.period)]
    return min(costs, default=None)


def replaces(a: Source, b: Source, cap_a: list[int], cap_b: list[int], capex: bool) -> bool:
    """Whether source A replaces source B in every plan at no more cost (module docstring); ``cap_b`` runs to the
    most GPUs B can run, ``cap_a`` as far as A may need."""
    if a.limited or b.owned or a.key == b.key or (capex and a.onprem and not b.onprem):
        return False
    factor = gpu_factor(cap_a, cap_b)
    if factor is None:
        return False
    twin_units = -(-factor * b.unit_gpus // a.unit_gpus)
    price_a = next((t.purchase_micro_usd or 0 for t in a.acquisitions), 0)
    for acquisition in b.acquisitions:
        twin = _twin_micro_usd(a, acquisition, capex)
        if twin is None:
            return False
        if capex and a.onprem and twin_units * price_a > b.unit_gpus * (acquisition.purchase_micro_usd or 0):
            return False
        power = b.unit_gpus * sum(max(0, factor * a.power[h] - b.power[h]) for h in acquisition.covers)
        if twin_units * twin + power > acquisition.micro_usd_per_unit:
            return False
    return True


def drop_dominated_pools(problem: ProcurementProblem) -> tuple[ProcurementProblem, tuple[str, ...]]:
    """The problem without committed sources another source replaces (module docstring), and the dropped keys."""
    found = sources(problem)
    most = {s.key: most_gpus(problem, s.shapes) for s in found}
    reach = min(MAX_FACTOR * max(most.values(), default=0), MAX_GPUS)
    cap = {s.key: capacity_by_gpus(problem, s.shapes, reach) for s in found}
    capex = problem.capex_cap_micro_usd_per_quarter is not None
    kept = list(found)
    dropped: list[str] = []
    for b in reversed(found):
        if most[b.key] <= reach and any(replaces(a, b, cap[a.key], cap[b.key][:most[b.key] + 1], capex) for a in kept):
            kept.remove(b)
            dropped.append(b.key)
    dropped.reverse()
    onprem = tuple(p for p in problem.onprem if p.key not in dropped)
    reserved = drop_dominated_starts(tuple(p for p in problem.reserved if p.group not in dropped))
    return replace(problem, onprem=onprem, reserved=reserved), tuple(dropped)


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
