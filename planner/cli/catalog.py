"""``planner catalog`` (the built-in GPUs, offers, models and formats) and ``planner schema``."""

from __future__ import annotations

import click

from ..report.output import emit
from .base import JSON_OUTPUT, WIDE, handle_errors


@click.group()
def catalog() -> None:
    """List the built-in GPUs, models and formats."""


@catalog.command("gpus")
@JSON_OUTPUT
@handle_errors
def catalog_gpus(as_json: bool, wide: bool) -> None:
    """GPU types with usable memory, throughput, NVLink domain and price."""
    from ..catalog import default_catalog
    from ..report.catalog import render_gpus

    gpus = default_catalog().gpus
    emit("json" if as_json else "table", wide, lambda: [g.model_dump() for g in gpus], lambda console: render_gpus(gpus, console, wide))


@catalog.command("offers")
@click.option("--gpu", "gpu_id", default=None, help="Only this GPU's offers.")
@JSON_OUTPUT
@handle_errors
def catalog_offers(gpu_id: str | None, as_json: bool, wide: bool) -> None:
    """Rental offers: instance, GPUs, on-demand and spot price, market tier, date and source of every price."""
    from ..report.catalog import offer_rows, render_offers

    rows = offer_rows(gpu_id)
    emit("json" if as_json else "table", wide, lambda: [{**o.model_dump(), "default": default} for o, default in rows],
         lambda console: render_offers(rows, console, wide))


@catalog.command("models")
@JSON_OUTPUT
@handle_errors
def catalog_models(as_json: bool, wide: bool) -> None:
    """Models with architecture summary and parameter counts (computed vs published)."""
    from ..report.catalog import model_rows, render_models

    rows = model_rows()
    emit("json" if as_json else "table", wide, lambda: rows, lambda console: render_models(rows, console, wide))


@catalog.command("formats")
@WIDE
@handle_errors
def catalog_formats(wide: bool) -> None:
    """Weight formats and KV-cache dtypes, with bits per weight including scales."""
    from ..report.catalog import render_formats

    emit("table", wide, lambda: None, lambda console: render_formats(console, wide))


@click.command()
@click.argument("what", type=click.Choice(["scenario", "training", "gpus", "models", "plan"]), default="scenario")
def schema(what: str) -> None:
    """Print the JSON Schema of scenarios (serving; 'training' for kind: training), catalogs, or 'plan': what
    'planner solve --format json' writes."""
    import json

    from pydantic import BaseModel

    from ..catalog.catalog import _GpuFile, _ModelFile
    from ..schema.outputs import plan_json_schema
    from ..schema.serving import ServingScenario
    from ..schema.training import TrainingScenario

    models: dict[str, type[BaseModel]] = {"scenario": ServingScenario, "training": TrainingScenario, "gpus": _GpuFile,
                                          "models": _ModelFile}
    click.echo(json.dumps(plan_json_schema() if what == "plan" else models[what].model_json_schema(), indent=2))
