"""Procurement plans: a serving scenario with a demand profile -> what to buy, reserve and rent in every period.

Flow: the profile becomes a time grid (``planner.demand``); the replica shapes and their per-shape capacity rows
come from the single-period pipeline (``planner.planning.prepare``: candidates, memory model, integer rows); the
pricing section and the offers become pools with integer costs (``planner.supply``); one CP-SAT model over all
periods chooses (``planner.solver.procurement``); the schedule is decoded per period and slot, re-checked
independently of the solver (``verify_schedule``) and reported with costs, utilisation and break-even points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .candidates import Candidate
from .catalog import Catalog
from .demand import TimeGrid, expand
from .errors import InfeasibleError, Issue, VerificationError
from .pricing import HOURS_PER_YEAR, PricingOptions, break_even_utilisation
from .scenario import ServingScenario
from .solver.procurement import ProcurementOutcome, Schedule, reserved_group, solve_procurement
from .supply import PoolInfo, Supply, build_supply

SOURCES = ("owned", "bought", "reserved", "on_demand", "spot")
MICRO = 1_000_000


@dataclass(frozen=True)
class SlotPlan:
    """What serves one slot of one period: replicas per (pool, shape), capacity per source, the load."""

    label: str
    hours: float
    load: int
    replicas: dict[tuple[str, str], int]  # (pool, shape) -> replicas serving (spot: the guaranteed ones)
    gpus: dict[str, int]  # pool -> GPUs paid for in this slot (committed pools: the period's)
    capacity: dict[str, int]  # source -> sequences
    spot_units: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (pool, shape) -> (provisioned, guaranteed)

    @property
    def total_capacity(self) -> int:
        return sum(self.capacity.values())


@dataclass(frozen=True)
class PeriodPlan:
    index: int
    label: str
    start_hours: float
    hours: float
    ordered: dict[str, int]  # GPU type -> GPUs ordered at the start of this period
    onprem_gpus: dict[str, int]  # GPU type -> owned + delivered GPUs available
    reserved_started: dict[str, int]  # pool -> units committed now
    reserved_active: dict[str, int]  # pool -> units active
    slots: tuple[SlotPlan, ...]
    cost_micro_usd: dict[str, int]  # source -> cost charged to this period

    @property
    def peak(self) -> int:
        return max(s.load for s in self.slots)

    @property
    def cost_usd(self) -> float:
        return sum(self.cost_micro_usd.values()) / MICRO


@dataclass(frozen=True)
class BreakEven:
    """When owning or committing beats renting one GPU type on demand."""

    gpu: str
    on_demand_usd_per_gpu_hour: float
    buy_utilisation: float | None  # Armbrust et al. 2009, Eq. 1 (planner.pricing.break_even_utilisation)
    buy_payback_months: float | None  # months of full use after which buying beats renting
    reserved: dict[str, float]  # term pool -> utilisation above which the commitment beats on demand

    def to_dict(self) -> dict[str, Any]:
        r = lambda x: None if x is None else round(x, 4)  # noqa: E731
        return {"gpu": self.gpu, "on_demand_usd_per_gpu_hour": r(self.on_demand_usd_per_gpu_hour),
                "buy_break_even_utilisation": r(self.buy_utilisation), "buy_payback_months": r(self.buy_payback_months),
                "reserved_break_even_utilisation": {k: r(v) for k, v in self.reserved.items()}}


@dataclass(frozen=True)
class ProcurementReport:
    scenario_name: str
    model_name: str
    status: str
    grid: TimeGrid
    periods: tuple[PeriodPlan, ...]
    pools: dict[str, PoolInfo]
    utilisation: dict[str, dict[str, float]]
    break_even: tuple[BreakEven, ...]
    outcome: ProcurementOutcome
    shapes: dict[str, Candidate]
    capacity: dict[str, int]  # per shape: what one replica serves, in the load's unit (sequences or milli-requests/s)
    notes: tuple[str, ...]
    candidates_total: int
    discount_rate: float

    @property
    def total_usd(self) -> float:
        return sum(p.cost_usd for p in self.periods)

    @property
    def total_micro_usd(self) -> int:
        return sum(sum(p.cost_micro_usd.values()) for p in self.periods)

    @property
    def cost_usd_per_hour(self) -> float:
        """The horizon's cost spread over its hours (what 'whatif' compares across variations)."""
        return self.total_usd / float(self.grid.hours)

    @property
    def cost_micro_usd_per_hour(self) -> int:
        """The same in whole micro-USD, rounded up."""
        hours = self.grid.hours
        return -(-(self.total_micro_usd * hours.denominator) // hours.numerator)

    def cost_by_source(self) -> dict[str, float]:
        totals = {source: 0 for source in SOURCES}
        for period in self.periods:
            for source, micro in period.cost_micro_usd.items():
                totals[source] += micro
        return {source: micro / MICRO for source, micro in totals.items()}

    @property
    def gpu_mix(self) -> str:
        """GPU types and sources at the busiest slot, e.g. '16x h100-sxm owned + 8x h100-sxm on_demand'."""
        busiest = max((slot for p in self.periods for slot in p.slots), key=lambda s: (s.load, sum(s.gpus.values())))
        parts = [f"{n}x {self.pools[pool].gpu} {self.pools[pool].source}" for pool, n in sorted(busiest.gpus.items()) if n]
        return " + ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        from .procurement_report import report_dict

        return report_dict(self)


def solve_procurement_scenario(scenario: ServingScenario, catalog: Catalog | None = None, time_limit_s: float | None = None,
                               project_rentals: bool = True) -> ProcurementReport:
    """The cheapest verified procurement plan over the scenario's demand profile.

    ``project_rentals=False`` keeps every slot's rentals as explicit variables (the reference the projection of
    ``planner.solver.rentals`` is tested against)."""
    if scenario.demand is None:
        raise ValueError("a procurement plan needs a scenario with a 'demand' section")
    options = scenario.pricing or PricingOptions()
    grid, prepared, supply = check_procurement_scenario(scenario, catalog, project_rentals)
    if not (supply.problem.onprem or supply.problem.reserved or supply.problem.rentals or supply.problem.spots):
        raise InfeasibleError("nothing to plan with", [Issue(note) for note in supply.notes] or
                              [Issue("no GPU can be owned, bought or rented under the pricing section")])
    settings = scenario.solver
    outcome = solve_procurement(supply.problem, time_limit_s or settings.time_limit_s, settings.workers, settings.seed)
    if outcome.schedule is None:
        reason = "no plan found within the time limit" if outcome.status == "unknown" else \
            "no plan covers every period's load with the GPUs the pricing allows"
        raise InfeasibleError(reason, [Issue(f"peak load {grid.display(grid.peak)}; {note}") for note in supply.notes] or
                              [Issue(f"peak load {grid.display(grid.peak)} of {prepared.context.context_tokens:,} tokens: check stock "
                                     "(inventory, max_purchase), lead times, the capex cap and the spot availability target")])
    periods = decode(supply, grid, outcome.schedule)
    from .capacity import Traffic

    verify_schedule(supply, grid, periods, outcome, prepared.context, options, Traffic.of(scenario.workload))
    return ProcurementReport(scenario.name or "scenario", prepared.model_name, outcome.status, grid, periods, supply.pools,
                             utilisation(supply, periods), break_evens(supply, periods, options.amortisation_years), outcome, supply.candidates,
                             {key: supply.problem.capacity(key) for key in supply.candidates},
                             prepared.notes + supply.notes, len(prepared.enumeration.candidates) + len(prepared.enumeration.rejections),
                             options.discount_rate)


def check_procurement_scenario(scenario: ServingScenario, catalog: Catalog | None = None, project_rentals: bool = False
                               ) -> tuple[TimeGrid, Any, Supply]:
    """The time grid, the candidate shapes and the supply of a scenario: everything short of solving (``planner
    validate`` stops here; bad input raises as it would in a solve)."""
    from .planning import load_catalog

    catalog = catalog or load_catalog(scenario)
    options = scenario.pricing or PricingOptions()
    if options.utilisation != 1.0 or options.objective != "hourly":
        raise _bad("pricing.utilisation", "a demand profile states when GPUs are needed: leave out 'utilisation' and 'objective' "
                                          "(the plan minimises the horizon's total cost)")
    grid = expand(scenario.demand, scenario.workload)  # type: ignore[arg-type]
    prepared = _candidates(scenario, catalog)
    return grid, prepared, build_supply(scenario, catalog, prepared.candidates, prepared.problem(), grid, project_rentals)


def _bad(path: str, message: str):  # type: ignore[no-untyped-def]
    from .errors import InputError

    return InputError("invalid procurement scenario", [Issue(message, field_path=path)])


def _candidates(scenario: ServingScenario, catalog: Catalog):  # type: ignore[no-untyped-def]
    """Every replica shape of every GPU the plan may own, buy or rent, unpruned (pools prune per type)."""
    from .planning import prepare

    options = scenario.pricing or PricingOptions()
    gpus = scenario.gpu_ids
    if gpus is not None:
        gpus = list(dict.fromkeys(gpus + [g for g, n in options.owned.items() if n]))
    update: dict[str, Any] = {"pricing": PricingOptions(allow_estimated=True), "demand": None, "budget": scenario.budget.model_copy()}
    if gpus is not None and scenario.gpu_ids is not None and isinstance(scenario.gpus, list):
        update["gpus"] = gpus
    elif gpus is not None and isinstance(scenario.gpus, dict):
        update["gpus"] = {g: scenario.gpus.get(g) for g in gpus}
    return prepare(scenario.model_copy(update=update), catalog, prune=False)


def decode(supply: Supply, grid: TimeGrid, schedule: Schedule) -> tuple[PeriodPlan, ...]:
    """The solver's integers per period and original slot, with costs re-added from the coefficients."""
    problem, pools = supply.problem, supply.pools
    rows = {row.key: row for row in problem.rows}
    out = []
    for h, period in enumerate(grid.periods):
        cost = {source: 0 for source in SOURCES}
        ordered, onprem_gpus, started, active = {}, {}, {}, {}
        committed: dict[tuple[str, str], int] = {}
        committed_gpus: dict[str, int] = {}
        for pool in problem.onprem:
            bought = schedule.buy.get((pool.key, h), 0)
            if bought:
                ordered[pool.gpu_type] = bought
                cost["bought"] += bought * (pool.buy_cost[h] or 0)
            delivered = sum(n for (key, order), n in schedule.buy.items() if key == pool.key and pool.arrival[order] <= h)
            onprem_gpus[pool.gpu_type] = pool.owned + delivered
            running = 0
            for shape in pool.shapes:
                n = schedule.committed.get((pool.key, shape, h), 0)
                if n:
                    committed[(pool.key, shape)] = n
                    running += n * rows[shape].gpus_per_replica
            committed_gpus[pool.key] = running
            owned_running = min(running, pool.owned)
            cost["owned"] += owned_running * pool.power_cost[h]
            cost["bought"] += (running - owned_running) * pool.power_cost[h]
        for pool in problem.reserved:
            n_started = schedule.start.get((pool.key, h), 0)
            if n_started:
                started[pool.key] = n_started
                cost["reserved"] += n_started * (pool.start_cost[h] or 0)
            units = sum(n for (key, start), n in schedule.start.items() if key == pool.key and h in pool.covers[start])
            if units:
                active[pool.key] = units
                committed_gpus[pool.group] = committed_gpus.get(pool.group, 0) + units * pool.unit_gpus
            for shape in pool.shapes:
                n = schedule.committed.get((pool.group, shape, h), 0)
                if n:
                    committed[(pool.group, shape)] = n
        rentals = [_rentals(supply, schedule, h, merged) for merged in range(len(supply.slots.hours[h]))]
        for rented in rentals:
            cost["on_demand"] += rented.on_demand_micro_usd
            cost["spot"] += rented.spot_micro_usd
        slots = []
        for s, slot in enumerate(period.slots):
            rented = rentals[supply.slots.merged[h][s]]
            replicas = {**committed, **rented.replicas}
            gpus = {**committed_gpus, **rented.gpus}
            spot_units = rented.spot_units
            capacity = {source: 0 for source in SOURCES}
            for (pool_key, shape), n in replicas.items():
                info = pools[pool_key]
                held = n * problem.capacity(shape)
                if info.source == "onprem":
                    running = committed_gpus[pool_key]
                    owned = held * min(running, info.owned) // running
                    capacity["owned"] += owned
                    capacity["bought"] += held - owned
                else:
                    capacity[info.source] += held
            slots.append(SlotPlan(slot.label, float(slot.hours), slot.load, replicas, gpus, capacity, spot_units))
        out.append(PeriodPlan(h, period.label, float(period.start_hours), float(period.hours), ordered, onprem_gpus, started,
                              active, tuple(slots), cost))
    return tuple(out)


@dataclass(frozen=True)
class _Rented:
    replicas: dict[tuple[str, str], int]
    gpus: dict[str, int]
    spot_units: dict[tuple[str, str], tuple[int, int]]
    on_demand_micro_usd: int
    spot_micro_usd: int


def _rentals(supply: Supply, schedule: Schedule, h: int, merged: int) -> _Rented:
    """One merged slot's rentals: from the rental table at the committed capacity the solver chose (rentals
    projected out), or from the explicit variables; the slot's cost split between on demand and spot."""
    from .solver.rentals import slot_cost_micro_usd

    problem = supply.problem
    period = problem.periods[h]
    load = period.demand[merged]
    replicas: dict[tuple[str, str], int] = {}
    spot_units: dict[tuple[str, str], tuple[int, int]] = {}
    if supply.rental_table is not None and problem.rental_tables is not None:
        residual = max(0, load - schedule.committed_capacity.get(h, 0))
        micro = supply.rental_table.micro_usd_per_hour(residual) or 0
        total = slot_cost_micro_usd(micro, period.hours[merged], period.discount) if load > 0 else 0
        spot, replicas = supply.rental_table.rentals(residual) if load > 0 else (None, {})
        if spot is not None:
            spot_units[(spot.pool, spot.shape)] = (spot.units, spot.guaranteed_replicas // _spot_shape(problem, spot.pool, spot.shape).replicas_per_unit)
            replicas[(spot.pool, spot.shape)] = spot.guaranteed_replicas
        spot_micro = spot.micro_usd_per_hour if spot is not None else 0
    else:
        total = schedule.rental_cost.get((h, merged), 0)
        for pool in problem.rentals:
            for shape in pool.shapes:
                n = schedule.rented.get((pool.key, shape, h, merged), 0)
                if n:
                    replicas[(pool.key, shape)] = n
        spot_micro = 0
        for spot_pool in problem.spots:
            for shape in spot_pool.shapes:
                provisioned = schedule.spot_units.get((spot_pool.key, shape.key, h, merged), 0)
                if provisioned:
                    guaranteed = schedule.spot_guaranteed.get((spot_pool.key, shape.key, h, merged), 0)
                    spot_units[(spot_pool.key, shape.key)] = (provisioned, guaranteed)
                    replicas[(spot_pool.key, shape.key)] = guaranteed * shape.replicas_per_unit
                    spot_micro += provisioned * shape.instances_per_unit * spot_pool.micro_usd_per_instance_hour
        micro = spot_micro + sum(schedule.units.get((pool.key, h, merged), 0) * pool.micro_usd_per_unit_hour for pool in problem.rentals)
    rows = {row.key: row for row in problem.rows}
    gpus: dict[str, int] = {}
    explicit = supply.rental_table is None or problem.rental_tables is None
    if explicit:  # whole units are paid for, busy or not
        for pool in problem.rentals:
            units = schedule.units.get((pool.key, h, merged), 0)
            if units:
                gpus[pool.key] = units * pool.unit_gpus
    for (pool_key, shape), n in replicas.items():
        if explicit and supply.pools[pool_key].source == "on_demand":
            continue
        if (pool_key, shape) in spot_units:
            provisioned = spot_units[(pool_key, shape)][0]
            spot_shape = _spot_shape(problem, pool_key, shape)
            gpus[pool_key] = gpus.get(pool_key, 0) + provisioned * spot_shape.instances_per_unit * _spot_pool(problem, pool_key).instance_gpus
        else:
            gpus[pool_key] = gpus.get(pool_key, 0) + n * rows[shape].gpus_per_replica
    spot_share = total * spot_micro // micro if micro else 0
    return _Rented(replicas, gpus, spot_units, total - spot_share, spot_share)


def _spot_pool(problem, key: str):  # type: ignore[no-untyped-def]
    return next(p for p in problem.spots if p.key == key)


def _spot_shape(problem, pool: str, shape: str):  # type: ignore[no-untyped-def]
    return next(x for x in _spot_pool(problem, pool).shapes if x.key == shape)


def utilisation(supply: Supply, periods: tuple[PeriodPlan, ...]) -> dict[str, dict[str, float]]:
    """Per committed pool: the share of its GPU-hours in replicas, and of its capacity (sequence-hours) used.

    The load of a slot is served by committed capacity first (it is paid for anyway), split over the committed
    pools in proportion to their capacity; rentals take the rest.
    """
    rows = {row.key: row for row in supply.problem.rows}
    stats: dict[str, list[float]] = {}
    for period in periods:
        for slot in period.slots:
            committed = {}
            for (pool_key, shape), n in slot.replicas.items():
                if supply.pools[pool_key].source in ("onprem", "reserved"):
                    committed[pool_key] = committed.get(pool_key, 0) + n * supply.problem.capacity(shape)
            total = sum(committed.values())
            served = min(total, slot.load)
            for pool_key, capacity in committed.items():
                acc = stats.setdefault(pool_key, [0.0, 0.0, 0.0, 0.0])
                acc[0] += slot.hours * served * capacity / total if total else 0.0
                acc[1] += slot.hours * capacity
            for pool_key, info in supply.pools.items():
                if info.source == "onprem" or pool_key == reserved_group(info.gpu):
                    acc = stats.setdefault(pool_key, [0.0, 0.0, 0.0, 0.0])
                    acc[2] += slot.hours * sum(n * rows[shape].gpus_per_replica for (p, shape), n in slot.replicas.items() if p == pool_key)
                    acc[3] += slot.hours * (period.onprem_gpus.get(info.gpu, 0) if info.source == "onprem" else sum(
                        n * supply.pools[term].unit_gpus for term, n in period.reserved_active.items() if supply.pools[term].gpu == info.gpu))
    return {pool: {"load_served_of_capacity": round(a[0] / a[1], 4) if a[1] else 0.0,
                   "gpu_hours_in_replicas_of_available": round(a[2] / a[3], 4) if a[3] else 0.0,
                   "gpu_hours_available": round(a[3], 1)} for pool, a in stats.items() if a[3]}


def break_evens(supply: Supply, periods: tuple[PeriodPlan, ...], amortisation_years: float) -> tuple[BreakEven, ...]:
    """For each GPU type the plan uses: buy and reserve against renting on demand (hand-checkable formulas).

    Buying beats renting above ``u* = capex / (rent - power)`` (Armbrust et al. 2009, Eq. 1, with capex per hour
    over the amortisation); its payback is ``purchase / (rent - power)`` hours of use. A commitment beats renting
    above ``(hourly + upfront / term) / rent``: it is paid every hour, renting only when used.
    """
    used = {supply.pools[p].gpu for period in periods for slot in period.slots for (p, _), n in slot.replicas.items() if n}
    out = []
    for gpu in sorted(used):
        rent = next((i.usd_per_gpu_hour for i in supply.pools.values() if i.gpu == gpu and i.source == "on_demand"), None)
        onprem = next((i for i in supply.pools.values() if i.gpu == gpu and i.source == "onprem"), None)
        if rent is None:
            continue
        buy_u = payback = None
        if onprem is not None and onprem.purchase_usd and onprem.power_usd_per_gpu_hour is not None:
            buy_u = break_even_utilisation(rent, onprem.purchase_usd, onprem.power_usd_per_gpu_hour, amortisation_years)
            margin = rent - onprem.power_usd_per_gpu_hour
            payback = onprem.purchase_usd / margin / (HOURS_PER_YEAR / 12) if margin > 0 else None
        reserved = {key: (i.usd_per_gpu_hour + i.upfront_usd_per_gpu / i.term_hours) / rent
                    for key, i in supply.pools.items() if i.gpu == gpu and i.source == "reserved" and i.usd_per_gpu_hour and i.term_hours}
        out.append(BreakEven(gpu, rent, buy_u, payback, reserved))
    return tuple(out)


def verify_schedule(supply: Supply, grid: TimeGrid, periods: tuple[PeriodPlan, ...], outcome: ProcurementOutcome, context,
                    options: PricingOptions, traffic=None) -> None:  # type: ignore[no-untyped-def]
    """Re-check a schedule without the solver's rows: memory in bytes, supply, lead times, terms, spot odds, cost.

    - each shape used holds its ``maxseq`` sequences within the engine budget and headroom (memory model, bytes);
      for traffic, each replica meets the SLO at the rate the plan counts on (performance model, re-predicted);
    - every slot's capacity covers its load; spot counts only the replicas that survive with the target odds,
      recomputed by direct summation of the binomial;
    - GPUs on premises never exceed owned + purchases delivered (order start + lead time <= period start);
      reserved replicas fit the units whose term covers the whole period; rentals fit their units and stock;
    - purchases per quarter within the capex cap; the cost re-added from the schedule equals the objective.
    """
    from fractions import Fraction

    from .capacity import performance_at
    from .memory.serving import serving_memory
    from .units import decimal_fraction
    from .verify import SLO_TOLERANCE

    violations: list[str] = []
    problem = supply.problem
    rows = {row.key: row for row in problem.rows}
    used_shapes = {shape for p in periods for s in p.slots for (_, shape), n in s.replicas.items() if n}
    for key in used_shapes:
        candidate = supply.candidates[key]
        bill = serving_memory(context.arch, candidate.layout, context.engine_for(candidate.gpu, candidate.layout),
                              candidate.gpu.capacity_bytes, rows[key].max_sequences, context.context_tokens)
        if bill.total_bytes > bill.usable_bytes or Fraction(bill.free_bytes, bill.capacity_bytes) < decimal_fraction(context.min_headroom):
            violations.append(f"{key}: {rows[key].max_sequences} sequences do not fit in memory")
        if traffic is not None and grid.traffic:  # each replica at the rate the plan counts on, re-predicted
            rate = problem.capacity(key) / 1000
            perf = performance_at(candidate, context, traffic, rate)
            slo = traffic.slo
            if perf.saturated or (slo is not None and (
                    (slo.ttft_ms is not None and perf.ttft_ms.at(traffic.percentile) > slo.ttft_ms * (1 + SLO_TOLERANCE))
                    or (slo.tpot_bound_ms is not None and perf.tpot_ms.at(traffic.percentile) > slo.tpot_bound_ms * (1 + SLO_TOLERANCE)))):
                violations.append(f"{key}: {rate:.6g} requests/s per replica misses the SLO or saturates the queue")
    for period in periods:
        h = period.index
        for slot in period.slots:
            if slot.total_capacity < slot.load:
                violations.append(f"{period.label}/{slot.label}: capacity {slot.total_capacity} < load {slot.load}")
            for (pool_key, shape), (provisioned, guaranteed) in slot.spot_units.items():
                q = supply.pools[pool_key].interruption_probability or 0.0
                spot_shape = next(x for sp in problem.spots if sp.key == pool_key for x in sp.shapes if x.key == shape)
                unit_q = 1.0 - (1.0 - q) ** spot_shape.instances_per_unit
                odds = sum(math.comb(provisioned, k) * (1 - unit_q) ** k * unit_q ** (provisioned - k) for k in range(guaranteed, provisioned + 1))
                if guaranteed and odds + 1e-9 < options.spot.availability:  # type: ignore[union-attr]
                    violations.append(f"{pool_key} {shape}: {guaranteed} of {provisioned} units survive with odds {odds:.6f}")
            for pool in problem.onprem:
                gpus = sum(n * rows[shape].gpus_per_replica for (p, shape), n in slot.replicas.items() if p == pool.key)
                delivered = sum(pp.ordered.get(pool.gpu_type, 0) for pp in periods[:h + 1]
                                if grid.periods[pp.index].start_hours + _lead(supply, pool.gpu_type, grid) <= grid.periods[h].start_hours)
                if gpus > pool.owned + delivered:
                    violations.append(f"{period.label}: {gpus} {pool.gpu_type} on premises > {pool.owned} owned + {delivered} delivered")
            for group in {pool.group for pool in problem.reserved}:
                gpus = sum(n * rows[shape].gpus_per_replica for (p, shape), n in slot.replicas.items() if p == group)
                covering = 0
                for pool in (pool for pool in problem.reserved if pool.group == group):
                    term = supply.pools[pool.key].term_hours or 0
                    covering += pool.unit_gpus * sum(pp.reserved_started.get(pool.key, 0) for pp in periods if grid.steady_state or (
                        pp.start_hours <= period.start_hours and period.start_hours + period.hours <= pp.start_hours + term + 1e-6))
                if gpus > covering:
                    violations.append(f"{period.label}: {gpus} GPUs on {group} > {covering} GPUs whose term covers the period")
            for pool in problem.rentals:
                gpus = sum(n * rows[shape].gpus_per_replica for (p, shape), n in slot.replicas.items() if p == pool.key)
                if gpus > slot.gpus.get(pool.key, 0) or (pool.max_units is not None and slot.gpus.get(pool.key, 0) > pool.max_units * pool.unit_gpus):
                    violations.append(f"{period.label}/{slot.label}: {pool.key} runs {gpus} GPUs on {slot.gpus.get(pool.key, 0)} rented")
    if problem.capex_cap_micro_usd_per_quarter is not None:
        spent: dict[int, int] = {}
        for period in periods:
            quarter = problem.periods[period.index].quarter
            for pool in problem.onprem:
                spent[quarter] = spent.get(quarter, 0) + period.ordered.get(pool.gpu_type, 0) * pool.purchase_micro_usd
        for quarter, micro in spent.items():
            if micro > problem.capex_cap_micro_usd_per_quarter:
                violations.append(f"quarter {quarter + 1}: purchases {micro / MICRO:,.2f} USD over the capex cap")
    total = sum(sum(p.cost_micro_usd.values()) for p in periods)
    if outcome.objective_micro_usd is not None and total != outcome.objective_micro_usd:
        violations.append(f"cost re-added {total} micro-USD, solver objective {outcome.objective_micro_usd}")
    recomputed, decisions = _recomputed_cost_usd(supply, grid, periods, options)
    # every coefficient is rounded up by less than one micro-USD per unit, prices per hour by 10^-6 USD per GPU
    gpu_hours = sum(sum(slot.gpus.values()) * slot.hours for p in periods for slot in p.slots)
    tolerance = decisions / MICRO + gpu_hours * 1e-6 + 1e-9 * recomputed + 1e-6
    if outcome.objective_micro_usd is not None:
        paid = outcome.objective_micro_usd / MICRO
        if not recomputed - 1e-9 * recomputed - 1e-6 <= paid <= recomputed + tolerance:
            violations.append(f"cost recomputed from prices {recomputed:,.4f} USD, solver objective {paid:,.4f} USD")
    if violations:
        raise VerificationError("internal error: procurement plan failed verification (this is a bug in planner)",
                                [Issue(v) for v in violations])


def _recomputed_cost_usd(supply: Supply, grid: TimeGrid, periods: tuple[PeriodPlan, ...], options: PricingOptions
                         ) -> tuple[float, int]:
    """The schedule's cost in USD from the pools' prices and the grid's hours (net present cost with a discount rate:
    payments at their period's start, hourly costs at its middle), and the number of rounded coefficients."""
    rows = {row.key: row for row in supply.problem.rows}
    end = float(grid.hours)
    rate = options.discount_rate

    def pv(hours: float) -> float:
        return (1 + rate) ** (-hours / HOURS_PER_YEAR)

    def hourly(usd_per_hour: float, start: float, stop: float) -> float:
        total = 0.0
        for p in periods:
            low, high = max(start, p.start_hours), min(stop, p.start_hours + p.hours)
            if high > low:
                total += usd_per_hour * (high - low) * pv((low + high) / 2)
        if stop > end:
            low = max(start, end)
            total += usd_per_hour * (stop - low) * pv((low + stop) / 2)
        return total

    usd, decisions = 0.0, 0
    for period in periods:
        middle = pv(period.start_hours + period.hours / 2)
        for gpu, n in period.ordered.items():
            info = next(i for i in supply.pools.values() if i.gpu == gpu and i.source == "onprem")
            delivery = period.start_hours + (0.0 if grid.steady_state else info.lead_time_hours)
            if info.resale_fraction is not None:
                residual = info.resale_fraction
            elif options.commitments_past_horizon == "book":
                residual = max(0.0, 1.0 - (end - delivery) / (options.amortisation_years * HOURS_PER_YEAR))
            else:
                residual = 0.0
            usd += n * (info.purchase_usd or 0) * (pv(period.start_hours) - residual * pv(end))
            decisions += n
        for key, n in period.reserved_started.items():
            info = supply.pools[key]
            term, price, upfront = info.term_hours or 0.0, info.usd_per_gpu_hour or 0.0, info.upfront_usd_per_gpu
            gpus = n * info.unit_gpus
            if grid.steady_state:
                usd += gpus * (price + upfront / term) * period.hours * middle if options.commitments_past_horizon == "book" else \
                    gpus * math.ceil(period.hours / term - 1e-9) * (upfront + price * term)
            elif options.commitments_past_horizon == "book":
                usd += gpus * hourly(price + upfront / term, period.start_hours, min(end, period.start_hours + term))
            else:
                usd += gpus * (upfront * pv(period.start_hours) + hourly(price, period.start_hours, period.start_hours + term))
            decisions += n
        seen: set[tuple[str, int]] = set()
        for s, slot in enumerate(period.slots):
            merged = supply.slots.merged[period.index][s]
            for key, gpus in slot.gpus.items():
                info = supply.pools[key]
                if info.source in ("on_demand", "spot"):
                    usd += gpus * (info.usd_per_gpu_hour or 0) * slot.hours * middle
                    decisions += (key, merged) not in seen
                    seen.add((key, merged))
        for key, info in supply.pools.items():
            if info.source == "onprem":
                running = sum(n * rows[shape].gpus_per_replica for (p, shape), n in period.slots[0].replicas.items() if p == key)
                usd += running * (info.power_usd_per_gpu_hour or 0) * hourly(1.0, period.start_hours, period.start_hours + period.hours)
                decisions += running  # the power coefficient is rounded per GPU
    return usd, decisions


def _lead(supply: Supply, gpu: str, grid: TimeGrid) -> float:
    return 0.0 if grid.steady_state else next(i.lead_time_hours for i in supply.pools.values() if i.gpu == gpu and i.source == "onprem")
