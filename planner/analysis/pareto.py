"""Pareto sets of serving plans: cost against a second objective, by an epsilon-constraint sweep over CP-SAT.

Method: the epsilon-constraint method (Haimes, Lasdon & Wismer 1971, "On a bicriterion formulation of the
problems of integrated system identification and system optimization", IEEE Trans. SMC 1(3)); for integer
programs each step bounds the second objective strictly beyond the previous point, so every Pareto point is
visited exactly once (Mavrotas 2009, "Effective implementation of the epsilon-constraint method in
Multi-Objective Mathematical Programming problems", Applied Mathematics and Computation 213(2), Section 2).

Second objectives, each with the bound one step posts:

- ``headroom`` (maximise the minimum free fraction over all GPUs): level ``h`` lowers each GPU's limit to
  ``floor(capacity x (1 - h))``, which changes each shape's maximum sequences, so the shapes are re-derived per
  level by ``prepare`` exactly as a scenario with ``min_headroom: h`` would be (the memory bill stays the
  constraint, no min/max expression is posted). The next level is the smallest one that cuts the previous
  point's busiest GPU.
- ``gpus`` (minimise the GPU count): ``sum gpus <= G - 1`` after a point with ``G`` GPUs.
- ``concurrency`` (maximise the sequences the fleet can hold, its KV-cache capacity at the scenario's context):
  the demand itself becomes ``K + 1`` after a point whose fleet holds ``K``.
- ``tpot`` / ``ttft`` (minimise the slowest replica group's predicted TPOT / TTFT at the SLO's percentile):
  for traffic scenarios the SLO term itself is the bound: after a point whose slowest group reaches ``L`` ms,
  the scenario is re-prepared with the target at ``L x (1 - LATENCY_STEP)`` (every shape's sustainable rate is
  re-derived by the performance model under it), so each point is the cheapest fleet meeting that target.
  For concurrency scenarios (TPOT only) the bound forbids the shapes whose TPOT at their operating point
  (``Row.latency_us``) exceeds the last point's, minus one microsecond.

Every step is lexicographic (primer: lexicographic objectives): minimise cost, then at that cost the fewest
GPUs (``headroom``, ``gpus``) or the most capacity (``concurrency``). Each step is warm-started with the
previous point's solution as a complete hint (primer: hints; CP-SAT repairs a hint the new bound cuts).
Dominated points and duplicates are filtered at the end, on the verified plans' values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from ..errors import InputError, Issue, VerificationError
from ..schema.outputs import StatedDemand, stated_demand
from ..schema.outputs_analysis import ParetoBound, ParetoPointOutput, ParetoStop, SecondObjective, ServingParetoOutput
from ..solver import sat_api as cp_model
from ..solver.cpsat import ServingModel
from ..solver.phases import STATUS_NAMES, Objective, solve_in_phases
from ..solver.problem import Assignment, Problem
from ..units import decimal_fraction, micro_usd_to_usd

if TYPE_CHECKING:
    from ..pipeline.serving import PreparedScenario
    from ..plans.serving import Plan
    from ..schema.base import SolverOptions
    from ..schema.serving import ServingScenario

LatencyMetric = Literal["tpot", "ttft"]
PAIRS: dict[str, SecondObjective] = {"cost,headroom": "headroom", "cost,gpus": "gpus", "cost,concurrency": "concurrency",
                                     "cost,tpot": "tpot", "cost,ttft": "ttft"}
MAXIMISED = {"headroom": True, "gpus": False, "concurrency": True, "tpot": False, "ttft": False}
LATENCY_STEP = 0.02
"""Relative resolution of the latency sweeps: each target is 2 % below the last point's latency, so points closer
than that are skipped (every point found is still optimal for its target, hence non-dominated)."""
CONCURRENCY_CEILING_FACTOR = 16
"""The concurrency sweep stops once the fleet holds this many times the scenario's demand (it never ends by
itself without a budget or inventory)."""


@dataclass(frozen=True)
class ParetoPoint:
    """One plan of the set, optimal for the bound (``level``) it was solved under."""

    plan: Plan
    level: float | None  # min headroom, max GPUs or demand of the step; None: unbounded
    status: str
    max_concurrency: int  # sequences the fleet can hold at the scenario's context and headroom

    @property
    def cost_usd_per_hour(self) -> float:
        return self.plan.cost_usd_per_hour

    @property
    def cost_micro_usd_per_hour(self) -> int:
        return self.plan.cost_micro_usd_per_hour

    def value(self, objective: SecondObjective) -> float:
        if objective == "headroom":
            return self.plan.min_headroom_fraction
        if objective == "gpus":
            return self.plan.total_gpus
        if objective in ("tpot", "ttft"):
            return self.plan.worst(f"{objective}_ms") or 0.0
        return self.max_concurrency

    def bound(self, objective: SecondObjective) -> tuple[ParetoBound, float | int | None]:
        """(name, value) of the bound the point was solved under (None: the first point, unbounded)."""
        names: dict[str, ParetoBound] = {"headroom": "min_headroom", "gpus": "max_gpus", "concurrency": "demand", "tpot": "max_tpot_ms",
                                        "ttft": "max_ttft_ms"}
        name = names[objective]
        if self.level is None:
            return name, None
        return name, self.level if objective == "headroom" else round(self.level, 6) if objective in ("tpot", "ttft") else int(self.level)

    def output(self, objective: SecondObjective) -> ParetoPointOutput:
        bound, value = self.bound(objective)
        latency: dict[str, float | None] = {}  # plans with a time model only: the JSON leaves them out otherwise
        if self.plan.worst("tpot_ms") is not None:
            latency = {"ttft_ms": self.plan.worst("ttft_ms"), "tpot_ms": self.plan.worst("tpot_ms")}
        return ParetoPointOutput(cost_usd_per_hour=micro_usd_to_usd(self.cost_micro_usd_per_hour),
                                 min_headroom_fraction=round(self.plan.min_headroom_fraction, 4),
                                 total_gpus=self.plan.total_gpus, max_concurrency=self.max_concurrency,
                                 gpu_mix=self.plan.gpu_mix, status=self.status, bound={bound: value},
                                 **latency, plan=self.plan.output())


@dataclass(frozen=True)
class ParetoFront:
    """Non-dominated plans sorted by cost, with how the sweep ended."""

    objective: SecondObjective
    points: tuple[ParetoPoint, ...]
    stopped: ParetoStop  # infeasible (the whole front) | max_points | ceiling | time_limit
    solves: int
    wall_time_s: float
    scenario_name: str
    model_name: str
    demand: StatedDemand  # the workload as stated

    @property
    def pair(self) -> str:
        return f"cost,{self.objective}"

    @property
    def complete(self) -> bool:
        return self.stopped == "infeasible"

    def to_dict(self) -> dict[str, Any]:
        """What ``planner solve --pareto ... --format json`` writes (``ServingParetoOutput``)."""
        return self.output().model_dump(exclude_unset=True)

    def output(self) -> ServingParetoOutput:
        return ServingParetoOutput(scenario=self.scenario_name, model=self.model_name, demand=self.demand,
                                   objectives=("cost", self.objective), stopped=self.stopped, complete=self.complete,
                                   solves=self.solves, wall_time_s=round(self.wall_time_s, 4),
                                   pareto=[p.output(self.objective) for p in self.points])


def pareto_front(prepared: PreparedScenario, objective: SecondObjective = "headroom", max_points: int = 20,
                 time_limit_s: float | None = None) -> ParetoFront:
    """The Pareto set of cost against ``objective``; each point proven optimal (status) for its bound."""
    if objective not in MAXIMISED:
        raise ValueError(f"unknown second objective {objective!r}")
    start = time.perf_counter()
    check_pair(prepared, objective)
    sweeps: dict[str, Callable[[PreparedScenario, int, float | None], _Sweep]] = {
        "headroom": _sweep_headroom, "gpus": _sweep_gpus, "concurrency": _sweep_concurrency,
        "tpot": partial(_sweep_latency, metric="tpot"), "ttft": partial(_sweep_latency, metric="ttft")}
    sweep = sweeps[objective]
    raw, stopped, solves = sweep(prepared, max_points, time_limit_s)
    points = non_dominated(raw, objective)
    if len(points) > max_points:
        points, stopped = points[:max_points], "max_points"
    scenario = prepared.scenario
    return ParetoFront(objective, tuple(points), stopped, solves, time.perf_counter() - start, scenario.name or "scenario",
                       prepared.model_name, stated_demand(scenario.workload))


def check_pair(prepared: PreparedScenario, objective: SecondObjective) -> None:
    """Pairs that the scenario's demand cannot give are bad input (exit 2), with the pairs that it can."""
    workload = prepared.scenario.workload
    problem = None
    if objective == "concurrency" and workload.is_traffic:
        problem = "cost,concurrency sweeps the concurrency demand; this scenario states a request rate"
    elif objective == "ttft" and workload.kind != "request_rate":
        problem = "cost,ttft needs live traffic (workload.request_rate): TTFT includes queueing at a request rate"
    elif objective == "tpot" and workload.kind == "offline":
        problem = "an offline job has no latency target; cost,tpot needs workload.request_rate or concurrency"
    if problem is not None:
        latency_pairs = ", cost,tpot or cost,ttft" if workload.kind == "request_rate" else ""
        raise InputError("this Pareto pair does not apply to the scenario", [Issue(problem, field_path="--pareto",
                         suggestion="use cost,headroom or cost,gpus" + latency_pairs)])


