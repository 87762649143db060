"""What ``planner catalog gpus|offers|models|formats --json`` write, as pydantic models: ``planner schema
catalog-gpus``, ``catalog-offers``, ``catalog-models`` and ``catalog-formats`` print their JSON Schema, and the
listings are built and written through them.

They live in the catalog package, not with the other output models in ``planner.schema``: a GPU row is the
catalog's own ``GpuSpec`` and an offer row extends ``Offer``, and the schema package sits below the catalog (the
catalog's files are read with its strict base), so it cannot import them. Like every output model they refuse
unknown keys; field order is the JSON's key order.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, TypeAdapter

from ..model.architecture import AttentionKind
from ..model.formats import QuantScope
from ..schema.base import StrictModel
from ..schema.output_schemas import titled_json_schema
from .catalog import GpuSpec, default_catalog
from .offers import Offer, builtin_offers, default_offer


class CatalogOfferOutput(Offer):
    """One row of ``planner catalog offers --json``: a rental offer (prices per instance-hour) and whether it is the
    catalog's default offer for its GPU, the price ``gpus.yaml`` gives and a scenario rents at by default."""

    default: bool = Field(description="The catalog's default offer for this GPU (its price_usd_per_gpu_hour)")


class CatalogModelOutput(StrictModel):
    """One row of ``planner catalog models --json``: a catalog model's architecture summary and its parameter
    counts, computed from the architecture (``planner.memory.parameters``) next to the published figure."""

    id: str = Field(description="Catalog model id, as scenarios and --model name it")
    name: str = Field(description="Display name")
    attention: AttentionKind = Field(description="How keys and values are kept: MHA, GQA, MQA or MLA")
    moe: bool = Field(description="Mixture of experts")
    layers: int = Field(description="Transformer blocks")
    parameters: int = Field(description="Parameters of the whole checkpoint, computed from the architecture")
    active_parameters: int = Field(description="Parameters used per token (MoE: the routed experts per token only)")
    published_parameters: float | None = Field(description="Parameter count the model's publisher gives (None: not given)")
    weight_format: str = Field(description="Weight format of the published checkpoint (see planner catalog formats)")


class WeightFormatOutput(StrictModel):
    """One weight format of ``planner catalog formats --json`` (``planner.model.formats``)."""

    name: str = Field(description="Format name, as scenarios' precisions and --precision name it")
    bits_per_weight: float = Field(description="Bits of one quantized weight, scales excluded")
    effective_bits_per_weight: float = Field(description="Average bits per quantized weight of an 8192 x 8192 matrix, "
                                                         "its scales (groups, blocks, channels, tensor) included")
    quantizes: QuantScope = Field(description="Which weights the format quantizes (the rest stay 16-bit): none, linear, ...")
    group_size: int = Field(description="Input channels per scale group (0: no groups)")
    engines: list[str] = Field(description="Serving engines that load this format")
    description: str = Field(description="What the format is and where it comes from")


class KvCacheDtypeOutput(StrictModel):
    """One KV-cache dtype of ``planner catalog formats --json``."""

    name: str = Field(description="Dtype name, as scenarios' kv_cache_dtypes and --kv-cache-dtype name it")
    bits: float = Field(description="Bits per cached key or value element")
    overhead_bits_per_head: int = Field(description="Scale bits per head and token (0: none)")
    engines: list[str] = Field(description="Serving engines that offer this dtype")
    description: str = Field(description="What the dtype is and which engines name it so")


class CatalogFormatsOutput(StrictModel):
    """``planner catalog formats --json``: the weight formats and KV-cache dtypes the memory model knows."""

    weight_formats: list[WeightFormatOutput] = Field(description="Weight formats, as scenarios' precisions name them")
    kv_cache_dtypes: list[KvCacheDtypeOutput] = Field(description="KV-cache dtypes, as scenarios' kv_cache_dtypes name them")


