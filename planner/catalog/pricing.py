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

from typing import TYPE_CHECKING, Protocol

from ..errors import InputError, Issue, did_you_mean
from ..schema.outputs import PricingSummary
from ..schema.procurement import SOURCE_SEPARATOR, PricingOptions
from .offers import allowed_offers, catalog_offers

if TYPE_CHECKING:
    from ..schema.serving import ServingScenario
    from ..schema.training import TrainingScenario
    from .catalog import Catalog, GpuSpec

HOURS_PER_YEAR = 8760
HOURS_PER_WEEK = 168


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


def rental_prices(scenario: ServingScenario | TrainingScenario, catalog: Catalog, gpus: list[GpuSpec]
                  ) -> tuple[list[GpuSpec], dict[str, float], tuple[str, ...]]:
    """Each allowed GPU at its cheapest allowed on-demand offer (``planner.catalog.offers``), the spot price likewise.

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
    owned = scenario.pricing.owned if isinstance(scenario.pricing, PricingOptions) else {}  # training owns none
    if not kept and not any(owned.values()):
        raise InputError("no GPU has a usable rental price", [Issue(note, field_path="gpus") for note in notes])
    return kept, prices, notes


def priced_sources(scenario: ServingScenario, catalog: Catalog, gpus: list[GpuSpec],
                   on_demand: dict[str, float]) -> tuple[list[GpuSpec], dict[str, float]]:
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


def _source_costs(spec: GpuSpec, rent: float, options: PricingOptions, allowed: bool) -> list[tuple[str, float]]:
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
            elif market == "spot" and (spot := extra.spot_usd_per_gpu_hour or spec.spot_price_usd_per_gpu_hour):
                costs.append(("spot", spot * u))
            elif market == "reserved":
                reserved = extra.reserved_usd_per_gpu_hour or (rent * (1 - options.reserved_discount)
                                                               if options.reserved_discount is not None else None)
                if reserved is None:
                    raise InputError("no reserved price", [Issue(
                        f"renting {spec.id} reserved needs a reserved price",
                        field_path=f"pricing.gpus.{spec.id}.reserved_usd_per_gpu_hour",
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


def _check_ids(options: PricingOptions, catalog: Catalog) -> None:
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


class PricedPlan(Protocol):
    """What ``pricing_summary`` reads of a plan (``plans.serving.Plan``; plans sit above the catalog)."""

    @property
    def cost_usd_per_hour(self) -> float: ...


def pricing_summary(scenario: ServingScenario, plan: PricedPlan) -> dict[str, object] | None:
    """What the plan's cost means under the scenario's pricing, with the TCO over the horizon for ``tco``."""
    options = scenario.pricing
    if options is None:
        return None
    per = "hour of service" if options.objective == "hourly" else "wall-clock hour over the horizon"
    tco = round(plan.cost_usd_per_hour * HOURS_PER_YEAR * options.horizon_years, 2) if options.objective == "tco" else None
    return PricingSummary(objective=options.objective, cost_usd_per_hour_means=f"USD per {per}", utilisation=options.utilisation,
                          horizon_years=options.horizon_years, total_cost_of_ownership_usd=tco).model_dump(exclude_none=True)
