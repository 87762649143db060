"""Speed and memory figures for the docs, rendered from what the benchmarks saved under ``benchmarks/results/``.

Nothing here measures: each benchmark's ``--save`` writes its results with the date and the machine, and these
functions only format them, so the documentation check is deterministic.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.docs import (
    measured,
    table,
    usd,
    wrap,
)


def seconds(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


SOLVER_CONFIG_COLUMNS = (("w1 lin2 (default)", "default: 1 worker, lin. 2"), ("w1 lin0", "lin. 0"), ("w1 lin1", "lin. 1"),
                         ("w2", "2 workers"), ("w2 interleave", "2 workers, interleave"), ("w8", "8 workers"),
                         ("w1 lin2 no-prune", "no pruning"), ("w1 lin2 projected", "projected model"),
                         ("w1 lin2 no-cut", "no cover rows"))


def _solver_case(name: str) -> dict[str, Any]:
    return next(c for c in measured("solver_params")["results"]["cases"] if c["name"] == name)


def _solver_result(case: dict[str, Any], config: str) -> dict[str, Any]:
    return next(r for r in case["results"] if r["config"] == config)


def solver_configs_table() -> str:
    """Proof time of the cost phase per generated case and CP-SAT configuration (benchmarks/results/solver_params.json)."""
    rows = []
    for case in measured("solver_params")["results"]["cases"]:
        cells = [f"{case['name']} ({case['shapes_structural']:,} / {case['shapes_fit']:,} / {case['shapes_pruned']:,})"]
        for config, _ in SOLVER_CONFIG_COLUMNS:
            r = _solver_result(case, config)
            cells.append(seconds(r["proof_s"]) if r["proof_s"] is not None else f"- (gap {r['gap']:.0%})")
        rows.append(cells)
    return table(["case (shapes: structural / fit / pruned)", *(label for _, label in SOLVER_CONFIG_COLUMNS)], rows)


def solver_summary() -> dict[str, Any]:
    """Figures quoted in the prose: the two-phase solve's range, the slowest first solution, the largest case."""
    cases = measured("solver_params")["results"]["cases"]
    two_phase = [_solver_result(c, "solve_cpsat (2 phases)")["wall_s"] for c in cases]
    first = [_solver_result(c, "w1 lin2 (default)")["first_solution_s"] for c in cases]
    largest = cases[-1]
    unproven = [label for config, label in SOLVER_CONFIG_COLUMNS + (("w1 lin1 no-prune", "no pruning at lin. 1"),
                                                                   ("w2 no-prune", "no pruning with 2 workers"),
                                                                   ("w8 no-prune", "no pruning with 8 workers"))
                if _solver_result(largest, config)["proof_s"] is None]
    return {"two_phase_min": min(two_phase), "two_phase_max": max(two_phase), "first_max": max(f for f in first if f is not None),
            "largest": largest, "largest_default": _solver_result(largest, "w1 lin2 (default)"),
            "largest_two_phase": _solver_result(largest, "solve_cpsat (2 phases)"), "unproven_largest": unproven,
            "catalog": _solver_case("catalog-28"), "time_limit_s": measured("solver_params")["results"]["time_limit_s"]}


def stress_table() -> str:
    data = measured("solver_params_stress")["results"]
    names = dict(SOLVER_CONFIG_COLUMNS) | {"w1 lin2 no-hint": "1 worker, lin. 2, no hint",
                                           "w1 lin2 projected": "projected model (replicas only), lin. 2",
                                           "w1 lin2 no-cut": "without the cover rows, lin. 2"}
    rows = [(names.get(r["config"], r["config"]), f"{r['proven']}/{r['problems']}", seconds(r["median_s"]), seconds(r["p90_s"]),
             seconds(r["max_s"])) for r in data["configs"]]
    return table(("configuration", "proven", "median s", "p90 s", "max s"), rows)


def cli_latency(name: str = "full-catalog") -> dict[str, Any]:
    return measured(f"cli_latency-{name}")["results"]


def cli_stages_text(name: str = "full-catalog") -> str:
    m = cli_latency(name)
    s = m["stages"]
    return wrap(f"`planner solve` on `{m['scenario']}`, stage by stage (one cold process): imports {s['imports_s']:.2f} s "
                f"(pydantic, click, rich, the OR-Tools extension), scenario {s['scenario_s']:.2f} s, catalog and "
                f"{s['shapes']:,} candidate shapes (memory bills, and rates for traffic) {s['prepare_s']:.2f} s, solve and "
                f"verification {s['solve_verify_s']:.2f} s ({s['shapes_pruned']:,} shapes after pruning); the interpreter "
                f"alone starts in {m['python_start_s']:.2f} s. These figures assume compiled bytecode, as after `pip install`.")


