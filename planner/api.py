"""The library's entry points: ``load_scenario`` (read, validate, check the catalog ids), ``solve_scenario``
(the pipeline of the scenario's kind, and the explanation when no plan exists) and ``plan`` (what ``planner solve``
answers: a plan or a Pareto set, as an ``Answer`` the renderers draw)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog.catalog import check_catalog_ids
from .errors import InputError, Issue
from .plans.answer import Answer
from .schema import resolve_paths, validate_scenario
from .schema.serving import ServingScenario
from .yaml_io import load_yaml_file

if TYPE_CHECKING:
    from .analysis.whatif import Executor, WhatIfReport
    from .catalog import Catalog
    from .pipeline.serving import Method
    from .plans.serving import SolveReport
    from .schema.training import TrainingScenario



def load_scenario(path: str | Path) -> ServingScenario | TrainingScenario:
    """Read and validate a scenario YAML file; relative paths inside it resolve against its folder, and catalog ids
    (model, GPUs, inventory) are checked here, so an unknown one is reported at its line of this file."""
    data, locator = load_yaml_file(path)
    scenario = resolve_paths(validate_scenario(data, locator, str(path)), Path(path).parent)
    check_catalog_ids(scenario, locator, str(path))
    return scenario


def solve_scenario(scenario: ServingScenario, catalog: Catalog | None = None, method: Method = "cpsat",
                   time_limit_s: float | None = None) -> SolveReport:
    """Cheapest verified plan for a scenario of any kind (serving, training, procurement over a demand profile);
    raises ``InfeasibleError`` with the reason when none exists (``analysis.solve.solve_explained``)."""
    from .analysis.solve import solve_explained

    return solve_explained(scenario, catalog, method, time_limit_s)


def plan(scenario: ServingScenario | TrainingScenario, method: Method = "cpsat", time_limit_s: float | None = None,
         pareto: str | None = None, pareto_points: int = 20, plot: bool = False) -> Answer:
    """``planner solve``: the cheapest verified plan of any scenario, or with ``pareto`` ("cost,headroom", ...,
    "cost,time" for training) its Pareto set; options that do not apply to the scenario's kind (``plot``: a plot
    will be asked of the answer) are input errors."""
    def refuse(message: str, issue: str, flag: str) -> InputError:
        return InputError(message, [Issue(issue, field_path=flag)])

    name = scenario.name or "scenario"
    if scenario.kind == "training":
        if plot:
            raise refuse("--plot is for serving plans", "training plans have no plot yet; use --format json", "--plot")
        if pareto is None:
            return Answer("training", solve_scenario(scenario, method=method, time_limit_s=time_limit_s))  # type: ignore[arg-type]
        if pareto != "cost,time":
            raise refuse(f"--pareto {pareto} is for serving scenarios", "training scenarios take --pareto cost,time", "--pareto")
        from .analysis.training_pareto import training_pareto
        from .pipeline.training import prepare_training

        training = prepare_training(scenario)
        training_front = training_pareto(training, pareto_points, method, time_limit_s)
        _require_points(training_front, "no training plan meets the scenario, so there is no Pareto set")
        return Answer("training_pareto", training_front, title=(name, training.model_name))
    if pareto == "cost,time":
        raise refuse("--pareto cost,time is for training scenarios", "serving pairs: cost,headroom, cost,gpus, cost,concurrency",
                     "--pareto")
    if scenario.demand is not None:
        if pareto is not None or method != "cpsat":
            raise refuse("--pareto and --method enumerate are for single-load scenarios",
                         "a demand profile is planned by one CP-SAT model over all periods", "--pareto" if pareto else "--method")
        return Answer("procurement", solve_scenario(scenario, time_limit_s=time_limit_s))
    if pareto is not None:
        from .analysis.pareto import PAIRS, pareto_front
        from .pipeline.serving import prepare

        prepared = prepare(scenario)
        front = pareto_front(prepared, PAIRS[pareto], pareto_points, time_limit_s)
        _require_points(front, "no plan meets the scenario, so there is no Pareto set")
        return Answer("pareto", front, title=(name, f"{prepared.model_name}, {scenario.workload.describe()}"))
    from .catalog.pricing import pricing_summary

    report = solve_scenario(scenario, method=method, time_limit_s=time_limit_s)
    pricing = pricing_summary(scenario, report.plans[0])
    return Answer("serving", report, after={"pricing": pricing} if pricing else {})


def _require_points(front: Any, message: str) -> None:
    if not front.points:
        from .errors import InfeasibleError

        raise InfeasibleError(message, [Issue("run 'planner solve' without --pareto for the reason")])


def whatif(scenario_path: str, overrides: tuple[str, ...] = (), sweep_path: str | None = None, executor: Executor = "local",
           workers: int | None = None, sensitivity: bool = False,
           progress: Callable[[int, int], None] | None = None) -> WhatIfReport:
    """``planner whatif``: the scenario re-solved under ``overrides`` (one variation compared with the file) or, with
    a sweep file, under each of its variations (the overrides then change the baseline too); ``sensitivity`` adds
    each used GPU's price range. Ctrl-C or a dead worker raises ``Incomplete`` carrying what finished."""
    from .analysis.sweep import Variation, load_sweep
    from .analysis.whatif import WhatIf, parse_override, run_whatif

    sweep = load_sweep(sweep_path) if sweep_path else None
    if sweep is not None:
        analysis, extra = WhatIf(scenario_path, list(overrides)), []
    else:
        analysis = WhatIf(scenario_path)
        parsed = [parse_override(text) for text in overrides]
        extra = [Variation("--set " + " ".join(overrides), tuple(parsed))] if parsed else []
    return run_whatif(analysis, sweep, extra, executor, workers, progress, sensitivity)


