"""One driver for every lexicographic CP-SAT solve: the first objective's optimum, then each tie-break at it.

Lexicographic optimisation by phases (the CP-SAT primer, "lexicographic objectives"; OR-Tools ``cp_model``
docs): solve for the first objective; once it is proven optimal, fix it (``objective == value``) and minimise
(or maximise) the next one, hinted with the previous phase's solution as a complete hint, and so on. Fixing the
value rather than bounding it keeps every later phase's feasible set exactly the optima of the earlier ones.

Parameters are the same for every solve (``solver_parameters``, chosen by measurement in
benchmarks/solver_params.py): one worker by default, a fixed seed, ``linearization_level=2``. Tie-break phases
run on deterministic time as well as the wall clock, so the returned plan does not depend on machine load.
Used by the serving solve and its Pareto sweeps (``cpsat``), explanations (``explain_limits``) and training
(``training_cpsat``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from . import sat_api as cp_model

TIE_BREAK_MIN_DETERMINISTIC_S = 0.5
TIE_BREAK_FACTOR = 2.0
"""A tie-break phase gets max(0.5, 2 x the first phase's) deterministic seconds. Why: at a fixed cost the GPU-count
tie-break is an equality knapsack, which can be far harder than the cost phase (a subset-sum instance proved its
cost in 0.17 s and then spent the whole 15 s limit on the tie-break); on the 36 generated problems of
benchmarks/generate.py it needed at most 0.35 deterministic seconds and was always proven. Deterministic time
keeps the returned plan independent of machine load; the first objective stays proven optimal either way."""
MIN_PHASE_S = 0.1  # wall-clock floor of a tie-break phase when the deadline is (nearly) spent

STATUS_NAMES = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.UNKNOWN: "unknown",
    cp_model.MODEL_INVALID: "model_invalid",
}

Solution = TypeVar("Solution")


def solver_parameters(time_limit_s: float, workers: int = 1, seed: int = 0) -> cp_model.CpSolver:
    """A solver with the planner's parameters: ``workers`` threads, fixed seed, LP cuts at level 2, a time limit."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = workers
    params.random_seed = seed
    params.max_time_in_seconds = time_limit_s
    params.linearization_level = 2
    return solver


@dataclass(frozen=True)
class Objective:
    """One phase's objective: a linear expression, minimised unless ``maximise``."""

    expression: cp_model.ExprLike
    maximise: bool = False


@dataclass(frozen=True)
class PhasedResult(Generic[Solution]):
    """The first phase's solver (status, objective value, proven bound, interruption) and the last solution found."""

    status: cp_model.CpSolverStatus  # the first phase's CP-SAT status
    first: cp_model.CpSolver
    solution: Solution | None

    @property
    def found(self) -> bool:
        return self.status in (cp_model.OPTIMAL, cp_model.FEASIBLE)

    @property
    def value(self) -> int:
        """The first objective's value (integer objectives only)."""
        return round(self.first.objective_value)

    @property
    def bound(self) -> int:
        """CP-SAT's proven bound on the first objective, rounded towards the value (minimisation)."""
        return min(self.value, math.ceil(self.first.best_objective_bound - 1e-6))

    @property
    def proven(self) -> bool:
        """'optimal' only when proven: a status of OPTIMAL under a gap limit still leaves a gap."""
        return self.status == cp_model.OPTIMAL and self.bound == self.value

    @property
    def status_name(self) -> str:
        if not self.found:
            return STATUS_NAMES[self.status]
        return "optimal" if self.proven else "feasible"


def solve_in_phases(model: cp_model.CpModel, objectives: Sequence[Objective] | Callable[[], Sequence[Objective]],
                    first: Objective, extract: Callable[[cp_model.CpSolver], Solution],
                    hint: Callable[[Solution], None], time_limit_s: float, workers: int = 1, seed: int = 0,
                    repair_hint: bool = False) -> PhasedResult[Solution]:
    """Optimise ``first``, then (when proven optimal and not interrupted) each of ``objectives`` at the values before.

    The caller hints the first phase; each later phase is hinted with the previous phase's solution (``hint``).
    ``objectives`` may be a callable, called only when the first phase is proven, so variables the tie-breaks need
    are not posted for the first phase. A later phase that finds nothing ends the search with the last solution.
    """
    deadline = time.perf_counter() + time_limit_s
    _set_objective(model, first)
    solver = solver_parameters(time_limit_s, workers, seed)
    solver.parameters.repair_hint = repair_hint
    status = solver.solve(model)  # Ctrl-C stops the search like the time limit: best plan so far (sat_api)
    result: PhasedResult[Solution] = PhasedResult(status, solver, None)
    if not result.found:
        return result
    solution = extract(solver)
    if not result.proven or solver.interrupted:
        return PhasedResult(status, solver, solution)
    _fix(model, first.expression, result.value)
    phases = list(objectives() if callable(objectives) else objectives)
    for index, objective in enumerate(phases):
        hint(solution)
        _set_objective(model, objective)
        phase = solver_parameters(max(MIN_PHASE_S, deadline - time.perf_counter()), workers, seed)
        phase.parameters.max_deterministic_time = max(TIE_BREAK_MIN_DETERMINISTIC_S, TIE_BREAK_FACTOR * solver.deterministic_time)
        if phase.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            break
        solution = extract(phase)
        if index + 1 < len(phases):
            _fix(model, objective.expression, int(phase.value(objective.expression)))
    return PhasedResult(status, solver, solution)


def _fix(model: cp_model.CpModel, expression: cp_model.ExprLike, value: int) -> None:
    """Post ``expression == value`` (a constant objective needs nothing)."""
    if isinstance(expression, cp_model.LinearExpr):
        model.add(expression == value)


def _set_objective(model: cp_model.CpModel, objective: Objective) -> None:
    if objective.maximise:
        model.maximize(objective.expression)
    else:
        model.minimize(objective.expression)
