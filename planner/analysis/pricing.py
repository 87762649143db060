"""Pricing analyses of a plan: rent-or-buy break-even per GPU type and the price range over which a plan stays
optimal (re-solving)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..catalog.pricing import amortised_usd_per_gpu_hour, break_even_utilisation, power_usd_per_gpu_hour
from ..schema.outputs_analysis import PriceRangeOutput, RentVsBuyOutput, Verdict
from ..schema.procurement import PricingOptions, split_source
from ..units import rounded, usd_to_micro_usd_ceil

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..pipeline.serving import PreparedScenario
    from ..plans.serving import Plan
    from ..schema.serving import ServingScenario


@dataclass(frozen=True)
class RentVsBuy:
    """Rent-or-buy figures of one GPU type."""

    gpu: str
    rent_usd_per_gpu_hour: float
    purchase_usd: float | None
    power_usd_per_gpu_hour: float | None
    amortised_usd_per_gpu_hour: float | None
    break_even_utilisation: float | None  # None: unknown purchase price/TDP, or power costs more than renting
    utilisation: float

    @property
    def verdict(self) -> Verdict:
        if self.break_even_utilisation is None:
            return "rent" if self.purchase_usd is not None and self.power_usd_per_gpu_hour is not None else "no purchase price"
        return "buy" if self.utilisation > self.break_even_utilisation else "rent"

    def output(self) -> RentVsBuyOutput:
        r = rounded
        return RentVsBuyOutput(gpu=self.gpu, rent_usd_per_gpu_hour=round(self.rent_usd_per_gpu_hour, 4),
                               purchase_usd=self.purchase_usd, power_usd_per_gpu_hour=r(self.power_usd_per_gpu_hour),
                               amortised_usd_per_gpu_hour=r(self.amortised_usd_per_gpu_hour),
                               break_even_utilisation=r(self.break_even_utilisation), utilisation=self.utilisation,
                               verdict=self.verdict)


def rent_vs_buy(scenario: ServingScenario, catalog: Catalog, gpu_ids: list[str]) -> list[RentVsBuy]:
    """Break-even utilisation of each GPU type (defaults from the catalog when the scenario has no pricing)."""
    options = scenario.pricing or PricingOptions()
    rows = []
    for gpu_id in dict.fromkeys(split_source(g)[0] for g in gpu_ids):
        spec = catalog.gpu(gpu_id)
        extra = options.gpu(gpu_id)
        rent = scenario.gpu_override(gpu_id).price_usd_per_gpu_hour or spec.price_usd_per_gpu_hour
        purchase = extra.purchase_usd or spec.purchase_price_usd
        tdp = extra.tdp_watts or spec.tdp_watts
        power = power_usd_per_gpu_hour(tdp, options) if tdp else None
        amortised = amortised_usd_per_gpu_hour(purchase, options) if purchase else None
        even = break_even_utilisation(rent, purchase, power, options.amortisation_years) if purchase and power is not None else None
        rows.append(RentVsBuy(gpu_id, rent, purchase, power, amortised, even, options.utilisation))
    return rows


@dataclass(frozen=True)
class PriceRange:
    """Prices of one GPU type (source) over which the chosen plan stays optimal, all else fixed."""

    gpu: str
    price_usd_per_gpu_hour: float
    low_usd_per_gpu_hour: float | None  # None: still optimal at the search floor
    high_usd_per_gpu_hour: float | None  # None: still optimal at the search ceiling
    floor_usd_per_gpu_hour: float
    ceiling_usd_per_gpu_hour: float
    solves: int

    def output(self) -> PriceRangeOutput:
        r = rounded
        return PriceRangeOutput(gpu=self.gpu, price_usd_per_gpu_hour=round(self.price_usd_per_gpu_hour, 4),
                                low_usd_per_gpu_hour=r(self.low_usd_per_gpu_hour), high_usd_per_gpu_hour=r(self.high_usd_per_gpu_hour),
                                searched_usd_per_gpu_hour=(round(self.floor_usd_per_gpu_hour, 4), round(self.ceiling_usd_per_gpu_hour, 4)),
                                solves=self.solves)


def price_sensitivity(prepared: PreparedScenario, plan: Plan, max_factor: float = 10.0,
                      tolerance: float = 0.002) -> list[PriceRange]:
    """For each GPU type of ``plan``: the price interval over which it stays optimal, found by re-solving.

    Every plan's cost is affine in one GPU type's price, so the optimal cost is their lower envelope and the
    prices at which one plan is optimal form an interval (parametric programming: Gal & Greenberg,
    "Advances in Sensitivity Analysis and Parametric Programming", 1997, ch. 1). Its ends are found by
    bisection on a price factor in ``[1 / max_factor, max_factor]`` to ``tolerance`` (relative), each probe a
    CP-SAT solve compared with the plan's own cost at that price.
    """
    from ..solver.cpsat import solve_cpsat

    problem = prepared.problem()
    settings = prepared.scenario.solver
    chosen = {g.candidate.key: g.count for g in plan.groups}
    price_of = {c.gpu.id: c.price_usd_per_gpu_hour for c in prepared.candidates}
    ranges = []
    for gpu_id in sorted({g.candidate.gpu.id for g in plan.groups}):
        base = price_of[gpu_id]
        probes = 0

        def still_optimal(factor: float, base: float = base, gpu_id: str = gpu_id) -> bool:  # bound now: called in this iteration
            nonlocal probes
            probes += 1
            rows = tuple(replace(row, price_micro_usd_per_hour=usd_to_micro_usd_ceil(base * factor) * row.gpus_per_replica)
                         if row.gpu_type == gpu_id else row for row in problem.rows)
            scaled = replace(problem, rows=rows)
            mine = sum(row.price_micro_usd_per_hour * chosen[row.key] for row in rows if row.key in chosen)
            best = solve_cpsat(scaled, settings.time_limit_s, settings.workers, settings.seed)
            return best.objective_micro_usd is not None and mine <= best.objective_micro_usd

        high = None if still_optimal(max_factor) else _bisect(still_optimal, 1.0, max_factor, tolerance)
        low = None if still_optimal(1.0 / max_factor) else _bisect(still_optimal, 1.0, 1.0 / max_factor, tolerance)
        ranges.append(PriceRange(gpu_id, base, None if low is None else base * low, None if high is None else base * high,
                                 base / max_factor, base * max_factor, probes))
    return ranges


def _bisect(still_optimal: Callable[[float], bool], inside: float, outside: float, tolerance: float) -> float:
    """The last factor between ``inside`` (optimal) and ``outside`` (not) at which the plan is still optimal."""
    while abs(outside - inside) > tolerance * max(inside, outside):
        middle = (inside + outside) / 2
        if still_optimal(middle):
            inside = middle
        else:
            outside = middle
    return inside