def cli_latency_table(names: tuple[str, ...] = ("full-catalog",)) -> str:
    rows = []
    for name in names:
        m = cli_latency(name)
        rows.append((f"`{m['scenario']}` ({m['runs']} runs, load average {m['load_average']:g} on {m['cpus']} CPUs)",
                     f"{m['table_s']['median']:.2f} / {m['table_s']['min']:.2f} s",
                     f"{m['json_s']['median']:.2f} / {m['json_s']['min']:.2f} s",
                     f"{m['cpu_s']['median']:.2f} / {m['cpu_s']['min']:.2f} s", f"{m['solver_s']['median']:.3f} s"))
    return table(("scenario", "end to end, table: median / min", "JSON: median / min", "CPU per process: median / min",
                  "in the solver (median)"), rows)


SPEED_TARGETS = (
    ("full-catalog-traffic", "serving traffic, 70B over every GPU (bf16, fp8, SLO)", 0.5),
    ("full-catalog", "serving concurrency, 70B over every GPU (4 formats x 2 KV dtypes)", 0.5),
    ("full-catalog-traffic-8-formats", "serving traffic, 4 formats x 2 KV dtypes", None),
    ("training-llama-3.1-70b-pretraining", "training example: 70B pre-training (3 GPU types)", None),
    ("training-llama-3.1-8b-full-finetune-node", "training example: 8B full fine-tune on one node", None),
    ("training-llama-3.1-8b-lora-consumer-gpu", "training example: 8B LoRA on a consumer GPU", None),
    ("training-70b-pretraining-full-catalog", "training: 70B pre-training, every GPU, default search space", 1.5),
    ("training-8b-full-finetune-full-catalog", "training: 8B full fine-tune, every GPU, default search space", 1.5),
    ("training-8b-lora-full-catalog", "training: 8B LoRA, every GPU, default search space", 1.5),
)
"""The scenarios of ``benchmarks.cli_latency --suite speed``, what they are, and their goal in seconds of CPU per
process on a quiet machine (end to end: start-up, enumeration, solve, verification, output)."""


def speed_targets_table() -> str:
    """CPU seconds per ``planner solve`` process before and after the speed work (``cli_latency-<scenario>-before``
    and ``cli_latency-<scenario>``), with the layouts or shapes each enumerates and the goal."""
    rows = []
    for name, what, goal in SPEED_TARGETS:
        before, after = cli_latency(f"{name}-before"), cli_latency(name)
        stages = after.get("stages") or {}
        size = f"{stages['shapes']:,} / {stages['shapes_pruned']:,}" if stages else "-"
        verdict = "" if goal is None else ("met" if after["cpu_s"]["median"] <= goal else "**not met**") + f" (< {goal:g} s)"
        rows.append((f"{what} (`{after['scenario']}`)", size, f"{before['cpu_s']['median']:.2f} / {before['cpu_s']['min']:.2f} s",
                     f"**{after['cpu_s']['median']:.2f}** / {after['cpu_s']['min']:.2f} s",
                     f"{before['cpu_s']['median'] / after['cpu_s']['median']:.1f}x",
                     f"{after['table_s']['median']:.2f} / {after['table_s']['min']:.2f} s (load {after['load_average']:g})", verdict))
    return table(("scenario", "enumerated / after pruning", "CPU before: median / min", "CPU after: median / min", "faster",
                  "wall after, table: median / min", "goal (CPU)"), rows)


def goals_table() -> str:
    """The speed goals and what was measured against each."""
    cli, s, suites = cli_latency(), solver_summary(), measured("suites")["results"]
    pareto = next(r for r in suites["pareto"] if r["pair"] == "cost,headroom")
    sweeps = {r["workers"]: r for r in suites["sweep"]}

    def verdict(value: float, goal: float) -> str:
        return "met" if value <= goal else "**not met**"

    def on_cpu(cpu_s: float, goal: float, load: float | None) -> str:
        """Goals are for a quiet machine, where a process's wall time is its CPU time; under load only the CPU
        time is steady."""
        return verdict(cpu_s, goal) + (" on CPU time" + (f" (wall time inflated by a load average of {load:g})" if load else ""))

    largest = s["largest"]
    pareto_cpu = pareto.get("cpu_s", pareto["end_to_end_s"])["median"]
    rows = [
        (f"Serving over the full built-in catalog ({cli['stages']['shapes']:,} shapes): proven optimal, CLI end to end < 0.5 s",
         f"CPU per process median **{cli['cpu_s']['median']:.2f} s** (min {cli['cpu_s']['min']:.2f} s); wall with table "
         f"output median {cli['table_s']['median']:.2f} s (min {cli['table_s']['min']:.2f} s)",
         on_cpu(cli["cpu_s"]["median"], 0.5, cli["load_average"])),
        ("… inside the solver < 0.2 s", f"median {cli['solver_s']['median']:.3f} s (model, CP-SAT phases, extraction)",
         verdict(cli["solver_s"]["median"], 0.2)),
        (f"Largest benchmark ({largest['gpu_types']} GPU types, {largest['shapes_fit']:,} shapes, stock caps, a budget): "
         "proven optimal < 5 s",
         f"{s['largest_default']['proof_s']:.3f} s to proof of the cost, {s['largest_two_phase']['wall_s']:.3f} s for both phases, "
         f"plus {largest['prepare_s']:.2f} s to enumerate the shapes", verdict(s["largest_two_phase"]["wall_s"] + largest["prepare_s"], 5)),
        ("10-point Pareto set < 3 s", f"cost/headroom **{pareto_cpu:.2f} s** of CPU end to end ({pareto['end_to_end_s']['median']:.2f} s "
         f"wall, {pareto['library_s']:.2f} s in the library, {pareto['solves']} solves)",
         on_cpu(pareto_cpu, 3, suites.get("load_average_at_start"))),
        ("100-variation what-if sweep < 60 s",
         ", ".join(f"{r['end_to_end_s']['median']:.2f} s with {w} worker process{'es' if w > 1 else ''}"
                   for w, r in sorted(sweeps.items(), reverse=True)),
         verdict(min(r["end_to_end_s"]["median"] for r in sweeps.values()), 60)),
        ("Never a timeout that returns nothing when a plan exists", f"CP-SAT starts from the greedy plan; its first solution came "
         f"within {s['first_max']:.2f} s on every generated case; stopped before one, it returns the greedy plan as `feasible` "
         "with its proven gap", "met on every generated problem"),
    ]
    return table(("goal", "measured", ""), rows)


