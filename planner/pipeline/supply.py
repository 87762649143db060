"""Supply over time: every way a procurement plan can get GPUs, as integer pools and cost coefficients.

Per GPU type, from the scenario's ``pricing`` section and the offers (``planner.catalog.offers``):

- **on premises**: the ``owned`` GPUs (power only) plus purchases (``buy``). A purchase ordered at the start of
  a period serves from the first period that starts ``lead_time_weeks`` later. It is charged, in ``book``
  accounting, its depreciation up to the horizon's end: the price less the value left at the end (straight-line
  over ``amortisation_years`` from delivery, or ``resale_fraction`` of the price); in ``cash`` accounting the
  price less ``resale_fraction`` (default 0). Power (``TDP x PUE x USD/kWh``, ``planner.catalog.pricing``) is paid for
  every GPU that runs a replica, through the whole period.
- **reserved**: one pool per term of ``reserved_terms``; units of the rental granularity committed at the start
  of a period cover the periods inside the term. ``book``: the horizon pays the hourly price plus the upfront
  spread over the term, for the hours of the term inside the horizon; ``cash``: the upfront and every hour of
  the term. In a steady state (``demand.repeat``) commitments renew forever: hourly + upfront / term.
- **on demand**: one pool per allowed offer, rented per slot at the offer's price per GPU-hour (per GPU, the
  planner's rental granularity; ``planner.catalog.offers`` says which offers); the scenario's inventory caps it.
- **spot**: one pool per allowed offer, rented per slot in whole instances (the unit a cloud reclaims) and
  sized by ``guaranteed_units``.

Money is integer micro-USD, rounded up per coefficient (``usd_to_micro_usd_ceil``); with a ``discount_rate``
every cost is multiplied by ``(1 + r) ** -(t / 8760)`` at the time it is paid (purchases and upfronts at the
start of their period, hourly costs at the middle of theirs): the net present cost.

Shapes per pool: the per-type frontier of ``capacity_frontier`` (k copies of A replace B with no more GPUs, same
type: same pools, same prices per GPU, so the replacement never costs more in any pool; a spot unit of A holds at
least a unit of B's replicas at the same interruption odds, see ``guaranteed_units``).
Among a type's on-demand offers, one that costs at least as much per GPU-hour as another is never needed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING

from ..candidates.serving import Candidate
from ..catalog import GpuSpec
from ..catalog.offers import Offer, allowed_offers, catalog_offers
from ..catalog.pricing import HOURS_PER_WEEK, HOURS_PER_YEAR, power_usd_per_gpu_hour
from ..errors import InputError, Issue
from ..plans.procurement import PoolInfo, SlotMap, Supply, TimeGrid
from ..schema.procurement import PERIOD_HOURS, PricingOptions, ReservedTerm
from ..solver.problem import Problem
from ..solver.procurement import OnPremPool, Period, ProcurementProblem, RentalPool, ReservedPool, SpotPool, SpotShape, reserved_group
from ..solver.procurement_pruning import drop_dominated_pools
from ..solver.rentals import RentalOption, RentalTable, SpotOption, period_table
from ..units import usd_to_micro_usd_ceil, usd_to_micro_usd_floor

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..schema.serving import ServingScenario

HOURS_PER_MONTH = PERIOD_HOURS["month"]
HOURS_PER_QUARTER = PERIOD_HOURS["quarter"]
MAX_SPOT_UNITS = 4096
MAX_PROJECTED_LOAD = 100_000
"""Rentals are projected out (``planner.solver.rentals``) up to this peak load, in the solver's unit (sequences or
milli-requests/s): the tables and the dynamic program grow with it. Above, every slot keeps explicit variables."""


Capacity = Callable[[Candidate], int]
"""A shape's capacity per replica in the demand's unit."""


def capacity_frontier(candidates: list[Candidate], capacity: Capacity) -> list[Candidate]:
    """The shapes of one GPU type that no copies of another shape of the type replace: B is left out when
    ``k = ceil(cap_B / cap_A)`` copies of A serve at least as much on no more GPUs (``k x gpus_A <= gpus_B``); between
    identical shapes the earlier one is kept. Every pool prices a type's GPUs alike, so the copies never cost more.

    Unlike the single-period pruning (``planner.candidates.serving.prune_dominated``) nothing is kept for the tie-breaks at
    equal cost (16-bit formats, latency): the procurement model minimises cost alone.
    """
    items = [(c, capacity(c)) for c in candidates]
    kept = []
    for index, (b, cap_b) in enumerate(items):
        if cap_b <= 0:
            continue
        beaten = False
        for other, (a, cap_a) in enumerate(items):
            if a is b or cap_a <= 0:
                continue
            copies = -(-cap_b // cap_a)
            if copies * a.gpus_per_replica <= b.gpus_per_replica:
                mutual = -(-cap_a // cap_b) * b.gpus_per_replica <= a.gpus_per_replica
                if not mutual or other < index:
                    beaten = True
                    break
        if not beaten:
            kept.append(b)
    return kept


def guaranteed_units(units: int, interruption_probability: float, availability: float) -> int:
    """Units of ``units`` independent ones that are all available with probability at least ``availability``.

    The largest ``a`` with ``P(X >= a) >= availability`` for ``X ~ Binomial(units, 1 - q)``: the k-out-of-n
    reliability of ``units`` identical, independent components (Kuo & Zuo, "Optimal Reliability Modeling",
    Wiley 2003, ch. 7, eq. 7.1: ``R = sum_{i=k}^{n} C(n, i) p^i (1 - p)^(n - i)``). Provisioning N + k spot
    replicas so that N survive preemptions is SpotHedge's over-provisioning (Mao et al., "SkyServe: Serving AI
    Models across Regions and Clouds with Spot Instances", arXiv:2411.01438, 2024, Sec. 4); here k follows from
    the interruption probability and the target instead of being a fixed count. Independent interruptions are
    an assumption: a cloud that reclaims a whole zone at once breaks it (spread spot over zones, as SkyServe does).
    """
    if units <= 0:
        return 0
    p = 1.0 - interruption_probability
    log_p, log_q = math.log(p), math.log(interruption_probability)
    log_factorial = _log_factorials(units)
    log_n = log_factorial[units]
    tail: list[float] = []
    running = 0.0  # a plain sum, within TAIL_SUM_SLACK of fsum(tail): fsum (exact) runs only near the target
    for survivors in range(units, -1, -1):
        log_pmf = (log_n - log_factorial[survivors] - log_factorial[units - survivors]
                   + survivors * log_p + (units - survivors) * log_q)
        tail.append(math.exp(log_pmf))
        running += tail[-1]
        if running + TAIL_SUM_SLACK >= availability and math.fsum(tail) >= availability:
            return survivors
    return 0


def _log_factorials(n: int) -> list[float]:
    """``math.lgamma(k + 1)`` for k = 0..n, computed once and reused (the same values, so the same answers)."""
    while len(_LOG_FACTORIALS) <= n:
        _LOG_FACTORIALS.append(math.lgamma(len(_LOG_FACTORIALS) + 1))
    return _LOG_FACTORIALS


_LOG_FACTORIALS: list[float] = []


TAIL_SUM_SLACK = 1e-9
"""Bound on how far a plain running sum of at most ``MAX_SPOT_UNITS`` probabilities (each <= 1, total <= 1) can
fall below their correctly rounded sum (n x machine epsilon, about 1e-12 for 4,096 terms): above it, the exact
``math.fsum`` decides, so the answer is the exact one while the tail costs O(n) instead of O(n^2)."""


@functools.lru_cache(maxsize=256)
def guarantee_table(peak_units: int, interruption_probability: float, availability: float) -> tuple[int, ...]:
    """``guaranteed_units(v)`` for v = 0, 1, ... up to the first v that guarantees ``peak_units`` (or the limit)."""
    table = [0]
    while table[-1] < peak_units and len(table) <= MAX_SPOT_UNITS:
        table.append(guaranteed_units(len(table), interruption_probability, availability))
    return tuple(table)


class _Money:
    """Cost coefficients: USD at a time -> integer micro-USD, discounted when the scenario asks for it."""

    def __init__(self, options: PricingOptions, grid: TimeGrid):
        self.rate = options.discount_rate
        self.grid = grid

    def factor(self, hours: Fraction | float) -> float:
        return 1.0 if self.rate == 0 else (1.0 + self.rate) ** (-float(hours) / HOURS_PER_YEAR)

    def over(self, usd_per_hour: float, start: Fraction, stop: Fraction) -> float:
        """USD of a steady hourly cost over [start, stop), discounted period by period at their midpoints."""
        if self.rate == 0:
            return usd_per_hour * float(stop - start)
        total = 0.0
        for period in self.grid.periods:
            low, high = max(start, period.start_hours), min(stop, period.end_hours)
            if high > low:
                total += usd_per_hour * float(high - low) * self.factor((low + high) / 2)
        if stop > self.grid.hours:  # the part of a term past the horizon ('cash' accounting)
            low = max(start, self.grid.hours)
            total += usd_per_hour * float(stop - low) * self.factor((low + stop) / 2)
        return total

    @staticmethod
    def micro(usd: float) -> int:
        return usd_to_micro_usd_ceil(max(0.0, usd))


def merge_slots(grid: TimeGrid) -> SlotMap:
    """Slots of one period with the same load need the same rentals: one merged slot with their hours (exact)."""
    merged, hours = [], []
    for period in grid.periods:
        index: dict[int, int] = {}
        totals: list[Fraction] = []
        mapping = []
        for slot in period.slots:
            if slot.load not in index:
                index[slot.load] = len(totals)
                totals.append(Fraction(0))
            totals[index[slot.load]] += slot.hours
            mapping.append(index[slot.load])
        merged.append(tuple(mapping))
        hours.append(tuple(totals))
    return SlotMap(tuple(merged), tuple(hours))


def build_supply(scenario: ServingScenario, catalog: Catalog, candidates: list[Candidate], single: Problem,
                 grid: TimeGrid, project_rentals: bool = True, prune: bool = True) -> Supply:
    """The procurement problem of a scenario: pools, shapes and integer costs over the time grid.

    ``single`` is the single-period problem of the same candidates (``PreparedScenario.problem``): its rows and its
    capacity per replica (sequences, or the request rate within the SLO) are the ones every period covers its load
    with."""
    options = scenario.pricing or PricingOptions()
    money = _Money(options, grid)
    slots = merge_slots(grid)
    periods = []
    for h, period in enumerate(grid.periods):
        loads = [0] * len(slots.hours[h])
        for s, slot in enumerate(period.slots):
            loads[slots.merged[h][s]] = slot.load
        periods.append(Period(tuple(loads), int(period.start_hours // HOURS_PER_QUARTER), slots.hours[h],
                              money.factor(period.start_hours + period.hours / 2)))
    offers = catalog_offers(catalog, getattr(scenario.catalog, "offers", None))
    allowed = set(scenario.gpu_ids) if scenario.gpu_ids is not None else {g.id for g in catalog.gpus}
    rows = {row.key: row for row in single.rows}

    def capacity(candidate: Candidate) -> int:
        return single.capacity(rows[candidate.key])

    by_type: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_type.setdefault(candidate.gpu.id, []).append(candidate)
    builder = _Builder(scenario, options, grid, slots, money, single)
    notes: list[str] = []
    for gpu_id, shapes in by_type.items():
        spec = catalog.gpu(gpu_id)
        frontier = tuple(c.key for c in capacity_frontier(shapes, capacity))
        owned = options.owned.get(gpu_id, 0)
        if owned or (options.buy and gpu_id in allowed):
            builder.onprem(spec, frontier, owned, options.buy and gpu_id in allowed)
        if gpu_id not in allowed:
            continue
        choice = allowed_offers(scenario, spec, offers)
        if not choice.priced("on_demand"):
            builder.left_out("not rented", "; ".join(sorted({r for _, r in choice.excluded})) or "no on-demand price", gpu_id)
        on_demand = choice.cheapest("on_demand")
        if "on_demand" in options.rent and on_demand is not None:
            offers_used = rental_offers(choice.priced("on_demand"), scenario.whole_instances)
            for offer in offers_used:
                builder.on_demand(spec, shapes, offer, len(offers_used) > 1, capacity)
        if "reserved" in options.rent and on_demand is not None:
            for term in _terms(options, gpu_id):
                builder.reserved(spec, shapes, on_demand, term, capacity)
        if "spot" in options.rent:
            spot = choice.cheapest("spot")
            if spot is not None:
                builder.spot(spec, shapes, spot)
    problem = ProcurementProblem(single, tuple(periods), tuple(builder.onprem_pools),
                                 tuple(builder.reserved_pools), tuple(builder.rental_pools), tuple(builder.spot_pools),
                                 usd_to_micro_usd_floor(options.capex_cap_usd_per_quarter)
                                 if options.capex_cap_usd_per_quarter is not None else None)
    if prune:
        problem, dropped = drop_dominated_pools(problem)
        if dropped:
            notes.append(f"{len(dropped)} committed pool(s) left out: another source (bought or reserved) serves as much for no more "
                         f"({', '.join(dropped[:6])}{', ...' if len(dropped) > 6 else ''})")
    table = rental_table(problem) if project_rentals else None
    if table is not None:
        problem = replace(problem, rental_tables=tuple(
            period_table(table, list(p.demand), list(p.hours), p.discount, max(p.demand)) for p in problem.periods))
    return Supply(problem, builder.info, slots, {c.key: c for c in candidates}, tuple(builder.all_notes() + notes), table)


def rental_table(problem: ProcurementProblem) -> RentalTable | None:
    """The cheapest rentals for every residual load (``planner.solver.rentals``), unless a rental pool has a stock
    limit or rents whole instances of several GPUs: then each slot keeps its rentals as variables."""
    if any(p.max_units is not None or p.unit_gpus > 1 for p in problem.rentals) or any(p.max_instances is not None for p in problem.spots):
        return None
    if max(max(p.demand) for p in problem.periods) > MAX_PROJECTED_LOAD:
        return None  # the tables would hold one entry per unit of load: explicit variables scale better
    rows = {row.key: row for row in problem.rows}
    on_demand = [RentalOption(pool.key, key, problem.capacity(key), rows[key].gpus_per_replica,
                              rows[key].gpus_per_replica // pool.unit_gpus * pool.micro_usd_per_unit_hour)
                 for pool in problem.rentals for key in pool.shapes]
    spot = []
    for pool in problem.spots:
        for shape in pool.shapes:
            for units in range(1, len(shape.guaranteed)):
                if shape.guaranteed[units] > shape.guaranteed[units - 1]:
                    replicas = shape.guaranteed[units] * shape.replicas_per_unit
                    spot.append(SpotOption(pool.key, shape.key, units, replicas, replicas * problem.capacity(shape.key),
                                           units * shape.instances_per_unit * pool.instance_gpus,
                                           units * shape.instances_per_unit * pool.micro_usd_per_instance_hour))
    peak = max(max(p.demand) for p in problem.periods)
    return RentalTable(on_demand, spot, peak)


def rental_offers(offers: tuple[Offer, ...], whole_instances: bool) -> list[Offer]:
    """The on-demand offers of one GPU type worth a pool: per GPU, only the cheapest (``OfferChoice.cheapest``);
    in whole instances, every offer no other beats on both counts (a price per GPU-hour no higher and an instance
    size that divides its own: then renting the other's GPUs never costs more, whatever the count)."""
    ranked = sorted(offers, key=lambda o: (o.usd_per_gpu_hour("on_demand"), o.instance_gpus))
    if not whole_instances:
        return ranked[:1]
    kept: list[Offer] = []
    for offer in ranked:
        if not any(o.instance_gpus <= offer.instance_gpus and offer.instance_gpus % o.instance_gpus == 0 for o in kept):
            kept.append(offer)
    return kept


def _packable(shapes: list[Candidate], unit: int) -> list[Candidate]:
    """Shapes that fill whole instances of ``unit`` GPUs without waste: a replica's GPUs divide the instance or are
    a multiple of it (powers of two: always), so any mix of them packs into as many instances as its GPUs need."""
    return [c for c in shapes if unit % c.gpus_per_replica == 0 or c.gpus_per_replica % unit == 0]


def _terms(options: PricingOptions, gpu_id: str) -> list[ReservedTerm]:
    """The commitments offered for one GPU: ``reserved_terms``, else the single-load pricing's reserved price as a
    12-month term (``reserved_usd_per_gpu_hour`` or ``reserved_discount``)."""
    if options.reserved_terms:
        return [t for t in options.reserved_terms if t.gpus is None or gpu_id in t.gpus]
    own = options.gpu(gpu_id).reserved_usd_per_gpu_hour
    if own is not None:
        return [ReservedTerm(months=12, usd_per_gpu_hour=own)]
    if options.reserved_discount is not None:
        return [ReservedTerm(months=12, discount=options.reserved_discount)]
    raise InputError("no reserved price", [Issue(f"renting {gpu_id} reserved needs a price", field_path="pricing.reserved_terms",
                                                 suggestion="list reserved_terms (months and discount or usd_per_gpu_hour)")])


class _Builder:
    """Pools of every kind, with their integer cost coefficients over the grid."""

    def __init__(self, scenario: ServingScenario, options: PricingOptions, grid: TimeGrid, slots: SlotMap, money: _Money,
                 single: Problem):
        self.scenario, self.options, self.grid, self.slots, self.money, self.single = scenario, options, grid, slots, money, single
        self.rows = {row.key: row for row in single.rows}
        self.onprem_pools: list[OnPremPool] = []
        self.reserved_pools: list[ReservedPool] = []
        self.rental_pools: list[RentalPool] = []
        self.spot_pools: list[SpotPool] = []
        self.info: dict[str, PoolInfo] = {}
        self.notes: list[str] = []
        self._left_out: dict[tuple[str, str], list[str]] = {}

    def left_out(self, what: str, reason: str, gpu_id: str) -> None:
        """GPUs left out of one kind of supply for one reason: one note per (kind, reason), naming them all."""
        self._left_out.setdefault((what, reason), []).append(gpu_id)

    def all_notes(self) -> list[str]:
        return [f"{what} ({reason}): {', '.join(ids)}" for (what, reason), ids in self._left_out.items()] + self.notes

    def _power(self, spec: GpuSpec) -> float | None:
        tdp = self.options.gpu(spec.id).tdp_watts or spec.tdp_watts
        return power_usd_per_gpu_hour(tdp, self.options) if tdp else None

    def onprem(self, spec: GpuSpec, shapes: tuple[str, ...], owned: int, buy: bool) -> None:
        options, grid, money = self.options, self.grid, self.money
        extra = options.gpu(spec.id)
        power = self._power(spec)
        if power is None:
            raise InputError("GPU without power figure", [Issue(f"{spec.id} has no TDP in the catalog",
                                                                field_path=f"pricing.gpus.{spec.id}.tdp_watts",
                                                                suggestion="give tdp_watts")])
        purchase = extra.purchase_usd or spec.purchase_price_usd
        can_buy = buy and purchase is not None
        if buy and purchase is None:
            self.left_out("not bought", "no purchase price; give pricing.gpus.<id>.purchase_usd", spec.id)
            if not owned:
                return
        lead = float(extra.lead_time_weeks if extra.lead_time_weeks is not None else options.lead_time_weeks) * HOURS_PER_WEEK
        if grid.steady_state and lead:
            self.notes.append(f"{spec.id}: a steady-state profile has no deliveries: the {lead / HOURS_PER_WEEK:g}-week lead time "
                              "is not modelled (plan a horizon to see it)")
        end = grid.hours
        buy_cost: list[int | None] = []
        arrival: list[int] = []
        for period in grid.periods:
            delivery = period.start_hours + (0 if grid.steady_state else Fraction(lead).limit_denominator(10**6))
            arrives = next((i for i, p in enumerate(grid.periods) if p.start_hours >= delivery), None)
            if purchase is None or not can_buy or arrives is None:
                buy_cost.append(None)
                arrival.append(len(grid.periods))
                continue
            held = float(end - delivery)
            if extra.resale_fraction is not None:
                residual = purchase * extra.resale_fraction
            elif options.commitments_past_horizon == "book":
                residual = purchase * max(0.0, 1.0 - held / (options.amortisation_years * HOURS_PER_YEAR))
            else:
                residual = 0.0
            buy_cost.append(money.micro(purchase * money.factor(period.start_hours) - residual * money.factor(end)))
            arrival.append(arrives)
        power_cost = tuple(money.micro(money.over(power, p.start_hours, p.end_hours)) for p in grid.periods)
        pool = OnPremPool(spec.id, shapes, owned, tuple(buy_cost), tuple(arrival), usd_to_micro_usd_ceil(purchase or 0),
                          extra.max_purchase, power_cost)
        self.onprem_pools.append(pool)
        self.info[pool.key] = PoolInfo(pool.key, spec.id, "onprem", "owned" + (" + bought" if can_buy else ""), 1,
                                       purchase_usd=purchase, power_usd_per_gpu_hour=power, lead_time_hours=lead, owned=owned,
                                       resale_fraction=extra.resale_fraction)

    def _unit(self, spec: GpuSpec, offer: Offer) -> int:
        """GPUs per rented unit: 1, or the instance (the scenario's ``instance_gpus`` or the offer's) with
        ``whole_instances``."""
        if not self.scenario.whole_instances:
            return 1
        return self.scenario.gpu_override(spec.id).instance_gpus or offer.instance_gpus

    def on_demand(self, spec: GpuSpec, shapes: list[Candidate], offer: Offer, several: bool, capacity: Capacity) -> None:
        price = offer.usd_per_gpu_hour("on_demand")
        assert price is not None
        unit = self._unit(spec, offer)
        keys = tuple(c.key for c in capacity_frontier(_packable(shapes, unit), capacity))
        if not keys:
            return
        stock = self.scenario.inventory_of(spec.id)
        key = f"{spec.id}@on_demand" + (f":{offer.provider} {offer.instance}" if several else "")
        self.rental_pools.append(RentalPool(key, spec.id, keys, unit, micro_usd(price * unit), None if stock is None else stock // unit))
        self.info[key] = PoolInfo(key, spec.id, "on_demand", offer.label, unit, usd_per_gpu_hour=price, estimated=offer.estimated)

    def reserved(self, spec: GpuSpec, shapes: list[Candidate], offer: Offer, term: ReservedTerm, capacity: Capacity) -> None:
        grid, money = self.grid, self.money
        on_demand = offer.usd_per_gpu_hour("on_demand")
        assert on_demand is not None
        hourly = term.usd_per_gpu_hour if term.usd_per_gpu_hour is not None else on_demand * (1 - (term.discount or 0))
        term_hours = Fraction(term.months * HOURS_PER_MONTH).limit_denominator(10**6)
        unit = self._unit(spec, offer)
        keys = tuple(c.key for c in capacity_frontier(_packable(shapes, unit), capacity))
        if not keys:
            return
        book = self.options.commitments_past_horizon == "book"
        starts: list[int | None] = []
        covers: list[tuple[int, ...]] = []
        for period in grid.periods:
            if grid.steady_state:
                if book:
                    usd = (hourly + term.upfront_usd_per_gpu / float(term_hours)) * float(period.hours)
                else:
                    renewals = math.ceil(period.hours / term_hours)
                    usd = renewals * (term.upfront_usd_per_gpu + hourly * float(term_hours))
                starts.append(money.micro(usd * unit))
                covers.append((period.index,))
                continue
            stop = period.start_hours + term_hours
            covered = tuple(p.index for p in grid.periods if p.start_hours >= period.start_hours and p.end_hours <= stop)
            if not covered:
                starts.append(None)
                covers.append(())
                continue
            if book:
                usd = money.over(hourly + term.upfront_usd_per_gpu / float(term_hours), period.start_hours, min(stop, grid.hours))
            else:
                usd = term.upfront_usd_per_gpu * money.factor(period.start_hours) + money.over(hourly, period.start_hours, stop)
            starts.append(money.micro(usd * unit))
            covers.append(covered)
        key = f"{spec.id}@reserved-{term.months:g}m"
        stock = self.scenario.inventory_of(spec.id)
        self.reserved_pools.append(ReservedPool(key, spec.id, keys, unit, tuple(starts), tuple(covers),
                                                None if stock is None else stock // unit))
        self.info[key] = PoolInfo(key, spec.id, "reserved", f"{term.months:g}-month term on {offer.label}", unit, usd_per_gpu_hour=hourly,
                                  upfront_usd_per_gpu=term.upfront_usd_per_gpu, term_hours=float(term_hours), estimated=offer.estimated)
        group = reserved_group(spec.id)
        if group not in self.info:
            self.info[group] = PoolInfo(group, spec.id, "reserved", f"reserved {spec.id}, every term", unit, estimated=offer.estimated)

    def spot(self, spec: GpuSpec, shapes: list[Candidate], offer: Offer) -> None:
        risk = self.options.spot
        q = self.options.gpu(spec.id).spot_interruption_probability or (risk.interruption_probability if risk else None)
        if q is None or risk is None:
            raise InputError("spot needs its risk", [Issue("renting spot in a demand profile needs the interruption probability "
                                                           "and the availability target", field_path="pricing.spot",
                                                           suggestion="e.g. spot: {interruption_probability: 0.05, availability: 0.99}")])
        price = offer.spot_usd_per_hour
        assert price is not None
        size = offer.instance_gpus
        packable = [c for c in shapes if size % c.gpus_per_replica == 0 or c.gpus_per_replica % size == 0]
        peak = self.grid.peak
        spot_shapes = []
        for candidate in capacity_frontier(packable, lambda c: self.single.capacity(self.rows[c.key])):
            row = self.rows[candidate.key]
            instances = max(1, row.gpus_per_replica // size)
            replicas = max(1, size // row.gpus_per_replica)
            unit_q = 1.0 - (1.0 - q) ** instances
            needed = -(-peak // (replicas * max(1, self.single.capacity(row))))
            spot_shapes.append(SpotShape(row.key, replicas, instances, guarantee_table(needed, unit_q, risk.availability)))
        key = f"{spec.id}@spot"
        stock = self.scenario.inventory_of(spec.id)
        self.spot_pools.append(SpotPool(key, spec.id, tuple(spot_shapes), size, micro_usd(price),
                                        None if stock is None else stock // size))
        self.info[key] = PoolInfo(key, spec.id, "spot", offer.label, size, usd_per_gpu_hour=price / size, estimated=offer.estimated,
                                  interruption_probability=q)


def micro_usd(usd_per_hour: float) -> int:
    """A price per hour as integer micro-USD, rounded up (a rounding of less than 10^-6 USD per hour)."""
    return math.ceil(round(usd_per_hour * 1_000_000, 3))
