"""Rental offers: every price a GPU can be rented at, with its market tier, date and source.

One home for rental prices. The GPU catalog (``gpus.yaml``) keeps one on-demand price per GPU, the *default
offer*; ``offers.yaml`` lists the other quoted instances of the cloud snapshot (several clouds, instance sizes,
spot prices), per instance-hour. A scenario chooses among them with its ``pricing`` section:

- ``offers: default`` (the default) rents each GPU at its catalog price; ``offers: all`` at the cheapest offer
  per GPU-hour among the catalog's and the offers file's;
- ``tiers`` keeps only offers of the listed market tiers (``hyperscaler``: AWS, GCP, Azure; ``gpu_cloud``:
  specialised GPU clouds such as Lambda and RunPod's secure cloud; ``marketplace``: Vast.ai-style single-host
  offers);
- a price that was derived rather than quoted (``price_estimated: true`` in the catalog, e.g. MI300X from its
  purchase-price ratio to the H100) is used only with ``allow_estimated: true``, and is then marked in every
  output; a price the scenario gives itself (``gpus.<id>.price_usd_per_gpu_hour``) replaces every offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError

from ..errors import CatalogError
from ..schema.base import StrictModel
from ..schema.procurement import PricingOptions, Tier

if TYPE_CHECKING:
    from ..schema.serving import ServingScenario
    from ..schema.training import TrainingScenario
    from .catalog import Catalog, GpuSpec

Market = Literal["on_demand", "spot"]


class Offer(StrictModel):
    """One way to rent one GPU type: an instance of ``instance_gpus`` GPUs at a price per instance-hour."""


    gpu: str = Field(..., description="GPU id in the GPU catalog")
    provider: str = Field(..., description="aws, gcp, azure, lambda, runpod, vast; 'catalog' / 'scenario' for others")
    tier: Tier | None = Field(None, description="Market tier; None for a derived or user-given price")
    instance: str = Field(..., description="Instance type ('catalog price' or 'per GPU' for a price not tied to one)")
    instance_gpus: int = Field(..., ge=1, le=1024, description="GPUs per instance")
    on_demand_usd_per_hour: float | None = Field(None, gt=0, le=1_000_000, description="Per instance-hour")
    spot_usd_per_hour: float | None = Field(None, gt=0, le=1_000_000, description="Per instance-hour")
    region: str | None = Field(None, description="Region of the on-demand price")
    spot_region: str | None = Field(None, description="Region of the spot price")
    region_coverage: Literal["full", "partial"] | None = Field(
        None, description="Whether the snapshot read every region of the provider (partial: some were not read)")
    as_of: str | None = Field(None, description="Date of the price snapshot")
    source: str = Field(..., description="Where the price comes from")
    estimated: bool = Field(False, description="Derived rather than quoted")
    notes: str | None = Field(None, description="What the source row says besides the price (rows or regions left out)")

    def usd_per_gpu_hour(self, market: Market) -> float | None:
        price = self.on_demand_usd_per_hour if market == "on_demand" else self.spot_usd_per_hour
        return None if price is None else price / self.instance_gpus

    @property
    def label(self) -> str:
        """'lambda gpu_8x_h100_sxm5 (gpu_cloud, 2026-11-22)', with 'ESTIMATED' for a derived price."""
        what = "ESTIMATED" if self.estimated else ", ".join(x for x in (self.tier, self.as_of) if x)
        return f"{self.provider} {self.instance}" + (f" ({what})" if what else "")


class _OfferFile(StrictModel):
    schema_version: int
    as_of: str | None = None
    offers: list[Offer]


def load_offers(path: str | Path) -> tuple[Offer, ...]:
    """Offers of a YAML file (``catalog: {offers: ...}`` in a scenario, or the built-in file)."""
    from .catalog import _read_yaml, _validation_issues

    data, locator = _read_yaml(Path(path))
    try:
        return tuple(_OfferFile.model_validate(data).offers)
    except ValidationError as exc:
        raise CatalogError("invalid offers file", _validation_issues(exc, str(path), data, "offers", locator, _OfferFile)) from None


@lru_cache(maxsize=4)
def builtin_offers() -> tuple[Offer, ...]:
    from .catalog import builtin_catalog_dir

    path = builtin_catalog_dir() / "offers.yaml"
    return load_offers(path) if path.is_file() else ()


def catalog_offers(catalog: Catalog, offers_path: str | None) -> tuple[Offer, ...]:
    """The offers file that goes with a catalog: the scenario's own, else the built-in one for the built-in GPUs."""
    if offers_path:
        return load_offers(offers_path)
    from .catalog import builtin_catalog_dir

    return builtin_offers() if Path(catalog.sources[0]).parent == builtin_catalog_dir() else ()


