"""CP-SAT model of the serving fleet.

Formulation (c ranges over candidate rows, t over GPU types)::

    variables   n[c] in [0, ub_c]    replicas of shape c; ub_c = min(ceil(D / maxseq_c), B / price_c, stock_t / gpus_c)
                s[c] in [0, min(D, ub_c * maxseq_c)]   sequences (concurrency) assigned to shape c
    demand      sum_c s[c] = D
    memory      fixed_c * n[c] + kv_c * s[c] <= whole_c * n[c]     per GPU, MiB; whole_c = fixed_c + kv_c * maxseq_c
    no idle     n[c] <= s[c]                                       (every replica serves at least one sequence)
    cover cut   sum_c min(maxseq_c, D) * n[c] >= D;  sum_c n[c] <= D   (implied; tightens the LP relaxation)
    inventory   sum_{c in t} gpus_c * n[c] <= stock_t
    budget      sum_c price_c * n[c] <= B
    homogeneous n[c] = 0 unless u[c];  sum_c u[c] <= 1   (only when mixed fleets are disallowed)
    minimise    sum_c price_c * n[c]; then, at that cost, the worst fidelity penalty (formats' distance from 16 bits)
                of the shapes used; then the worst latency (TPOT at the operating point); then the GPU count
                (lexicographic phases, hinted, budgeted)

Traffic scenarios (``Problem.demand_milli_rps``) cover a request rate instead: each shape's per-replica capacity
is its sustainable rate within the SLO, ``rate_c`` milli-requests/s, and a load variable carries the demand::

    load        r[c] <= rate_c * n[c];  n[c] <= r[c];  sum_c r[c] = D_rate      (cover cut with rate_c as above)
    Little      rate_c * s[c] >= seq_c * r[c]   sequences held at load r (seq_c at the full rate), then the memory row

GPU types rented as whole instances (``Problem.instances``) cost ``price_instance * k[t]`` with
``sum_{c in t} gpus_c * n[c] <= gpus_instance * k[t]`` instead of a price per replica.

The memory row is the per-GPU memory bill as a linear expression of the decisions: weights, activations and
overhead (``fixed``) per replica plus KV cache per sequence assigned. With ``s`` sequences on ``n`` replicas
the busiest replica holds ceil(s/n), and ``fixed + kv * ceil(s/n) <= limit`` holds exactly when
``ceil(s/n) <= maxseq = floor((limit - fixed) / kv)``; aggregating with the raw limit would only bound the
*average* load, so the right-hand side uses the limit rounded down to whole sequences, ``whole_c``, which
makes the aggregated row exact. ``maxseq`` is computed in exact bytes by the memory model; the row's
coefficients are the bill in whole MiB (small numbers for CP-SAT's LP), and since ``whole_c`` is built from
``maxseq`` the row is ``kv_c * (s[c] - maxseq_c * n[c]) <= 0`` whatever the units: no rounding can admit or
exclude a load the memory model would not. Projecting ``s`` out leaves the two cover rows, which CP-SAT's LP sees
directly; keeping both costs one variable and two rows per shape and keeps the search as fast (measured:
benchmarks/solver_params.py, column "with sequences + cover cut").

Evidence (benchmarks/solver_params.py, OR-Tools 9.15, a 2-core machine shared with other jobs; tables in
the README's Performance section):

- Formulation: on 30 tight-inventory problems (60 GPU types, about 300 pruned shapes, demand at 30-97 % of
  what stock holds) this model was proven optimal in median 0.15 s / max 0.92 s; with ``s`` projected out
  (replicas and the cover rows only) 0.07 s / 0.61 s, and with ``s`` but without the cover rows 0.15 s /
  1.06 s. The projected model is faster but no longer shows the memory bill to the solver, which the
  planner's design asks for; all three prove the largest benchmark (7,540 shapes, 301 after pruning) in
  under 0.05 s. Unpruned, the projected model proves it in 0.09 s and this one in 3.0 s: pruning is on.
- Parameters: ``num_workers=1, linearization_level=2`` proved every generated problem. ``linearization_level``
  0 proved none of the 30 within 5 s; level 1 and 2 workers (whose default is level 1) were as fast on the
  stress suite but stalled at a bound of 0 for 10 s on the largest benchmark; 8 workers proved everything
  but took 3x longer there and compete with the other jobs for 2 cores; ``interleave_search`` with 2
  workers took 4.1 s median. One worker with a fixed seed is also deterministic. ``optimize_with_core``,
  ``optimize_with_lb_tree_search``, pseudo-cost branching and ``symmetry_level=0`` did not help.
- Hint: the greedy plan of ``greedy.py`` (mixed when stock forces it), so every solve holds a feasible plan
  from its first step. It does not speed up the proof (without a hint the stress suite took median 0.05 s);
  the earlier single-shape hint does not exist once no type's stock covers demand alone, and then a stalled
  search (level 0) returned no plan at all within the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from . import sat_api as cp_model
from .phases import Objective, solve_in_phases
from .problem import Assignment, Instance, Problem, Row, SolveOutcome, assignment_for

__all__ = ["ConstraintGroups", "ServingModel", "solve_cpsat"]


@dataclass(frozen=True)
class ConstraintGroups:
    """How the builder posts its constraint groups: demand, budget, ``inventory:<gpu type>``, headroom, homogeneous.

    By default every group is a plain constraint (the solve). With ``assumed`` each group is enforced only by its
    own literal (``ServingModel.literals``), for the conflict search under assumptions: demand then reads
    ``served <= D`` always and ``served >= D`` under its literal, so dropping it means serving less. GPU types in
    ``slack`` may exceed their stock by an extra-GPU variable (``ServingModel.slack``) instead. ``headroom`` gives
    each row's capacity (in the demand's unit) with the headroom kept free, when the rows' own limits leave it out.
    """

    assumed: bool = False
    slack: frozenset[str] = frozenset()
    headroom: Mapping[str, int] | None = None

    @property
    def relaxable(self) -> bool:
        return self.assumed or bool(self.slack) or self.headroom is not None


class ServingModel:
    """Builds the CP-SAT model for a ``Problem`` and keeps its variables by row key; one builder for the solve,
    the Pareto sweeps and the explanations (``ConstraintGroups``)."""

    def __init__(self, problem: Problem, groups: ConstraintGroups = ConstraintGroups()):
        self.problem = problem
        self.groups = groups
        self.model = cp_model.CpModel()
        model = self.model
        self.replicas: dict[str, cp_model.IntVar] = {}
        self.sequences: dict[str, cp_model.IntVar] = {}
        self.load: dict[str, cp_model.IntVar] = {}  # traffic only: milli-requests/s served by the shape
        self.used: dict[str, cp_model.IntVar] = {}  # only without mixed fleets
        self.instances: dict[str, cp_model.IntVar] = {}  # whole instances rented, per GPU type
        self.literals: dict[str, cp_model.IntVar] = {}  # assumed groups: the literal that enforces each
        self.slack: dict[str, cp_model.IntVar] = {}  # extra GPUs beyond the stock of the types in groups.slack
        self._in_plan: dict[str, cp_model.IntVar] = {}  # tie-break phases: whether a shape is used
        demand = problem.demand
        self.upper = {row.key: self._upper_bound(row) for row in problem.rows}
        for row in problem.rows:
            upper = self.upper[row.key]
            n = self.replicas[row.key] = model.new_int_var(0, upper, f"replicas[{row.key}]")
            if problem.is_traffic:
                self._traffic_rows(row, n, upper, demand)
            else:
                s = self.sequences[row.key] = model.new_int_var(0, min(demand, upper * row.max_sequences), f"sequences[{row.key}]")
                model.add(n <= s)
            whole_mib = row.fixed_mib + row.kv_mib_per_sequence * row.max_sequences
            model.add(row.fixed_mib * n + row.kv_mib_per_sequence * self.sequences[row.key] <= whole_mib * n)
        served = self.load if problem.is_traffic else self.sequences
        self.served = cp_model.total(served.values())
        self._headroom(served)
        self._demand()
        by_type: dict[str, list[cp_model.LinearExpr]] = {}
        for row in problem.rows:
            by_type.setdefault(row.gpu_type, []).append(row.gpus_per_replica * self.replicas[row.key])
        cost_terms = [row.price_micro_usd_per_hour * self.replicas[row.key] for row in problem.rows
                      if row.gpu_type not in problem.instances]
        for gpu_type, terms in sorted(by_type.items()):
            instance = problem.instances.get(gpu_type)
            if instance is not None:
                most = sum(self.upper[r.key] * r.gpus_per_replica for r in problem.rows if r.gpu_type == gpu_type)
                k = self.instances[gpu_type] = rent_whole_instances(model, gpu_type, cp_model.total(terms), instance, most)
                cost_terms.append(instance.price_micro_usd_per_hour * k)
            self._inventory(gpu_type, cp_model.total(terms))
        self.cost = cp_model.total(cost_terms)
        if not groups.relaxable:
            check_integer_range(problem)
        self.gpus = cp_model.total(row.gpus_per_replica * self.replicas[row.key] for row in problem.rows)
        if problem.budget_micro_usd_per_hour is not None:
            self._post("budget", self.cost <= problem.budget_micro_usd_per_hour)
        if not problem.mixed_fleet:
            for row in problem.rows:
                used = self.used[row.key] = model.new_bool_var(f"used[{row.key}]")
                model.add(self.replicas[row.key] == 0).only_enforce_if(~used)
            if groups.assumed:
                self._post("homogeneous", cp_model.total(self.used.values()) <= 1)
            else:
                model.add_at_most_one(self.used.values())

    def _post(self, group: str, constraint: cp_model.BoundedLinearExpression) -> None:
        """A constraint of ``group``: plain, or enforced by the group's literal when groups are assumed."""
        posted = self.model.add(constraint)
        if self.groups.assumed:
            if group not in self.literals:
                self.literals[group] = self.model.new_bool_var(f"on[{group}]")
            posted.only_enforce_if(self.literals[group])

    def _upper_bound(self, row: Row) -> int:
        """``Problem.replica_upper_bound``; with relaxable groups, only demand caps it (at the capacity within the
        headroom, when that is smaller): more replicas than that serve no one."""
        problem = self.problem
        if not self.groups.relaxable:
            return problem.replica_upper_bound(row)
        fewest = problem.capacity(row)
        within = (self.groups.headroom or {}).get(row.key, 0)
        if within >= 1:
            fewest = min(fewest, within)
        return max(0, min(problem.demand, -(-problem.demand // max(1, fewest))))

    def _demand(self) -> None:
        """Demand served exactly (sum = D), with the cover rows; under assumptions ``sum <= D`` and ``>= D`` assumed."""
        problem, model = self.problem, self.model
        demand = problem.demand
        cover = cp_model.total(min(problem.capacity(row), demand) * self.replicas[row.key] for row in problem.rows)
        if self.groups.assumed:
            model.add(self.served <= demand)
            model.add(cover >= self.served)  # implied by the memory rows; tightens the LP
            self._post("demand", self.served >= demand)
        else:
            model.add(self.served == demand)
            model.add(cover >= demand)
        model.add(cp_model.total(self.replicas.values()) <= demand)

    def _headroom(self, served: Mapping[str, cp_model.IntVar]) -> None:
        """Rows whose capacity within the headroom (``groups.headroom``) is below their own limit's: at most that."""
        for row in self.problem.rows:
            within = (self.groups.headroom or {}).get(row.key)
            if within is not None and within < self.problem.capacity(row):
                self._post("headroom", served[row.key] <= within * self.replicas[row.key])

    def _inventory(self, gpu_type: str, gpus: cp_model.LinearExpr) -> None:
        """GPUs of one type within its stock (whole instances of it when rented that way), or over it by ``slack``."""
        stock = self.problem.inventory_by_gpu.get(gpu_type)
        if stock is None:
            return
        instance = self.problem.instances.get(gpu_type)
        if instance is not None:
            stock -= stock % instance.gpus
        if gpu_type in self.groups.slack:
            most = sum(self.upper[r.key] * r.gpus_per_replica for r in self.problem.rows if r.gpu_type == gpu_type)
            extra = self.slack[gpu_type] = self.model.new_int_var(0, most, f"extra[{gpu_type}]")
            self.model.add(gpus <= stock + extra)
        else:
            self._post(f"inventory:{gpu_type}", gpus <= stock)

    def assume(self, enforced: list[str]) -> None:
        """Solve with the groups in ``enforced`` assumed on (the others free)."""
        self.model.clear_assumptions()
        self.model.add_assumptions([self.literals[g] for g in enforced if g in self.literals])

    def _traffic_rows(self, row: Row, n: cp_model.IntVar, upper: int, demand: int) -> None:
        """Load ``r`` within the replicas' sustainable rate, and the sequences it keeps in flight.

        Little's law (Little 1961, "A proof for the queuing formula L = lambda W", Operations Research 9(3)):
        a replica serving ``rate`` requests/s holds ``sequences_at_rate`` sequences at its operating point, and
        at a lower load no more than ``load x sequences_at_rate / rate`` (latency only falls with load), so
        ``rate x s >= sequences_at_rate x r`` keeps the memory row an upper bound on what the GPUs hold.
        """
        model = self.model
        r = self.load[row.key] = model.new_int_var(0, min(demand, upper * row.rate_milli_rps), f"load[{row.key}]")
        s = self.sequences[row.key] = model.new_int_var(0, upper * row.sequences_at_rate, f"sequences[{row.key}]")
        model.add(r <= row.rate_milli_rps * n)
        model.add(n <= r)
        model.add(row.rate_milli_rps * s >= row.sequences_at_rate * r)

    def worst(self, attribute: str) -> cp_model.IntVar | None:
        """The largest ``Row.<attribute>`` (``latency_us``, ``fidelity_penalty``) among the shapes the plan uses;
        None when no row has one.

        One Boolean per row, ``used >= [n >= 1]``, and ``worst >= value x used``; posted only for the tie-break
        phases, so the cost phase keeps its lean model.
        """
        rows = [row for row in self.problem.rows if getattr(row, attribute) > 0]
        if not rows:
            return None
        model = self.model
        worst = model.new_int_var(0, max(getattr(row, attribute) for row in rows), f"worst_{attribute}")
        for row in rows:
            used = self.used.get(row.key) or self._in_plan.get(row.key)
            if used is None:
                used = self._in_plan[row.key] = model.new_bool_var(f"in_plan[{row.key}]")
                model.add(self.replicas[row.key] == 0).only_enforce_if(~used)
            model.add(worst >= getattr(row, attribute) * used)
        return worst

    def tie_break_objectives(self) -> list[Objective]:
        """The phases after cost, each lexicographic in its parts: the worst fidelity penalty, the worst latency,
        then the GPU count. Parts are folded into one objective ``a x (max b + 1) + b`` (which orders plans exactly
        as separate phases would, one solve instead of several) while the weights stay below 2^53."""
        parts: list[tuple[cp_model.LinearExpr, int]] = []
        for attribute in ("fidelity_penalty", "latency_us"):
            worst = self.worst(attribute)
            if worst is not None:
                parts.append((worst, max(getattr(row, attribute) for row in self.problem.rows)))
        most_gpus = sum(self.problem.replica_upper_bound(row) * row.gpus_per_replica for row in self.problem.rows)
        parts.append((self.gpus, most_gpus))
        objectives: list[Objective] = []
        folded, top = parts[0]
        for expression, largest in parts[1:]:
            if (top + 1) * (largest + 1) < 2**53:
                folded, top = folded * (largest + 1) + expression, top * (largest + 1) + largest
            else:
                objectives.append(Objective(folded))
                folded, top = expression, largest
        return objectives + [Objective(folded)]

    def hint_greedy(self) -> None:
        """Hint the greedy plan, mixed when stock forces it (primer: complete hints help pruning).

        Measured (benchmarks/solver_params.py): with a single-shape hint an inventory-limited model can have no
        hint at all; the mixed greedy gives CP-SAT a feasible start on every generated case.
        """
        from .greedy import greedy_plan

        found = greedy_plan(self.problem)
        if found is not None:
            self.hint(found[1])

    def hint(self, assignment: Assignment) -> None:
        """A complete hint (every variable) from a plan; CP-SAT repairs it if later constraints cut it."""
        self.model.clear_hints()
        for key, var in self.replicas.items():
            self.model.add_hint(var, assignment.replicas.get(key, 0))
            self.model.add_hint(self.sequences[key], assignment.sequences.get(key, 0))
        for key, var in self.load.items():
            self.model.add_hint(var, assignment.load_milli_rps.get(key, 0))
        for key, var in self.used.items():
            self.model.add_hint(var, 1 if assignment.replicas.get(key, 0) else 0)
        for gpu_type, var in self.instances.items():
            instance = self.problem.instances[gpu_type]
            gpus = sum(n * row.gpus_per_replica for row in self.problem.rows if row.gpu_type == gpu_type
                       for n in [assignment.replicas.get(row.key, 0)])
            self.model.add_hint(var, -(-gpus // instance.gpus))

    def extract(self, solver: cp_model.CpSolver) -> Assignment:
        """Replicas as solved; sequences re-spread over them in proportion to capacity.

        Any split the memory rows admit is a valid plan, and CP-SAT returns just one of them (often one shape
        filled to its limit); the proportional split keeps every GPU as empty as it can be, which is the
        headroom the report and the Pareto sweep read.
        """
        replicas = {k: int(solver.value(v)) for k, v in self.replicas.items() if solver.value(v) > 0}
        return assignment_for(self.problem, replicas)


def rent_whole_instances(model: cp_model.CpModel, gpu_type: str, gpus: cp_model.LinearExpr, instance: Instance,
                         most_gpus: int) -> cp_model.IntVar:
    """Instances of ``gpu_type`` rented: enough whole instances for the GPUs the replicas use (idle ones paid)."""
    k = model.new_int_var(0, -(-most_gpus // instance.gpus), f"instances[{gpu_type}]")
    model.add(gpus <= instance.gpus * k)
    return k


def solve_cpsat(problem: Problem, time_limit_s: float = 10.0, workers: int = 1, seed: int = 0) -> SolveOutcome:
    """Minimise cost, then GPU count at that cost; report the status CP-SAT proved."""
    start = time.perf_counter()
    parameters = {"num_workers": workers, "random_seed": seed, "max_time_in_seconds": time_limit_s,
                  "linearization_level": 2, "ortools": cp_model.ortools_version()}
    if not problem.rows:
        return SolveOutcome("infeasible", None, None, None, time.perf_counter() - start, "cpsat", parameters)
    built = ServingModel(problem)
    built.hint_greedy()
    result = solve_in_phases(built.model, built.tie_break_objectives, Objective(built.cost), built.extract, built.hint,
                             time_limit_s, workers, seed)
    solver = result.first
    if result.status == cp_model.UNKNOWN:
        return replace(_greedy_outcome(built, solver, start, parameters), interrupted=solver.interrupted)
    if not result.found:
        return SolveOutcome(result.status_name, None, None, None, time.perf_counter() - start, "cpsat", parameters,
                            solver.interrupted)
    return SolveOutcome(result.status_name, result.solution, result.value, result.bound, time.perf_counter() - start,
                        "cpsat", parameters, solver.interrupted)


def check_integer_range(problem: Problem) -> None:
    """Refuse a problem whose cost could overflow CP-SAT's 64-bit integers (absurd prices x replicas), as bad input."""
    from ..errors import InputError, Issue
    from ..limits import MAX_SOLVER_INTEGER
    from ..units import format_usd

    largest = sum(problem.least_price_per_replica(row) * problem.replica_upper_bound(row) for row in problem.rows)
    largest += sum(instance.price_micro_usd_per_hour for instance in problem.instances.values())
    if largest > MAX_SOLVER_INTEGER:
        raise InputError("the scenario's numbers are too large to solve exactly", [Issue(
            f"fleets could cost up to ${format_usd(largest)}/h, beyond the ${format_usd(MAX_SOLVER_INTEGER)}/h the solver's "
            "64-bit micro-USD arithmetic holds", field_path="budget.max_usd_per_hour",
            suggestion="set a budget, or check the GPU prices and the concurrency")])


def _greedy_outcome(built: ServingModel, solver: cp_model.CpSolver, start: float, parameters: dict[str, object]) -> SolveOutcome:
    """Stopped before CP-SAT's first solution (time limit or Ctrl-C): the greedy plan, 'feasible', with its gap.

    The greedy plan satisfies every constraint, so a time limit never hides a plan that was in hand; the
    bound is CP-SAT's proven lower bound (costs are non-negative, so at least 0).
    """
    from .greedy import greedy_plan

    found = greedy_plan(built.problem)
    elapsed = time.perf_counter() - start
    if found is None:
        return SolveOutcome("unknown", None, None, None, elapsed, "cpsat", parameters)
    cost, assignment = found
    proven = solver.best_objective_bound
    bound = max(0, math.ceil(proven - 1e-6)) if math.isfinite(proven) else 0
    return SolveOutcome("feasible", assignment, cost, min(cost, max(bound, _covering_bound(built.problem))), elapsed,
                        "cpsat", parameters)


def _covering_bound(problem: Problem) -> int:
    """A proven lower bound on cost: every unit of demand costs at least the cheapest shape's price per unit.

    cost >= sum p_c n_c >= sum (p_c / cap_c) x_c >= D min_c (p_c / cap_c), since x_c <= cap_c n_c, with p_c the
    least a replica adds to the cost (its price, or its share of a whole instance).
    """
    rows = [row for row in problem.rows if problem.capacity(row) >= 1]
    if not rows:
        return 0
    cheapest = min(Fraction(problem.least_price_per_replica(row), problem.capacity(row)) for row in rows)
    return math.ceil(cheapest * problem.demand)