def non_dominated(points: list[ParetoPoint], objective: SecondObjective) -> list[ParetoPoint]:
    """Points no other point beats or equals on both objectives, first of equal ones kept, sorted by cost."""
    sign = 1 if MAXIMISED[objective] else -1
    key = lambda p: (p.cost_micro_usd_per_hour, -sign * p.value(objective))  # noqa: E731
    kept: list[ParetoPoint] = []
    for point in sorted(points, key=key):
        if any(_dominates(other, point, objective) or _same(other, point, objective) for other in kept):
            continue
        kept.append(point)
    return kept


def _dominates(a: ParetoPoint, b: ParetoPoint, objective: SecondObjective) -> bool:
    sign = 1 if MAXIMISED[objective] else -1
    cost_a, cost_b = a.cost_micro_usd_per_hour, b.cost_micro_usd_per_hour
    second_a, second_b = sign * a.value(objective), sign * b.value(objective)
    return cost_a <= cost_b and second_a >= second_b and (cost_a < cost_b or second_a > second_b)


def _same(a: ParetoPoint, b: ParetoPoint, objective: SecondObjective) -> bool:
    return a.cost_micro_usd_per_hour == b.cost_micro_usd_per_hour and a.value(objective) == b.value(objective)


@dataclass(frozen=True)
class _Step:
    status: str
    assignment: Assignment | None


