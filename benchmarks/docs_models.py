"""Text about the models (memory, serving performance, training step time) and their accuracy, for the docs.

Tables and figures from the accuracy benchmarks (``benchmarks/accuracy*.py``) and the models' own constants; see
``benchmarks/docs.py`` for how the Markdown calls them.
"""

from __future__ import annotations

import functools
import re
import statistics
from typing import Any

from benchmarks.docs import (
    pct,
    table,
    wrap,
)


@functools.cache
def _memory_rows() -> tuple[dict[str, Any], ...]:
    from benchmarks import accuracy

    return tuple(accuracy.collect_rows())


def memory_rows(kind: str) -> list[dict[str, Any]]:
    """Rows of ``python -m benchmarks.accuracy``: ``serving`` (engine logs) or ``training`` (published figures)."""
    return [r for r in _memory_rows() if (r.get("engine", "training") == "training") == (kind == "training")]


def memory_accuracy_table(kind: str) -> str:
    """The accuracy table of ``python -m benchmarks.accuracy --markdown`` for serving or training rows, with its count."""
    from benchmarks import accuracy

    rows = memory_rows(kind)
    return accuracy.render_markdown(rows) + "\n\n" + accuracy.summary(rows) + "\n"


def memory_accuracy_by_engine() -> str:
    from benchmarks import accuracy

    return accuracy.summary_by_group(list(_memory_rows())) + "\n"


def memory_error(case: str, quantity: str) -> str:
    """The signed error of one row of the memory accuracy table, as the table prints it (``+2.87 %``)."""
    from benchmarks import accuracy

    for row in _memory_rows():
        if row["case"] == case and row["quantity"] == quantity:
            error = accuracy.error_pct(row) or 0.0
            return f"{error:+.2f} %" if abs(error) < 1 else f"{error:+.1f} %"
    raise KeyError(f"no accuracy row {case!r} / {quantity!r}")


def memory_predicted(case: str, quantity: str) -> float:
    for row in _memory_rows():
        if row["case"] == case and row["quantity"] == quantity:
            return float(row["predicted"])
    raise KeyError(f"no accuracy row {case!r} / {quantity!r}")


def memory_counterfactual(case: str, quantity: str, **changes: Any) -> dict[str, Any]:
    """One row of a logged case re-predicted with some of its settings changed (``capacity_gib``, ``weight_format``):
    the row dict with ``error`` (as the table prints it) and ``predicted``."""
    from dataclasses import replace

    from benchmarks import accuracy, accuracy_serving, serving_cases

    logged = next(c for c in serving_cases.CASES if c.case == case)
    for row in accuracy_serving.case_rows(replace(logged, **changes)):
        if row["quantity"] == quantity:
            return {**row, "error": f"{accuracy.error_pct(row):+.0f} %"}
    raise KeyError(f"no row {quantity!r} for {case!r}")


def training_constants_table() -> str:
    """The step-time model's fitted constants, read from the code."""
    from planner.performance import training as model
    from planner.performance import training_compute as compute

    gemm = " · ".join(f"{generation} {width} {value:.2f}" for (generation, width), value in compute.GEMM_EFFICIENCY.items())
    rows = [
        ("`GEMM_EFFICIENCY`", gemm + " (CDNA from a kernel study, not fitted)",
         "sustained share of the datasheet dense peak under the power limit"),
        ("`ATTENTION_EFFICIENCY`", f"{compute.ATTENTION_EFFICIENCY:g}", "causal FlashAttention end to end, rotary, masking"),
        ("`ELEMENTWISE_PASSES`", f"{compute.ELEMENTWISE_PASSES:g}", "re-reads of fused element-wise kernels and their HBM efficiency"),
        ("`TP_OVERLAP`", f"{compute.TP_OVERLAP:g}", "TP collectives hidden behind GEMMs"),
        ("`COMMUNICATION_OVERLAP`", f"{model.COMMUNICATION_OVERLAP:g}",
         "share of a pass bucketed DP collectives, async PP sends and offload copies can hide behind"),
        ("`LAYER_OVERHEAD_S`", f"{compute.LAYER_OVERHEAD_S * 1e3:g} ms per block per forward pass", "launches and host synchronisation"),
        ("`MOE_LAYER_OVERHEAD_S`", f"{compute.MOE_LAYER_OVERHEAD_S * 1e3:g} ms per MoE block per pass",
         "router, token-count synchronisation, grouped-GEMM set-up"),
    ]
    return table(("constant", "value", "what it absorbs"), rows)


@functools.cache
def _throughput_rows() -> tuple[dict[str, Any], ...]:
    from benchmarks import accuracy_training_throughput

    return tuple(accuracy_training_throughput.evaluate())


