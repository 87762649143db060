"""Why shapes fit but no fleet does: the serving model rebuilt with one enforcement literal per constraint group,
solved under assumptions for a minimal conflicting set, and one more solve per group for its nearest relaxation."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..candidates.serving import Candidate, per_gpu_limit_bytes
from ..errors import Issue
from ..memory.serving import sequences_within
from ..solver import sat_api as cp_model
from ..solver.cpsat import ConstraintGroups, ServingModel
from ..solver.phases import solver_parameters
from ..solver.problem import Instance, Problem, Row
from ..units import cents_ceil, format_usd, micro_usd_to_usd, usd_to_micro_usd_floor
from .explain_traffic import Capacities, demand_field, demand_phrase, relax_traffic_demand
from .explanation import ConstraintGroup, Explanation, Relaxation, _largest

if TYPE_CHECKING:
    from ..pipeline.serving import PreparedScenario


SOLVE_LIMIT_S = 5.0


def _sequences_at(c: Candidate, headroom: float) -> int:
    """Sequences one replica of ``c`` holds when ``headroom`` of each GPU stays free (Candidate.max_sequences' rule)."""
    return sequences_within(per_gpu_limit_bytes(c.memory, headroom), c.memory.fixed_bytes, c.memory.kv_cache_bytes_per_sequence)


def _undominated(shapes: list[Candidate], headroom: float, capacity: Capacities | None = None) -> list[Candidate]:
    """Drop shapes that another shape of the same GPU type beats at every headroom.

    As in ``candidates.prune_dominated``: same GPU type (same stock, same price per GPU) and no more GPUs per
    replica, so swapping keeps any plan feasible and no dearer under every group and every objective used here.
    It must also hold at least as many sequences at every headroom the explanation tries; no more fixed bytes, KV
    bytes per sequence and CUDA-graph bytes per GPU guarantee that at every limit (exact bytes, no rounding).
    With ``capacity`` (traffic: request rates without and with the headroom) the two rates are compared instead.
    """
    def beats(a: Candidate, b: Candidate) -> bool:
        if capacity is not None:
            return a.gpus_per_replica <= b.gpus_per_replica and all(x >= y for x, y in zip(capacity[a.key], capacity[b.key]))
        ma, mb = a.memory, b.memory
        return (a.gpus_per_replica <= b.gpus_per_replica and ma.fixed_bytes <= mb.fixed_bytes
                and ma.kv_cache_bytes_per_sequence <= mb.kv_cache_bytes_per_sequence
                and ma.outside_budget_bytes <= mb.outside_budget_bytes)

    by_gpu: dict[str, list[Candidate]] = {}
    for c in shapes:
        by_gpu.setdefault(c.gpu.id, []).append(c)
    kept: list[Candidate] = []
    for group in by_gpu.values():
        survivors: list[Candidate] = []
        for c in sorted(group, key=lambda c: (c.gpus_per_replica, c.memory.fixed_bytes, c.rank)):
            if not any(beats(a, c) for a in survivors):
                survivors.append(c)
        kept += survivors
    return sorted(kept, key=lambda c: c.rank)


def _group_model(shapes: list[Candidate], demand: int, budget: int | None, inventory: dict[str, int], headroom: float,
                 mixed_fleet: bool, slack: frozenset[str] = frozenset(), instances: Mapping[str, Instance] | None = None,
                 capacity: Capacities | None = None) -> ServingModel:
    """The serving model (``solver.cpsat``) with every constraint group under its own literal.

    Rows hold what fits with no headroom; the ``headroom`` group caps each at what fits with it. Traffic scenarios
    pass ``capacity``: per shape the request rate (milli-requests/s) one replica sustains within the SLO without
    and with the headroom; the load served is then the demand's unit.
    """
    rows, within = [], {}
    for c in shapes:
        memory = c.memory
        rate, limited = capacity[c.key] if capacity is not None else (0, _sequences_at(c, headroom))
        rows.append(Row(c.key, c.gpu.id, c.gpus_per_replica, c.price_micro_usd_per_hour, memory.fixed_bytes,
                        memory.kv_cache_bytes_per_sequence, per_gpu_limit_bytes(memory, 0.0), memory.capacity_bytes,
                        memory.outside_budget_bytes, rate_milli_rps=rate))
        within[c.key] = limited
    traffic = capacity is not None
    problem = Problem(tuple(rows), 0 if traffic else demand, budget, inventory, mixed_fleet, demand if traffic else None,
                      instances or {})
    return ServingModel(problem, ConstraintGroups(assumed=True, slack=slack, headroom=within))


def _solve(model: ServingModel, enforced: list[str], time_limit_s: float) -> tuple[str, cp_model.CpSolver]:
    """Solve with the groups in ``enforced`` assumed on (the others free); one worker, as
    ``sufficient_assumptions_for_infeasibility`` needs (assumptions weaken presolve; the LP cuts prove these fast)."""
    model.assume(enforced)
    solver = solver_parameters(max(0.05, time_limit_s), workers=1, seed=0)
    status = solver.solve(model.model)
    return {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible", cp_model.INFEASIBLE: "infeasible"}.get(status, "unknown"), solver


class _LimitConflict:
    """Finds a minimal set of conflicting constraint groups and the nearest relaxation of each."""

    ORDER = ("homogeneous", "headroom", "inventory", "budget", "demand")  # deletion order: keep what users set last

    def __init__(self, prepared: PreparedScenario, shapes: list[Candidate], method: str, time_limit_s: float,
                 capacity: Capacities | None = None):
        s = prepared.scenario
        self.prepared, self.shapes = prepared, _undominated(shapes, s.min_headroom, capacity)
        self.capacity = capacity
        self.demand = prepared.problem().demand
        self.what = demand_phrase(prepared)
        self.budget_usd = s.budget.max_usd_per_hour
        self.budget = usd_to_micro_usd_floor(self.budget_usd) if self.budget_usd is not None else None
        self.inventory = {g: n for g, n in prepared.inventory.items() if n is not None}
        self.instances = prepared.problem().instances
        self.headroom = s.min_headroom
        self.mixed_fleet = s.solver.mixed_fleet and method != "enumerate"
        self.method = method
        self.deadline = time.perf_counter() + time_limit_s

    def _left(self) -> float:
        return min(SOLVE_LIMIT_S, self.deadline - time.perf_counter())

    def _model(self, headroom: float | None = None, slack: frozenset[str] = frozenset()) -> ServingModel:
        return _group_model(self.shapes, self.demand, self.budget, self.inventory,
                           self.headroom if headroom is None else headroom, self.mixed_fleet, slack, self.instances, self.capacity)

    def group(self, name: str) -> ConstraintGroup:
        s = self.prepared.scenario
        if name == "demand":
            return ConstraintGroup(name, demand_field(self.prepared), self.what)
        if name == "budget":
            return ConstraintGroup(name, "budget.max_usd_per_hour", f"the budget of ${format_usd(self.budget or 0)}/h")
        if name == "headroom":
            return ConstraintGroup(name, "min_headroom", f"the minimum headroom of {self.headroom:.1%}")
        if name == "homogeneous":
            where = "--method enumerate" if self.method == "enumerate" else "solver.mixed_fleet"
            return ConstraintGroup(name, where, f"a single replica shape ({where})")
        gpu = name.split(":", 1)[1]
        where = f"gpus.{gpu}.inventory" if s.gpu_override(gpu).inventory is not None else f"inventory.{gpu}"
        return ConstraintGroup(name, where, f"the {gpu} inventory of {self.inventory[gpu]} GPUs")

    def explain(self) -> Explanation:
        model = self._model()
        groups = sorted(model.literals, key=lambda g: (self.ORDER.index(g.split(":")[0]), g))
        status, solver = _solve(model, groups, self._left())
        if status in ("optimal", "feasible"):
            return Explanation("no plan found: the limits can be met together, so the solver ran out of time", "undetermined",
                               extra=(Issue("raise --time-limit (solver.time_limit_s) or narrow the GPU list"),))
        if status != "infeasible":
            return self._budget_alone() or self._unnamed_conflict(groups)
        by_index = {model.literals[g].index: g for g in groups}
        core = [g for g in groups if g in {by_index.get(i) for i in solver.sufficient_assumptions_for_infeasibility()}] or groups
        for name in list(core):
            trial = [g for g in core if g != name]
            if trial and _solve(model, trial, self._left())[0] == "infeasible":
                core = trial
        conflict = tuple(self.group(g) for g in core)
        limits = [g.description for g in conflict if g.name != "demand"]
        within = " and ".join(limits) + (" together" if len(limits) > 1 else "") if limits else "these limits"
        message = f"no plan serves {self.what} within {within}"
        relaxations = [r for r in (self._relax(name, core) for name in self._relaxation_order(core)) if r is not None]
        return Explanation(message, "conflicting_limits", conflict, tuple(relaxations))

    def _budget_alone(self) -> Explanation | None:
        """When the conflict search runs out of time: does the budget alone exclude every plan? The serving model
        without the budget (the fast one the solve used) gives the cheapest plan the other limits allow."""
        if self.budget is None:
            return None
        from dataclasses import replace

        from ..solver.cpsat import solve_cpsat

        settings = self.prepared.scenario.solver
        problem = replace(self.prepared.problem(mixed_fleet=self.mixed_fleet), budget_micro_usd_per_hour=None)
        outcome = solve_cpsat(problem, max(0.05, self._left()), settings.workers, settings.seed)
        if outcome.objective_micro_usd is None or outcome.objective_micro_usd <= self.budget:
            return None
        cost = outcome.objective_micro_usd
        enough = cents_ceil(cost) * 10**4
        cheapest = "the cheapest plan" if outcome.status == "optimal" else "a plan"
        relaxation = Relaxation("budget", "budget.max_usd_per_hour", micro_usd_to_usd(enough),
                                f"{cheapest} that serves {self.demand:,} sequences within the other limits costs "
                                f"${format_usd(cost)}/h, over the budget of ${format_usd(self.budget)}/h",
                                f"a budget of ${format_usd(enough)}/h would suffice")
        message = (f"no plan serves {self.demand:,} concurrent sequences of {self.prepared.context.context_tokens:,} tokens "
                   f"within {self.group('budget').description}")
        return Explanation(message, "conflicting_limits", (self.group("budget"), self.group("demand")), (relaxation,))

    def _unnamed_conflict(self, groups: list[str]) -> Explanation:
        """The solver proved no plan meets the limits together, but which of them conflict took too long to find."""
        limits = [self.group(g).description for g in groups if g != "demand"]
        within = " and ".join(limits) + " together" if limits else "these limits"
        return Explanation(f"no plan serves {self.demand:,} concurrent sequences of {self.prepared.context.context_tokens:,} "
                           f"tokens within {within} (proven by the solver)", "conflicting_limits",
                           tuple(self.group(g) for g in groups),
                           extra=(Issue("which of these limits conflict could not be narrowed down within the time limit; "
                                        "relax one of them, or raise --time-limit (solver.time_limit_s) for the nearest change"),))

    def _relaxation_order(self, core: list[str]) -> list[str]:
        names = [g for g in core if not g.startswith("inventory:") and g != "demand"]
        if any(g.startswith("inventory:") for g in core):
            names.append("inventory")
        return names + ["demand"]

    def _others(self, core: list[str], relaxed: str) -> str:
        rest = [self.group(g).description for g in core if g not in ("demand",) and not g.startswith(relaxed)]
        return " and ".join(rest) if rest else "the other limits"

    def _relax(self, name: str, core: list[str]) -> Relaxation | None:
        everything = list(self._model().literals)
        if name == "budget":
            return self._relax_budget(everything, core)
        if name == "demand":
            return self._relax_demand(everything)
        if name == "inventory":
            return self._relax_inventory(core)
        if name == "headroom":
            return self._relax_headroom(everything)
        if name == "homogeneous":
            return self._relax_homogeneous(everything)
        return None

    def _relax_budget(self, everything: list[str], core: list[str]) -> Relaxation:
        model = self._model()
        model.model.minimize(model.cost)
        status, solver = _solve(model, [g for g in everything if g != "budget"], self._left())
        field_path = "budget.max_usd_per_hour"
        if status not in ("optimal", "feasible"):
            return Relaxation("budget", field_path, None, f"raising the budget alone is not enough: {self._others(core, 'budget')} "
                                                          "also rule out every plan")
        cost = round(solver.objective_value)
        enough = cents_ceil(cost) * 10**4  # a round budget in cents that admits the plan
        cheapest = "the cheapest plan" if status == "optimal" else "a plan"
        return Relaxation("budget", field_path, micro_usd_to_usd(enough),
                          f"{cheapest} that serves {self.what} costs ${format_usd(cost)}/h, over the budget of "
                          f"${format_usd(self.budget or 0)}/h", f"a budget of ${format_usd(enough)}/h would suffice")

    def _relax_demand(self, everything: list[str]) -> Relaxation:
        model = self._model()
        model.model.maximize(model.served)
        status, solver = _solve(model, [g for g in everything if g != "demand"], self._left())
        fits = round(solver.objective_value) if status in ("optimal", "feasible") else 0
        if self.capacity is not None:
            return relax_traffic_demand(self.prepared, fits, status == "optimal")
        tokens = f"{self.prepared.context.context_tokens:,} tokens"
        if fits == 0:
            return Relaxation("demand", "workload.concurrency", 0, f"with every other limit as given, not even one "
                                                                   f"sequence of {tokens} fits")
        bound = "at most" if status == "optimal" else "at least"
        return Relaxation("demand", "workload.concurrency", fits,
                          f"with every other limit as given, {bound} {fits:,} concurrent sequences of {tokens} fit",
                          f"concurrency: {fits}")

    def _relax_inventory(self, core: list[str]) -> Relaxation:
        short = frozenset(g.split(":", 1)[1] for g in core if g.startswith("inventory:"))
        model = self._model(slack=short)
        # fewest extra GPUs; among as few, the fewest GPU types to buy more of (one change beats two)
        touched = []
        for gpu, slack in model.slack.items():
            more = model.model.new_bool_var(f"more[{gpu}]")
            model.model.add(slack == 0).only_enforce_if(~more)
            touched.append(more)
        model.model.minimize(sum(model.slack.values()) * (len(touched) + 1) + sum(touched))
        status, solver = _solve(model, list(model.literals), self._left())  # the short types carry slack, not literals
        field_path = "inventory" if len(short) > 1 else self.group(f"inventory:{next(iter(short))}").field_path
        if status not in ("optimal", "feasible"):
            return Relaxation("inventory", field_path, None,
                              f"more {' or '.join(sorted(short))} GPUs alone are not enough: {self._others(core, 'inventory')} "
                              "also rule out every plan")
        extra = {gpu: int(solver.value(var)) for gpu, var in sorted(model.slack.items()) if solver.value(var) > 0}
        needed = {gpu: self.inventory[gpu] + n for gpu, n in extra.items()}
        have = ", ".join(f"{self.inventory[g]} x {g}" for g in sorted(short))
        wanted = " and ".join(f"{n} more {gpu} ({needed[gpu]} in all)" for gpu, n in extra.items())
        return Relaxation("inventory", field_path, needed, f"the inventory ({have}) is too small; {wanted} would suffice",
                          ", ".join(f"inventory.{gpu}: {n}" for gpu, n in needed.items()))

    def _relax_headroom(self, everything: list[str]) -> Relaxation:
        def feasible(permille: int) -> bool:
            return _solve(self._model(headroom=permille / 1000), everything, self._left())[0] in ("optimal", "feasible")

        top = math.ceil(self.headroom * 1000) - 1
        best = _largest(feasible, 0, 0 if self.capacity is not None else top)  # traffic: rates known at 0 and as given
        if best is None:
            return Relaxation("headroom", "min_headroom", None, "lowering the headroom alone is not enough: the other limits "
                                                                  "rule out every plan even with no headroom")
        return Relaxation("headroom", "min_headroom", best / 1000, f"at most {best / 10:.1f}% headroom fits with the other limits",
                          f"min_headroom: {best / 1000:g}")

    def _relax_homogeneous(self, everything: list[str]) -> Relaxation:
        model = self._model()
        model.model.minimize(model.cost)
        status, solver = _solve(model, [g for g in everything if g != "homogeneous"], self._left())
        where = self.group("homogeneous").field_path
        if status not in ("optimal", "feasible"):
            return Relaxation("homogeneous", where, None, "a mixed fleet alone is not enough: the other limits rule out every plan")
        fix = "--method cpsat" if self.method == "enumerate" else "solver.mixed_fleet: true"
        cost = round(solver.objective_value)
        return Relaxation("homogeneous", where, micro_usd_to_usd(cost),
                          f"a mixed fleet of replica shapes would serve it for ${format_usd(cost)}/h", fix)
