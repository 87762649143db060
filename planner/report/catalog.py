"""``planner catalog`` for people: the built-in GPUs, rental offers, models and formats as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tables import Column, left, prose, table

if TYPE_CHECKING:
    from rich.console import Console

    from ..catalog import GpuSpec
    from ..catalog.offers import Offer


def render_gpus(gpus: list[GpuSpec], console: Console, wide: bool = False) -> None:
    columns = [left("id"), left("name", wide=True), Column("usable GiB"), Column("nominal GB"), Column("BW GB/s"), Column("BF16 TFLOPS"),
               left("FP8"), Column("NVLink"), Column("USD/GPU-h")]
    rows = [(g.id, g.name, f"{g.memory_usable_mib / 1024:.1f}" + ("*" if g.memory_usable_estimated else ""), f"{g.memory_nominal_gb:g}",
             f"{g.memory_bandwidth_gbps:g}", f"{g.dense_tflops('bf16') or 0:g}", "yes" if g.supports_fp8 else "no",
             str(g.nvlink_domain_size), f"{g.price_usd_per_gpu_hour:.2f}" + ("*" if g.price_estimated else "")) for g in gpus]
    console.print(table("GPU catalog (usable memory as the driver reports it)", columns, rows, wide))
    console.print("* estimated (see the catalog entry's source)")


def offer_rows(gpu_id: str | None) -> list[tuple[Offer, bool]]:
    """(offer, is the catalog's default offer) for one GPU or all: the default first, then the cheapest on demand."""
    from ..catalog import default_catalog
    from ..catalog.offers import builtin_offers, default_offer

    cat = default_catalog()
    offers = builtin_offers()
    specs = [cat.gpu(gpu_id)] if gpu_id else cat.gpus
    rows = [(default_offer(spec, offers), True) for spec in specs]
    rows += [(o, False) for o in offers if o.gpu in {s.id for s in specs} and
             all((o.provider, o.instance) != (d.provider, d.instance) for d, _ in rows if d.gpu == o.gpu)]
    order = [s.id for s in specs]
    rows.sort(key=lambda item: (order.index(item[0].gpu), not item[1], item[0].usd_per_gpu_hour("on_demand") or 1e9))
    return rows


def render_offers(rows: list[tuple[Offer, bool]], console: Console, wide: bool = False) -> None:
    def money(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    columns = [left("GPU"), left("provider"), left("instance"), Column("GPUs"), Column("on demand"), Column("spot"),
               left("tier", wide=True),
               left("as of")]
    cells = [(o.gpu + ("*" if default else ""), o.provider, o.instance, str(o.instance_gpus), money(o.usd_per_gpu_hour("on_demand")),
              money(o.usd_per_gpu_hour("spot")), "ESTIMATED" if o.estimated else (o.tier or "-"), o.as_of or "-") for o, default in rows]
    console.print(table("Rental offers (USD per GPU-hour; * default offer, the catalog's price)", columns, cells, wide))


def model_rows() -> list[dict[str, Any]]:
    """Each catalog model's architecture summary and parameter counts (computed and published)."""
    from ..catalog import default_catalog
    from ..memory.parameters import count_parameters

    cat = default_catalog()
    rows = []
    for entry in cat.models:
        arch = cat.architecture(entry.id)
        params = count_parameters(arch)
        rows.append({"id": entry.id, "name": entry.name, "attention": arch.attention_kind, "moe": arch.is_moe,
                     "layers": arch.num_layers, "parameters": params.total, "active_parameters": params.active,
                     "published_parameters": entry.published_params_total, "weight_format": entry.weight_format})
    return rows


def render_models(rows: list[dict[str, Any]], console: Console, wide: bool = False) -> None:
    columns = [left("id"), left("attention"), left("MoE", wide=True), Column("layers"), Column("params (B)"), Column("active (B)"),
               Column("published (B)", wide=True), left("checkpoint")]
    cells = [(r["id"], r["attention"], "yes" if r["moe"] else "", str(r["layers"]), f"{r['parameters'] / 1e9:.2f}",
              f"{r['active_parameters'] / 1e9:.2f}", f"{(r['published_parameters'] or 0) / 1e9:.2f}", r["weight_format"]) for r in rows]
    console.print(table("Model catalog", columns, cells, wide))


def render_formats(console: Console, wide: bool = False) -> None:
    from ..model.formats import KV_CACHE_DTYPES, WEIGHT_FORMATS

    console.print(table("Weight formats (bits per weight include the scales)", [left("name"), Column("bits/weight"), left("quantizes"),
                                                                               prose("engines", 20), prose("description", 24)],
                        [(f.name, f"{f.effective_bits_per_weight:.4g}", f.scope.value, ", ".join(f.engines), f.description)
                         for f in WEIGHT_FORMATS.values()], wide))
    console.print(table("KV-cache dtypes", [left("name"), Column("bits/element"), prose("engines", 20), prose("description", 36)],
                        [(d.name, f"{d.bits:g}" + (f" + {d.overhead_bits_per_head}/head" if d.overhead_bits_per_head else ""),
                          ", ".join(d.engines), d.description) for d in KV_CACHE_DTYPES.values()], wide))


def show_catalog(what: str, output_format: str, wide: bool, gpu_id: str | None = None) -> None:
    """``planner catalog gpus|offers|models|formats`` as JSON or a table (formats: a table only)."""
    from .output import emit

    if what == "gpus":
        from ..catalog import default_catalog

        gpus = default_catalog().gpus
        emit(output_format, wide, lambda: [g.model_dump() for g in gpus], lambda console: render_gpus(gpus, console, wide))
    elif what == "offers":
        offers = offer_rows(gpu_id)
        emit(output_format, wide, lambda: [{**o.model_dump(), "default": default} for o, default in offers],
             lambda console: render_offers(offers, console, wide))
    elif what == "models":
        models = model_rows()
        emit(output_format, wide, lambda: models, lambda console: render_models(models, console, wide))
    else:
        emit("table", wide, lambda: None, lambda console: render_formats(console, wide))
