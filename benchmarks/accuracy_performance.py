"""Accuracy of the serving performance model against published measurements.

Every case of ``benchmarks/data/serving_performance_cases.json`` (quoted verbatim, with its source) is
recomputed with ``planner.performance.serving.predict`` from the setup it states: model, GPU, layout,
formats, engine and its limits, lengths and load. The table shows measured vs predicted output tokens/s,
TPOT and TTFT with the error, and the summary prints median and maximum absolute errors, separately for
the calibration cases (the efficiency constants were fitted on them) and the validation cases (never fitted).

    python3 -m benchmarks.accuracy_performance              # summary + table
    python3 -m benchmarks.accuracy_performance --markdown   # summary + table as in docs/performance.md
    python3 -m benchmarks.accuracy_performance --summary    # summary only
    python3 -m benchmarks.accuracy_performance --summary --roofline   # the same model with ideal efficiencies
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from planner.catalog import default_catalog
from planner.memory.serving import EngineSettings, ServingLayout
from planner.model.formats import kv_cache_dtype, weight_format
from planner.performance.serving import Concurrency, Offline, RequestMix, RequestRate, ServingShape, StaticBatch, kv_max_sequences, predict

CASES_PATH = Path(__file__).resolve().parent / "data" / "serving_performance_cases.json"
METRICS = ("output_tokens_per_s", "tpot_ms", "ttft_ms")
GOALS_PCT = {"output_tokens_per_s": 15.0, "tpot_ms": 15.0, "ttft_ms": 25.0}
"""Median absolute error goals on validation cases (issue 10); no case may be off by more than 2x."""
MAX_FACTOR = 2.0


def load_cases(path: Path = CASES_PATH) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["cases"]


def load_sources(path: Path = CASES_PATH) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["sources"]


def case_shape(case: dict[str, Any]) -> ServingShape:
    """The replica shape a case states, in planner's types."""
    catalog = default_catalog()
    settings = case.get("settings", {})
    layout = ServingLayout(tp=case["tp"], pp=case.get("pp", 1), ep=case.get("ep", 1),
                           weight_format=weight_format(case["weight_format"]), kv_cache_dtype=kv_cache_dtype(case["kv_cache_dtype"]))
    fraction = settings.get("gpu_memory_utilization", 0.9)
    gpu = catalog.gpu(case["gpu"])
    engine = EngineSettings(gpu_memory_utilization=fraction, mem_fraction_static=fraction, free_gpu_memory_fraction=fraction,
                            max_num_batched_tokens=settings.get("max_num_batched_tokens", 8192),
                            max_num_seqs=settings.get("max_num_seqs", 256),
                            engine_version=settings.get("engine_version", "vllm-v1"), engine=case["engine"],
                            scale_up_link=gpu.scale_up_link or "none")
    return ServingShape(catalog.architecture(case["model"]), gpu, layout, engine,
                        num_scheduler_steps=settings.get("num_scheduler_steps", 1))


def case_load(case: dict[str, Any]):
    workload = case["workload"]
    kind = workload["load"]
    if kind == "static_batch":
        return StaticBatch(workload["batch_size"])
    if kind == "offline":
        return Offline(workload.get("num_requests"))
    if kind == "concurrency":
        return Concurrency(workload["clients"])
    return RequestRate(workload["requests_per_s"])


def predict_case(case: dict[str, Any]) -> dict[str, float]:
    """Predicted output tokens/s (whole system), TPOT and TTFT (the statistic the case measured)."""
    shape = case_shape(case)
    mix = RequestMix.single(case["workload"]["input_tokens"], case["workload"]["output_tokens"])
    performance = predict(shape, mix, case_load(case), kv_max_sequences(shape, mix), replicas=case.get("replicas", 1))
    measured = case["measured"]
    result = {"output_tokens_per_s": performance.output_tokens_per_s}
    for metric in ("tpot_ms", "ttft_ms"):
        stat = measured.get(metric, {}).get("stat", "mean")
        latency = getattr(performance, metric)
        result[metric] = latency.p50 if stat == "median" else latency.mean
    return result


