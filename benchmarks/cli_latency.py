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
    python3 -m benchmarks.cli_latency --runs 15 --stages --save   # also benchmarks/results/cli_latency-<scenario>.json
    python3 -m benchmarks.cli_latency --suite speed --runs 9 --stages --save

``--suite speed`` measures the speed targets' scenarios one after the other (``SPEED_SUITE``: full-catalog
traffic and concurrency, the three training examples and their full-catalog variants); ``--label before`` saves
``cli_latency-<scenario>-before.json`` instead (a baseline to compare a change with); ``--time-limit`` is passed to
``planner solve`` (a slow checkout measured against the default limit would fail).

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
from planner.pipeline.serving import prepare, solve_prepared
from planner.report.serving import render_solve_table
from planner.api import load_scenario
from planner.pipeline.training import prepare_training, solve_prepared_training
t1 = time.perf_counter()
scenario = load_scenario(sys.argv[1]); t2 = time.perf_counter()
if getattr(scenario, "kind", None) == "training":
    prepare, solve_prepared = prepare_training, solve_prepared_training
prepared = prepare(scenario); t3 = time.perf_counter()
outcome, plan = solve_prepared(prepared); t4 = time.perf_counter()
import json
print(json.dumps({"imports_s": t1 - t0, "scenario_s": t2 - t1, "prepare_s": t3 - t2, "solve_verify_s": t4 - t3,
                  "solver_s": outcome.wall_time_s, "shapes": len(prepared.enumeration.candidates),
                  "shapes_pruned": len(prepared.candidates)}))
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


SPEED_SUITE = ("benchmarks/scenarios/full-catalog-traffic.yaml", "benchmarks/scenarios/full-catalog.yaml",
               "benchmarks/scenarios/full-catalog-traffic-8-formats.yaml",
               "scenarios/training-llama-3.1-70b-pretraining.yaml", "scenarios/training-llama-3.1-8b-full-finetune-node.yaml",
               "scenarios/training-llama-3.1-8b-lora-consumer-gpu.yaml",
               "benchmarks/scenarios/training-70b-pretraining-full-catalog.yaml",
               "benchmarks/scenarios/training-8b-full-finetune-full-catalog.yaml",
               "benchmarks/scenarios/training-8b-lora-full-catalog.yaml")
"""The scenarios behind the speed targets (docs/solver-performance.md), relative to the repository root."""

EXTRA_ARGS: list[str] = []  # options passed to every ``planner solve`` (--time-limit)


def run_once(scenario: Path, output_format: str = "table") -> tuple[float, float, str]:
    start, cpu = time.perf_counter(), _children_cpu_s()
    result = subprocess.run([sys.executable, "-m", "planner", "solve", str(scenario), "--format", output_format, *EXTRA_ARGS],
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


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"min": round(ordered[0], 4), "median": round(statistics.median(ordered), 4), "max": round(ordered[-1], 4)}


def measure(scenario: Path, runs: int, stages: bool, bytecode: bool) -> dict:
    """End-to-end and in-solver times of ``runs`` fresh processes (JSON and table output), their CPU time, the
    interpreter's own start-up and, with ``stages``, one cold in-process breakdown."""
    with tempfile.TemporaryDirectory(prefix="planner-no-pyc-") as empty_folder:
        _use_bytecode(bytecode, empty_folder)
        load = os.getloadavg()[0]
        run_once(scenario, "json")  # warm the file cache and write bytecode
        CPU_S.clear()
        results = [run_once(scenario, "json") for _ in range(runs)]
        tables = [run_once(scenario, "table")[0] for _ in range(runs)]
        breakdown = _stages(scenario) if stages else None
    return {"scenario": scenario.name, "runs": runs, "status": "/".join(sorted({r[2] for r in results})),
            "bytecode": "cached" if bytecode else "recompiled", "load_average": round(load, 2), "cpus": os.cpu_count(),
            "table_s": _spread(tables), "json_s": _spread([r[0] for r in results]),
            "solver_s": _spread([r[1] for r in results]), "cpu_s": _spread(CPU_S), "python_start_s": round(interpreter_start_s(5), 4),
            "stages": breakdown}


def render(m: dict) -> str:
    def line(label: str, spread: dict[str, float]) -> str:
        return f"{label:22} median {spread['median']:.3f} s  min {spread['min']:.3f} s  max {spread['max']:.3f} s"

    lines = [f"scenario: {m['scenario']}, {m['runs']} runs each, status {m['status']}, bytecode {m['bytecode']}, "
             f"load average {m['load_average']:.2f} on {m['cpus']} CPUs",
             line("end to end, table:", m["table_s"]), line("end to end, json:", m["json_s"]),
             line("inside the solver:", m["solver_s"]), line("CPU time per process:", m["cpu_s"]) + " (user + system)",
             f"{'python -c pass:':22} median {m['python_start_s']:.3f} s (interpreter start-up alone)"]
    if m["stages"]:
        s = m["stages"]
        lines.append(f"stages (cold, one process): imports {s['imports_s']:.3f}  scenario {s['scenario_s']:.3f}  "
                     f"catalog+candidates(+rates) {s['prepare_s']:.3f}  solve+verify {s['solve_verify_s']:.3f} "
                     f"(solver {s['solver_s']:.3f})  shapes {s['shapes']} -> {s['shapes_pruned']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, action="append", help="a scenario (repeatable; default: full-catalog.yaml)")
    parser.add_argument("--suite", choices=["speed"], help="also every scenario of SPEED_SUITE")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--stages", action="store_true", help="Also print a cold in-process breakdown.")
    parser.add_argument("--no-bytecode", action="store_true", help="No bytecode for any module (recompiled each run).")
    parser.add_argument("--save", action="store_true", help="Also write benchmarks/results/cli_latency-<scenario>.json.")
    parser.add_argument("--label", help="with --save: write cli_latency-<scenario>-<label>.json (e.g. a baseline)")
    parser.add_argument("--time-limit", type=float, help="pass --time-limit to planner solve")
    args = parser.parse_args(argv)
    scenarios = list(args.scenario or []) + ([ROOT / path for path in SPEED_SUITE] if args.suite == "speed" else [])
    if args.time_limit:
        EXTRA_ARGS.extend(["--time-limit", f"{args.time_limit:g}"])
    for scenario in scenarios or [FULL_CATALOG]:
        measured = measure(scenario, args.runs, args.stages, not args.no_bytecode)
        print(render(measured))
        if args.save:
            from .docs import save_results

            command = "python3 -m benchmarks.cli_latency " + " ".join(argv if argv is not None else sys.argv[1:])
            save_results(f"cli_latency-{scenario.stem}" + (f"-{args.label}" if args.label else ""), measured, command)


def _stages(scenario: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", STAGES, str(scenario)], cwd=ROOT, capture_output=True, text=True,
                            check=True, env=ENVIRONMENT)
    return json.loads(result.stdout)


if __name__ == "__main__":
    main()
