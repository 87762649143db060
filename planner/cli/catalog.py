"""``planner catalog`` (the built-in GPUs, offers, models and formats) and ``planner schema``."""

from __future__ import annotations

import click

from .base import JSON_OUTPUT


def show_catalog(what: str, output_format: str, wide: bool, gpu_id: str | None = None) -> None:
    from ..report.catalog import show_catalog as show  # the tables load only when a table is printed

    show(what, output_format, wide, gpu_id)


@click.group()
def catalog() -> None:
    """List the built-in GPUs, models and formats."""


@catalog.command("gpus")
@JSON_OUTPUT
def catalog_gpus(output_format: str, wide: bool) -> None:
    """GPU types with usable memory, throughput, NVLink domain and price."""
    show_catalog("gpus", output_format, wide)


@catalog.command("offers")
@click.option("--gpu", "gpu_id", default=None, help="Only this GPU's offers.")
@JSON_OUTPUT
def catalog_offers(gpu_id: str | None, output_format: str, wide: bool) -> None:
    """Rental offers: instance, GPUs, on-demand and spot price, market tier, date and source of every price."""
    show_catalog("offers", output_format, wide, gpu_id)


@catalog.command("models")
@JSON_OUTPUT
def catalog_models(output_format: str, wide: bool) -> None:
    """Models with architecture summary and parameter counts (computed vs published)."""
    show_catalog("models", output_format, wide)


@catalog.command("formats")
@JSON_OUTPUT
def catalog_formats(output_format: str, wide: bool) -> None:
    """Weight formats and KV-cache dtypes, with bits per weight including scales."""
    show_catalog("formats", output_format, wide)


@click.command()
@click.argument("what", type=click.Choice(["scenario", "training", "gpus", "models", "plan", "pareto", "whatif", "memory", "perf",
                                           "catalog-gpus", "catalog-offers", "catalog-models", "catalog-formats"]),
              default="scenario")
def schema(what: str) -> None:
    """Print the JSON Schema of scenarios (serving; 'training' for kind: training), catalog files, or a command's JSON
    output: 'plan' (solve --format json), 'pareto' (solve --pareto), 'whatif', 'memory', 'perf' or 'catalog-gpus',
    'catalog-offers', 'catalog-models', 'catalog-formats' (--json)."""
    import json

    from ..api import json_schema

    click.echo(json.dumps(json_schema(what), indent=2))
