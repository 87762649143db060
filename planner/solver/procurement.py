"""CP-SAT model of procurement over time: what to buy when, what to reserve, what to rent in each period.

Formulation (h: horizon periods, s: slots of period h, c: replica shapes, p: pools; every number an integer,
money in micro-USD already multiplied by the hours and discount factors it applies to; load and capacity in the
single-period problem's unit, ``Problem.capacity``: sequences, or milli-requests/s within the SLO for traffic)::

    on premises (owned + bought), per GPU type:
        buy[p,h] >= 0                     GPUs ordered at the start of h; serve from period arrival[h] on
        sum_c g_c n[c,p,h] <= owned_p + sum_{h': arrival[h'] <= h} buy[p,h']
        cost  buy_cost[h] * buy[p,h]  +  power[h] * sum_c g_c n[c,p,h]
    reserved (one pool per GPU type and term):
        start[p,h] >= 0                   units (instances) committed at the start of h
        sum_c g_c n[c,p,h] <= unit_p * sum_{h' covering h} start[p,h']
        cost  start_cost[h] * start[p,h]
    on demand (one pool per GPU type and offer), per slot:
        sum_c g_c n[c,p,h,s] <= unit_p * u[p,h,s];   unit_p * u[p,h,s] <= stock_p
        cost  unit_cost[h,s] * u[p,h,s]
    spot (one pool per GPU type and offer), per slot, at most one shape per slot:
        v[c,p,h,s] units provisioned (b[c,p,h,s] = 1 if any), a[c,p,h,s] = A_c(v) units guaranteed (element)
        cost  instances_c * instance_cost[h,s] * v[c,p,h,s]
    cover, per slot:
        sum_{committed p} sum_c k_c n[c,p,h] + sum_{rented p} sum_c k_c n[c,p,h,s]
            + sum_{spot} r_c k_c a[c,p,h,s] >= d[h,s],      k_c = min(cap_c, d[h,s])
    capex cap, per quarter q:  sum_{h in q} sum_p price_p * buy[p,h] <= cap
    minimise the sum of the costs (a net present cost when the scenario discounts)

Commitments (on-premises and reserved replicas) are constant within a horizon period, rentals follow the slots.
The cover row is the single-period model's capacity row (``planner.solver.cpsat``, ``Problem.capacity``): with the
split of the load projected out, the memory rows ``fixed n + kv s <= whole n`` (or the traffic rows ``load <= rate
n``) and ``sum = d`` hold for some split exactly when the cover row does (each replica takes at most its capacity;
replicas of committed pools may idle in quiet slots).
``A_c(v)`` is the binomial guarantee of ``planner.pipeline.supply.guaranteed_units``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

from . import sat_api as cp_model
from .phases import STATUS_NAMES, solver_parameters
from .problem import Problem, Row


@dataclass(frozen=True)
class Period:
    """A horizon period as the solver sees it: one load per slot (slots of equal load already merged), the hours
    each slot stands for, and the discount factor of the period's hourly costs (1.0 without discounting)."""

    demand: tuple[int, ...]
    quarter: int
    hours: tuple[Fraction, ...] = ()
    discount: float = 1.0


@dataclass(frozen=True)
class OnPremPool:
    gpu_type: str
    shapes: tuple[str, ...]
    owned: int
    buy_cost: tuple[int | None, ...]  # per order period, micro-USD per GPU charged to the horizon (None: no order then)
    arrival: tuple[int, ...]  # per order period, the first period the GPUs serve in
    purchase_micro_usd: int  # nominal price per GPU, for the capex cap
    max_purchase: int | None
    power_cost: tuple[int, ...]  # per period, micro-USD per GPU in a replica over the whole period

    @property
    def key(self) -> str:
        return f"{self.gpu_type}@onprem"


@dataclass(frozen=True)
class ReservedPool:
    """One commitment term of one GPU type; the terms of a type share one fleet of replicas (``group``)."""

    key: str
    gpu_type: str
    shapes: tuple[str, ...]
    unit_gpus: int
    start_cost: tuple[int | None, ...]  # per start period, micro-USD per unit (None: cannot start then)
    covers: tuple[tuple[int, ...], ...]  # per start period, the periods the commitment covers
    max_units: int | None

    @property
    def group(self) -> str:
        return reserved_group(self.gpu_type)


def reserved_group(gpu_type: str) -> str:
    return f"{gpu_type}@reserved"