def greedy_gap_text() -> str:
    rows = measured("greedy_gap")["results"]["problems"]
    savings = [r["saving_vs_greedy"] for r in rows if r["saving_vs_greedy"] is not None]
    single = [r for r in rows if r["homogeneous_usd_per_hour"] is not None]
    extra = ", ".join(f"{r['homogeneous_usd_per_hour'] / r['cpsat_usd_per_hour'] - 1:.0%} on {r['problem']} "
                      f"({usd(r['homogeneous_usd_per_hour'])}/h against {usd(r['cpsat_usd_per_hour'])}/h)" for r in single)
    return wrap(f"On {len(rows)} inventory-limited problems (the three capped cases and the stress suite's first "
                f"{measured('greedy_gap')['results']['seeds']} seeds), CP-SAT's proven-optimal mixed fleets cost "
                f"**{statistics.median(savings):.1%} less than the greedy baseline in the median** (max {max(savings):.1%}, "
                f"min {min(savings):.1%}). A single homogeneous fleet (the exhaustive enumerator) is impossible on "
                f"{len(rows) - len(single)} of them" + (f"; on the other {len(single)} it costs more: {extra}." if single else "."))


def peak_rss_text() -> str:
    r = measured("peak_rss")["results"]
    return wrap(f"Peak resident memory of the process that solves the largest benchmark ({r['case']}, "
                f"{r['pruned']['shapes']:,} shapes): **{r['pruned']['peak_rss_mib']} MiB** ({r['unpruned']['peak_rss_mib']} MiB "
                f"without pruning), of which {r['imports']['peak_rss_mib']} MiB is Python with the planner and OR-Tools imported.")


def suites_table() -> str:
    r = measured("suites")["results"]

    def cpu(row: dict[str, Any]) -> str:
        return f"{row['cpu_s']['median']:.2f} s" if "cpu_s" in row else "-"

    rows = [(f"training: `{t['scenario']}` ({t['layouts']:,} layouts, {t['layouts_pruned']:,} after pruning)",
             f"{t['end_to_end_s']['median']:.2f} s", cpu(t), f"{t['solver_s']:.3f} s in the solver") for t in r["training"]]
    rows += [(f"Pareto {p['pair']}, {p['points']} points, full catalog ({p['solves']} solves)", f"{p['end_to_end_s']['median']:.2f} s",
              cpu(p), f"{p['library_s']:.2f} s in the library") for p in r["pareto"]]
    rows += [(f"what-if sweep, {s['variations']} variations of the H100 price, full catalog, {s['workers']} worker(s)",
              f"{s['end_to_end_s']['median']:.2f} s", cpu(s), f"{s['library_s']:.2f} s in the library") for s in r["sweep"]]
    return table(("workload", f"end to end (median of {r['runs']})", "CPU (median, worker processes included)", "inside"), rows)


def performance_speed_text() -> str:
    r = measured("performance_speed")["results"]
    cold = [x["median_us"] for x in r["rows"] if x["cache"] == "cold"]
    warm = [x["median_us"] for x in r["rows"] if x["cache"] == "warm"]
    return (f"{r['shapes']:,} full-catalog shapes: {min(cold):.0f}-{max(cold):.0f} µs per shape when the step constants are "
            f"built, {min(warm):.0f}-{max(warm):.0f} µs when they are cached (median of {r['runs']} runs per SLO)")


__all__ = [name for name in dir() if not name.startswith("_")]
