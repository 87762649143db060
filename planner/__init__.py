"""planner: the cheapest proven-optimal GPU fleet that serves or trains a model, with its memory bill.

Library use::

    from planner import load_scenario, solve_scenario
    report = solve_scenario(load_scenario("scenarios/llama-3.1-70b-chat.yaml"))
    print(report.plans[0].cost_usd_per_hour)
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_scenario", "solve_scenario"]


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `planner --help` fast (no OR-Tools import at start-up).
    if name == "load_scenario":
        from .api import load_scenario

        return load_scenario
    if name == "solve_scenario":
        from .api import solve_scenario

        return solve_scenario
    raise AttributeError(name)
