"""Exhaustive reference solver for homogeneous fleets: one shape, as many replicas as demand needs.

Used by tests and benchmarks as an oracle for the CP-SAT model with ``mixed_fleet = False``.
"""

from __future__ import annotations

import time

from .problem import Problem, SolveOutcome, assignment_for


def solve_enumerate(problem: Problem) -> SolveOutcome:
    start = time.perf_counter()
    best: tuple[int, int, str, int] | None = None
    for row in problem.rows:
        if problem.capacity(row) < 1:
            continue
        replicas = -(-problem.demand // problem.capacity(row))
        if not problem.within_limits({row.key: replicas}):
            continue
        candidate = (problem.cost({row.key: replicas}), replicas * row.gpus_per_replica, row.key, replicas)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    elapsed = time.perf_counter() - start
    if best is None:
        return SolveOutcome("infeasible", None, None, None, elapsed, "enumerate", {})
    cost, _, key, replicas = best
    assignment = assignment_for(problem, {key: replicas})
    return SolveOutcome("optimal", assignment, cost, cost, elapsed, "enumerate", {})
