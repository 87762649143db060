"""``planner perf``: one configuration's predicted performance; flags, JSON shape and bad input (exit 2)."""

import json

import pytest
from click.testing import CliRunner

from planner.cli import cli

BASE = ("perf", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--input-tokens", "1000", "--output-tokens", "200")


def run(*args):
    return CliRunner().invoke(cli, list(args))


def perf_json(*extra):
    result = run(*BASE, *extra, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("load", [("--batch-size", "8"), ("--concurrency", "32"), ("--request-rate", "4"),
                                  ("--offline",), ("--offline", "--num-requests", "50")])
def test_every_load_reports_the_documented_keys(load):
    data = perf_json(*load)
    for key in ("output_tokens_per_s", "requests_per_s", "ttft_ms", "tpot_ms", "e2e_latency_ms", "batch_size", "bound", "breakdown"):
        assert key in data, key
    for key in ("ttft_ms", "tpot_ms", "e2e_latency_ms"):
        assert set(data[key]) == {"mean", "p50", "p90", "p99"}
    assert data["bound"] in ("compute", "memory-bandwidth", "communication", "kv-capacity")
    assert data["breakdown"]["step_ms"] > 0 and data["output_tokens_per_s"] > 0


def test_replicas_scale_the_whole_system_figures():
    one = perf_json("--request-rate", "2")
    three = perf_json("--request-rate", "6", "--replicas", "3")
    assert three["output_tokens_per_s"] == pytest.approx(3 * one["output_tokens_per_s"], rel=1e-3)
    assert three["requests_per_s"] == pytest.approx(6, rel=1e-3) and three["gpus"] == 3
    assert three["tpot_ms"]["mean"] == pytest.approx(one["tpot_ms"]["mean"], rel=1e-3)


def test_flags_reach_the_model():
    data = perf_json("--batch-size", "16", "--engine", "trtllm", "--precision", "fp8", "--kv-cache-dtype", "fp8",
                     "--max-num-batched-tokens", "4096")
    assert (data["engine"], data["weight_format"], data["kv_cache_dtype"], data["compute_precision"]) == ("trtllm", "fp8", "fp8", "fp8")
    assert data["max_num_batched_tokens"] == 4096
    tp2 = perf_json("--batch-size", "16", "--tp", "2")
    assert tp2["tp"] == 2 and tp2["tp_link"] == "nvswitch" and tp2["gpus"] == 2


def test_a_saturating_rate_says_so_and_reports_unbounded_ttft():
    data = perf_json("--request-rate", "10000")
    assert data["saturated"] and data["ttft_ms"]["mean"] is None
    assert data["notes"] and "grows without bound" in data["notes"][0]


def test_table_output_and_explain():
    result = run(*BASE, "--concurrency", "16", "--explain")
    assert result.exit_code == 0, result.output
    for text in ("TTFT ms", "TPOT ms", "output tokens/s", "weights_read", "Pollaczek-Khinchine", "efficiency (hopper, vllm)"):
        assert text in result.output, text


@pytest.mark.parametrize("args,message", [
    ((), "give exactly one load"),
    (("--batch-size", "4", "--request-rate", "2"), "give exactly one load"),
    (("--concurrency", "4", "--num-requests", "9"), "--num-requests needs --offline"),
    (("--batch-size", "4", "--tp", "3"), "invalid tensor-parallel degree"),
    (("--batch-size", "4", "--precision", "fp7"), "unknown weight format"),
    (("--batch-size", "4", "--engine", "vllmm"), "unknown serving engine"),
    (("--batch-size", "4", "--engine", "sglang", "--max-num-seqs", "64"), "no SGLang counterpart"),
    (("--batch-size", "4", "--kv-cache-dtype", "fp9"), "unknown KV-cache dtype"),
])
def test_bad_or_contradictory_flags_exit_2_with_a_clear_message(args, message):
    result = run(*BASE, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_missing_gpu_or_lengths_exit_2():
    result = run("perf", "--model", "llama-3.1-8b", "--input-tokens", "10", "--output-tokens", "10", "--offline")
    assert result.exit_code == 2 and "--gpu is required" in result.output
    result = run("perf", "--model", "llama-3.1-8b", "--gpu", "l4", "--offline")
    assert result.exit_code == 2 and "request lengths are required" in result.output
    result = run("perf", "--model", "llama-3.1-8b", "--gpu", "h100-sxmm", "--input-tokens", "10", "--output-tokens", "10", "--offline")
    assert result.exit_code == 2 and "did you mean" in result.output


def test_a_model_that_leaves_no_kv_cache_is_infeasible():
    result = run("perf", "--model", "llama-3.1-70b", "--gpu", "a100-80gb", "--input-tokens", "1000", "--output-tokens", "100",
                 "--batch-size", "1")
    assert result.exit_code == 1 and "no sequence fits" in result.output


def test_a_batch_larger_than_the_kv_cache_is_infeasible():
    result = run(*BASE, "--batch-size", "100000")
    assert result.exit_code == 1 and "the batch does not fit" in result.output