def _solve_step(problem: Problem, settings: SolverOptions, hint: Assignment | None, bound: Callable[[ServingModel], None] | None,
                second: Callable[[ServingModel], Objective], time_limit_s: float) -> _Step:
    """Minimise cost under the step's bound, then the tie-break at that cost; warm-started from ``hint``."""
    if not problem.rows:
        return _Step("infeasible", None)
    built = ServingModel(problem)
    if bound is not None:
        bound(built)
    if hint is None:
        built.hint_greedy()
    else:
        built.hint(hint)
    result = solve_in_phases(built.model, lambda: [second(built)], Objective(built.cost), built.extract, built.hint,
                             time_limit_s, settings.workers, settings.seed, repair_hint=hint is not None)
    return _Step(STATUS_NAMES[result.status], result.solution)


def _fewest_gpus(built: ServingModel) -> Objective:
    return Objective(built.gpus)


def _capacity(built: ServingModel) -> cp_model.LinearExpr:
    return cp_model.total(row.max_sequences * built.replicas[row.key] for row in built.problem.rows)


def _point(prepared: PreparedScenario, step: _Step, level: float | None, demand: int) -> ParetoPoint:
    """Build and independently verify the plan of one step."""
    from ..pipeline.serving import build_plan, verify_prepared

    assert step.assignment is not None
    plan = build_plan(prepared, step.assignment, step.status)
    verify_prepared(prepared, plan, demand, mixed_fleet=True)
    capacity = sum(g.count * g.candidate.max_sequences for g in plan.groups)
    return ParetoPoint(plan, level, step.status, capacity)


def _limit(settings: SolverOptions, time_limit_s: float | None) -> float:
    return time_limit_s or settings.time_limit_s