def training_throughput_summary() -> str:
    from benchmarks import accuracy_training_throughput as bench

    summary = bench.summary(list(_throughput_rows()))
    return table(("split", "cases", "median abs. error", "max abs. error", f"within {bench.MAX_GOAL_PCT:g} %"),
                 [(name, s["cases"], pct(s["median_abs_pct"]), pct(s["max_abs_pct"]), s["within_30_pct"])
                  for name, s in summary.items()])


def training_throughput_table() -> str:
    from benchmarks import accuracy_training_throughput as bench

    return bench.render(list(_throughput_rows()), markdown=True) + "\n"


def _errors(prefix: str, contains: str = "") -> list[float]:
    return [r["error_pct"] for r in _throughput_rows() if r["case"].startswith(prefix) and contains in r["case"]]


def _span(errors: list[float], slow: bool = False) -> str:
    values = sorted(abs(e) for e in errors)
    return f"{values[0]:.0f}–{values[-1]:.0f} %" if len(values) > 1 else f"{values[0]:.0f} %"


def training_throughput_notes() -> str:
    """What the step-time accuracy table shows, series by series, with the numbers of the table."""
    from benchmarks import accuracy_training_throughput as bench

    rows = _throughput_rows()
    beyond = [r for r in rows if r["split"] != "excluded" and abs(r["error_pct"]) > bench.MAX_GOAL_PCT]
    mtnlg = " / ".join(f"{e:+.0f}" for e in _errors("mtnlg2022"))
    excluded = [r for r in rows if r["split"] == "excluded"]
    text = (
        f"Scaling series: Megatron 32 → 3,072 GPUs all within {max(abs(e) for e in _errors('narayanan2021')):.0f} %; "
        f"llm-foundry 7B/13B on 8 → 128 A100s within {max(abs(e) for e in _errors('llmfoundry-mpt-', 'a100')):.0f} %; "
        f"MT-NLG 2,240 → 3,360 GPUs {mtnlg} % (the model predicts faster than measured). "
        f"The {len(beyond)} case{'s' if len(beyond) != 1 else ''} beyond {bench.MAX_GOAL_PCT:g} % "
        f"({', '.join(r['case'] for r in beyond)}) {'are' if len(beyond) != 1 else 'is'} MT-NLG's larger runs: the same 530B "
        "layout (TP 8 × PP 35, ~2,500 A100s, micro-batch 1) ran at 163 TFLOP/s in Narayanan et al. and 113–126 in "
        "MT-NLG's Megatron-DeepSpeed. MT-NLG's smaller global batch (1,920: 240 / 192 / 160 micro-batches per pipeline "
        "against 280) explains 2–8 points through the 1F1B bubble, which the model counts; DeepSpeed's pipeline schedule "
        "is the same 1F1B; the paper gives no reason for the other 21–25 %, and BLOOM, trained with the same "
        f"Megatron-DeepSpeed, is within {max(abs(e) for e in _errors('bloom2022')):.0f} %, so no framework factor is applied. "
        f"The Llama 3 runs are predicted {_span(_errors('llama3-'))} slow and the Megatron-Bridge H100 FP8 runs "
        f"{_span(_errors('bridge2511-', 'h100'))} slow: the Hopper constants are a compromise between these (newer "
        "software) and llm-foundry's 2023 H100 numbers.")
    for r in excluded:
        text += (f" {r['case']} ({r['error_pct']:+.0f} %) is listed but excluded: its attention sinks and sliding windows "
                 "point at an unfused attention path the model does not represent.")
    text += (" Also not covered: V100-era DeepSpeed ZeRO papers (no V100 in the catalog), MLPerf (time-to-train, not "
             "throughput), consumer GPUs and LoRA (no published run with its full setup was found), CPU offload.")
    return wrap(text)


def memory_accuracy_error(row: dict[str, Any]) -> float:
    from benchmarks import accuracy

    return accuracy.error_pct(row) or 0.0


ENGINE_KNOBS = {
    "vllm": "`gpu_memory_utilization`, `max_num_batched_tokens`, `max_num_seqs`, `block_size`, `entrypoint` (server / "
            "offline), `cuda_graphs_in_budget`",
    "sglang": "`mem_fraction_static`, `chunked_prefill_size`, `cuda_graph_max_bs`",
    "trtllm": "`free_gpu_memory_fraction`, `max_num_tokens`, `max_batch_size`, `block_size` (tokens per block)",
    "llamacpp": "`n_gpu_layers` (`-ngl`), `n_ubatch`",
}


def engine_table() -> str:
    """Each engine with its knobs and the release whose defaults apply when none is given (from planner.engines)."""
    from planner.engines import ALIASES, ENGINES

    rows = []
    for key, info in ENGINES.items():
        aliases = ", ".join(f"`{alias}` = {version}" for alias, (engine, version) in ALIASES.items() if engine == key and version)
        rows.append((f"`{key}`", ENGINE_KNOBS.get(key, ""), info.default_version + (f" ({aliases})" if aliases else "")))
    return table(("engine", "knobs (scenario `engine:` keys = `planner memory` flags)", "default release"), rows)


