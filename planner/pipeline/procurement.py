"""Procurement plans: a serving scenario with a demand profile -> what to buy, reserve and rent in every period.

Flow: the profile becomes a time grid (``planner.pipeline.demand``); the replica shapes and their per-shape capacity rows
come from the single-period pipeline (``planner.pipeline.serving.prepare``: candidates, memory model, integer rows); the
pricing section and the offers become pools with integer costs (``planner.pipeline.supply``); one CP-SAT model over all
periods chooses (``planner.solver.procurement``); the schedule is decoded per period and slot, re-checked
independently of the solver (``verify_schedule``) and reported with costs, utilisation and break-even points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..catalog import Catalog
from ..catalog.pricing import HOURS_PER_YEAR, break_even_utilisation
from ..errors import InfeasibleError, InputError, Issue
from ..plans.procurement import SOURCES, BreakEven, PeriodPlan, ProcurementReport, SlotPlan, Supply, TimeGrid
from ..schema.procurement import PricingOptions
from ..schema.serving import ServingScenario
from ..solver.procurement import ProcurementProblem, Schedule, SpotPool, SpotShape, reserved_group, solve_procurement
from ..verify.procurement import verify_schedule
from .demand import expand
from .supply import build_supply

if TYPE_CHECKING:
    from .serving import PreparedScenario


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
    from ..candidates.capacity import Traffic

    verify_schedule(supply, grid, periods, outcome, prepared.context, options, Traffic.of(scenario.workload))
    return ProcurementReport(scenario.name or "scenario", prepared.model_name, outcome.status, grid, periods, supply.pools,
                             utilisation(supply, periods), break_evens(supply, periods, options.amortisation_years), outcome,
                             supply.candidates,
                             {key: supply.problem.capacity(key) for key in supply.candidates},
                             prepared.notes + supply.notes, len(prepared.enumeration.candidates) + len(prepared.enumeration.rejections),
                             options.discount_rate)


def check_procurement_scenario(scenario: ServingScenario, catalog: Catalog | None = None, project_rentals: bool = False
                               ) -> tuple[TimeGrid, Any, Supply]:
    """The time grid, the candidate shapes and the supply of a scenario: everything short of solving (``planner
    validate`` stops here; bad input raises as it would in a solve)."""
    from .serving import load_catalog

    catalog = catalog or load_catalog(scenario)
    options = scenario.pricing or PricingOptions()
    if options.utilisation != 1.0 or options.objective != "hourly":
        raise _bad("pricing.utilisation", "a demand profile states when GPUs are needed: leave out 'utilisation' and 'objective' "
                                          "(the plan minimises the horizon's total cost)")
    grid = expand(scenario.demand, scenario.workload)  # type: ignore[arg-type]
    prepared = _candidates(scenario, catalog)
    return grid, prepared, build_supply(scenario, catalog, prepared.candidates, prepared.problem(), grid, project_rentals)


def _bad(path: str, message: str) -> InputError:
    return InputError("invalid procurement scenario", [Issue(message, field_path=path)])


def _candidates(scenario: ServingScenario, catalog: Catalog) -> PreparedScenario:
    """Every replica shape of every GPU the plan may own, buy or rent, unpruned (pools prune per type)."""
    from .serving import prepare

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
        cost = dict.fromkeys(SOURCES, 0)
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
        for term in problem.reserved:
            n_started = schedule.start.get((term.key, h), 0)
            if n_started:
                started[term.key] = n_started
                cost["reserved"] += n_started * (term.start_cost[h] or 0)
            units = sum(n for (key, start), n in schedule.start.items() if key == term.key and h in term.covers[start])
            if units:
                active[term.key] = units
                committed_gpus[term.group] = committed_gpus.get(term.group, 0) + units * term.unit_gpus
            for shape in term.shapes:
                n = schedule.committed.get((term.group, shape, h), 0)
                if n:
                    committed[(term.group, shape)] = n
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
            capacity = dict.fromkeys(SOURCES, 0)
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
    from ..solver.rentals import slot_cost_micro_usd

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
            per_unit = _spot_shape(problem, spot.pool, spot.shape).replicas_per_unit
            spot_units[(spot.pool, spot.shape)] = (spot.units, spot.guaranteed_replicas // per_unit)
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
            for spot_shape in spot_pool.shapes:
                provisioned = schedule.spot_units.get((spot_pool.key, spot_shape.key, h, merged), 0)
                if provisioned:
                    guaranteed = schedule.spot_guaranteed.get((spot_pool.key, spot_shape.key, h, merged), 0)
                    spot_units[(spot_pool.key, spot_shape.key)] = (provisioned, guaranteed)
                    replicas[(spot_pool.key, spot_shape.key)] = guaranteed * spot_shape.replicas_per_unit
                    spot_micro += provisioned * spot_shape.instances_per_unit * spot_pool.micro_usd_per_instance_hour
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
            instance_gpus = _spot_pool(problem, pool_key).instance_gpus
            gpus[pool_key] = gpus.get(pool_key, 0) + provisioned * spot_shape.instances_per_unit * instance_gpus
        else:
            gpus[pool_key] = gpus.get(pool_key, 0) + n * rows[shape].gpus_per_replica
    spot_share = total * spot_micro // micro if micro else 0
    return _Rented(replicas, gpus, spot_units, total - spot_share, spot_share)


def _spot_pool(problem: ProcurementProblem, key: str) -> SpotPool:
    return next(p for p in problem.spots if p.key == key)


def _spot_shape(problem: ProcurementProblem, pool: str, shape: str) -> SpotShape:
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
            committed: dict[str, int] = {}
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
                        n * supply.pools[term].unit_gpus for term, n in period.reserved_active.items()
                        if supply.pools[term].gpu == info.gpu))
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