_Sweep = tuple[list[ParetoPoint], ParetoStop, int]
"""A sweep's points, why it stopped, and the number of solves."""


def _sweep_headroom(prepared: PreparedScenario, max_points: int, time_limit_s: float | None) -> _Sweep:
    from ..pipeline.serving import prepare

    settings = prepared.scenario.solver
    level = prepared.scenario.min_headroom
    points: list[ParetoPoint] = []
    hint: Assignment | None = None
    stopped: ParetoStop
    solves, stopped = 0, "infeasible"
    at_level = prepared
    while True:
        if len(non_dominated(points, "headroom")) > max_points:
            stopped = "max_points"
            break
        if solves:
            at_level = prepare(prepared.scenario.model_copy(update={"min_headroom": level}), prepared.catalog)
        problem = at_level.problem()
        step = _solve_step(problem, settings, hint, None, _fewest_gpus, _limit(settings, time_limit_s))
        solves += 1
        if step.assignment is None:
            stopped = "infeasible" if step.status == "infeasible" else "time_limit"
            break
        if step.assignment == hint:
            raise VerificationError("internal error: the headroom sweep found the same plan twice (this is a bug in planner)",
                                    [Issue(f"at min_headroom {level!r}; the level no longer cuts the previous plan")])
        point = _point(at_level, step, level, problem.demand_sequences)
        points.append(point)
        hint = step.assignment
        level = next_headroom_level(problem, step.assignment, level)
        if level >= 1.0:
            break
    return points, stopped, solves


