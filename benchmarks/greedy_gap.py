"""How much cheaper CP-SAT's mixed fleets are than the baselines on inventory-limited problems.

Baselines: the exhaustive enumerator over homogeneous fleets (one shape; often impossible once stock is
capped) and the greedy of ``planner/solver/greedy.py`` (best homogeneous plan or a fill by price per
sequence within stock). CP-SAT's plan is proven optimal, so the saving is exact.

    python3 -m benchmarks.greedy_gap --seeds 4
"""

from __future__ import annotations

import argparse
import statistics

from planner.planning import prepare
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="Seeds of the tight-inventory suite.")
    args = parser.parse_args(argv)
    print(f"{'problem':30} {'demand':>7} {'homogeneous':>12} {'greedy':>12} {'CP-SAT':>12} {'status':8} {'saving vs greedy':>16}")
    savings = []
    for name, problem in problems(args.seeds):
        best = solve_cpsat(problem, time_limit_s=30.0)
        greedy = solve_greedy(problem)
        single = solve_enumerate(Problem(problem.rows, problem.demand_sequences, problem.budget_micro_usd_per_hour,
                                         problem.inventory_by_gpu, mixed_fleet=False))
        saving = None
        if greedy.objective_micro_usd and best.objective_micro_usd is not None:
            saving = 1 - best.objective_micro_usd / greedy.objective_micro_usd
            savings.append(saving)
        print(f"{name:30} {problem.demand_sequences:7} {_usd(single.objective_micro_usd):>12} {_usd(greedy.objective_micro_usd):>12} "
              f"{_usd(best.objective_micro_usd):>12} {best.status:8} {'-' if saving is None else f'{saving:.1%}':>16}")
    if savings:
        print(f"\nCP-SAT vs greedy over {len(savings)} problems: median saving {statistics.median(savings):.1%}, "
              f"max {max(savings):.1%}, min {min(savings):.1%} (USD per hour; homogeneous '-' = no single shape fits the stock)")


if __name__ == "__main__":
    main()
