"""Figures for docs/procurement.md: the speed table rendered from benchmarks/results/procurement.json (saved by
``python3 -m benchmarks.procurement --save``; nothing is measured here) and the spot-risk sweep's costs."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.docs import json_of, measured, table


def procurement_speed_table() -> str:
    rows = []
    for case in measured("procurement")["results"]:
        cpsat, total = case["cpsat_s"], case["total_s"]
        rows.append((case["case"], f"{case['points']:,}", f"{case['shapes']:,}", f"{case['variables']:,}", f"{case['constraints']:,}",
                     case["status"], f"{min(cpsat):.2f} / {statistics.median(cpsat):.2f}", f"{case['deterministic_s']:.2f}",
                     f"{min(total):.2f} / {statistics.median(total):.2f}", f"{min(case['total_cpu_s']):.2f}"))
    runs = len(measured("procurement")["results"][0]["cpsat_s"])
    return table(("case", "demand points", "replica shapes", "CP-SAT variables", "constraints", "status",
                  f"CP-SAT s (min / median of {runs})", "deterministic s", "total s (min / median)", "total CPU s (min)"), rows)


def procurement_case(name: str) -> dict[str, Any]:
    return next(c for c in measured("procurement")["results"] if c["case"] == name)


def spot_risk_costs(scenario: str, sweep: str) -> str:
    """'$16.89, $21.43, ... per hour (272, 346, ... GPUs at the peak)': each variation of a spot-risk sweep."""
    data = json_of(f"planner whatif {scenario} --sweep {sweep} --workers 1 --format json")
    costs = ", ".join(f"${v['cost_usd_per_hour']:,.2f}" for v in data["variations"])
    gpus = ", ".join(str(v["total_gpus"]) for v in data["variations"])
    return f"{costs} per hour ({gpus} spot GPUs at the night peak)"


__all__ = [name for name in dir() if not name.startswith("_")]
