"""CP-SAT model of the training plan: one layout, its micro-batch, within memory, deadline, budget and stock.

Formulation (c ranges over candidate layouts, v over a layout's allowed micro-batches, t over GPU types)::

    variables   u[c] in {0, 1}                      layout c is chosen
                y[c,v] in {0, 1}, v in B_c          its micro-batch is v (B_c: sizes dividing G / dp_c)
    channel     sum_v y[c,v] = u[c]
    one plan    sum_c u[c] = 1
    memory      sum_v mem[c,v] * y[c,v] <= limit_c * u[c]                 (exact bytes per GPU, worst stage)
    deadline    sum_cv T[c,v] * y[c,v] <= T*                               (time ranks, see below; also the
                                                                           Pareto sweep's "faster than" bound)
    budget      sum_cv C[c,v] * y[c,v] <= C*;  sum_c price_c * u[c] <= B_h   (cost ranks; micro-USD per hour)
    inventory   sum_{c in t} gpus_c * u[c] <= stock_t
    minimise    cost (or time), then time (or cost), then layout rank, then the larger micro-batch

Exactness: memory is evaluated by the memory model at each micro-batch in whole bytes. Job time and cost are
the time model's floats; rounding them to integers could merge two choices or move one across a limit, so the
model uses their *ranks*: ``T[c,v]`` is the position of the choice's job time among all the problem's distinct
job times (``C`` likewise for cost), an order-preserving integer code, and ``T*`` (``C*``) is the rank of the
largest value the deadline (budget) admits by the verifier's exact comparison. Minimising ranks lexicographically
minimises the values themselves, so CP-SAT's optimum is the exhaustive oracle's to the last bit
(tests/test_training_solver.py).

Domains are tightened before the model is built (design notes C5): a micro-batch value that alone breaks the
memory, deadline or budget row of its layout, and a layout over its GPU type's stock, get no variable (they
could only be 0). The constraints are still posted, so the untightened model (``tighten=False``, used in tests)
gives the same optimum. Objectives are optimised lexicographically, each phase fixing the previous optimum and
hinted with the previous solution (C8, C10); one worker and a fixed seed (C11).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from . import sat_api as cp_model
from .phases import Objective, solve_in_phases
from .training_problem import Choice, TrainingOutcome, TrainingProblem, within_budget, within_deadline


class TrainingModel:
    """Builds the model for a ``TrainingProblem``; its variables are named after the layout keys."""

    def __init__(self, problem: TrainingProblem, tighten: bool = True):
        self.problem = problem
        self.model = model = cp_model.CpModel()
        self.used: dict[str, cp_model.IntVar] = {}
        self.size: dict[str, dict[int, cp_model.IntVar]] = {}
        self.micro_batch: dict[str, cp_model.LinearExpr] = {}
        self.time_rank = _ranks([s for row in problem.rows for s in row.seconds])
        self.cost_rank = _ranks([c for row in problem.rows for c in row.cost_usd])
        rows = []
        seconds_terms, cost_terms = [], []
        for row in problem.rows:
            sizes = [v for v in row.micro_batches if not tighten or problem.feasible(row, v)]
            if not sizes:
                continue
            rows.append(row)
            u = model.new_bool_var(f"used[{row.key}]")
            y = {v: model.new_bool_var(f"micro_batch[{row.key}]={v}") for v in sizes}
            model.add(cp_model.total(y.values()) == u)
            _post(model, cp_model.total(row.memory_bytes[row.at(v)] * var for v, var in y.items()) - row.limit_bytes * u <= 0)
            seconds_terms += [self.time_rank[row.seconds[row.at(v)]] * var for v, var in y.items()]
            cost_terms += [self.cost_rank[row.cost_usd[row.at(v)]] * var for v, var in y.items()]
            self.used[row.key], self.size[row.key] = u, y
            self.micro_batch[row.key] = cp_model.total(v * var for v, var in y.items())
        self.rows = rows
        model.add_exactly_one(self.used.values())
        self.seconds = cp_model.total(seconds_terms)
        self.cost = cp_model.total(cost_terms)
        widest = max((max(r.micro_batches) for r in rows), default=0) + 1
        self.preference = cp_model.total(r.rank * widest * self.used[r.key] - self.micro_batch[r.key] for r in rows)
        if problem.deadline_hours is not None:
            _post(model, self.seconds <= _largest_rank(self.time_rank, lambda s: within_deadline(s, problem.deadline_hours)))
        if (faster_than := problem.faster_than_seconds) is not None:
            _post(model, self.seconds <= _largest_rank(self.time_rank, lambda s: s < faster_than))
        if problem.budget_usd is not None:
            _post(model, self.cost <= _largest_rank(self.cost_rank, lambda c: within_budget(c, problem.budget_usd)))
        if problem.budget_micro_usd_per_hour is not None:
            model.add(cp_model.total(r.price_micro_usd_per_hour * self.used[r.key] for r in rows) <= problem.budget_micro_usd_per_hour)
        by_type: dict[str, list[cp_model.LinearExpr]] = {}
        for r in rows:
            by_type.setdefault(r.gpu_type, []).append(r.gpus * self.used[r.key])
        for gpu_type, terms in sorted(by_type.items()):
            stock = problem.inventory_by_gpu.get(gpu_type)
            if stock is not None:
                model.add(cp_model.total(terms) <= stock)

    def value(self, rank: int, objective: str) -> float:
        """The job USD (or seconds) of a cost (or time) rank: the smallest value at or above it."""
        ranks = self.cost_rank if objective == "cost" else self.time_rank
        return min((v for v, r in ranks.items() if r >= rank), default=max(ranks, default=0.0))

    def objectives(self) -> list[Objective]:
        first, second = (self.cost, self.seconds) if self.problem.objective == "cost" else (self.seconds, self.cost)
        return [Objective(first), Objective(second), Objective(self.preference)]

    def hint(self, choice: Choice | None) -> None:
        """Hint every decision variable (complete hints help CP-SAT prune, primer parameters.md)."""
        self.model.clear_hints()
        for row in self.rows:
            chosen_size = choice.micro_batch if choice is not None and row.key == choice.key else None
            self.model.add_hint(self.used[row.key], 0 if chosen_size is None else 1)
            for value, var in self.size[row.key].items():
                self.model.add_hint(var, 1 if value == chosen_size else 0)

    def greedy(self) -> Choice | None:
        """The best layout by the primary objective that fits in memory, ignoring the other limits (a hint)."""
        best = None
        for row in self.rows:
            for micro_batch in self.size[row.key]:
                if row.fits(micro_batch):
                    order = self.problem.order(row, micro_batch)
                    if best is None or order < best[0]:
                        best = (order, Choice(row.key, micro_batch))
        return best[1] if best else None

    def extract(self, solver: cp_model.CpSolver) -> Choice:
        key = next(k for k, u in self.used.items() if solver.value(u))
        return Choice(key, next(v for v, var in self.size[key].items() if solver.value(var)))


def _ranks(values: list[float]) -> dict[float, int]:
    """Each distinct value's position in increasing order (0, 1, 2, ...): an integer code that keeps the order."""
    return {value: index for index, value in enumerate(sorted(set(values)))}


