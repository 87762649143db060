"""What a serving scenario says about buying and renting (``pricing``) and about its load over time (``demand``).

The costs these options imply are computed in ``planner.pipeline.pricing``; the time grid a demand profile
expands into in ``planner.pipeline.demand`` (its docstring shows the profiles' forms).
"""

from __future__ import annotations

import math

from pydantic import Field, StrictInt, field_validator, model_validator

from .base import Number, StrictModel
from .choices import (
    CommitmentAccounting,
    Market,
    OfferChoice,
    PeriodName,
    PricingObjective,
    Tier,
)

SOURCE_SEPARATOR = "@"




DEFAULT_PUE = 1.58
"""Average annual PUE of the Uptime Institute Global Data Center Survey 2023 (UII keynote report 106)."""


DEFAULT_USD_PER_KWH = 0.0806
"""Average US industrial electricity price in 2023, 8.06 cents/kWh (EIA, Electric Power Annual 2023)."""


DEFAULT_AMORTISATION_YEARS = 5.0
"""An assumption, not a sourced figure: a common straight-line accounting life for servers. Set your own."""


class GpuPricing(StrictModel):
    """Prices of one GPU type beyond the catalog's on-demand price (defaults: the catalog's figures)."""

    reserved_usd_per_gpu_hour: Number | None = Field(None, gt=0, le=10_000, description="Committed price, paid every hour")
    spot_usd_per_gpu_hour: Number | None = Field(None, gt=0, le=10_000)
    purchase_usd: Number | None = Field(None, gt=0, le=100_000_000, description="Purchase price per GPU")
    tdp_watts: Number | None = Field(None, gt=0, le=100_000, description="Board power for the electricity bill")
    lead_time_weeks: Number | None = Field(None, ge=0, le=520, description="Delivery time of a purchase (default: pricing.lead_time_weeks)")
    resale_fraction: Number | None = Field(None, ge=0, le=1, description="Value of a bought GPU at the horizon's end, "
                                                                        "fraction of its price (default: book value)")
    max_purchase: StrictInt | None = Field(None, ge=0, le=1_000_000,
                                           description="Most GPUs of this type that can be bought over the horizon")
    spot_interruption_probability: Number | None = Field(None, gt=0, lt=1, description="Default: pricing.spot.interruption_probability")


class ReservedTerm(StrictModel):
    """A commitment: capacity held for ``months`` and paid every hour, used or not, plus any upfront payment."""

    months: Number = Field(12, gt=0, le=120, description="Term of the commitment")
    discount: Number | None = Field(None, ge=0, lt=1, description="Hourly price = on-demand x (1 - discount)")
    usd_per_gpu_hour: Number | None = Field(None, gt=0, le=10_000, description="Hourly price per GPU (instead of a discount)")
    upfront_usd_per_gpu: Number = Field(0.0, ge=0, le=10_000_000, description="Paid when the term starts")
    gpus: list[str] | None = Field(None, description="GPU ids this term is offered for (default: every rented GPU)")

    @model_validator(mode="after")
    def _one_price(self) -> ReservedTerm:
        if (self.discount is None) == (self.usd_per_gpu_hour is None):
            raise ValueError("give exactly one of 'discount' or 'usd_per_gpu_hour'")
        return self


class SpotRisk(StrictModel):
    """Spot capacity can be reclaimed: how often, and how sure the plan must be to cover demand anyway."""

    interruption_probability: Number = Field(..., gt=0, lt=1, description="Probability that a spot instance is "
                                                                          "interrupted (unavailable) at a given time")
    availability: Number = Field(0.99, gt=0, lt=1, description="Probability that capacity covers demand in spite of "
                                                              "interruptions, in every period")


class OfferRules(StrictModel):
    """Which rental prices a plan may use (``planner.catalog.offers``): serving and training scenarios alike."""

    allow_estimated: bool = Field(False, description="Use rental prices derived rather than quoted (marked in every output)")
    offers: OfferChoice = Field("default", description="'default': the catalog's price per GPU; 'all': the "
                                                       "cheapest offer of catalogs/offers.yaml per GPU-hour")
    tiers: list[Tier] | None = Field(None, description="Market tiers to rent from (default: all): hyperscaler, gpu_cloud, marketplace")


