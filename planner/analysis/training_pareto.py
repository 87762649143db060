"""The cost-time frontier of a training job: how much faster it finishes for how much more money.

Epsilon-constraint sweep (Haimes, Lasdon & Wismer 1971; Mavrotas 2009, Sec. 2) over the same CP-SAT model as
``solve``: minimise cost, then time, then the fixed preference order; the next step admits only plans strictly
faster than the previous point (exactly, on the time model's seconds; CP-SAT sees the bound as a time rank).
Because each point is the cheapest plan at its time bound and, at that cost, the fastest, the next point costs
strictly more and finishes strictly sooner: every point is Pareto-optimal and none is skipped. Each point is
verified like a solve's plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..pipeline.training import Method, PreparedTraining, build_training_plan
from ..plans.training import TrainingPlan
from ..schema.outputs_analysis import TrainingParetoOutput
from ..solver.training_problem import solve_exhaustive
from ..verify.training import verify_training_plan


@dataclass(frozen=True)
class TrainingFront:
    """Plans from the cheapest to the fastest, and how the sweep ended."""

    points: tuple[TrainingPlan, ...]
    complete: bool  # False when max_points stopped the sweep before the fastest plan
    scenario_name: str
    model_name: str

    def to_dict(self) -> dict[str, Any]:
        """What ``planner solve --pareto cost,time --format json`` writes (``TrainingParetoOutput``)."""
        return self.output().model_dump(exclude_unset=True)

    def output(self) -> TrainingParetoOutput:
        return TrainingParetoOutput(scenario=self.scenario_name, kind="training", model=self.model_name, objective="cost,time",
                                    complete=self.complete, pareto=[p.output() for p in self.points])


def training_pareto(prepared: PreparedTraining, max_points: int = 20, method: Method = "cpsat",
                    time_limit_s: float | None = None) -> TrainingFront:
    """Cost-time Pareto set of a prepared training scenario (deadline, budget and stock still apply)."""
    from ..solver.training_cpsat import solve_training_cpsat

    settings, name = prepared.scenario.solver, prepared.scenario.name or "scenario"
    points: list[TrainingPlan] = []
    bound: float | None = None
    while len(points) < max_points:
        problem = prepared.problem(objective="cost", faster_than_seconds=bound)
        if method == "enumerate":
            outcome = solve_exhaustive(problem)
        else:
            outcome = solve_training_cpsat(problem, time_limit_s or settings.time_limit_s, settings.workers, settings.seed)
        if outcome.choice is None:
            return TrainingFront(tuple(points), outcome.status != "unknown", name, prepared.model_name)
        plan = build_training_plan(prepared, outcome.choice, outcome.status)
        verify_training_plan(plan, prepared.context, prepared.limits)
        points.append(plan)
        row = next(r for r in problem.rows if r.key == outcome.choice.key)
        bound = row.seconds[row.at(outcome.choice.micro_batch)]
    return TrainingFront(tuple(points), False, name, prepared.model_name)