@dataclass(frozen=True)
class RentalPool:
    key: str
    gpu_type: str
    shapes: tuple[str, ...]
    unit_gpus: int
    micro_usd_per_unit_hour: int
    max_units: int | None


@dataclass(frozen=True)
class SpotShape:
    key: str
    replicas_per_unit: int
    instances_per_unit: int
    guaranteed: tuple[int, ...]  # A(v) for v = 0..len-1: units that survive interruptions with the target probability


@dataclass(frozen=True)
class SpotPool:
    key: str
    gpu_type: str
    shapes: tuple[SpotShape, ...]
    instance_gpus: int
    micro_usd_per_instance_hour: int
    max_instances: int | None


@dataclass(frozen=True)
class ProcurementProblem:
    single: Problem  # the single-period problem: its rows and its capacity per replica (``Problem.capacity``)
    periods: tuple[Period, ...]
    onprem: tuple[OnPremPool, ...] = ()
    reserved: tuple[ReservedPool, ...] = ()
    rentals: tuple[RentalPool, ...] = ()
    spots: tuple[SpotPool, ...] = ()
    capex_cap_micro_usd_per_quarter: int | None = None
    rental_tables: tuple[tuple[int, tuple[int, ...]], ...] | None = None  # per period (C_min, F): rentals projected out

    @property
    def rows(self) -> tuple[Row, ...]:
        return self.single.rows

    def row(self, key: str) -> Row:
        return self._rows[key]

    @cached_property
    def _rows(self) -> dict[str, Row]:
        return {r.key: r for r in self.rows}

    def capacity(self, key: str) -> int:
        """What one replica of a shape serves, in the demand's unit (the single-period ``Problem.capacity``)."""
        return self.single.capacity(self.row(key))

    def replica_bound(self, key: str, demand: int) -> int:
        """More replicas of one shape than the load needs are never cheaper (extra ones can always be dropped)."""
        return -(-demand // max(1, self.capacity(key)))

    def exchange_bounds(self, shapes: tuple[str, ...]) -> dict[str, int]:
        """Most replicas of a shape one pool needs in one period: ``k - 1`` when ``k`` copies of it fill exactly the
        GPUs of a larger shape of the pool that holds at least as much.

        Why it is safe: on one pool every GPU costs the same, so swapping those ``k`` replicas for the larger one
        keeps the GPUs and the cost and never lowers the capacity; repeating the swap (each one lowers the replica
        count) ends in a plan within every bound at once. Powers of two make such pairs the rule (TP x PP).
        """
        rows = [self.row(k) for k in shapes]
        bounds = {}
        for a in rows:
            for b in sorted(rows, key=lambda r: r.gpus_per_replica):
                copies = b.gpus_per_replica // a.gpus_per_replica
                if b.gpus_per_replica > a.gpus_per_replica and b.gpus_per_replica % a.gpus_per_replica == 0 \
                        and self.capacity(b.key) >= copies * self.capacity(a.key):
                    bounds[a.key] = copies - 1
                    break
        return bounds


@dataclass
class Schedule:
    """The solution in integers: what is bought, reserved, rented and run, per period (and slot)."""

    buy: dict[tuple[str, int], int] = field(default_factory=dict)  # (pool, period) -> GPUs ordered
    start: dict[tuple[str, int], int] = field(default_factory=dict)  # (pool, period) -> units committed
    committed: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (pool, shape, period) -> replicas
    units: dict[tuple[str, int, int], int] = field(default_factory=dict)  # (pool, period, slot) -> rented units
    rented: dict[tuple[str, str, int, int], int] = field(default_factory=dict)  # (pool, shape, period, slot) -> replicas
    spot_units: dict[tuple[str, str, int, int], int] = field(default_factory=dict)  # (pool, shape, period, slot)
    spot_guaranteed: dict[tuple[str, str, int, int], int] = field(default_factory=dict)
    committed_capacity: dict[int, int] = field(default_factory=dict)  # period -> sequences (rentals projected out)
    rental_cost: dict[tuple[int, int], int] = field(default_factory=dict)  # (period, slot) -> micro-USD (explicit rentals)


@dataclass(frozen=True)
class ProcurementOutcome:
    status: str
    schedule: Schedule | None
    objective_micro_usd: int | None
    best_bound_micro_usd: int | None
    wall_time_s: float
    variables: int
    constraints: int
    parameters: dict[str, object]
    deterministic_time: float = 0.0  # CP-SAT's own measure of work, independent of the machine's load


class ProcurementModel:
    """Builds the model of the module docstring and reads a schedule back from a solver."""

    def __init__(self, problem: ProcurementProblem, exchange_bounds: bool = True, capacity_dominance: bool = True):
        self.problem = problem
        self.exchange_bounds = exchange_bounds
        self.capacity_dominance = capacity_dominance
        self.model = cp_model.CpModel()
        self.cost_terms: list[cp_model.LinearExpr] = []
        self.vars: dict[tuple[Any, ...], cp_model.IntVar] = {}  # (kind, pool or period, ...) -> variable
        self.capacity: dict[tuple[int, int], list[cp_model.LinearExpr]] = {}
        self._build()

    def _var(self, key: tuple[Any, ...], upper: int) -> cp_model.IntVar:
        var = self.model.new_int_var(0, max(0, upper), "/".join(str(k) for k in key))
        self.vars[key] = var
        return var

    def _cover(self, h: int, s: int, key: str, replicas: cp_model.IntVar, per_replica: int = 1) -> None:
        demand = self.problem.periods[h].demand[s]
        coefficient = per_replica * min(self.problem.capacity(key), demand)
        self.capacity.setdefault((h, s), []).append(coefficient * replicas)

    def _build(self) -> None:
        problem, model = self.problem, self.model
        periods = problem.periods
        peak = [max(p.demand) for p in periods]
        for pool in problem.onprem:
            need = max(self._gpus_needed(pool.shapes, peak[h]) for h in range(len(periods)))
            buy_bound = need if pool.max_purchase is None else min(need, pool.max_purchase)
            orders = [(h, cost, self._var(("buy", pool.key, h), buy_bound)) for h, cost in enumerate(pool.buy_cost)
                      if cost is not None]
            if pool.max_purchase is not None and orders:
                model.add(cp_model.total(var for _, _, var in orders) <= pool.max_purchase)
            for _, cost, var in orders:
                self.cost_terms.append(cost * var)
            for h in range(len(periods)):
                gpus = self._committed_replicas(pool.key, pool.shapes, h, peak[h])
                arrived = [var for order, _, var in orders if pool.arrival[order] <= h]
                model.add(gpus <= pool.owned + cp_model.total(arrived))
                self.cost_terms.append(pool.power_cost[h] * gpus)
        groups: dict[str, list[ReservedPool]] = {}
        for term in problem.reserved:
            groups.setdefault(term.group, []).append(term)
        for group, terms in groups.items():  # every term of one GPU type: one cloud fleet, one set of replicas
            active: dict[int, list[tuple[ReservedPool, cp_model.IntVar]]] = {}
            for term in terms:
                need = max(self._gpus_needed(term.shapes, peak[h]) for h in range(len(periods)))
                bound = -(-need // term.unit_gpus) if term.max_units is None else term.max_units
                for h, start_cost in enumerate(term.start_cost):
                    if start_cost is None:
                        continue
                    start = self._var(("start", term.key, h), bound)
                    self.cost_terms.append(start_cost * start)
                    for covered in term.covers[h]:
                        active.setdefault(covered, []).append((term, start))
            for h in sorted(active):
                gpus = self._committed_replicas(group, terms[0].shapes, h, peak[h])
                model.add(gpus <= cp_model.total(term.unit_gpus * start for term, start in active[h]))
                if terms[0].max_units is not None:
                    model.add(cp_model.total(start for _, start in active[h]) <= terms[0].max_units)
        if problem.rental_tables is not None:
            self._projected_rentals(problem.rental_tables)
        else:
            self._explicit_rentals()
        if problem.capex_cap_micro_usd_per_quarter is not None:
            by_quarter: dict[int, list[cp_model.LinearExpr]] = {}
            for pool in problem.onprem:
                for h in range(len(periods)):
                    bought = self.vars.get(("buy", pool.key, h))
                    if bought is not None:
                        by_quarter.setdefault(periods[h].quarter, []).append(pool.purchase_micro_usd * bought)
            for purchases in by_quarter.values():
                model.add(cp_model.total(purchases) <= problem.capex_cap_micro_usd_per_quarter)
        self.cost = cp_model.total(self.cost_terms)
        model.minimize(self.cost)

    def _projected_rentals(self, tables: tuple[tuple[int, tuple[int, ...]], ...]) -> None:
        """Per period: committed capacity C (at most what committed replicas hold) and its rental cost F[C]; C takes
        only the capacities no extra replica improves (``undominated_capacities``)."""
        model = self.model
        for h, period in enumerate(self.problem.periods):
            minimum, table = tables[h]
            committed = self.capacity.get((h, max(range(len(period.demand)), key=period.demand.__getitem__)), [])
            # F is a nonincreasing step function and the solver wants C as large as the commitments allow, so C
            # need only take the values where F drops (and its least value): the rest never change the cost
            steps = [c for c in range(minimum + 1, len(table)) if table[c] < table[c - 1]]
            values = undominated_capacities([minimum, *steps], table, replica_moves(self.problem, h, len(table) - 1)) \
                if self.capacity_dominance else [minimum, *steps]
            capacity = self.model.new_int_var_from_values(values, f"committed-capacity/{h}")
            model.add(capacity <= cp_model.total(committed))
            cost = self._var(("rental-cost", h), max(table))
            self.vars[("capacity", h)] = capacity
            model.add_element(capacity, table, cost)
            self.cost_terms.append(cost)

    def _explicit_rentals(self) -> None:
        """Per slot: rented units and replicas of every pool, at most one spot shape, the cover row, the slot's cost."""
        problem, model, periods = self.problem, self.model, self.problem.periods
        rent: dict[tuple[int, int], list[tuple[int, cp_model.IntVar]]] = {}
        spot_choices: dict[tuple[int, int], list[cp_model.IntVar]] = {}
        for pool in problem.rentals:
            for h, period in enumerate(periods):
                for s, demand in enumerate(period.demand):
                    if demand <= 0:
                        continue
                    need = self._gpus_needed(pool.shapes, demand)
                    bound = -(-need // pool.unit_gpus)
                    if pool.max_units is not None:
                        bound = min(bound, pool.max_units)
                    units = self._var(("units", pool.key, h, s), bound)
                    replicas = []
                    exchange = problem.exchange_bounds(pool.shapes) if self.exchange_bounds else {}
                    for key in pool.shapes:
                        n = self._var(("rented", pool.key, key, h, s), min(problem.replica_bound(key, demand), exchange.get(key, demand)))
                        replicas.append(self.problem.row(key).gpus_per_replica * n)
                        self._cover(h, s, key, n)
                    model.add(cp_model.total(replicas) <= pool.unit_gpus * units)
                    rent.setdefault((h, s), []).append((pool.micro_usd_per_unit_hour, units))
        for spot in problem.spots:
            for h, period in enumerate(periods):
                for s, demand in enumerate(period.demand):
                    if demand <= 0:
                        continue
                    instances = []
                    for shape in spot.shapes:
                        table = shape.guaranteed
                        v = self._var(("spot", spot.key, shape.key, h, s), len(table) - 1)
                        a = self._var(("guaranteed", spot.key, shape.key, h, s), table[-1])
                        used = model.new_bool_var(f"spot-used/{spot.key}/{shape.key}/{h}/{s}")
                        model.add_element(v, table, a)
                        model.add(v <= (len(table) - 1) * used)
                        spot_choices.setdefault((h, s), []).append(used)
                        self._cover(h, s, shape.key, a, shape.replicas_per_unit)
                        instances.append(shape.instances_per_unit * v)
                        rent.setdefault((h, s), []).append((shape.instances_per_unit * spot.micro_usd_per_instance_hour, v))
                    if spot.max_instances is not None:
                        model.add(cp_model.total(instances) <= spot.max_instances)
        for choices in spot_choices.values():
            model.add_at_most_one(choices)
        for h, period in enumerate(periods):
            for s, demand in enumerate(period.demand):
                if demand > 0:
                    model.add(cp_model.total(self.capacity.get((h, s), [])) >= demand)
                if rent.get((h, s)):
                    self._slot_cost(h, s, rent[(h, s)])

    def _slot_cost(self, h: int, s: int, rented: list[tuple[int, cp_model.IntVar]]) -> None:
        """The slot's rentals in micro-USD: without discounting rounded up once, exactly as the rental tables
        (``planner.solver.rentals.slot_cost_micro_usd``); with a discount factor, per unit rented."""
        period = self.problem.periods[h]
        hours = period.hours[s]
        if period.discount == 1.0:
            cost = self._var(("rental-cost", h, s), 2**55)
            self.model.add(hours.denominator * cost >= hours.numerator * cp_model.total(price * units for price, units in rented))
            self.cost_terms.append(cost)
            return
        for price, units in rented:
            self.cost_terms.append(math.ceil(round(price * float(hours) * period.discount, 6)) * units)

    def _gpus_needed(self, shapes: tuple[str, ...], demand: int) -> int:
        """GPUs enough for ``demand`` on the cheapest-in-GPUs single shape (an upper bound on what a pool needs)."""
        return min(self.problem.row(k).gpus_per_replica * self.problem.replica_bound(k, demand) for k in shapes) if shapes else 0

    def _committed_replicas(self, pool_key: str, shapes: tuple[str, ...], h: int, peak: int) -> cp_model.LinearExpr:
        """Replicas on a committed pool in period h (constant over its slots); returns their GPU count."""
        gpus = []
        exchange = self.problem.exchange_bounds(shapes) if self.exchange_bounds else {}
        for key in shapes:
            n = self._var(("committed", pool_key, key, h), min(self.problem.replica_bound(key, peak), exchange.get(key, peak)))
            gpus.append(self.problem.row(key).gpus_per_replica * n)
            for s, demand in enumerate(self.problem.periods[h].demand):
                if demand > 0:
                    self._cover(h, s, key, n)
        return cp_model.total(gpus)

    def schedule(self, solver: cp_model.CpSolver) -> Schedule:
        out = Schedule()
        targets: dict[str, dict[Any, int]] = {"buy": out.buy, "start": out.start, "committed": out.committed, "units": out.units,
                   "rented": out.rented, "spot": out.spot_units, "guaranteed": out.spot_guaranteed}
        for key, var in self.vars.items():
            value = int(solver.value(var))
            if key[0] == "capacity":
                out.committed_capacity[key[1]] = value
            elif key[0] == "rental-cost":
                if len(key) == 3:
                    out.rental_cost[(key[1], key[2])] = value
            elif value:
                targets[key[0]][key[1:]] = value
        return out


def replica_moves(problem: ProcurementProblem, h: int, peak: int) -> list[tuple[int, int]]:
    """``(capacity, micro-USD)`` of one more committed replica in period h, for every shape of every pool without a
    stock or purchase limit (none under a capex cap): its GPUs bought by the cheapest order that arrives by h (and
    their power in h), or reserved by the cheapest start whose term covers h. Capacity is capped at the peak."""
    if problem.capex_cap_micro_usd_per_quarter is not None:
        return []
    moves = []
    for pool in problem.onprem:
        orders = [c for order, c in enumerate(pool.buy_cost) if c is not None and pool.arrival[order] <= h]
        if pool.max_purchase is None and orders:
            per_gpu = min(orders) + pool.power_cost[h]
            moves += [(min(problem.capacity(k), peak), problem.row(k).gpus_per_replica * per_gpu) for k in pool.shapes]
    for term in problem.reserved:
        starts = [c for start, c in enumerate(term.start_cost) if c is not None and h in term.covers[start]]
        if term.max_units is None and starts:
            moves += [(min(problem.capacity(k), peak), -(-problem.row(k).gpus_per_replica // term.unit_gpus) * min(starts))
                      for k in term.shapes]
    return [move for move in moves if move[0] > 0 and move[1] > 0]  # a free move would improve every capacity


def undominated_capacities(values: list[int], table: tuple[int, ...], moves: list[tuple[int, int]]) -> list[int]:
    """The committed capacities C (of ``values``, each below ``len(table)``) that no replica move improves: C is
    left out when one more replica (``replica_moves``) raising it to ``C' = min(peak, C + capacity)`` costs no more
    than the rentals it saves, ``F[C] - F[C']`` (``table`` is F, the period's rental cost by committed capacity).

    Why it is exact: from any plan whose committed capacity C is left out, adding that replica (its GPUs bought or
    reserved as ``replica_moves`` says; a knapsack over more GPUs serves at least the sum, so the pool's capacity
    rises by the replica's) gives a plan at C' or above that costs no more. Every move costs something, so F falls
    along the way and repeating ends at a capacity that is kept (the last capacity where F falls always is). The
    other reductions keep it: they drop replicas or purchases only beyond what covers the peak, or swap replicas for
    ones that hold as much. A dominance rule (as in ``planner.solver.procurement_pruning``) on the capacity a period
    commits."""
    peak = len(table) - 1
    kept = []
    for capacity in values:
        if not any(capacity < peak and table[capacity] - table[min(peak, capacity + held)] >= cost for held, cost in moves):
            kept.append(capacity)
    return kept


def check_objective_range(proto: cp_model.CpModelProto) -> None:
    """Refuse a plan whose cost could overflow CP-SAT's 64-bit integers (absurd prices x hours x GPUs), as bad input."""
    from ..errors import InputError, Issue
    from ..limits import MAX_SOLVER_INTEGER

    objective = proto.objective
    largest = sum(abs(c) * max(abs(proto.variables[v].domain[0]), abs(proto.variables[v].domain[-1]))
                  for v, c in zip(objective.vars, objective.coeffs))
    if largest > MAX_SOLVER_INTEGER:
        raise InputError("the scenario's numbers are too large to solve exactly", [Issue(
            f"the horizon could cost up to {largest / 1e6:,.0f} USD, beyond what the solver's 64-bit micro-USD arithmetic holds",
            field_path="demand", suggestion="shorten the horizon (repeat, count) or check the loads and prices")])


HORIZON_ROOT_CUT_ROUNDS = 5


def solve_procurement(problem: ProcurementProblem, time_limit_s: float = 10.0, workers: int = 1, seed: int = 0,
                      exchange_bounds: bool = True, hint: bool = True, capacity_dominance: bool = True) -> ProcurementOutcome:
    """Minimise the horizon's cost; the status is what CP-SAT proved (``optimal`` only with a zero gap).

    With ``hint`` a horizon (more than one period) starts from the best plan near its LP relaxation
    (``planner.solver.procurement_hint``): the same optimum, found sooner; the hint's deterministic time is counted
    in the outcome's. A single period (a steady state) has few commitments to walk through: measured, the hint
    only costs time there.

    A horizon's main solve runs ``HORIZON_ROOT_CUT_ROUNDS`` rounds of cuts at the root (CP-SAT's default is one):
    its proof is most of the time, and the bound after the root cuts decides how much tree is left. Measured over
    seeds 0-3 (the planner uses seed 0): CPU s of the 24-month full-catalog case 10.1 -> 8.1 on average, the two-year
    example's deterministic time lower on every seed; 3 and 8 rounds did worse. It also runs one presolve
    iteration (the model is built reduced; a second pass found little): 0.2-0.5 CPU s less on both 24-month cases
    for seeds 0-2, the same answers."""
    from .procurement_hint import add_neighbourhood_hint

    start = time.perf_counter()
    built = ProcurementModel(problem, exchange_bounds, capacity_dominance)
    proto = built.model.model_proto
    check_objective_range(proto)
    size = (len(proto.variables), len(proto.constraints))
    parameters = {"num_workers": workers, "random_seed": seed, "max_time_in_seconds": time_limit_s,
                  "linearization_level": 2, "hint": hint, "ortools": cp_model.ortools_version()}
    solver = solver_parameters(time_limit_s, workers, seed)
    horizon = len(problem.periods) > 1
    hint_time = add_neighbourhood_hint(built, solver) if hint and horizon else 0.0
    if horizon:
        settings = {"max_cut_rounds_at_level_zero": HORIZON_ROOT_CUT_ROUNDS, "max_presolve_iterations": 1}
        for name, value in settings.items():
            setattr(solver.parameters, name, value)
        parameters.update(settings)
    in_neighbourhood = solver.interrupted  # Ctrl-C during the hint: its plan stands, with no bound on the full model
    if in_neighbourhood:
        status, hint_time = solver.response.status, 0.0
    else:
        solver.parameters.max_time_in_seconds = max(0.0, time_limit_s - (time.perf_counter() - start))
        status = solver.solve(built.model)
    elapsed = time.perf_counter() - start
    deterministic = solver.deterministic_time + hint_time
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ProcurementOutcome(STATUS_NAMES[status], None, None, None, elapsed, *size, parameters, deterministic)
    cost = round(solver.objective_value)
    bound = None if in_neighbourhood else min(cost, math.ceil(solver.best_objective_bound - 1e-6))
    name = "optimal" if status == cp_model.OPTIMAL and bound == cost else "feasible"
    return ProcurementOutcome(name, built.schedule(solver), cost, bound, elapsed, *size, parameters, deterministic)
