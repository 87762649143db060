"""The serving performance model: physical limits, how latency moves with load and layout, the SLO search,
and published measurements it was not fitted on."""

import math
from pathlib import Path

import pytest

from benchmarks.accuracy_performance import case_rows, load_cases
from planner.catalog import default_catalog
from planner.memory.parameters import count_parameters
from planner.memory.serving import EngineSettings, ServingLayout, weight_bytes_by_stage
from planner.model.formats import kv_cache_dtype, weight_format
from planner.performance.serving import (
    Concurrency,
    Offline,
    RequestMix,
    RequestRate,
    ServingShape,
    Slo,
    StaticBatch,
    kv_max_sequences,
    max_request_rate_within_slo,
    predict,
    shape_steps,
)
from planner.performance.topology import TopologyOverride, node_topology

DATA = Path(__file__).parent / "data" / "serving_performance_cases.json"


def shape(model="llama-3.1-8b", gpu="h100-sxm", tp=1, pp=1, fmt="bf16", kv="fp16", engine="vllm", topology=None, **knobs):
    catalog = default_catalog()
    settings = EngineSettings(engine=engine, max_num_batched_tokens=knobs.get("budget", 8192), max_num_seqs=knobs.get("seqs", 256))
    return ServingShape(catalog.architecture(model), catalog.gpu(gpu), ServingLayout(tp, pp, 1, weight_format(fmt), kv_cache_dtype(kv)),
                        settings, topology=topology)


MIX = RequestMix.single(1000, 200)


# --- physical limits ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("model,gpu,tp,fmt", [("llama-3.1-8b", "h100-sxm", 1, "bf16"), ("llama-3.1-70b", "a100-80gb", 4, "bf16"),
                                              ("llama-3.1-70b", "h100-sxm", 2, "fp8"), ("mixtral-8x7b", "l40s", 4, "fp8"),
                                              ("qwen2.5-7b", "rtx-4090", 1, "int4-awq")])
def test_no_decode_step_is_faster_than_reading_the_weights_at_full_bandwidth(model, gpu, tp, fmt):
    s = shape(model, gpu, tp, fmt=fmt)
    performance = predict(s, MIX, StaticBatch(1))
    dense_weights = min(weight_bytes_by_stage(s.arch, s.layout))
    if s.arch.is_moe:  # one token touches k of E experts
        dense_weights *= s.arch.experts_per_token / s.arch.num_experts
    floor_ms = dense_weights / (s.gpu.memory_bandwidth_gbps * 1e9) * 1000
    assert performance.tpot_ms.mean > floor_ms


@pytest.mark.parametrize("load", [Offline(5000), StaticBatch(256), Concurrency(512), RequestRate(50.0)])
def test_no_throughput_beats_the_gpus_peak_flops(load):
    s = shape("llama-3.1-8b", "h100-sxm", fmt="fp8")
    performance = predict(s, MIX, load)
    tokens_per_s = performance.requests_per_s * (MIX.mean_input_tokens + MIX.mean_output_tokens)
    flops_per_s = tokens_per_s * 2 * count_parameters(s.arch).active
    assert flops_per_s < s.gpu.dense_tflops("fp8") * 1e12


def test_prefill_is_never_faster_than_its_flops_at_peak():
    s = shape("llama-3.1-70b", "h100-sxm", tp=4)
    ttft_ms = predict(s, RequestMix.single(8000, 1), StaticBatch(1)).ttft_ms.mean
    floor_ms = 2 * count_parameters(s.arch).active * 8000 / (4 * s.gpu.dense_tflops("bf16") * 1e12) * 1000
    assert ttft_ms > floor_ms


# --- batch and load -----------------------------------------------------------------------------------------

