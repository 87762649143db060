"""The JSON Schema of every JSON output, by the name ``planner schema`` takes (``plan``, ``pareto``, ``whatif``,
``memory``, ``perf``). The outputs are written through these very models, so the schema and the JSON cannot drift.
The catalog listings' models and names (``catalog-gpus``, ...) are in ``planner.catalog.outputs``: a GPU or offer row
is the catalog's own model, and this package sits below the catalog."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

OUTPUT_NAMES = ("plan", "pareto", "whatif", "memory", "perf")


def output_adapter(name: str) -> tuple[str, TypeAdapter[Any]]:
    """(the command whose JSON it is, the adapter that validates and describes it) for an output ``name``."""
    if name == "plan":
        from .outputs import PLAN

        return "planner solve --format json", PLAN
    if name in ("pareto", "whatif"):
        from .outputs_analysis import PARETO, WHATIF

        return ("planner solve --pareto ... --format json", PARETO) if name == "pareto" else ("planner whatif --format json", WHATIF)
    if name in ("memory", "perf"):
        from .outputs_configuration import MEMORY, PERF

        return ("planner memory --json", MEMORY) if name == "memory" else ("planner perf --json", PERF)
    raise ValueError(f"unknown output {name!r}; known: {', '.join(OUTPUT_NAMES)}")


def output_json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one output (serving and training alike, where the command has both)."""
    return titled_json_schema(*output_adapter(name))


def titled_json_schema(command: str, adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """An output's JSON Schema, titled with the command whose JSON it is."""
    schema = adapter.json_schema()
    schema["title"] = command
    return schema
