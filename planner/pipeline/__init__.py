"""From a scenario to verified plans: prepare (catalog, model, candidates) -> integer problem -> CP-SAT -> plan ->
verification, for serving, training and procurement scenarios; ``solve_scenario`` dispatches on the kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError, Issue
from ..limits import Deadline

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..plans.serving import SolveReport
    from ..schema.serving import ServingScenario
    from .serving import Method


def solve_scenario(scenario: ServingScenario, catalog: Catalog | None = None, method: Method = "cpsat",
                   time_limit_s: float | None = None) -> SolveReport:
    """The pipeline of the scenario's kind: a ``kind: training`` scenario by ``training.solve_training`` (its report
    type), a demand profile by ``procurement``, else the serving solve; ``serving.NoPlanFound`` when no plan exists
    (``planner.solve_scenario`` adds the explanation)."""
    if getattr(scenario, "kind", "serving") == "training":
        from .training import solve_training

        return solve_training(scenario, catalog, method, time_limit_s)  # type: ignore[arg-type, return-value]
    if getattr(scenario, "demand", None) is not None:  # a demand profile: the procurement plan over time
        if method != "cpsat":
            raise InputError("--method enumerate is for single-load scenarios", [Issue(
                "a demand profile is planned by one CP-SAT model over all periods", field_path="--method")])
        from .procurement import solve_procurement_scenario

        return solve_procurement_scenario(scenario, catalog, time_limit_s)  # type: ignore[return-value]

    from .serving import prepare, solve_report

    deadline = Deadline.after(time_limit_s or scenario.solver.time_limit_s)  # covers every step below
    return solve_report(prepare(scenario, catalog, deadline=deadline), method, time_limit_s)