def test_tpot_grows_and_per_user_speed_falls_with_batch():
    s = shape("llama-3.1-70b", "a100-80gb", tp=4)
    runs = [predict(s, MIX, StaticBatch(b)) for b in (1, 2, 8, 32, 64, 128)]
    tpots = [r.tpot_ms.mean for r in runs]
    assert tpots == sorted(tpots) and tpots[-1] > 1.5 * tpots[0]
    speeds = [r.output_tokens_per_s_per_user for r in runs]
    assert speeds == sorted(speeds, reverse=True)
    throughputs = [r.output_tokens_per_s for r in runs]
    assert throughputs == sorted(throughputs)


def test_ttft_grows_with_load_and_diverges_near_saturation():
    s = shape("llama-3.1-8b", "a100-80gb")
    capacity = predict(s, MIX, RequestRate(1.0)).max_requests_per_s_per_replica
    rates = [capacity * f for f in (0.1, 0.3, 0.5, 0.7, 0.9, 0.97, 0.995)]
    ttfts = [predict(s, MIX, RequestRate(r)).ttft_ms.p99 for r in rates]
    assert ttfts == sorted(ttfts)
    assert ttfts[-1] > 10 * ttfts[0]
    beyond = predict(s, MIX, RequestRate(capacity * 1.2))
    assert beyond.saturated and math.isinf(beyond.ttft_ms.mean)
    assert beyond.requests_per_s == pytest.approx(capacity, rel=1e-6)


def test_percentiles_are_ordered():
    performance = predict(shape(), RequestMix(((200, 100, 3.0), (4000, 400, 1.0))), RequestRate(8.0))
    for latency in (performance.ttft_ms, performance.tpot_ms, performance.e2e_latency_ms):
        assert latency.p50 <= latency.p90 <= latency.p99


def test_a_closed_loop_beyond_the_batch_limit_queues_and_keeps_throughput_flat():
    s = shape("llama-3.1-8b", "a100-80gb", seqs=64)
    small, at_limit, far = (predict(s, MIX, Concurrency(c)) for c in (16, 128, 512))
    assert far.output_tokens_per_s == pytest.approx(at_limit.output_tokens_per_s, rel=0.02)
    assert far.ttft_ms.mean > 3 * at_limit.ttft_ms.mean > 3 * small.ttft_ms.mean
    assert far.batch_size <= 64 + 1e-9


def test_offline_runs_the_largest_batch_and_beats_any_online_load():
    s = shape("llama-3.1-8b", "h100-sxm")
    offline = predict(s, MIX, Offline(10_000))
    assert offline.batch_size == pytest.approx(min(256, kv_max_sequences(s, MIX)), rel=0.01)
    assert offline.output_tokens_per_s >= predict(s, MIX, Concurrency(64)).output_tokens_per_s
    # the last request waits for every earlier one: mean TTFT ~ half the job's length
    job_s = 10_000 / offline.requests_per_s
    assert offline.ttft_ms.mean / 1000 == pytest.approx(job_s / 2, rel=0.15) and offline.ttft_ms.p99 > offline.ttft_ms.mean


def test_replicas_multiply_throughput_at_the_same_per_replica_load():
    s = shape()
    one = predict(s, MIX, RequestRate(2.0))
    four = predict(s, MIX, RequestRate(8.0), replicas=4)
    assert four.output_tokens_per_s == pytest.approx(4 * one.output_tokens_per_s)
    assert four.tpot_ms.mean == pytest.approx(one.tpot_ms.mean)


def test_prefix_cache_hits_shorten_ttft():
    s = shape("llama-3.1-70b", "h100-sxm", tp=4)
    cold = predict(s, RequestMix.single(8000, 200), RequestRate(1.0))
    warm = predict(s, RequestMix.single(8000, 200, prefix_cache_hit_rate=0.75), RequestRate(1.0))
    assert warm.ttft_ms.mean < 0.5 * cold.ttft_ms.mean