class PricingOptions(OfferRules):
    """Rent or buy: which markets to rent from, whether to buy, what is owned, and the cost to minimise."""

    objective: PricingObjective = Field("hourly", description="'hourly': USD per hour of service; 'tco': total over the horizon")
    horizon_years: Number = Field(3.0, gt=0, le=30, description="TCO horizon")
    utilisation: Number = Field(1.0, gt=0, le=1, description="Fraction of hours the fleet serves")
    rent: list[Market] = Field(default=["on_demand"], description="Markets to rent from")
    buy: bool = Field(False, description="Allow buying new GPUs (needs a purchase price)")
    owned: dict[str, StrictInt] = Field(default_factory=dict, description="GPUs already owned, per GPU id: free but for power")
    reserved_discount: Number | None = Field(None, ge=0, lt=1,
                                            description="Reserved = on-demand x (1 - discount) where no reserved price is given")
    usd_per_kwh: Number = Field(DEFAULT_USD_PER_KWH, gt=0, le=10)
    pue: Number = Field(DEFAULT_PUE, ge=1, le=5, description="Power usage effectiveness of the site")
    amortisation_years: Number = Field(DEFAULT_AMORTISATION_YEARS, gt=0, le=30)
    lead_time_weeks: Number = Field(0.0, ge=0, le=520, description="Weeks until bought GPUs arrive; on-demand rentals bridge the gap")
    gpus: dict[str, GpuPricing] = Field(default_factory=dict, description="Per-GPU reserved/spot/purchase prices and TDP")
    reserved_terms: list[ReservedTerm] = Field(default_factory=list, description="Commitments to choose from (demand profiles; "
                                                                                  "default with rent: [reserved]: one 12-month term)")
    spot: SpotRisk | None = Field(None, description="Spot interruptions and the availability target (demand profiles)")
    discount_rate: Number = Field(0.0, ge=0, le=1, description="Annual rate for the net present cost over a demand profile")
    capex_cap_usd_per_quarter: Number | None = Field(None, gt=0, le=1e12, description="Most spent on purchases per quarter")
    commitments_past_horizon: CommitmentAccounting = Field(
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
    def _some_source(self) -> PricingOptions:
        if not self.rent and not self.buy and not self.owned:
            raise ValueError("nothing to plan with: rent from a market, allow 'buy', or list 'owned' GPUs")
        return self

    def gpu(self, gpu_id: str) -> GpuPricing:
        return self.gpus.get(gpu_id) or GpuPricing()


def split_source(gpu_id: str) -> tuple[str, str]:
    """('h100-sxm', 'spot') for 'h100-sxm@spot'; a plain id is rented on demand."""
    base, _, source = gpu_id.partition(SOURCE_SEPARATOR)
    return base, source or "on_demand"


def source_inventory(options: PricingOptions, gpu_id: str, rental_stock: int | None) -> int | None:
    """Stock of one source: the owned count, unlimited purchases, or the scenario's inventory per rental market."""
    base, source = split_source(gpu_id)
    if source == "owned":
        return options.owned.get(base, 0)
    if source == "buy":
        return None
    return rental_stock




PERIOD_HOURS: dict[str, int] = {"hour": 1, "day": 24, "week": 168, "month": 730, "quarter": 2190, "year": 8760}
"""Month = 8760 / 12 = 730 h and quarter = 2190 h: a 365-day year split evenly, so periods tile years exactly."""


MAX_PERIODS = 1000


MAX_SLOTS = 744


MAX_GRID_POINTS = 20_000


MAX_CSV_ROWS = 100_000


MAX_LOAD = 10_000_000


MAX_REQUEST_RATE = 1_000_000.0


class Growth(StrictModel):
    """Compound growth: a period starting ``t`` hours in carries ``factor ** (t / per)`` times its load."""

    per: PeriodName = Field("quarter", description="The time over which the load grows by 'factor'")
    factor: Number = Field(..., gt=0, le=100, description="1.3 = +30 % per 'per'")


class PeriodLoad(StrictModel):
    """One period's load in the workload's own terms: sequences held at once, or requests per second."""

    concurrency: StrictInt | None = Field(None, ge=0, le=MAX_LOAD, description="Simultaneous sequences in this period (0: idle)")
    request_rate: Number | None = Field(None, ge=0, le=MAX_REQUEST_RATE, description="Requests per second in this period")
    label: str | None = Field(None, max_length=40)

    @model_validator(mode="after")
    def _one_load(self) -> PeriodLoad:
        if (self.concurrency is None) == (self.request_rate is None):
            raise ValueError("give exactly one of 'concurrency' or 'request_rate'")
        return self

    @property
    def value(self) -> float:
        return float(self.concurrency if self.concurrency is not None else self.request_rate)  # type: ignore[arg-type]


class LoadCsv(StrictModel):
    """Loads from a CSV file: a header row, then one row per hour (or per ``period``)."""

    path: str = Field(..., description="CSV file, relative to the scenario")
    column: str | None = Field(None, description="Column holding the load (default: 'concurrency', or 'requests_per_s' "
                                                 "for a request-rate workload)")
    label_column: str | None = Field(None, description="Column naming each row (a timestamp), optional")
    rows_per_period: StrictInt = Field(1, ge=1, le=8784, description="Rows per period; a period's load is their maximum")


class Within(StrictModel):
    """The cycle inside every horizon period: relative loads of its slots (the period's load times each factor)."""

    period: PeriodName = Field("hour", description="Length of each slot")
    factors: list[Number] = Field(..., min_length=1, max_length=MAX_SLOTS, description="Load factor of each slot (peak = 1)")

    @model_validator(mode="after")
    def _factors(self) -> Within:
        if any(not (0 <= f <= 100) or math.isnan(f) for f in self.factors):
            raise ValueError("factors must be between 0 and 100")
        if max(self.factors) <= 0:
            raise ValueError("at least one factor must be above 0")
        return self


class DemandProfile(StrictModel):
    """Load per period over a horizon, or over a typical cycle repeated (see the module docstring)."""

    period: PeriodName = Field("hour", description="Length of one period")
    loads: list[StrictInt | Number | PeriodLoad] | None = Field(
        None, max_length=MAX_PERIODS * 10, description="One load per period in the workload's unit (sequences or "
                                                       "requests/s), or a mapping {concurrency | request_rate, label}")
    csv: LoadCsv | None = Field(None, description="Loads from a CSV file instead of 'loads'")
    count: StrictInt | None = Field(None, ge=1, le=MAX_PERIODS, description="Periods at the workload's load (with growth)")
    growth: Growth | None = None
    repeat: StrictInt | None = Field(None, ge=1, le=100_000, description="The loads are one cycle, repeated this many times")
    within: Within | None = Field(None, description="The cycle inside every period (a typical day in each month)")

    @model_validator(mode="after")
    def _one_source(self) -> DemandProfile:
        given = [name for name in ("loads", "csv", "count") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'loads', 'csv' or 'count'" + (f" (got {', '.join(given)})" if given else ""))
        if self.loads is not None and not self.loads:
            raise ValueError("list at least one load")
        if self.loads is not None and any(not isinstance(x, PeriodLoad) and not (0 <= x <= MAX_LOAD) for x in self.loads):
            raise ValueError(f"loads must be between 0 and {MAX_LOAD:,}")
        if self.repeat is not None and (self.growth is not None or self.within is not None):
            raise ValueError("'repeat' makes the loads a steady-state cycle: it takes neither 'growth' nor 'within'")
        if self.within is not None and PERIOD_HOURS[self.within.period] * len(self.within.factors) > PERIOD_HOURS[self.period]:
            raise ValueError(f"the 'within' cycle ({len(self.within.factors)} x {self.within.period}) is longer than one {self.period}")
        return self
