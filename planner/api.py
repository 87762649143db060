"""The library's entry points: ``load_scenario`` (read, validate, check the catalog ids) and ``solve_scenario``
(the pipeline of the scenario's kind, and the explanation when no plan exists)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .catalog.catalog import check_catalog_ids
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
    """Cheapest verified plan for a scenario of any kind (serving, training, procurement over a demand profile);
    raises ``InfeasibleError`` with the reason when none exists (``analysis.explain.solve_explained``)."""
    from .analysis.explain import solve_explained

    return solve_explained(scenario, catalog, method, time_limit_s)
