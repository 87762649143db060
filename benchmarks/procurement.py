"""Procurement plans: model size, status and time to proof on weekly profiles and 24-month horizons.

Cases (all deterministic): a 168-hour weekly profile over the whole built-in catalog (every hour a different load)
with owned GPUs, purchases, 1-year reservations and on-demand rentals, once more with spot; the two-year growth
example; a 24-month horizon over the whole catalog; the example scenarios. For each: the demand points, replica
shapes, pools, the CP-SAT model's variables and constraints, the status, CP-SAT's wall and deterministic time, and
the whole solve (candidates, supply, model, verification) as ``planner solve`` runs it, in wall and CPU seconds (the
CPU time of this process, CP-SAT's single worker included, is the steady figure on a shared machine).

    python3 -m benchmarks.procurement                   # every case, one run each
    python3 -m benchmarks.procurement --runs 3 --case weekly-full-catalog
    python3 -m benchmarks.procurement --runs 3 --save   # also benchmarks/results/procurement.json (docs/procurement.md)
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

from planner.api import load_scenario
from planner.pipeline.procurement import solve_procurement_scenario
from planner.schema import validate_scenario

ROOT = Path(__file__).resolve().parent.parent


def weekly_loads(peak: int = 1200) -> list[int]:
    """A chat week: a daily wave (trough 24 % of the peak at 03:00, peak at 15:00), weekends at 70 %, and a
    deterministic ripple of +-3 % so that no two hours share a load."""
    loads = []
    for hour in range(168):
        day, clock = divmod(hour, 24)
        wave = 0.62 - 0.38 * math.cos(2 * math.pi * (clock - 3) / 24)
        ripple = 1 + 0.03 * math.sin(12.9898 * hour + 78.233)
        loads.append(round(peak * wave * (0.7 if day >= 5 else 1.0) * ripple))
    return loads


FULL_CATALOG = {"model": "llama-3.1-70b", "precisions": ["bf16", "fp8", "int8", "int4-awq"], "kv_cache_dtypes": ["fp16", "fp8"],
                "workload": {"concurrency": 1200, "context_tokens": 8192}}


def cases() -> dict[str, object]:
    return {
        "weekly-full-catalog": validate_scenario({
            **FULL_CATALOG, "name": "weekly-full-catalog",
            "demand": {"period": "hour", "loads": weekly_loads(), "repeat": 52},
            "pricing": {"owned": {"h100-sxm": 16}, "buy": True, "rent": ["on_demand", "reserved"],
                        "reserved_terms": [{"months": 12, "discount": 0.35}]}}),
        "weekly-full-catalog-spot": validate_scenario({
            **FULL_CATALOG, "name": "weekly-full-catalog-spot",
            "demand": {"period": "hour", "loads": weekly_loads(), "repeat": 52},
            "pricing": {"owned": {"h100-sxm": 16}, "rent": ["on_demand", "reserved", "spot"],
                        "reserved_terms": [{"months": 12, "discount": 0.35}],
                        "spot": {"interruption_probability": 0.05, "availability": 0.999}}}),
        "growth-24-months": load_scenario(ROOT / "scenarios" / "procurement-two-year-growth.yaml"),
        "growth-24-months-full-catalog": validate_scenario({
            **FULL_CATALOG, "name": "growth-24-months-full-catalog", "workload": {"concurrency": 400, "context_tokens": 8192},
            "demand": {"period": "month", "count": 24, "growth": {"per": "quarter", "factor": 1.3}},
            "pricing": {"owned": {"h100-sxm": 16}, "buy": True, "lead_time_weeks": 12, "rent": ["on_demand", "reserved"],
                        "reserved_terms": [{"months": 12, "discount": 0.35}, {"months": 36, "discount": 0.55}]}}),
        "chat-daily-curve": load_scenario(ROOT / "scenarios" / "procurement-chat-daily-curve.yaml"),
        "spot-batch": load_scenario(ROOT / "scenarios" / "procurement-spot-batch.yaml"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="Only these cases (repeatable).")
    parser.add_argument("--runs", type=int, default=1, help="Solves per case; min and median are reported.")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--save", action="store_true", help="Also write benchmarks/results/procurement.json.")
    args = parser.parse_args()
    saved = []
    header = ("case", "points", "shapes", "pools built", "variables", "constraints", "status", "cpsat s (min/med)", "det s",
              "total s (min/med)", "total CPU s (min)", "cost USD")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, scenario in cases().items():
        if args.case and name not in args.case:
            continue
        totals, solves, cpu, report = [], [], [], None
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            report = solve_procurement_scenario(scenario, time_limit_s=args.time_limit)  # type: ignore[arg-type]
            totals.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)  # this process's CPU (CP-SAT's thread included): steadier under load
            solves.append(report.outcome.wall_time_s)
        assert report is not None
        pools = len([p for p in report.pools if not p.endswith("@reserved")])
        print(f"| {name} | {report.grid.points} | {len(report.shapes)} | {pools} | {report.outcome.variables:,} | "
              f"{report.outcome.constraints:,} | {report.status} | {min(solves):.2f} / {statistics.median(solves):.2f} | "
              f"{report.outcome.deterministic_time:.2f} | {min(totals):.2f} / {statistics.median(totals):.2f} | {min(cpu):.2f} | "
              f"{report.total_usd:,.2f} |")
        saved.append({"case": name, "points": report.grid.points, "periods": len(report.grid.periods), "shapes": len(report.shapes),
                      "variables": report.outcome.variables, "constraints": report.outcome.constraints, "status": report.status,
                      "cpsat_s": solves, "deterministic_s": round(report.outcome.deterministic_time, 3), "total_s": totals,
                      "total_cpu_s": cpu, "cost_usd": round(report.total_usd, 2)})
    if args.save:
        from .docs import save_results

        command = "python3 -m benchmarks.procurement" + (f" --runs {args.runs}" if args.runs != 1 else "") + " --save"
        print(f"saved {save_results('procurement', saved, command)}")


if __name__ == "__main__":
    main()
