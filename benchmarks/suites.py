"""End-to-end timings of the other workloads: training layouts, Pareto sets and what-if sweeps.

Each runs the CLI in a fresh process, as a user does, and reads the library's own timing from the JSON:

- training: every ``scenarios/training-*.yaml`` (``planner solve``), median of N runs;
- pareto: a 10-point cost/headroom (and cost/GPUs) Pareto set over the full built-in catalog;
- sweep: a 100-variation what-if sweep (H100 price from -50 % to +49 % in 1 % steps) over the same scenario,
  with 1 and 2 worker processes.

A suite whose module is missing (see ``generate.optional_suites``) is reported as such, not skipped silently.

    python3 -m benchmarks.suites --runs 5
    python3 -m benchmarks.suites --runs 5 --save    # also benchmarks/results/suites.json
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

from .generate import optional_suites

ROOT = Path(__file__).resolve().parent.parent
FULL_CATALOG = Path(__file__).resolve().parent / "scenarios" / "full-catalog.yaml"
SWEEP_100 = """name: h100-price-100-steps
sweep:
  - path: gpus.h100-sxm.price
    range: -50%..+49% step 1%
"""


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(args: list[str]) -> tuple[float, float, dict]:
    """Wall and CPU seconds (user + system, worker processes included) of one ``planner`` process, and its JSON."""
    start, cpu = time.perf_counter(), _children_cpu_s()
    result = subprocess.run([sys.executable, "-m", "planner", *args, "--format", "json"], cwd=ROOT, capture_output=True,
                            text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"planner {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[:500]}")
    return elapsed, _children_cpu_s() - cpu, json.loads(result.stdout)


CPU_S: list[float] = []  # CPU seconds of the runs of the last ``_median_runs``


def _median_runs(args: list[str], runs: int) -> tuple[list[float], dict]:
    times, report = [], {}
    CPU_S.clear()
    for _ in range(runs):
        elapsed, cpu, report = _run(args)
        times.append(elapsed)
        CPU_S.append(cpu)
    CPU_S.sort()
    return sorted(times), report


def _spread(times: list[float]) -> dict[str, float]:
    return {"min": round(times[0], 4), "median": round(statistics.median(times), 4)}


def training(runs: int) -> list[dict]:
    rows = []
    for path in sorted((ROOT / "scenarios").glob("training-*.yaml")):
        times, report = _median_runs(["solve", str(path)], runs)
        candidates = report.get("candidates", {})
        rows.append({"scenario": path.name, "status": report.get("status"), "layouts": candidates.get("total"),
                     "layouts_pruned": candidates.get("after_pruning"), "end_to_end_s": _spread(times), "cpu_s": _spread(CPU_S),
                     "solver_s": report.get("solver", {}).get("wall_time_s")})
    return rows


def pareto(runs: int) -> list[dict]:
    rows = []
    for pair in ("cost,headroom", "cost,gpus"):
        times, report = _median_runs(["solve", str(FULL_CATALOG), "--pareto", pair, "--pareto-points", "10"], runs)
        rows.append({"pair": pair, "points": len(report["pareto"]), "statuses": sorted({p["status"] for p in report["pareto"]}),
                     "solves": report["solves"], "stopped": report["stopped"], "end_to_end_s": _spread(times), "cpu_s": _spread(CPU_S),
                     "library_s": report["wall_time_s"]})
    return rows


def sweep(runs: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        sweep_file = Path(folder) / "sweep-100.yaml"
        sweep_file.write_text(SWEEP_100)
        for workers in (1, 2):
            times, report = _median_runs(["whatif", str(FULL_CATALOG), "--sweep", str(sweep_file), "--workers",
                                          str(workers)], runs)
            solved = sum(1 for v in report["variations"] if v.get("status") in ("optimal", "feasible"))
            rows.append({"variations": len(report["variations"]), "workers": workers, "solved": solved,
                         "end_to_end_s": _spread(times), "library_s": report["wall_time_s"],
                         **({"cpu_s": _spread(CPU_S)} if workers == 1 else {})})  # pool workers' CPU is not reported back
    return rows


def render(result: dict) -> str:
    lines = ["training layouts (planner solve, kind: training):"]
    lines += [f"  {r['scenario']:52} {r['status'] or '?':8} layouts {r['layouts']}/{r['layouts_pruned']}  end to end median "
              f"{r['end_to_end_s']['median']:.3f} s (min {r['end_to_end_s']['min']:.3f}), CPU {r['cpu_s']['median']:.3f} s  "
              f"solver {r['solver_s']} s"
              for r in result["training"]] or ["  planner/pipeline/training.py not present"]
    lines.append("Pareto sets over the full built-in catalog (10 points):")
    lines += [f"  {r['pair']:14} {r['points']} points ({'/'.join(r['statuses'])}), {r['solves']} solves, stopped: {r['stopped']}; "
              f"end to end median {r['end_to_end_s']['median']:.3f} s (min {r['end_to_end_s']['min']:.3f}), "
              f"CPU {r['cpu_s']['median']:.3f} s, library {r['library_s']} s"
              for r in result["pareto"]] or ["  planner/analysis/pareto.py not present"]
    lines.append("what-if sweep over the full built-in catalog:")
    lines += [f"  {r['variations']} variations, {r['workers']} worker(s): {r['solved']} solved; end to end median "
              f"{r['end_to_end_s']['median']:.2f} s (min {r['end_to_end_s']['min']:.2f})"
              + (f", CPU {r['cpu_s']['median']:.2f} s" if "cpu_s" in r else "") + f", library {r['library_s']} s"
              for r in result["sweep"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sweep-runs", type=int, default=1)
    parser.add_argument("--save", action="store_true", help="Also write benchmarks/results/suites.json.")
    args = parser.parse_args(argv)
    available = optional_suites()
    result = {"runs": args.runs, "sweep_runs": args.sweep_runs, "load_average_at_start": round(os.getloadavg()[0], 2),
              "training": training(args.runs) if available["training"] else [],
              "pareto": pareto(args.runs) if available["pareto"] else [], "sweep": sweep(args.sweep_runs)}
    print(render(result))
    if args.save:
        from .docs import save_results

        save_results("suites", result, "python3 -m benchmarks.suites " + " ".join(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
