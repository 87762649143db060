"""How much cheaper CP-SAT's mixed fleets are than the baselines on inventory-limited problems.

Baselines: the exhaustive enumerator over homogeneous fleets (one shape; often impossible once stock is
capped) and the greedy of ``planner/solver/greedy.py`` (best homogeneous plan or a fill by price per
sequence within stock). CP-SAT's plan is proven optimal, so the saving is exact.

    python3 -m benchmarks.greedy_gap --seeds 4
    python3 -m benchmarks.greedy_gap --seeds 4 --save    # also benchmarks/results/greedy_gap.json
"""

from __future__ import annotations

import argparse
import statistics
import sys

from planner.pipeline.serving import prepare
from planner.solver.cpsat import solve_cpsat
from planner.solver.enumerate import solve_enumerate
from planner.solver.greedy import solve_greedy
from planner.solver.problem import Problem

from .generate import case_by_name, tight_inventory_problems


def problems(seeds: int) -> list[tuple[str, Problem]]:
    found = []
    for name in ("medium-20-inventory", "moe-40-inventory-budget", "largest-60-inventory"):
        case = case_by_name(name)
        found.append((name, prepare(case.scenario, case.catalog).problem()))
    found += [(f"largest-60 {label}", problem) for label, problem in tight_inventory_problems(range(seeds))]
    return found


def _usd(micro: int | None) -> str:
    return "-" if micro is None else f"{micro / 10**6:,.2f}"


def measure(seeds: int) -> dict:
    """Per problem: demand, the cheapest homogeneous fleet, the greedy's and CP-SAT's plan (USD/h), CP-SAT's status."""
    rows = []
    for name, problem in problems(seeds):
        best = solve_cpsat(problem, time_limit_s=30.0)
        greedy = solve_greedy(problem)
        single = solve_enumerate(Problem(problem.rows, problem.demand_sequences, problem.budget_micro_usd_per_hour,
                                         problem.inventory_by_gpu, mixed_fleet=False))
        saving = None
        if greedy.objective_micro_usd and best.objective_micro_usd is not None:
            saving = 1 - best.objective_micro_usd / greedy.objective_micro_usd
        rows.append({"problem": name, "demand": problem.demand_sequences, "homogeneous_usd_per_hour": _dollars(single.objective_micro_usd),
                     "greedy_usd_per_hour": _dollars(greedy.objective_micro_usd), "cpsat_usd_per_hour": _dollars(best.objective_micro_usd),
                     "status": best.status, "saving_vs_greedy": None if saving is None else round(saving, 5)})
    return {"seeds": seeds, "problems": rows}


def _dollars(micro: int | None) -> float | None:
    return None if micro is None else micro / 10**6


def render(result: dict) -> str:
    lines = [f"{'problem':30} {'demand':>7} {'homogeneous':>12} {'greedy':>12} {'CP-SAT':>12} {'status':8} {'saving vs greedy':>16}"]
    for r in result["problems"]:
        cells = [_usd(None if r[k] is None else round(r[k] * 10**6)) for k in ("homogeneous_usd_per_hour", "greedy_usd_per_hour",
                                                                              "cpsat_usd_per_hour")]
        saving = r["saving_vs_greedy"]
        lines.append(f"{r['problem']:30} {r['demand']:7} {cells[0]:>12} {cells[1]:>12} {cells[2]:>12} {r['status']:8} "
                     f"{'-' if saving is None else f'{saving:.1%}':>16}")
    savings = [r["saving_vs_greedy"] for r in result["problems"] if r["saving_vs_greedy"] is not None]
    if savings:
        lines.append(f"\nCP-SAT vs greedy over {len(savings)} problems: median saving {statistics.median(savings):.1%}, "
                     f"max {max(savings):.1%}, min {min(savings):.1%} (USD per hour; homogeneous '-' = no single shape fits the stock)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="Seeds of the tight-inventory suite.")
    parser.add_argument("--save", action="store_true", help="Also write benchmarks/results/greedy_gap.json.")
    args = parser.parse_args(argv)
    result = measure(args.seeds)
    print(render(result))
    if args.save:
        from .docs import save_results

        save_results("greedy_gap", result, "python3 -m benchmarks.greedy_gap " + " ".join(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
