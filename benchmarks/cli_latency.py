"""End-to-end latency of ``planner solve`` over the full built-in catalog, start-up included.

Runs the CLI as a user does (a fresh Python process each time, ``python -m planner solve ... --format json``),
N times, and reports the median and min wall time of the process and of the solver inside it (the
``wall_time_s`` the JSON reports: model building, both CP-SAT phases and extraction). ``--stages`` adds one
cold in-process breakdown (imports, scenario, catalog + candidates, solve, verify, render).

Bytecode: an installed package has its ``.pyc`` files, but a checkout run with ``PYTHONDONTWRITEBYTECODE=1``
recompiles the planner's modules on every start (about 60 ms here). The runs therefore allow bytecode to be
written (``__pycache__`` is git-ignored); ``--no-bytecode`` measures the extreme where no module at all, the
libraries' included, has bytecode.

    python3 -m benchmarks.cli_latency --runs 15
    python3 -m benchmarks.cli_latency --scenario benchmarks/scenarios/full-catalog-traffic.yaml --stages
    python3 -m benchmarks.cli_latency --scenario scenarios/inventory-mixed-fleet.yaml --stages

Each line also gives the CPU time (user + system) of the solve processes and the load average before the runs:
on a shared machine the wall time grows with the other jobs, the CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FULL_CATALOG = Path(__file__).resolve().parent / "scenarios" / "full-catalog.yaml"

STAGES = r"""
import time, sys
t0 = time.perf_counter()
from planner.cli import cli
from planner.planning import prepare, solve_prepared
from planner.report import render_solve_table
from planner.scenario import load_scenario
t1 = time.perf_counter()
scenario = load_scenario(sys.argv[1]); t2 = time.perf_counter()
prepared = prepare(scenario); t3 = time.perf_counter()
outcome, plan = solve_prepared(prepared); t4 = time.perf_counter()
print(f"imports {t1 - t0:.3f}  scenario {t2 - t1:.3f}  catalog+candidates(+rates) {t3 - t2:.3f}  "
      f"solve+verify {t4 - t3:.3f} (solver {outcome.wall_time_s:.3f})  "
      f"shapes {len(prepared.enumeration.candidates)} -> {len(prepared.candidates)}")
"""


ENVIRONMENT = dict(os.environ)


def _use_bytecode(bytecode: bool, empty_folder: str) -> None:
    """Let the runs write and reuse ``.pyc`` files, or find none (an empty cache prefix) and write none."""
    if bytecode:
        ENVIRONMENT.pop("PYTHONDONTWRITEBYTECODE", None)
        ENVIRONMENT.pop("PYTHONPYCACHEPREFIX", None)
    else:
        ENVIRONMENT.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=empty_folder)


CPU_S: list[float] = []  # user + system seconds of each solve process, in run order


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(scenario: Path, output_format: str = "table") -> tuple[float, float, str]:
    start, cpu = time.perf_counter(), _children_cpu_s()
    result = subprocess.run([sys.executable, "-m", "planner", "solve", str(scenario), "--format", output_format],
                            cwd=ROOT, capture_output=True, text=True, env=ENVIRONMENT)
    elapsed = time.perf_counter() - start
    CPU_S.append(_children_cpu_s() - cpu)
    if result.returncode != 0:
        raise SystemExit(f"planner solve failed ({result.returncode}): {result.stderr.strip()}")
    if output_format != "json":
        return elapsed, float("nan"), "ok"
    report = json.loads(result.stdout)
    return elapsed, float(report["solver"]["wall_time_s"]), report["status"]


def interpreter_start_s(runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=FULL_CATALOG)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--stages", action="store_true", help="Also print a cold in-process breakdown.")
    parser.add_argument("--no-bytecode", action="store_true", help="No bytecode for any module (recompiled each run).")
    args = parser.parse_args(argv)
    bytecode = not args.no_bytecode
    with tempfile.TemporaryDirectory(prefix="planner-no-pyc-") as empty_folder:
        _use_bytecode(bytecode, empty_folder)
        load = os.getloadavg()[0]
        run_once(args.scenario, "json")  # warm the file cache and write bytecode
        CPU_S.clear()
        runs = [run_once(args.scenario, "json") for _ in range(args.runs)]
        tables = sorted(run_once(args.scenario, "table")[0] for _ in range(args.runs))
        stages = _stages(args.scenario) if args.stages else None
    total = sorted(r[0] for r in runs)
    solver = sorted(r[1] for r in runs)
    statuses = sorted({r[2] for r in runs})
    cpu = sorted(CPU_S)
    print(f"scenario: {args.scenario.name}, {args.runs} runs each, status {'/'.join(statuses)}, "
          f"bytecode {'cached' if bytecode else 'recompiled'}, load average {load:.2f} on {os.cpu_count()} CPUs")
    print(f"end to end, table:     median {statistics.median(tables):.3f} s  min {tables[0]:.3f} s  max {tables[-1]:.3f} s")
    print(f"end to end, json:      median {statistics.median(total):.3f} s  min {total[0]:.3f} s  max {total[-1]:.3f} s")
    print(f"inside the solver:     median {statistics.median(solver):.3f} s  min {solver[0]:.3f} s  max {solver[-1]:.3f} s")
    print(f"CPU time per process:  median {statistics.median(cpu):.3f} s  min {cpu[0]:.3f} s  max {cpu[-1]:.3f} s (user + system)")
    print(f"python -c pass:        median {interpreter_start_s(5):.3f} s (interpreter start-up alone)")
    if stages:
        print("stages (cold, one process): " + stages)


def _stages(scenario: Path) -> str:
    result = subprocess.run([sys.executable, "-c", STAGES, str(scenario)], cwd=ROOT, capture_output=True, text=True,
                            check=True, env=ENVIRONMENT)
    return result.stdout.strip()


if __name__ == "__main__":
    main()
