"""The pipeline's solve with the reason when no plan exists: what ``planner.solve_scenario`` and what-if call.

The serving pipeline raises ``NoPlanFound`` and does not explain (the explanation is an analysis, above it); this
turns it into an ``InfeasibleError`` that names the conflicting limits and the nearest relaxations. The
explanation's modules are imported only when a plan is missing, so a solve that finds one does not load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InfeasibleError
from ..pipeline import solve_scenario
from ..pipeline.serving import NoPlanFound

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..pipeline.serving import Method
    from ..plans.serving import SolveReport
    from ..schema.serving import ServingScenario


def solve_explained(scenario: ServingScenario, catalog: Catalog | None = None, method: Method = "cpsat",
                    time_limit_s: float | None = None) -> SolveReport:
    """``pipeline.solve_scenario``; when no plan exists, ``InfeasibleError`` carrying ``explain_infeasible``'s reason."""
    try:
        return solve_scenario(scenario, catalog, method, time_limit_s)
    except NoPlanFound as missing:
        from .explain import explain_infeasible

        explanation = explain_infeasible(missing.prepared, missing.method)
        raise InfeasibleError(explanation.message, explanation.issues, explanation) from None