def case_rows(cases: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per (case, measured metric): measured, predicted, signed error %, factor off."""
    rows = []
    for case in cases if cases is not None else load_cases():
        predicted = predict_case(case)
        for metric in METRICS:
            value = case["measured"].get(metric)
            if value is None:
                continue
            measured = value["value"] if isinstance(value, dict) else float(value)
            guess = predicted[metric]
            rows.append({"case": case["id"], "split": case["split"], "group": case["source"]["group"], "engine": case["engine"],
                         "gpu": case["gpu"], "model": case["model"], "setup": setup_text(case), "metric": metric,
                         "measured": measured, "predicted": guess, "error_pct": (guess - measured) / measured * 100.0,
                         "factor": max(guess / measured, measured / guess) if guess > 0 else float("inf")})
    return rows


def setup_text(case: dict[str, Any]) -> str:
    w = case["workload"]
    load = {"static_batch": f"batch {w.get('batch_size')}", "offline": f"offline {w.get('num_requests')}",
            "concurrency": f"{w.get('clients')} clients", "request_rate": f"{w.get('requests_per_s')} req/s"}[w["load"]]
    return (f"{case['gpu']} TP{case['tp']}" + (f" PP{case['pp']}" if case.get("pp", 1) > 1 else "")
            + f" {case['weight_format']}/{case['kv_cache_dtype']} {w['input_tokens']}/{w['output_tokens']} {load}")


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{split: {metric: {cases, median_abs_error_pct, max_abs_error_pct, max_factor}}}."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for split in ("calibration", "validation"):
        result[split] = {}
        for metric in METRICS:
            chosen = [r for r in rows if r["split"] == split and r["metric"] == metric]
            if not chosen:
                continue
            errors = [abs(r["error_pct"]) for r in chosen]
            result[split][metric] = {"cases": len(chosen), "median_abs_error_pct": statistics.median(errors),
                                     "max_abs_error_pct": max(errors), "max_factor": max(r["factor"] for r in chosen),
                                     "within_25_pct": sum(e <= 25 for e in errors) / len(errors)}
    return result


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for split, metrics in summary(rows).items():
        for metric, s in metrics.items():
            goal = "" if split != "validation" else (
                f"  goal median <= {GOALS_PCT[metric]:g} %: {'met' if s['median_abs_error_pct'] <= GOALS_PCT[metric] else 'NOT met'}; "
                f"max factor <= {MAX_FACTOR:g}: {'met' if s['max_factor'] <= MAX_FACTOR else 'NOT met'}")
            lines.append(f"{split:11s} {metric:19s} {int(s['cases']):4d} cases  median |error| {s['median_abs_error_pct']:5.1f} %  "
                         f"max {s['max_abs_error_pct']:6.1f} % (x{s['max_factor']:.2f}){goal}")
    return lines


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def render(rows: list[dict[str, Any]], markdown: bool) -> str:
    header = ("case", "split", "source", "setup", "metric", "measured", "predicted", "error %")
    cells = [(r["case"], r["split"], r["group"], r["setup"], r["metric"], _number(r["measured"]), _number(r["predicted"]),
              f"{r['error_pct']:+.1f}") for r in rows]
    if markdown:
        return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *cells)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in [header, *cells])


@contextlib.contextmanager
def plain_roofline():
    """The model with every efficiency at 1 and no engine overhead: the plain roofline baseline."""
    from planner.candidates import capacity
    from planner.performance import efficiency, serving, serving_steps

    families, profiles, moe = dict(efficiency.FAMILY_EFFICIENCY), dict(efficiency.ENGINE_PROFILES), efficiency.MOE_GEMM_EFFICIENCY
    try:
        for name, value in families.items():
            efficiency.FAMILY_EFFICIENCY[name] = replace(value, compute=1.0, fp8_compute=1.0, bandwidth=1.0)
        for name, profile in profiles.items():
            efficiency.ENGINE_PROFILES[name] = replace(profile, compute_scale=1.0, bandwidth_scale=1.0, step_overhead_s=0.0,
                                                       per_layer_overhead_s=0.0, per_sequence_overhead_s=0.0, overlap=0.0)
        efficiency.MOE_GEMM_EFFICIENCY = 1.0
        serving_steps.step_model.cache_clear()
        serving._replica.cache_clear()
        capacity._static_tpot_us.cache_clear()
        yield
    finally:
        efficiency.FAMILY_EFFICIENCY.update(families)
        efficiency.ENGINE_PROFILES.update(profiles)
        efficiency.MOE_GEMM_EFFICIENCY = moe
        serving_steps.step_model.cache_clear()
        serving._replica.cache_clear()
        capacity._static_tpot_us.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--summary", action="store_true", help="only the median/max errors")
    parser.add_argument("--split", choices=("calibration", "validation"), default=None)
    parser.add_argument("--roofline", action="store_true", help="ideal efficiencies and no overheads (the baseline)")
    args = parser.parse_args()
    with plain_roofline() if args.roofline else contextlib.nullcontext():
        rows = case_rows()
    print("\n".join(summary_lines(rows)))
    if not args.summary:
        print()
        print(render([r for r in rows if args.split is None or r["split"] == args.split], args.markdown))


if __name__ == "__main__":
    main()
