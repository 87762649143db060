"""Greedy baseline for mixed fleets: what a careful person would do by hand, for comparison with CP-SAT.

Two plans are built and the cheaper is kept:

1. the cheapest homogeneous plan (one shape, as many replicas as demand needs; the exhaustive enumerator's
   answer when it fits stock and budget);
2. a fill: shapes in increasing price per sequence, each taking as many replicas as the demand still needs
   and its GPU type's remaining stock allows (the classic density greedy for covering knapsacks, Dantzig
   1957, "Discrete-variable extremum problems", Operations Research 5(2)).

It is fast (one sort) and never better than CP-SAT's proven optimum (tested); benchmarks/greedy_gap.py
reports how much CP-SAT saves on inventory-limited scenarios. CP-SAT also starts from this plan (a hint).
"""

from __future__ import annotations

import time

from .problem import Assignment, Problem, Row, SolveOutcome, assignment_for


def _single_shape(problem: Problem) -> tuple[int, int, Assignment] | None:
    best: tuple[int, int, str, int] | None = None
    for row in problem.rows:
        capacity = problem.capacity(row)
        if capacity < 1:
            continue
        replicas = -(-problem.demand // capacity)
        if replicas > problem.replica_upper_bound(row) or not problem.within_limits({row.key: replicas}):
            continue
        candidate = (problem.cost({row.key: replicas}), replicas * row.gpus_per_replica, row.key, replicas)
        if best is None or candidate < best:
            best = candidate
    if best is None:
        return None
    cost, gpus, key, replicas = best
    return cost, gpus, assignment_for(problem, {key: replicas})


def greedy_fill(problem: Problem) -> tuple[int, Assignment] | None:
    """Cover demand from the cheapest shapes per unit of demand within stock; None if stock or budget run out.

    Each replica serves at least one unit (the solver's no-idle rule), so the fill is a valid plan.
    """
    remaining, stock = problem.demand, dict(problem.inventory_by_gpu)
    for gpu_type, instance in problem.instances.items():
        if gpu_type in stock:
            stock[gpu_type] -= stock[gpu_type] % instance.gpus  # whole instances only
    replicas: dict[str, int] = {}

    def density(row: Row) -> tuple[float, float, str]:
        capacity = problem.capacity(row)
        return (problem.least_price_per_replica(row) / capacity, row.gpus_per_replica / capacity, row.key)

    for row in sorted((r for r in problem.rows if problem.capacity(r) >= 1), key=density):
        capacity = problem.capacity(row)
        available = stock[row.gpu_type] // row.gpus_per_replica if row.gpu_type in stock else remaining
        served = min(remaining, available * capacity)
        if served <= 0:
            continue
        count = -(-served // capacity)
        replicas[row.key] = count
        remaining -= served
        if row.gpu_type in stock:
            stock[row.gpu_type] -= count * row.gpus_per_replica
        if remaining == 0:
            break
    if remaining > 0 or not problem.within_limits(replicas):
        return None
    return problem.cost(replicas), assignment_for(problem, replicas)


def greedy_plan(problem: Problem) -> tuple[int, Assignment] | None:
    """The cheaper of the best homogeneous plan and the fill (homogeneous only, if mixed fleets are off)."""
    plans: list[tuple[int, int, Assignment]] = []
    single = _single_shape(problem)
    if single is not None:
        plans.append(single)
    if problem.mixed_fleet:
        filled = greedy_fill(problem)
        if filled is not None:
            cost, assignment = filled
            gpus = sum(n * row.gpus_per_replica for row in problem.rows for n in [assignment.replicas.get(row.key, 0)])
            plans.append((cost, gpus, assignment))
    if not plans:
        return None
    cost, _, assignment = min(plans, key=lambda plan: plan[:2])
    return cost, assignment


def solve_greedy(problem: Problem) -> SolveOutcome:
    """The greedy plan as a ``SolveOutcome``: status 'feasible' (nothing is proven), or 'unknown' if none."""
    start = time.perf_counter()
    found = greedy_plan(problem)
    elapsed = time.perf_counter() - start
    if found is None:
        return SolveOutcome("unknown", None, None, None, elapsed, "greedy", {})
    cost, assignment = found
    return SolveOutcome("feasible", assignment, cost, None, elapsed, "greedy", {})