def next_headroom_level(problem: Problem, assignment: Assignment, level: float) -> float:
    """The smallest headroom level above ``level`` whose per-GPU limit no longer holds the busiest used GPU.

    A GPU of shape c holding k sequences per replica needs ``need = fixed + kv x k`` bytes plus its CUDA graphs
    outside the budget; a level h allows it while ``need <= capacity - ceil(capacity x h) - graphs``
    (``candidates.per_gpu_limit_bytes``, h read as the decimal written), i.e. while h <= free / capacity with
    ``free = capacity - need - graphs``. The next level is the first float whose decimal exceeds the smallest such
    ratio over the plan's GPUs, so the next step must find strictly more headroom.
    """
    rows = {row.key: row for row in problem.rows}
    binding: Fraction | None = None
    for key, count in assignment.replicas.items():
        row = rows[key]
        need = row.fixed_bytes + row.kv_bytes_per_sequence * -(-assignment.sequences[key] // count)
        free = Fraction(row.capacity_bytes - need - row.graphs_bytes, row.capacity_bytes)
        binding = free if binding is None or free < binding else binding
    assert binding is not None
    candidate = max(float(binding), level)
    while decimal_fraction(candidate) <= binding:
        candidate = math.nextafter(candidate, 2.0)
    return max(candidate, math.nextafter(level, 2.0))


def _sweep_gpus(prepared: PreparedScenario, max_points: int, time_limit_s: float | None) -> _Sweep:
    settings = prepared.scenario.solver
    problem = prepared.problem()
    points: list[ParetoPoint] = []
    hint: Assignment | None = None
    max_gpus: int | None = None
    stopped: ParetoStop
    solves, stopped = 0, "infeasible"
    while True:
        if len(non_dominated(points, "gpus")) > max_points:
            stopped = "max_points"
            break
        limit = max_gpus
        step = _solve_step(problem, settings, hint, None if limit is None else partial(_at_most_gpus, gpus=limit), _fewest_gpus,
                           _limit(settings, time_limit_s))
        solves += 1
        if step.assignment is None:
            stopped = "infeasible" if step.status == "infeasible" else "time_limit"
            break
        point = _point(prepared, step, None if limit is None else float(limit), problem.demand_sequences)
        points.append(point)
        hint = step.assignment
        max_gpus = point.plan.total_gpus - 1
        if max_gpus < 1:
            break
    return points, stopped, solves


def _at_most_gpus(built: ServingModel, gpus: int) -> None:
    built.model.add(built.gpus <= gpus)


def _most_capacity(built: ServingModel) -> Objective:
    return Objective(_capacity(built), maximise=True)


def _sweep_concurrency(prepared: PreparedScenario, max_points: int, time_limit_s: float | None) -> _Sweep:
    settings = prepared.scenario.solver
    base = prepared.problem()
    ceiling = base.demand_sequences * CONCURRENCY_CEILING_FACTOR
    points: list[ParetoPoint] = []
    hint: Assignment | None = None
    demand = base.demand_sequences
    stopped: ParetoStop
    solves, stopped = 0, "infeasible"
    while True:
        if len(non_dominated(points, "concurrency")) > max_points:
            stopped = "max_points"
            break
        if demand > ceiling:
            stopped = "ceiling"
            break
        problem = replace(base, demand_sequences=demand)
        step = _solve_step(problem, settings, hint, None, _most_capacity, _limit(settings, time_limit_s))
        solves += 1
        if step.assignment is None:
            stopped = "infeasible" if step.status == "infeasible" else "time_limit"
            break
        point = _point(prepared, step, float(demand), demand)
        points.append(point)
        hint = step.assignment
        demand = point.max_concurrency + 1
    return points, stopped, solves


def _lowest_latency(built: ServingModel) -> Objective:
    """The plan's own tie-breaks at the step's cost (formats, latency, GPUs), folded where they fit one objective."""
    return built.tie_break_objectives()[0]


def _without_slower(built: ServingModel, top_us: int) -> None:
    """No replicas of a shape slower than ``top_us``."""
    for row in built.problem.rows:
        if row.latency_us > top_us:
            built.model.add(built.replicas[row.key] == 0)


def _sweep_latency(prepared: PreparedScenario, max_points: int, time_limit_s: float | None,
                   metric: LatencyMetric = "tpot") -> _Sweep:
    """Cost against the slowest group's TPOT (or TTFT): tighten the target below each point's latency."""
    from ..pipeline.serving import prepare, tightened

    settings = prepared.scenario.solver
    points: list[ParetoPoint] = []
    hint: Assignment | None = None
    level: float | None = None
    stopped: ParetoStop
    solves, stopped = 0, "infeasible"
    at_level = prepared
    if prepared.is_traffic and prepared.scenario.workload.slo is None:  # read every point at p99: an SLO that never binds
        at_level = prepare(_with_target(prepared.scenario, metric, UNBOUNDED_MS[metric]), prepared.catalog)
    while True:
        if len(non_dominated(points, metric)) > max_points:
            stopped = "max_points"
            break
        problem = at_level.problem()
        bound = None
        if level is not None and not prepared.is_traffic:
            bound = partial(_without_slower, top_us=round(level * 1000))
        step = _solve_step(problem, settings, hint, bound, _lowest_latency, _limit(settings, time_limit_s))
        solves += 1
        if step.assignment is None:
            stopped = "infeasible" if step.status == "infeasible" else "time_limit"
            break
        point = _point(at_level, step, level, problem.demand_sequences)
        points.append(point)
        hint = step.assignment
        if prepared.is_traffic:
            level = point.value(metric) * (1 - LATENCY_STEP)
            at_level = tightened(at_level, _with_target(prepared.scenario, metric, level))
            if not at_level.candidates:
                break
        else:
            rows = {row.key: row for row in problem.rows}
            level = (max(rows[key].latency_us for key in step.assignment.replicas) - 1) / 1000
    return points, stopped, solves


UNBOUNDED_MS = {"tpot": 600_000.0, "ttft": 3_600_000.0}
"""The largest targets the schema accepts: an SLO that only fixes the percentile."""


def _with_target(scenario: ServingScenario, metric: LatencyMetric, level_ms: float) -> ServingScenario:
    """The scenario with its TPOT (or TTFT) target lowered to ``level_ms`` (an SLO at p99 if it had none)."""
    from ..schema.workload import Slo

    workload = scenario.workload
    slo = workload.slo or (Slo(tpot_ms=level_ms) if metric == "tpot" else Slo(ttft_ms=level_ms))
    changes: dict[str, float | None] = {f"{metric}_ms": level_ms}
    if metric == "tpot":
        changes["min_output_tokens_per_s_per_user"] = None
    slo = slo.model_copy(update=changes)
    return scenario.model_copy(update={"workload": workload.model_copy(update={"slo": slo})})
