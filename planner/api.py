"""The library's entry points: ``load_scenario`` (read, validate, check the catalog ids) and ``solve_scenario``
(the pipeline of the scenario's kind: serving, training, or procurement over a demand profile)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .catalog.catalog import check_catalog_ids
from .errors import InputError, Issue
from .limits import Deadline
from .schema import resolve_paths, validate_scenario
from .schema.serving import ServingScenario
from .yaml_io import load_yaml_file

if TYPE_CHECKING:
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
    """Cheapest verified plan for a scenario; raises ``InfeasibleError`` with the reason when none exists.

    A ``kind: training`` scenario is solved by ``pipeline.training.solve_training`` (its report type), so any
    scenario ``load_scenario`` returns can be passed here.
    """
    if getattr(scenario, "kind", "serving") == "training":
        from .pipeline.training import solve_training

        return solve_training(scenario, catalog, method, time_limit_s)  # type: ignore[arg-type, return-value]
    if getattr(scenario, "demand", None) is not None:  # a demand profile: the procurement plan over time
        if method != "cpsat":
            raise InputError("--method enumerate is for single-load scenarios", [Issue(
                "a demand profile is planned by one CP-SAT model over all periods", field_path="--method")])
        from .pipeline.procurement import solve_procurement_scenario

        return solve_procurement_scenario(scenario, catalog, time_limit_s)  # type: ignore[return-value]

    from .pipeline.serving import prepare, solve_report

    deadline = Deadline.after(time_limit_s or scenario.solver.time_limit_s)  # covers every step below
    return solve_report(prepare(scenario, catalog, deadline=deadline), method, time_limit_s)