def memory_case_roles() -> str:
    """Which engine-log cases calibrated a constant (and which) and which only validate (benchmarks/serving_cases.py)."""
    from benchmarks import serving_cases

    calibration = [f"{c.case} ({c.calibrates})" for c in serving_cases.CASES if c.role == "calibration"]
    validation = [c.case for c in serving_cases.CASES if c.role != "calibration"]
    training = sorted({r["case"] for r in memory_rows("training") if r.get("role") in ("calibration", "validation")
                       and r.get("role") == "calibration"})
    return wrap(f"**Calibration cases**: {', '.join(calibration + [f'{t} (training)' for t in training])}.") + wrap(
        f"**Validation cases**: {', '.join(validation)}, and the training peaks of "
        f"[training.md](training.md#memory-against-published-figures).")


PERFORMANCE_EXAMPLE = '''\
from planner.catalog import default_catalog
from planner.model.formats import kv_cache_dtype, weight_format
from planner.memory.serving import EngineSettings, ServingLayout
from planner.performance.serving import RequestMix, RequestRate, ServingShape, Slo, max_request_rate_within_slo, predict

catalog = default_catalog()
shape = ServingShape(catalog.architecture("llama-3.1-70b"), catalog.gpu("h100-sxm"),
                     ServingLayout(tp=4, weight_format=weight_format("fp8"), kv_cache_dtype=kv_cache_dtype("fp8")),
                     EngineSettings(engine="vllm"))
mix = RequestMix(((500, 200, 3.0), (4000, 400, 1.0)), prefix_cache_hit_rate=0.2)   # buckets with weights
result = predict(shape, mix, RequestRate(6.0))
print(f"{result.output_tokens_per_s:,.0f} output tokens/s, TTFT p99 {result.ttft_ms.p99:.0f} ms, "
      f"TPOT p99 {result.tpot_ms.p99:.1f} ms, {result.bound}-bound")
rate = max_request_rate_within_slo(shape, mix, Slo(ttft_ms=1000, tpot_ms=40, percentile="p99"))
print(f"{rate.requests_per_s:.2f} requests/s per replica, limited by {rate.limit}")   # 0 with the reason if none
'''


@functools.cache
def _performance_rows() -> tuple[dict[str, Any], ...]:
    from benchmarks import accuracy_performance

    return tuple(accuracy_performance.case_rows())