def validate(scenario: ServingScenario | TrainingScenario) -> dict[str, Any]:
    """``planner validate``: the scenario prepared as a solve prepares it (model, GPUs, the shapes that fit, their
    pruning), without solving; what was found, as counts (``report.output.validation_summary`` words them)."""
    if scenario.kind == "training":
        from .pipeline.training import prepare_training

        trained = prepare_training(scenario)
        return {"kind": "training", "model": trained.model_name, "gpu_types": len(trained.gpus),
                "fit": len(trained.enumeration.candidates), "after_pruning": len(trained.candidates)}
    if scenario.demand is not None:
        from .pipeline.procurement import check_procurement_scenario

        grid, shapes, supply = check_procurement_scenario(scenario)
        return {"kind": "procurement", "periods": len(grid.periods), "demand_points": grid.points, "peak": grid.display(grid.peak),
                "model": shapes.model_name, "fit": len(shapes.enumeration.candidates), "supply_pools": len(supply.pools)}
    from .pipeline.serving import prepare

    prepared = prepare(scenario)
    return {"kind": "serving", "model": prepared.model_name, "gpu_types": len(prepared.gpus),
            "fit": len(prepared.enumeration.candidates), "after_pruning": len(prepared.candidates)}


def json_schema(what: str) -> dict[str, Any]:
    """``planner schema``: the JSON Schema of a scenario ("scenario"; "training" for kind: training), a catalog file
    ("gpus", "models") or a command's JSON output (the names of ``schema.output_schemas.OUTPUT_NAMES`` and of
    ``catalog.outputs.CATALOG_OUTPUT_NAMES``)."""
    from pydantic import BaseModel

    from .catalog.catalog import _GpuFile, _ModelFile
    from .catalog.outputs import CATALOG_OUTPUT_NAMES, catalog_output_json_schema
    from .schema.output_schemas import OUTPUT_NAMES, output_json_schema
    from .schema.training import TrainingScenario

    if what in OUTPUT_NAMES:
        return output_json_schema(what)
    if what in CATALOG_OUTPUT_NAMES:
        return catalog_output_json_schema(what)
    models: dict[str, type[BaseModel]] = {"scenario": ServingScenario, "training": TrainingScenario, "gpus": _GpuFile,
                                          "models": _ModelFile}
    return models[what].model_json_schema()