def default_offer(spec: GpuSpec, offers: tuple[Offer, ...] = ()) -> Offer:
    """The catalog's own price as an offer; tier and date from the offers-file row it was taken from, if any."""
    per_gpu = spec.price_usd_per_gpu_hour
    match = next((o for o in offers if o.gpu == spec.id and o.instance_gpus == spec.instance_gpus
                  and o.on_demand_usd_per_hour is not None and abs(o.on_demand_usd_per_hour / o.instance_gpus - per_gpu) < 5e-4
                  and spec.price_source.startswith(f"{o.provider} {o.instance} ")), None)
    spot = None if spec.spot_price_usd_per_gpu_hour is None else spec.spot_price_usd_per_gpu_hour * spec.instance_gpus
    if match is not None:
        return match.model_copy(update={"on_demand_usd_per_hour": per_gpu * spec.instance_gpus, "spot_usd_per_hour": spot,
                                        "source": spec.price_source})
    provider = "catalog" if spec.price_estimated else spec.price_source.split(" ", 1)[0]
    return Offer(gpu=spec.id, provider=provider, tier=None, instance="catalog price", instance_gpus=spec.instance_gpus,
                 on_demand_usd_per_hour=per_gpu * spec.instance_gpus, spot_usd_per_hour=spot, source=spec.price_source,
                 estimated=spec.price_estimated)


def scenario_offer(gpu_id: str, usd_per_gpu_hour: float | None, spot_usd_per_gpu_hour: float | None = None) -> Offer:
    """A price the scenario gives itself (a negotiated rate): per GPU, no tier."""
    return Offer(gpu=gpu_id, provider="scenario", instance="per GPU", instance_gpus=1, on_demand_usd_per_hour=usd_per_gpu_hour,
                 spot_usd_per_hour=spot_usd_per_gpu_hour, source="the scenario's own price")


@dataclass(frozen=True)
class OfferChoice:
    """The offers a scenario may rent one GPU type from, and why others were left out."""

    gpu: str
    offers: tuple[Offer, ...]
    excluded: tuple[tuple[Offer, str], ...]

    def priced(self, market: Market) -> tuple[Offer, ...]:
        """Offers with a price in ``market``; a price the scenario gives itself replaces every other."""
        priced = tuple(o for o in self.offers if o.usd_per_gpu_hour(market) is not None)
        own = tuple(o for o in priced if o.provider == "scenario")
        return own or priced

    def cheapest(self, market: Market) -> Offer | None:
        priced = self.priced(market)
        return min(priced, key=lambda o: (o.usd_per_gpu_hour(market), o.instance_gpus)) if priced else None


def allowed_offers(scenario: ServingScenario | TrainingScenario, spec: GpuSpec, offers: tuple[Offer, ...]) -> OfferChoice:
    """The offers of one GPU type the scenario's pricing allows, and the excluded ones with the reason.

    A scenario's own on-demand price (``gpus.<id>.price_usd_per_gpu_hour``) and spot price
    (``pricing.gpus.<id>.spot_usd_per_gpu_hour``) come first; the own on-demand price replaces every other.
    """
    options = scenario.pricing
    own = scenario.gpu_override(spec.id).price_usd_per_gpu_hour
    own_spot = options.gpu(spec.id).spot_usd_per_gpu_hour if isinstance(options, PricingOptions) else None  # training: no spot
    mine = [scenario_offer(spec.id, own, own_spot)] if own is not None or own_spot is not None else []
    candidates = [default_offer(spec, offers)]
    if options is not None and options.offers == "all":
        first = candidates[0]
        candidates += [o for o in offers if o.gpu == spec.id and (o.provider, o.instance) != (first.provider, first.instance)]
    kept, excluded = list(mine), []
    for offer in candidates:
        if offer.estimated and not (options is not None and options.allow_estimated):
            excluded.append((offer, "estimated price (allow with pricing: {allow_estimated: true})"))
        elif options is not None and options.tiers is not None and offer.tier not in options.tiers:
            excluded.append((offer, f"market tier {offer.tier or 'none'} not in pricing.tiers"))
        else:
            kept.append(offer)
    return OfferChoice(spec.id, tuple(kept), tuple(excluded))