CATALOG_GPUS: TypeAdapter[list[GpuSpec]] = TypeAdapter(list[GpuSpec])
CATALOG_OFFERS: TypeAdapter[list[CatalogOfferOutput]] = TypeAdapter(list[CatalogOfferOutput])
CATALOG_MODELS: TypeAdapter[list[CatalogModelOutput]] = TypeAdapter(list[CatalogModelOutput])
CATALOG_FORMATS: TypeAdapter[CatalogFormatsOutput] = TypeAdapter(CatalogFormatsOutput)

CATALOG_OUTPUT_NAMES = ("catalog-gpus", "catalog-offers", "catalog-models", "catalog-formats")
"""``planner schema`` names of the catalog listings (``planner.schema.output_schemas.OUTPUT_NAMES`` has the rest)."""


def catalog_output_adapter(name: str) -> tuple[str, TypeAdapter[Any]]:
    """(the command whose JSON it is, the adapter that validates and describes it) for a catalog output ``name``."""
    adapters: dict[str, TypeAdapter[Any]] = {"catalog-gpus": CATALOG_GPUS, "catalog-offers": CATALOG_OFFERS,
                                             "catalog-models": CATALOG_MODELS, "catalog-formats": CATALOG_FORMATS}
    if name not in adapters:
        raise ValueError(f"unknown catalog output {name!r}; known: {', '.join(CATALOG_OUTPUT_NAMES)}")
    return f"planner {name.replace('-', ' ')} --json", adapters[name]


def catalog_output_json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one catalog listing, titled with its command."""
    return titled_json_schema(*catalog_output_adapter(name))


def catalog_offers_listing(gpu_id: str | None = None) -> list[CatalogOfferOutput]:
    """``planner catalog offers``: the rental offers of one GPU or all, per GPU in catalog order its default offer
    first, then the others cheapest on demand first (offers without an on-demand price last)."""
    cat = default_catalog()
    offers = builtin_offers()
    specs = [cat.gpu(gpu_id)] if gpu_id else cat.gpus
    rows = [(default_offer(spec, offers), True) for spec in specs]
    rows += [(o, False) for o in offers if o.gpu in {s.id for s in specs} and
             all((o.provider, o.instance) != (d.provider, d.instance) for d, _ in rows if d.gpu == o.gpu)]
    order = [s.id for s in specs]
    rows.sort(key=lambda item: (order.index(item[0].gpu), not item[1], item[0].usd_per_gpu_hour("on_demand") or 1e9))
    return [CatalogOfferOutput(**offer.model_dump(), default=default) for offer, default in rows]


def catalog_models_listing() -> list[CatalogModelOutput]:
    """``planner catalog models``: each catalog model's architecture summary and parameter counts."""
    from ..memory.parameters import count_parameters

    cat = default_catalog()
    rows = []
    for entry in cat.models:
        arch = cat.architecture(entry.id)
        params = count_parameters(arch)
        rows.append(CatalogModelOutput(id=entry.id, name=entry.name, attention=arch.attention_kind, moe=arch.is_moe,
                                       layers=arch.num_layers, parameters=params.total, active_parameters=params.active,
                                       published_parameters=entry.published_params_total, weight_format=entry.weight_format))
    return rows


def catalog_formats_listing() -> CatalogFormatsOutput:
    """``planner catalog formats``: every weight format and KV-cache dtype, in the memory model's order."""
    from ..model.formats import KV_CACHE_DTYPES, WEIGHT_FORMATS

    return CatalogFormatsOutput(
        weight_formats=[WeightFormatOutput(name=f.name, bits_per_weight=f.bits_per_weight,
                                           effective_bits_per_weight=f.effective_bits_per_weight, quantizes=f.scope,
                                           group_size=f.group_size, engines=list(f.engines),
                                           description=f.description) for f in WEIGHT_FORMATS.values()],
        kv_cache_dtypes=[KvCacheDtypeOutput(name=d.name, bits=d.bits, overhead_bits_per_head=d.overhead_bits_per_head,
                                            engines=list(d.engines), description=d.description) for d in KV_CACHE_DTYPES.values()])
