"""Rent or buy: per-hour prices of every way to get a GPU, total cost of ownership, break-even, sensitivity.

A scenario's ``pricing`` section turns each allowed GPU type into one or more *sources*, each a pseudo GPU type
``<gpu>@<source>`` for the solver (same memory, its own price and stock), so a plan may mix owned, rented and
bought GPUs of one type without any change to the CP-SAT model:

- ``<gpu>`` rented on demand; ``<gpu>@spot``; ``<gpu>@reserved`` (committed: paid for every hour);
- ``<gpu>@buy``: purchase price spread over the amortisation years (hourly) or the horizon (TCO), plus power;
- ``<gpu>@owned``: already paid for, only power; at most ``owned[gpu]`` of them.

Power per GPU-hour is ``TDP x PUE x USD per kWh`` (PUE as defined by The Green Grid, White Paper #6, 2007:
facility power / IT power; TDP is an upper bound on the board's draw). With utilisation ``u`` (fraction of
hours the fleet serves), the cost per wall-clock hour of one GPU is::

    on demand, spot   price x u                 reserved   price
    buy               capex_per_hour + power x u   owned      power x u

``objective: hourly`` minimises that divided by ``u`` (USD per hour of service, capex amortised over
``amortisation_years``); ``objective: tco`` minimises it as is with the whole purchase price charged to the
horizon (no resale value), so ``cost x 8760 x horizon_years`` is the total cost of ownership. A purchase
lead time ``L`` (``lead_time_weeks``) is bridged by renting the same GPU on demand until delivery, so over a
period ``T`` a bought GPU costs ``(purchase + u*rent*L + u*power*(T - L)) / T`` per hour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import InputError, Issue, did_you_mean
from .offers import Tier, allowed_offers, catalog_offers
from .units import usd_to_micro_usd_ceil

if TYPE_CHECKING:
    from .catalog import Catalog, GpuSpec
    from .plan import Plan
    from .planning import PreparedScenario
    from .scenario import ServingScenario

HOURS_PER_YEAR = 8760
HOURS_PER_WEEK = 168
SOURCE_SEPARATOR = "@"
Market = Literal["on_demand", "reserved", "spot"]

DEFAULT_PUE = 1.58
"""Average annual PUE of the Uptime Institute Global Data Center Survey 2023 (UII keynote report 106)."""

DEFAULT_USD_PER_KWH = 0.0806
"""Average US industrial electricity price in 2023, 8.06 cents/kWh (EIA, Electric Power Annual 2023)."""

DEFAULT_AMORTISATION_YEARS = 5.0
"""An assumption, not a sourced figure: a common straight-line accounting life for servers. Set your own."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class GpuPricing(_Strict):
    """Prices of one GPU type beyond the catalog's on-demand price (defaults: the catalog's figures)."""

    reserved_usd_per_gpu_hour: float | None = Field(None, gt=0, le=10_000, description="Committed price, paid every hour")
    spot_usd_per_gpu_hour: float | None = Field(None, gt=0, le=10_000)
    purchase_usd: float | None = Field(None, gt=0, le=100_000_000, description="Purchase price per GPU")
    tdp_watts: float | None = Field(None, gt=0, le=100_000, description="Board power for the electricity bill")
    lead_time_weeks: float | None = Field(None, ge=0, le=520, description="Delivery time of a purchase (default: pricing.lead_time_weeks)")
    resale_fraction: float | None = Field(None, ge=0, le=1, description="Value of a bought GPU at the horizon's end, "
                                                                        "fraction of its price (default: book value)")
    max_purchase: int | None = Field(None, ge=0, le=1_000_000, description="Most GPUs of this type that can be bought over the horizon")
    spot_interruption_probability: float | None = Field(None, gt=0, lt=1, description="Default: pricing.spot.interruption_probability")


class ReservedTerm(_Strict):
    """A commitment: capacity held for ``months`` and paid every hour, used or not, plus any upfront payment."""

    months: float = Field(12, gt=0, le=120, description="Term of the commitment")
    discount: float | None = Field(None, ge=0, lt=1, description="Hourly price = on-demand x (1 - discount)")
    usd_per_gpu_hour: float | None = Field(None, gt=0, le=10_000, description="Hourly price per GPU (instead of a discount)")
    upfront_usd_per_gpu: float = Field(0.0, ge=0, le=10_000_000, description="Paid when the term starts")
    gpus: list[str] | None = Field(None, description="GPU ids this term is offered for (default: every rented GPU)")

    @model_validator(mode="after")
    def _one_price(self) -> "ReservedTerm":
        if (self.discount is None) == (self.usd_per_gpu_hour is None):
            raise ValueError("give exactly one of 'discount' or 'usd_per_gpu_hour'")
        return self