def _largest_rank(ranks: dict[float, int], admitted: Callable[[float], bool]) -> int:
    """The rank of the largest value a limit admits (-1 when it admits none)."""
    return max((rank for value, rank in ranks.items() if admitted(value)), default=-1)


def _post(model: cp_model.CpModel, constraint: cp_model.BoundedLinearExpression | bool) -> None:
    """Add a linear constraint; one without variables folds to Python's ``True`` (needs none) or ``False`` (no
    choice can meet it: posted as a contradiction)."""
    if constraint is False:
        model.add(model.new_int_var(0, 0, "contradiction") >= 1)
    elif constraint is not True:
        model.add(constraint)


def solve_training_cpsat(problem: TrainingProblem, time_limit_s: float = 10.0, workers: int = 1, seed: int = 0,
                         tighten: bool = True) -> TrainingOutcome:
    """Lexicographic solve; the status is the one CP-SAT proved for the primary objective."""
    start = time.perf_counter()
    parameters = {"num_workers": workers, "random_seed": seed, "max_time_in_seconds": time_limit_s,
                  "linearization_level": 2, "ortools": cp_model.ortools_version()}
    if not problem.rows:
        return TrainingOutcome("infeasible", None, None, None, time.perf_counter() - start, "cpsat", parameters)
    built = TrainingModel(problem, tighten)
    if not built.rows:  # every layout breaks a limit on its own: infeasible before any search
        return TrainingOutcome("infeasible", None, None, None, time.perf_counter() - start, "cpsat", parameters)
    built.hint(built.greedy())
    first, *tie_breaks = built.objectives()
    result = solve_in_phases(built.model, tie_breaks, first, built.extract, built.hint,
                             max(0.05, time_limit_s - (time.perf_counter() - start)), workers, seed)
    if not result.found:
        return TrainingOutcome(result.status_name, None, None, None, time.perf_counter() - start, "cpsat", parameters)
    choice = result.solution  # the tie-breaks keep the primary objective's rank, hence its value
    assert choice is not None
    row = next(r for r in built.rows if r.key == choice.key)
    objective = problem.value(row, choice.micro_batch)
    bound = objective if result.proven else built.value(result.bound, problem.objective)
    return TrainingOutcome(result.status_name, choice, objective, bound, time.perf_counter() - start, "cpsat", parameters)