def test_moe_decode_at_batch_one_reads_only_the_routed_experts():
    steps = shape_steps(shape("mixtral-8x7b", "h100-sxm", tp=2))
    assert steps.touched_expert_fraction(1) == pytest.approx(2 / 8)
    assert steps.touched_expert_fraction(64) > 0.999
    mixtral = predict(shape("mixtral-8x7b", "h100-sxm", tp=2), MIX, StaticBatch(1)).tpot_ms.mean
    dense_70b = predict(shape("llama-2-70b", "h100-sxm", tp=2), MIX, StaticBatch(1)).tpot_ms.mean
    assert mixtral < 0.5 * dense_70b


# --- layout and links ---------------------------------------------------------------------------------------

def test_tensor_parallelism_over_a_slower_link_is_slower():
    gpu = default_catalog().gpu("h100-sxm")
    nvswitch = shape("llama-3.1-70b", "h100-sxm", tp=8)
    slow = shape("llama-3.1-70b", "h100-sxm", tp=8, topology=node_topology(gpu, TopologyOverride(scale_up_bandwidth_gb_per_s=25.0)))
    for load in (StaticBatch(1), StaticBatch(64)):
        assert predict(slow, MIX, load).tpot_ms.mean > predict(nvswitch, MIX, load).tpot_ms.mean
    fast_run, slow_run = predict(nvswitch, MIX, StaticBatch(64)), predict(slow, MIX, StaticBatch(64))
    assert slow_run.breakdown_ms["communication_ms"] > 5 * fast_run.breakdown_ms["communication_ms"]


def test_tp_over_pcie_l40s_pays_for_its_all_reduces():
    run = predict(shape("llama-3.1-70b", "l40s", tp=4, fmt="fp8", kv="fp8"), MIX, StaticBatch(32))
    assert shape_steps(shape("llama-3.1-70b", "l40s", tp=4)).tp_link == "pcie"
    assert run.breakdown_ms["communication_ms"] > 0.1 * run.breakdown_ms["step_ms"]


def test_tensor_parallelism_beats_pipeline_parallelism_on_latency_inside_a_node():
    tp4 = predict(shape("llama-3.1-70b", "h100-sxm", tp=4), MIX, StaticBatch(1))
    tp2_pp2 = predict(shape("llama-3.1-70b", "h100-sxm", tp=2, pp=2), MIX, StaticBatch(1))
    assert tp4.tpot_ms.mean < 0.75 * tp2_pp2.tpot_ms.mean
    assert tp4.ttft_ms.mean < tp2_pp2.ttft_ms.mean


def test_pipeline_stages_add_latency_but_keep_batch_throughput():
    one = predict(shape("llama-3.1-8b", "a100-80gb", tp=1), MIX, StaticBatch(1))
    four = predict(shape("llama-3.1-8b", "a100-80gb", pp=4), MIX, StaticBatch(1))
    assert four.tpot_ms.mean >= one.tpot_ms.mean
    big_one = predict(shape("llama-3.1-8b", "a100-80gb"), MIX, StaticBatch(64))
    big_four = predict(shape("llama-3.1-8b", "a100-80gb", pp=4), MIX, StaticBatch(64))
    assert big_four.output_tokens_per_s > 1.5 * big_one.output_tokens_per_s  # four GPUs, micro-batches in flight


def test_fp8_on_hopper_prefills_faster_than_bf16_and_int4_does_not():
    def ttft(fmt):
        return predict(shape("llama-3.1-70b", "h100-sxm", tp=4, fmt=fmt), RequestMix.single(4000, 1), StaticBatch(1)).ttft_ms.mean
    assert ttft("fp8") < 0.8 * ttft("bf16")
    assert ttft("int4-awq") > 0.9 * ttft("bf16")


# --- the largest rate within an SLO -------------------------------------------------------------------------

