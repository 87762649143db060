"""The solver-facing training problem: per layout, what each allowed micro-batch needs and costs, plus the job's
limits, and the exhaustive reference solver used as an oracle for CP-SAT.

Units: memory in exact bytes, money per hour in micro-USD, and the time model's job seconds and USD as it computes
them. Every limit is decided per (layout, micro-batch) choice with the same exact comparison the verifier makes
(the job's hours and USD against the deadline and budget read as the decimals written), so no rounding decides
feasibility; CP-SAT sees integers only (``cpsat`` ranks these values instead of rounding them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from ..units import decimal_fraction

Objective = Literal["cost", "time"]
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class TrainingRow:
    key: str
    gpu_type: str
    gpus: int
    price_micro_usd_per_hour: int
    micro_batches: tuple[int, ...]
    memory_bytes: tuple[int, ...]  # per micro-batch: worst stage, bytes per GPU
    limit_bytes: int
    seconds: tuple[float, ...]  # per micro-batch: job seconds
    cost_usd: tuple[float, ...]  # per micro-batch: job USD
    rank: int

    def at(self, micro_batch: int) -> int:
        return self.micro_batches.index(micro_batch)

    def fits(self, micro_batch: int) -> bool:
        return self.memory_bytes[self.at(micro_batch)] <= self.limit_bytes


def within_deadline(seconds: float, deadline_hours: float | None) -> bool:
    """The job's hours (as the time model reports them) against the deadline as written, exactly."""
    return deadline_hours is None or Fraction(seconds / SECONDS_PER_HOUR) <= decimal_fraction(deadline_hours)


def within_budget(cost_usd: float, budget_usd: float | None) -> bool:
    return budget_usd is None or Fraction(cost_usd) <= decimal_fraction(budget_usd)


@dataclass(frozen=True)
class TrainingProblem:
    rows: tuple[TrainingRow, ...]
    deadline_hours: float | None
    budget_usd: float | None
    budget_micro_usd_per_hour: int | None
    inventory_by_gpu: dict[str, int]
    objective: Objective = "cost"
    faster_than_seconds: float | None = None  # a Pareto sweep's bound: strictly faster than the previous point

    def feasible(self, row: TrainingRow, micro_batch: int) -> bool:
        """Every constraint of the model for one (row, micro-batch) choice."""
        if micro_batch not in row.micro_batches or not row.fits(micro_batch):
            return False
        stock = self.inventory_by_gpu.get(row.gpu_type)
        i = row.at(micro_batch)
        return ((stock is None or row.gpus <= stock)
                and within_deadline(row.seconds[i], self.deadline_hours)
                and (self.faster_than_seconds is None or row.seconds[i] < self.faster_than_seconds)
                and within_budget(row.cost_usd[i], self.budget_usd)
                and (self.budget_micro_usd_per_hour is None or row.price_micro_usd_per_hour <= self.budget_micro_usd_per_hour))

    def order(self, row: TrainingRow, micro_batch: int) -> tuple[float, float, int, int]:
        """Lexicographic objective: primary, secondary, preferred layout, then the larger micro-batch."""
        i = row.at(micro_batch)
        cost, seconds = row.cost_usd[i], row.seconds[i]
        first, second = (cost, seconds) if self.objective == "cost" else (seconds, cost)
        return first, second, row.rank, -micro_batch

    def value(self, row: TrainingRow, micro_batch: int) -> float:
        """The primary objective of one choice: job USD or job seconds."""
        return self.order(row, micro_batch)[0]


@dataclass(frozen=True)
class Choice:
    key: str
    micro_batch: int


@dataclass(frozen=True)
class TrainingOutcome:
    status: str  # optimal | feasible | infeasible | unknown
    choice: Choice | None
    objective: float | None  # USD or seconds, as the problem's objective says
    best_bound: float | None
    wall_time_s: float
    method: str
    parameters: dict[str, object]

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.best_bound is None or self.objective == 0:
            return None
        return max(0.0, (self.objective - self.best_bound) / self.objective)


def solve_exhaustive(problem: TrainingProblem) -> TrainingOutcome:
    """Try every (row, micro-batch) pair: the oracle the CP-SAT model is tested against."""
    start = time.perf_counter()
    best: tuple[tuple[float, float, int, int], TrainingRow, int] | None = None
    for row in problem.rows:
        for micro_batch in row.micro_batches:
            if problem.feasible(row, micro_batch):
                order = problem.order(row, micro_batch)
                if best is None or order < best[0]:
                    best = (order, row, micro_batch)
    elapsed = time.perf_counter() - start
    if best is None:
        return TrainingOutcome("infeasible", None, None, None, elapsed, "enumerate", {})
    order, row, micro_batch = best
    return TrainingOutcome("optimal", Choice(row.key, micro_batch), order[0], order[0], elapsed, "enumerate", {})
