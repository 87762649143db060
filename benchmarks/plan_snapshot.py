"""Every example's answer as one JSON file, to compare two checkouts: plans, Pareto sets, explanations, what-ifs.

A refactor of the solver must not change any answer. This runs ``planner solve --format json`` on every scenario
in ``scenarios/`` and ``benchmarks/scenarios/``, the Pareto pairs that apply to the small examples, the what-if
sweeps of ``scenarios/``, and the explanation of infeasible variations of every serving example (budget,
inventory, headroom, demand and homogeneity pushed past what fits, each alone), then drops what is timing::

    python -m benchmarks.plan_snapshot --out before.json
    python -m benchmarks.plan_snapshot --out after.json --compare before.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
TIMING_KEYS = {"wall_time_s", "elapsed_s", "deterministic_time", "solve_time_s"}
PARETO_PAIRS = ("cost,headroom", "cost,gpus", "cost,concurrency", "cost,tpot", "cost,ttft")
PARETO_EXAMPLES = ("budget-infeasible", "inventory-mixed-fleet", "latency-critical-small-model", "chat-service-slo",
                   "llama-3.1-8b-consumer-gpu", "mixtral-8x7b-moe")
INFEASIBLE_CHANGES = {
    "budget": ["budget.max_usd_per_hour=0.5"],
    "inventory": ["inventory.h100-sxm=1", "inventory.a100-80gb=1", "inventory.l40s=1"],
    "headroom": ["min_headroom=0.9"],
    "homogeneous": ["solver.mixed_fleet=false", "inventory.h100-sxm=4", "inventory.a100-80gb=4"],
}


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _run(runner: CliRunner, args: list[str]) -> dict[str, object]:
    from planner.cli import cli

    result = runner.invoke(cli, args)
    out = result.output
    try:
        parsed: object = _strip(json.loads(out))
    except ValueError:
        parsed = out
    return {"exit": result.exit_code, "output": parsed}


def snapshot(quick: bool = False) -> dict[str, object]:
    runner = CliRunner()
    examples = sorted((ROOT / "scenarios").glob("*.yaml")) + ([] if quick else sorted((ROOT / "benchmarks/scenarios").glob("*.yaml")))
    results: dict[str, object] = {}
    for path in examples:
        if path.name.startswith("sweep-"):
            continue
        name = str(path.relative_to(ROOT))
        results[f"solve {name}"] = _run(runner, ["solve", name, "--format", "json"])
        training = "training" in path.name
        if path.stem in PARETO_EXAMPLES:
            for pair in PARETO_PAIRS:
                results[f"pareto {pair} {name}"] = _run(runner, ["solve", name, "--format", "json", "--pareto", pair,
                                                                 "--pareto-points", "6"])
        if training and path.parent.name == "scenarios":
            results[f"pareto cost,time {name}"] = _run(runner, ["solve", name, "--format", "json", "--pareto", "cost,time"])
        if not training and "procurement" not in path.name and path.parent.name == "scenarios":
            for label, changes in INFEASIBLE_CHANGES.items():
                args = ["whatif", name, "--format", "json", "--workers", "1"]
                for change in changes:
                    args += ["--set", change]
                results[f"whatif {label} {name}"] = _run(runner, args)
    for sweep, base in (("sweep-demand-growth", "owned-a100-top-up"), ("sweep-h100-price-drop", "llama-3.1-70b-chat"),
                        ("sweep-spot-risk", "procurement-spot-batch")):
        results[f"sweep {sweep}"] = _run(runner, ["whatif", f"scenarios/{base}.yaml", "--sweep", f"scenarios/{sweep}.yaml",
                                                  "--format", "json", "--workers", "1"])
    results.update(_explanations())
    return results


def _explanations() -> dict[str, object]:
    """The explanation of each infeasible variation, solved through the library (the CLI prints only its text)."""
    from planner.analysis.whatif import WhatIf, parse_override
    from planner.api import solve_scenario
    from planner.errors import InfeasibleError, InputError, PlannerError

    found: dict[str, object] = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        if path.name.startswith(("sweep-", "training-", "procurement-")):
            continue
        base = WhatIf(path)
        for label, changes in {**INFEASIBLE_CHANGES, "demand": ["workload.concurrency=100000"],
                                "demand and budget": ["workload.concurrency=4096", "budget.max_usd_per_hour=40"],
                                "rate": ["workload.request_rate.requests_per_s=5000"]}.items():
            try:
                update = base.variant([parse_override(c) for c in changes])
            except PlannerError:
                continue
            try:
                solve_scenario(update)
                found[f"explain {label} {path.name}"] = "feasible"
            except InfeasibleError as error:
                found[f"explain {label} {path.name}"] = {"message": str(error),
                                                        "issues": [str(i) for i in error.issues]}
            except InputError as error:
                found[f"explain {label} {path.name}"] = {"input_error": str(error)}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--compare", default=None, help="an earlier snapshot: list the answers that differ")
    parser.add_argument("--quick", action="store_true", help="leave out the full-catalog benchmarks")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = snapshot(args.quick)
    Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True))
    print(f"{len(results)} answers in {time.perf_counter() - start:.0f} s -> {args.out}")
    if args.compare is None:
        return 0
    before = json.loads(Path(args.compare).read_text())
    differ = [k for k in sorted(set(before) | set(results)) if before.get(k) != results.get(k)]
    for key in differ:
        print(f"differs: {key}")
    print(f"{len(differ)} of {len(results)} answers differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