def test_sustainable_rate_is_monotone_in_the_slo():
    s = shape("llama-3.1-70b", "h100-sxm", tp=4, fmt="fp8", kv="fp8")
    mix = RequestMix.single(2000, 300)
    by_tpot = [max_request_rate_within_slo(s, mix, Slo(tpot_ms=t, percentile="p90")).requests_per_s for t in (25, 30, 40, 60, 100)]
    assert by_tpot == sorted(by_tpot) and by_tpot[0] < by_tpot[-1]
    by_ttft = [max_request_rate_within_slo(s, mix, Slo(ttft_ms=t, percentile="p99")).requests_per_s for t in (300, 500, 1000, 3000)]
    assert by_ttft == sorted(by_ttft) and by_ttft[0] < by_ttft[-1]
    percentiles = [max_request_rate_within_slo(s, mix, Slo(ttft_ms=500, tpot_ms=40, percentile=p)).requests_per_s
                   for p in ("p99", "p90", "p50")]
    assert percentiles == sorted(percentiles)


def test_the_sustained_rate_meets_its_slo_and_a_little_more_breaks_it():
    s = shape("llama-3.1-8b", "a100-80gb")
    slo = Slo(ttft_ms=300, tpot_ms=25, percentile="p99")
    result = max_request_rate_within_slo(s, MIX, slo)
    assert result.requests_per_s > 0 and ("TTFT" in result.limit or "TPOT" in result.limit)
    at = predict(s, MIX, RequestRate(result.requests_per_s))
    assert at.ttft_ms.p99 <= 300 * 1.001 and at.tpot_ms.p99 <= 25 * 1.001
    over = predict(s, MIX, RequestRate(result.requests_per_s * 1.05))
    assert over.ttft_ms.p99 > 300 or over.tpot_ms.p99 > 25
    assert result.performance.requests_per_s == pytest.approx(result.requests_per_s)


def test_no_rate_meets_an_slo_faster_than_one_sequence_decodes():
    result = max_request_rate_within_slo(shape("llama-3.1-70b", "a100-80gb", tp=4), MIX, Slo(tpot_ms=5, percentile="p50"))
    assert result.requests_per_s == 0 and result.performance is None
    assert result.limit.startswith("TPOT at batch 1") and "> 5 ms" in result.limit


def test_a_loose_slo_is_limited_by_the_kv_cache():
    s = shape("llama-3.1-70b", "h100-sxm", tp=4)
    result = max_request_rate_within_slo(s, MIX, Slo(ttft_ms=600_000, tpot_ms=10_000), max_sequences=40)
    assert result.limit.startswith("KV cache (40 sequences)")
    assert result.performance.batch_size <= 40


def test_per_user_speed_is_a_tpot_bound():
    s = shape()
    a = max_request_rate_within_slo(s, MIX, Slo(tpot_ms=20, percentile="p90")).requests_per_s
    b = max_request_rate_within_slo(s, MIX, Slo(min_output_tokens_per_s_per_user=50, percentile="p90")).requests_per_s
    assert a == pytest.approx(b, rel=0.01)


# --- inputs -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"buckets": ()}, {"buckets": ((0, 10, 1.0),)}, {"buckets": ((10, 10, 0.0),)},
                                    {"buckets": ((10, 10, 1.0),), "prefix_cache_hit_rate": 1.0}])
def test_request_mix_rejects_impossible_lengths(kwargs):
    with pytest.raises(ValueError):
        RequestMix(**kwargs)


@pytest.mark.parametrize("kwargs", [{"percentile": "p75"}, {"ttft_ms": 0}, {"tpot_ms": -1.0}])
def test_slo_rejects_bad_targets(kwargs):
    with pytest.raises(ValueError):
        Slo(**kwargs)


# --- published measurements the constants were not fitted on -----------------------------------------------

KNOWN_WIDE = {("nim180-llama33-70b-h100x2-fp8-tp2-5000-500-c100", "ttft_ms")}
"""Queueing behind 100 clients depends on how many sequences NIM's profile admits, which its docs do not state."""


def test_published_validation_cases_are_reproduced_within_25_percent():
    rows = case_rows(load_cases(DATA))
    assert len(rows) >= 15 and {r["split"] for r in rows} == {"validation"}
    for row in rows:
        limit = 100.0 if (row["case"], row["metric"]) in KNOWN_WIDE else 25.0
        assert abs(row["error_pct"]) <= limit, row