def performance_rows(split: str | None = None, case: str = "", metric: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``python -m benchmarks.accuracy_performance``, filtered by split, a case-id regex and metric."""
    return [r for r in _performance_rows() if (split is None or r["split"] == split) and re.search(case, r["case"])
            and (metric is None or r["metric"] == metric)]


def performance_accuracy_summary() -> str:
    from benchmarks import accuracy_performance as bench

    summary = bench.summary(list(_performance_rows()))
    rows = [(split, metric, int(s["cases"]), pct(s["median_abs_error_pct"]), pct(s["max_abs_error_pct"]), f"{s['max_factor']:.2f}x")
            for split, metrics in summary.items() for metric, s in metrics.items()]
    return table(("split", "metric", "cases", "median abs error", "max abs error", "worst factor"), rows)


def performance_accuracy_by_source() -> str:
    groups: dict[tuple[str, str], list[float]] = {}
    for r in performance_rows("validation"):
        groups.setdefault((r["group"], r["metric"]), []).append(abs(r["error_pct"]))
    rows = [(group, metric, len(errors), pct(statistics.median(errors)), pct(max(errors)))
            for (group, metric), errors in sorted(groups.items())]
    return table(("source", "metric", "validation cases", "median abs error", "max abs error"), rows)


def performance_calibration_cases() -> str:
    from benchmarks import accuracy_performance as bench

    ids = [c["id"] for c in bench.load_cases() if c["split"] == "calibration"]
    return f"Calibration cases ({len(ids)}): " + ", ".join(f"`{i}`" for i in ids) + "\n"


def performance_accuracy_table() -> str:
    from benchmarks import accuracy_performance as bench

    return bench.render(list(_performance_rows()), markdown=True) + "\n"


def performance_case_counts() -> dict[str, Any]:
    """Measurements, calibration and validation counts, and the plain-roofline baseline's median errors."""
    from benchmarks import accuracy_performance as bench

    cases = bench.load_cases()
    with bench.plain_roofline():
        roofline = bench.summary(bench.case_rows())["validation"]
    return {"measurements": len(cases), "calibration": sum(c["split"] == "calibration" for c in cases),
            "validation": sum(c["split"] == "validation" for c in cases),
            "roofline": {metric: s["median_abs_error_pct"] for metric, s in roofline.items()}}


def performance_constants_table() -> str:
    """The serving model's efficiency constants, read from planner/performance (with what each was fitted on)."""
    from planner.performance import efficiency, topology

    fam, eng = efficiency.FAMILY_EFFICIENCY, efficiency.ENGINE_PROFILES

    def f(name: str) -> str:
        e = fam[name]
        return f"{e.compute:.2f} / {e.fp8_compute:.2f} / {e.bandwidth:.2f}"

    def overheads(name: str) -> str:
        p = eng[name]
        return f"{p.step_overhead_s * 1e3:g} ms / {p.per_layer_overhead_s * 1e6:g} µs / {p.per_sequence_overhead_s * 1e6:g} µs"

    rows = [
        ("Ampere compute / FP8 compute / bandwidth efficiency", f("ampere"),
         "A100 calibration cases (TensorRT-LLM 0.9, 0.13; vLLM 0.6, SGLang 0.3)"),
        ("Ada compute / FP8 compute / bandwidth", f("ada"), "L40S calibration cases (16-bit compute takes Hopper's)"),
        ("Hopper compute / FP8 compute / bandwidth", f("hopper"), "H100 calibration cases"),
        ("Turing, Blackwell", f"{f('turing')}, {f('blackwell')}", "no fitted case: Ampere's and Hopper's carried over "
         "(`fitted: false` in `--json`)"),
        ("CDNA 2 / 3 / 4", f("cdna3"), "no case: published MI300X kernel studies (hipBLASLt GEMM ~45 % of peak, "
         "~60-65 % of HBM bandwidth)"),
        ("MoE GEMM efficiency", f"{efficiency.MOE_GEMM_EFFICIENCY:.2f} of dense", "Mixtral calibration cases (TensorRT-LLM 0.13)"),
        ("overlap of compute and memory time", f"{eng['vllm'].overlap:.2f}", "all calibration cases"),
        ("vLLM step / per layer / per sequence", overheads("vllm"),
         "vLLM 0.6 and ROCm vLLM 0.9 calibration cases (per layer not fitted)"),
        ("SGLang step / per layer / per sequence", overheads("sglang"), "SGLang 0.3 calibration case"),
        ("TensorRT-LLM step / per layer / per sequence", overheads("trtllm"), "TensorRT-LLM 0.9 / 0.13 and NIM calibration cases"),
        ("PCIe peer-to-peer bus efficiency", f"{topology.LINK_EFFICIENCY['pcie']:.2f} of x16",
         "L40S TP4 calibration case (shared with the training model)"),
        ("NVSwitch / NVLink step latency", f"{topology.LINK_LATENCY_S['nvswitch'] * 1e6:g} µs",
         "nccl-tests small-message rows, custom all-reduce kernels (not fitted)"),
        ("xGMI step latency", f"{topology.LINK_LATENCY_S['xgmi'] * 1e6:g} µs", "the two MI300X TP 8 decode-latency calibration cases"),
    ]
    return table(("constant", "value", "fitted on / source"), rows)


def span_pct(rows: list[dict[str, Any]], signed: bool = False) -> str:
    """The range of errors of some rows: ``13-38 %`` (absolute) or ``+13 to +38 %``."""
    errors = sorted(r["error_pct"] if signed else abs(r["error_pct"]) for r in rows)
    if signed:
        return f"{errors[0]:+.0f} to {errors[-1]:+.0f} %" if len(errors) > 1 else f"{errors[0]:+.0f} %"
    return f"{errors[0]:.0f}-{errors[-1]:.0f} %" if len(errors) > 1 else f"{errors[0]:.0f} %"


def max_abs_pct(rows: list[dict[str, Any]]) -> str:
    return f"{max(abs(r['error_pct']) for r in rows):.0f} %"


def slo_rate_example(tpot_ms: float, percentile: str) -> tuple[float, str]:
    """Llama 3.1 8B on one A100 (bf16, vLLM) at 1000 in / 200 out tokens: the largest rate within a TPOT target."""
    from planner.catalog import default_catalog
    from planner.memory.serving import EngineSettings, ServingLayout
    from planner.model.formats import kv_cache_dtype, weight_format
    from planner.performance.serving import (
        RequestMix,
        ServingShape,
        Slo,
        max_request_rate_within_slo,
    )

    catalog = default_catalog()
    shape = ServingShape(catalog.architecture("llama-3.1-8b"), catalog.gpu("a100-80gb"),
                         ServingLayout(tp=1, weight_format=weight_format("bf16"), kv_cache_dtype=kv_cache_dtype("fp16")),
                         EngineSettings(engine="vllm"))
    rate = max_request_rate_within_slo(shape, RequestMix.single(1000, 200), Slo(tpot_ms=tpot_ms, percentile=percentile))
    return rate.requests_per_s, rate.limit


__all__ = [name for name in dir() if not name.startswith("_")]
