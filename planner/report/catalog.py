"""``planner catalog`` for people: the built-in GPUs, rental offers, models and formats as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .tables import Column, left, prose, table

if TYPE_CHECKING:
    from rich.console import Console

    from ..catalog import GpuSpec
    from ..catalog.outputs import CatalogFormatsOutput, CatalogModelOutput, CatalogOfferOutput


def render_gpus(gpus: list[GpuSpec], console: Console, wide: bool = False) -> None:
    columns = [left("id"), left("name", wide=True), Column("usable GiB"), Column("nominal GB"), Column("BW GB/s"), Column("BF16 TFLOPS"),
               left("FP8"), Column("NVLink"), Column("USD/GPU-h")]
    rows = [(g.id, g.name, f"{g.memory_usable_mib / 1024:.1f}" + ("*" if g.memory_usable_estimated else ""), f"{g.memory_nominal_gb:g}",
             f"{g.memory_bandwidth_gbps:g}", f"{g.dense_tflops('bf16') or 0:g}", "yes" if g.supports_fp8 else "no",
             str(g.nvlink_domain_size), f"{g.price_usd_per_gpu_hour:.2f}" + ("*" if g.price_estimated else "")) for g in gpus]
    console.print(table("GPU catalog (usable memory as the driver reports it)", columns, rows, wide))
    console.print("* estimated (see the catalog entry's source)")


def render_offers(rows: list[CatalogOfferOutput], console: Console, wide: bool = False) -> None:
    def money(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    columns = [left("GPU"), left("provider"), left("instance"), Column("GPUs"), Column("on demand"), Column("spot"),
               left("tier", wide=True),
               left("as of")]
    cells = [(o.gpu + ("*" if o.default else ""), o.provider, o.instance, str(o.instance_gpus), money(o.usd_per_gpu_hour("on_demand")),
              money(o.usd_per_gpu_hour("spot")), "ESTIMATED" if o.estimated else (o.tier or "-"), o.as_of or "-") for o in rows]
    console.print(table("Rental offers (USD per GPU-hour; * default offer, the catalog's price)", columns, cells, wide))


def render_models(rows: list[CatalogModelOutput], console: Console, wide: bool = False) -> None:
    columns = [left("id"), left("attention"), left("MoE", wide=True), Column("layers"), Column("params (B)"), Column("active (B)"),
               Column("published (B)", wide=True), left("checkpoint")]
    cells = [(r.id, r.attention, "yes" if r.moe else "", str(r.layers), f"{r.parameters / 1e9:.2f}", f"{r.active_parameters / 1e9:.2f}",
              f"{(r.published_parameters or 0) / 1e9:.2f}", r.weight_format) for r in rows]
    console.print(table("Model catalog", columns, cells, wide))


def render_formats(formats: CatalogFormatsOutput, console: Console, wide: bool = False) -> None:
    console.print(table("Weight formats (bits per weight include the scales)", [left("name"), Column("bits/weight"), left("quantizes"),
                                                                               prose("engines", 20), prose("description", 24)],
                        [(f.name, f"{f.effective_bits_per_weight:.4g}", f.quantizes.value, ", ".join(f.engines), f.description)
                         for f in formats.weight_formats], wide))
    console.print(table("KV-cache dtypes", [left("name"), Column("bits/element"), prose("engines", 20), prose("description", 36)],
                        [(d.name, f"{d.bits:g}" + (f" + {d.overhead_bits_per_head}/head" if d.overhead_bits_per_head else ""),
                          ", ".join(d.engines), d.description) for d in formats.kv_cache_dtypes], wide))


def show_catalog(what: str, output_format: str, wide: bool, gpu_id: str | None = None) -> None:
    """``planner catalog gpus|offers|models|formats`` as JSON or a table."""
    from ..catalog import default_catalog, outputs  # the listings are built and written through their output models
    from .output import emit

    if what == "formats":
        formats = outputs.catalog_formats_listing()
        emit(output_format, wide, lambda: outputs.CATALOG_FORMATS.dump_python(formats),
             lambda console: render_formats(formats, console, wide))
    elif what == "gpus":
        gpus = list(default_catalog().gpus)
        emit(output_format, wide, lambda: outputs.CATALOG_GPUS.dump_python(gpus), lambda console: render_gpus(gpus, console, wide))
    elif what == "offers":
        offers = outputs.catalog_offers_listing(gpu_id)
        emit(output_format, wide, lambda: outputs.CATALOG_OFFERS.dump_python(offers), lambda console: render_offers(offers, console, wide))
    else:
        models = outputs.catalog_models_listing()
        emit(output_format, wide, lambda: outputs.CATALOG_MODELS.dump_python(models), lambda console: render_models(models, console, wide))