class SpotRisk(_Strict):
    """Spot capacity can be reclaimed: how often, and how sure the plan must be to cover demand anyway."""

    interruption_probability: float = Field(..., gt=0, lt=1, description="Probability that a spot instance is "
                                                                          "interrupted (unavailable) at a given time")
    availability: float = Field(0.99, gt=0, lt=1, description="Probability that capacity covers demand in spite of "
                                                              "interruptions, in every period")


class PricingOptions(_Strict):
    """Rent or buy: which markets to rent from, whether to buy, what is owned, and the cost to minimise."""

    objective: Literal["hourly", "tco"] = Field("hourly", description="'hourly': USD per hour of service; 'tco': total over the horizon")
    horizon_years: float = Field(3.0, gt=0, le=30, description="TCO horizon")
    utilisation: float = Field(1.0, gt=0, le=1, description="Fraction of hours the fleet serves")
    rent: list[Market] = Field(default_factory=lambda: ["on_demand"], description="Markets to rent from")
    buy: bool = Field(False, description="Allow buying new GPUs (needs a purchase price)")
    owned: dict[str, int] = Field(default_factory=dict, description="GPUs already owned, per GPU id: free but for power")
    reserved_discount: float | None = Field(None, ge=0, lt=1, description="Reserved = on-demand x (1 - discount) where no reserved price is given")
    usd_per_kwh: float = Field(DEFAULT_USD_PER_KWH, gt=0, le=10)
    pue: float = Field(DEFAULT_PUE, ge=1, le=5, description="Power usage effectiveness of the site")
    amortisation_years: float = Field(DEFAULT_AMORTISATION_YEARS, gt=0, le=30)
    lead_time_weeks: float = Field(0.0, ge=0, le=520, description="Weeks until bought GPUs arrive; on-demand rentals bridge the gap")
    gpus: dict[str, GpuPricing] = Field(default_factory=dict, description="Per-GPU reserved/spot/purchase prices and TDP")
    allow_estimated: bool = Field(False, description="Use rental prices derived rather than quoted (marked in every output)")
    offers: Literal["default", "all"] = Field("default", description="'default': the catalog's price per GPU; 'all': the "
                                                                      "cheapest offer of catalogs/offers.yaml per GPU-hour")
    tiers: list[Tier] | None = Field(None, description="Market tiers to rent from (default: all): hyperscaler, gpu_cloud, marketplace")
    reserved_terms: list[ReservedTerm] = Field(default_factory=list, description="Commitments to choose from (demand profiles; "
                                                                                  "default with rent: [reserved]: one 12-month term)")
    spot: SpotRisk | None = Field(None, description="Spot interruptions and the availability target (demand profiles)")
    discount_rate: float = Field(0.0, ge=0, le=1, description="Annual rate for the net present cost over a demand profile")
    capex_cap_usd_per_quarter: float | None = Field(None, gt=0, le=1e12, description="Most spent on purchases per quarter")
    commitments_past_horizon: Literal["book", "cash"] = Field(
        "book", description="'book': a horizon is charged the depreciation and reserved hours it uses; 'cash': whole "
                            "purchase prices less resale and whole terms")

    @field_validator("rent")
    @classmethod
    def _unique_markets(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    @field_validator("owned")
    @classmethod
    def _owned_counts(cls, values: dict[str, int]) -> dict[str, int]:
        for gpu, count in values.items():
            if count < 0 or count > 1_000_000:
                raise ValueError(f"owned count of {gpu!r} must be between 0 and 1,000,000")
        return values

    @model_validator(mode="after")
    def _some_source(self) -> "PricingOptions":
        if not self.rent and not self.buy and not self.owned:
            raise ValueError("nothing to plan with: rent from a market, allow 'buy', or list 'owned' GPUs")
        return self

    def gpu(self, gpu_id: str) -> GpuPricing:
        return self.gpus.get(gpu_id) or GpuPricing()


def split_source(gpu_id: str) -> tuple[str, str]:
    """('h100-sxm', 'spot') for 'h100-sxm@spot'; a plain id is rented on demand."""
    base, _, source = gpu_id.partition(SOURCE_SEPARATOR)
    return base, source or "on_demand"


def power_usd_per_gpu_hour(tdp_watts: float, options: PricingOptions) -> float:
    """Electricity of one GPU at full power: TDP (kW) x PUE x USD per kWh."""
    return tdp_watts / 1000.0 * options.pue * options.usd_per_kwh


def amortised_usd_per_gpu_hour(purchase_usd: float, options: PricingOptions) -> float:
    """Straight-line amortisation of the purchase price over ``amortisation_years``."""
    return purchase_usd / (options.amortisation_years * HOURS_PER_YEAR)


def break_even_utilisation(rent_usd_per_hour: float, purchase_usd: float, power_usd_per_hour: float,
                           amortisation_years: float) -> float | None:
    """Utilisation above which owning is cheaper than renting on demand; None when renting always wins.

    Source: Armbrust et al., "Above the Clouds: A Berkeley View of Cloud Computing" (UCB/EECS-2009-28),
    Section 6, Equation 1: the data centre's cost is divided by its utilisation, the cloud's is not. Per
    wall-clock hour, renting costs ``u x rent`` and owning ``capex + u x power``; they are equal at
    ``u* = capex / (rent - power)``, with ``capex = purchase / (years x 8760)``.
    """
    margin = rent_usd_per_hour - power_usd_per_hour
    if margin <= 0:
        return None
    return purchase_usd / (amortisation_years * HOURS_PER_YEAR) / margin


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
    def verdict(self) -> str:
        if self.break_even_utilisation is None:
            return "rent" if self.purchase_usd is not None and self.power_usd_per_gpu_hour is not None else "no purchase price"
        return "buy" if self.utilisation > self.break_even_utilisation else "rent"

    def to_dict(self) -> dict[str, object]:
        r = lambda x, n=4: None if x is None else round(x, n)  # noqa: E731
        return {"gpu": self.gpu, "rent_usd_per_gpu_hour": r(self.rent_usd_per_gpu_hour), "purchase_usd": self.purchase_usd,
                "power_usd_per_gpu_hour": r(self.power_usd_per_gpu_hour), "amortised_usd_per_gpu_hour": r(self.amortised_usd_per_gpu_hour),
                "break_even_utilisation": r(self.break_even_utilisation), "utilisation": self.utilisation, "verdict": self.verdict}


def rent_vs_buy(scenario: "ServingScenario", catalog: "Catalog", gpu_ids: list[str]) -> list[RentVsBuy]:
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


def rental_prices(scenario: "ServingScenario", catalog: "Catalog", gpus: list["GpuSpec"]
                  ) -> tuple[list["GpuSpec"], dict[str, float], tuple[str, ...]]:
    """Each allowed GPU at its cheapest allowed on-demand offer (``planner.offers``), the spot price likewise.

    GPUs left with no allowed on-demand price (an estimated price without ``allow_estimated``, a tier not listed)
    are left out and named in the returned notes; when none is left the scenario cannot be planned (bad input).
    """
    offers = catalog_offers(catalog, getattr(scenario.catalog, "offers", None))
    kept: list[GpuSpec] = []
    prices: dict[str, float] = {}
    left_out: dict[str, list[str]] = {}
    for spec in gpus:
        choice = allowed_offers(scenario, spec, offers)
        on_demand, spot = choice.cheapest("on_demand"), choice.cheapest("spot")
        if on_demand is None:
            reasons = "; ".join(sorted({reason for _, reason in choice.excluded})) or "no on-demand price"
            left_out.setdefault(reasons, []).append(spec.id)
            continue
        price = on_demand.usd_per_gpu_hour("on_demand")
        assert price is not None
        kept.append(spec.model_copy(update={
            "price_usd_per_gpu_hour": price, "price_source": on_demand.source if on_demand.provider in ("catalog", "scenario")
            else f"{on_demand.label}: {on_demand.source}", "price_estimated": on_demand.estimated,
            "instance_gpus": on_demand.instance_gpus,  # the chosen offer's instance (whole_instances rents it whole)
            "spot_price_usd_per_gpu_hour": spot.usd_per_gpu_hour("spot") if spot is not None else None}))
        prices[spec.id] = price
    notes = tuple(f"left out, {reason}: {', '.join(ids)}" for reason, ids in left_out.items())
    owned = scenario.pricing.owned if scenario.pricing is not None else {}
    if not kept and not any(owned.values()):
        raise InputError("no GPU has a usable rental price", [Issue(note, field_path="gpus") for note in notes])
    return kept, prices, notes


def priced_sources(scenario: "ServingScenario", catalog: "Catalog", gpus: list["GpuSpec"],
                   on_demand: dict[str, float]) -> tuple[list["GpuSpec"], dict[str, float]]:
    """Every source of every allowed (or owned) GPU as a pseudo GPU type, with its objective price per GPU-hour."""
    options = scenario.pricing
    if options is None:
        return gpus, on_demand
    _check_ids(options, catalog)
    allowed = list(gpus) + [catalog.gpu(g) for g in options.owned if g not in {x.id for x in gpus}]
    out: list[GpuSpec] = []
    prices: dict[str, float] = {}
    for spec in allowed:
        rent = on_demand.get(spec.id) or spec.price_usd_per_gpu_hour
        for source, wall_clock in _source_costs(spec, rent, options, spec in gpus):
            price = wall_clock / options.utilisation if options.objective == "hourly" else wall_clock
            if price <= 0:
                continue
            gpu_id = spec.id if source == "on_demand" else f"{spec.id}{SOURCE_SEPARATOR}{source}"
            label = "" if source == "on_demand" else f" ({source.replace('_', ' ')})"
            out.append(spec.model_copy(update={"id": gpu_id, "name": spec.name + label, "price_usd_per_gpu_hour": price}))
            prices[gpu_id] = price
    return out, prices


def _source_costs(spec: "GpuSpec", rent: float, options: PricingOptions, allowed: bool) -> list[tuple[str, float]]:
    """(source, USD per GPU per wall-clock hour) of each way to get this GPU."""
    extra = options.gpu(spec.id)
    u = options.utilisation
    tdp = extra.tdp_watts or spec.tdp_watts
    power = power_usd_per_gpu_hour(tdp, options) if tdp else None
    costs: list[tuple[str, float]] = []
    if allowed:
        for market in options.rent:
            if market == "on_demand":
                costs.append(("on_demand", rent * u))
            elif market == "spot" and (extra.spot_usd_per_gpu_hour or spec.spot_price_usd_per_gpu_hour):
                costs.append(("spot", (extra.spot_usd_per_gpu_hour or spec.spot_price_usd_per_gpu_hour) * u))
            elif market == "reserved":
                reserved = extra.reserved_usd_per_gpu_hour or (rent * (1 - options.reserved_discount)
                                                               if options.reserved_discount is not None else None)
                if reserved is None:
                    raise InputError("no reserved price", [Issue(
                        f"renting {spec.id} reserved needs a reserved price", field_path=f"pricing.gpus.{spec.id}.reserved_usd_per_gpu_hour",
                        suggestion="give reserved_usd_per_gpu_hour for this GPU or pricing.reserved_discount")])
                costs.append(("reserved", reserved))
        purchase = extra.purchase_usd or spec.purchase_price_usd
        if options.buy and purchase and power is not None:
            years = options.amortisation_years if options.objective == "hourly" else options.horizon_years
            lead_weeks = extra.lead_time_weeks if extra.lead_time_weeks is not None else options.lead_time_weeks
            cost = buy_usd_per_gpu_hour(purchase, power, rent, u, years * HOURS_PER_YEAR, lead_weeks * HOURS_PER_WEEK)
            if cost is not None:
                costs.append(("buy", cost))
    if options.owned.get(spec.id):
        if power is None:
            raise InputError("owned GPU without power figure", [Issue(
                f"{spec.id} has no TDP in the catalog", field_path=f"pricing.gpus.{spec.id}.tdp_watts", suggestion="give tdp_watts")])
        costs.append(("owned", power * u))
    return costs


def _check_ids(options: PricingOptions, catalog: "Catalog") -> None:
    known = [g.id for g in catalog.gpus]
    issues = [Issue(f"unknown GPU {gpu_id!r}", field_path=f"pricing.{part}.{gpu_id}", suggestion=did_you_mean(gpu_id, known))
              for part, ids in (("owned", options.owned), ("gpus", options.gpus)) for gpu_id in ids if gpu_id not in known]
    if issues:
        raise InputError("unknown GPU id in pricing", issues)


def buy_usd_per_gpu_hour(purchase_usd: float, power_usd_per_hour: float, rent_usd_per_hour: float, utilisation: float,
                         period_hours: float, lead_time_hours: float) -> float | None:
    """Cost per wall-clock hour of a bought GPU over ``period_hours``, its delivery bridged by renting.

    Until the GPU arrives (``lead_time_hours``) the same capacity is rented on demand; afterwards only its power
    is paid. Averaged over the period: ``(purchase + u*rent*L + u*power*(T - L)) / T``. None when the GPU would
    arrive after the period ends (buying cannot help within it).
    """
    if lead_time_hours >= period_hours:
        return None
    bridge = utilisation * rent_usd_per_hour * lead_time_hours
    running = utilisation * power_usd_per_hour * (period_hours - lead_time_hours)
    return (purchase_usd + bridge + running) / period_hours


def source_inventory(options: PricingOptions, gpu_id: str, rental_stock: int | None) -> int | None:
    """Stock of one source: the owned count, unlimited purchases, or the scenario's inventory per rental market."""
    base, source = split_source(gpu_id)
    if source == "owned":
        return options.owned.get(base, 0)
    if source == "buy":
        return None
    return rental_stock


def pricing_summary(scenario: "ServingScenario", plan: "Plan") -> dict[str, object] | None:
    """What the plan's cost means under the scenario's pricing, with the TCO over the horizon for ``tco``."""
    options = scenario.pricing
    if options is None:
        return None
    per = "hour of service" if options.objective == "hourly" else "wall-clock hour over the horizon"
    summary: dict[str, object] = {"objective": options.objective, "cost_usd_per_hour_means": f"USD per {per}",
                                  "utilisation": options.utilisation, "horizon_years": options.horizon_years}
    if options.objective == "tco":
        summary["total_cost_of_ownership_usd"] = round(plan.cost_usd_per_hour * HOURS_PER_YEAR * options.horizon_years, 2)
    return summary


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

    def to_dict(self) -> dict[str, object]:
        r = lambda x: None if x is None else round(x, 4)  # noqa: E731
        return {"gpu": self.gpu, "price_usd_per_gpu_hour": r(self.price_usd_per_gpu_hour),
                "low_usd_per_gpu_hour": r(self.low_usd_per_gpu_hour), "high_usd_per_gpu_hour": r(self.high_usd_per_gpu_hour),
                "searched_usd_per_gpu_hour": [r(self.floor_usd_per_gpu_hour), r(self.ceiling_usd_per_gpu_hour)], "solves": self.solves}


def price_sensitivity(prepared: "PreparedScenario", plan: "Plan", max_factor: float = 10.0,
                      tolerance: float = 0.002) -> list[PriceRange]:
    """For each GPU type of ``plan``: the price interval over which it stays optimal, found by re-solving.

    Every plan's cost is affine in one GPU type's price, so the optimal cost is their lower envelope and the
    prices at which one plan is optimal form an interval (parametric programming: Gal & Greenberg,
    "Advances in Sensitivity Analysis and Parametric Programming", 1997, ch. 1). Its ends are found by
    bisection on a price factor in ``[1 / max_factor, max_factor]`` to ``tolerance`` (relative), each probe a
    CP-SAT solve compared with the plan's own cost at that price.
    """
    from .solver.cpsat import solve_cpsat

    problem = prepared.problem()
    settings = prepared.scenario.solver
    chosen = {g.candidate.key: g.count for g in plan.groups}
    price_of = {c.gpu.id: c.price_usd_per_gpu_hour for c in prepared.candidates}
    ranges = []
    for gpu_id in sorted({g.candidate.gpu.id for g in plan.groups}):
        base = price_of[gpu_id]
        probes = 0

        def still_optimal(factor: float) -> bool:
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


def _bisect(still_optimal, inside: float, outside: float, tolerance: float) -> float:
    """The last factor between ``inside`` (optimal) and ``outside`` (not) at which the plan is still optimal."""
    while abs(outside - inside) > tolerance * max(inside, outside):
        middle = (inside + outside) / 2
        if still_optimal(middle):
            inside = middle
        else:
            outside = middle
    return inside
