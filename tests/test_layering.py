"""The package's layers: no import cycles, and each package imports only packages of its own or lower layers.

The graph is read from the source (``benchmarks/import_graph.py``: every import, inside functions and under
``TYPE_CHECKING`` too, since they still tie the modules together). Layers, low to high (docs/how-it-works.md):
a pipeline stage may use the stages before it, never the analyses or the commands built on it.
"""

from __future__ import annotations

from benchmarks.import_graph import cycles, import_graph

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "exits", "limits", "units", "display", "yaml_io",  # foundation; the scenario's vocabulary of choices and
     "schema.choices", "schema.translate"),  # its error translator sit here too (memory and model files use them)
    ("model",),  # architectures, formats, checkpoints
    ("memory", "engines"),  # the memory model and the engines' defaults it is evaluated with
    ("schema",),  # scenario files
    ("catalog",),  # GPUs, models, offers, prices
    ("performance", "rules"),  # the time model; structural rules
    ("candidates",),
    ("solver",),  # CP-SAT builders and drivers
    ("plans",),  # result types
    ("verify",),
    ("pipeline",),
    ("configuration",),  # one configuration: the memory and perf commands
    ("analysis",),  # explanations, Pareto, what-if, sweeps, pricing analyses
    ("report",),
    ("api", "cli", "__main__", ""),  # entry points ("": the package's __init__)
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}

KNOWN_CYCLES: tuple[frozenset[str], ...] = ()
"""Cycles being removed by their owners; delete an entry once its cycle is gone (none left)."""


def _package(module: str) -> str:
    """The layer table's entry for a module: ``schema.choices`` if listed itself, else its package (``schema``)."""
    parts = module.split(".")
    return ".".join(parts[1:3]) if ".".join(parts[1:3]) in RANK else parts[1] if len(parts) > 1 else ""


def test_the_package_has_no_import_cycles():
    found = [frozenset(component) for component in cycles(import_graph())]
    unexpected = [sorted(c) for c in found if not any(c <= known for known in KNOWN_CYCLES)]
    assert unexpected == []


def test_every_package_has_a_layer():
    assert {_package(module) for module in import_graph()} - set(RANK) == set()


def test_each_package_imports_only_its_own_or_lower_layers():
    upward = sorted({(_package(source), _package(target)) for source, targets in import_graph().items()
                     for target in targets if RANK[_package(target)] > RANK[_package(source)]})
    assert upward == []


def test_the_pipeline_does_not_import_the_analyses():
    graph = import_graph()
    assert sorted((s, t) for s, targets in graph.items() for t in targets
                  if _package(s) == "pipeline" and _package(t) == "analysis") == []


def test_the_cycle_check_finds_a_cycle_and_the_layer_check_an_upward_import():
    graph = {"planner.a": {"planner.b"}, "planner.b": {"planner.a"}, "planner.c": set()}
    assert cycles(graph) == [["planner.a", "planner.b"]]
    assert RANK["pipeline"] < RANK["analysis"] < RANK["report"] < RANK["cli"]
