"""Independent verification of procurement plans: every slot's load covered, every pool within its stock, each
replica within the SLO at its load, and the cost recomputed from the schedule."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..catalog.pricing import HOURS_PER_YEAR
from ..errors import Issue, VerificationError
from ..plans.procurement import MICRO, PeriodPlan, Supply, TimeGrid
from ..schema.procurement import PricingOptions
from ..solver.procurement import ProcurementOutcome

if TYPE_CHECKING:
    from ..candidates.capacity import Traffic
    from ..candidates.serving import ServingContext


def verify_schedule(supply: Supply, grid: TimeGrid, periods: tuple[PeriodPlan, ...], outcome: ProcurementOutcome,
                    context: ServingContext, options: PricingOptions, traffic: Traffic | None = None) -> None:
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

    from ..candidates.capacity import performance_at
    from ..memory.serving_bill import serving_memory
    from ..units import decimal_fraction
    from .serving import SLO_TOLERANCE

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
                odds = sum(math.comb(provisioned, k) * (1 - unit_q) ** k * unit_q ** (provisioned - k)
                           for k in range(guaranteed, provisioned + 1))
                if guaranteed and (options.spot is None or odds + 1e-9 < options.spot.availability):  # no target, no guarantee
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
                for reserved in (r for r in problem.reserved if r.group == group):
                    term = supply.pools[reserved.key].term_hours or 0
                    covering += reserved.unit_gpus * sum(
                        pp.reserved_started.get(reserved.key, 0) for pp in periods if grid.steady_state or (
                            pp.start_hours <= period.start_hours and period.start_hours + period.hours <= pp.start_hours + term + 1e-6))
                if gpus > covering:
                    violations.append(f"{period.label}: {gpus} GPUs on {group} > {covering} GPUs whose term covers the period")
            for rental in problem.rentals:
                gpus = sum(n * rows[shape].gpus_per_replica for (p, shape), n in slot.replicas.items() if p == rental.key)
                rented = slot.gpus.get(rental.key, 0)
                if gpus > rented or (rental.max_units is not None and rented > rental.max_units * rental.unit_gpus):
                    violations.append(f"{period.label}/{slot.label}: {rental.key} runs {gpus} GPUs on {rented} rented")
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
        return math.pow(1 + rate, -hours / HOURS_PER_YEAR)

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
