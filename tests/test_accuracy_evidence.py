"""The accuracy table: its cases quote the engines faithfully, and the memory model meets its goals on them."""

import pytest

from benchmarks import accuracy
from benchmarks.accuracy_serving import CASES, engine_of, serving_rows

from .conftest import reference_data

KNOWN_MISSES = {
    ("vllm-12330", "KV capacity (fully predicted)"),
    ("vllm-gptoss20b-a100-v019", "weights per GPU"),
}
"""vLLM #12330's 9.37 GiB activation peak comes from profiling settings the issue does not show (the row given the
logged peak is within 0.1 %). gpt-oss-20b on an A100 loads 0.9 GiB more than its MXFP4 tensors: vLLM repacks the
experts for the kernel it picks on that GPU (docs/engines.md)."""

ENGINES = ("vllm", "sglang", "trtllm", "llamacpp")


@pytest.fixture(scope="module")
def rows():
    return serving_rows()


@pytest.fixture(scope="module")
def reference():
    return {c["id"]: c for c in reference_data("serving_engine_logs.json")["cases"]}


def test_every_case_quotes_its_log_lines_verbatim_from_the_reference_data(reference):
    for case in CASES:
        logged = "\n".join(reference[case.case]["log_lines"])
        for line in case.log:
            assert line in logged, (case.case, line)


def test_every_case_has_a_source_and_the_same_role_as_the_reference_data(reference):
    for case in CASES:
        assert reference[case.case]["source"], case.case
        assert reference[case.case]["role"] == case.role in ("calibration", "validation"), case.case
        assert case.role == "validation" or case.calibrates, case.case


def test_measured_values_are_the_reference_values(reference):
    names = {"weights_gib": "weights_gib_per_gpu", "kv_tokens": "kv_tokens", "kv_cache_gib": "kv_cache_gib",
             "non_torch_gib": "non_torch_gib", "max_concurrency": "max_concurrency", "cuda_graph_gib": "cuda_graph_gib",
             "k_cache_gib": "k_cache_gib", "kv_self_mib": "kv_self_mib", "c_kv_mib": "c_kv_mib", "k_rope_mib": "k_rope_mib",
             "kv_bytes": "kv_bytes", "kv_budget_gib": "kv_budget_gib", "host_weights_mib": "host_weights_mib",
             "compute_mib": "compute_mib"}
    for case in CASES:
        theirs = reference[case.case]["measured"]
        for ours, key in names.items():
            if ours in case.measured and key in theirs:
                assert case.measured[ours] == pytest.approx(theirs[key], rel=1e-3), (case.case, ours)


def test_every_engine_has_validation_cases_for_weights_or_kv_and_for_capacity(rows):
    for engine in ENGINES:
        mine = [r for r in rows if r["engine"] == engine and r["role"] == "validation" and r.get("goal_pct")]
        assert mine, engine
        if engine != "llamacpp":  # llama.cpp allocates n_ctx cells outright: its KV size is the capacity
            assert any(r["quantity"].startswith(("KV capacity", "KV cache budget")) for r in mine), engine


def test_calibration_and_validation_cases_are_kept_apart():
    roles = {case.case: case.role for case in CASES}
    assert len(roles) == len(CASES)
    assert sum(role == "validation" for role in roles.values()) >= 7
    assert {engine_of(c) for c in CASES if c.role == "validation"} == set(ENGINES)


def test_weights_per_gpu_are_within_3_percent_of_every_engine_log(rows):
    weight_rows = [r for r in rows if "weights" in r["quantity"] or r["quantity"].startswith("host buffer")]
    assert len(weight_rows) >= 10
    for row in weight_rows:
        if (row["case"], row["quantity"]) not in KNOWN_MISSES:
            assert abs(accuracy.error_pct(row)) <= 3.0, row


def test_kv_bytes_per_token_reproduce_every_logged_kv_size(rows):
    kv_rows = [r for r in rows if r["quantity"].startswith(("KV cache for", "KV cache bytes", "K cache for", "KV self",
                                                           "c^KV", "K^R", "CUDA0 KV", "CUDA1 KV"))]
    assert len(kv_rows) >= 12
    for row in kv_rows:
        assert abs(accuracy.error_pct(row)) <= 0.5, row  # logs print two decimals


def test_kv_capacity_is_within_5_percent_of_every_engine_except_the_documented_case(rows):
    capacity_rows = [r for r in rows if r["quantity"].startswith(("KV capacity", "KV cache budget"))]
    misses = {(r["case"], r["quantity"]) for r in capacity_rows if abs(accuracy.error_pct(r)) > 5.0}
    assert len(capacity_rows) >= 11
    assert misses <= KNOWN_MISSES


def test_every_row_has_the_columns_of_the_table(rows):
    for row in rows:
        assert {"case", "source", "quantity", "measured", "predicted", "unit", "engine", "role"} <= set(row)


def test_training_rows_join_the_table_when_their_module_exists(tmp_path, monkeypatch):
    (tmp_path / "extra_rows.py").write_text(
        "def training_rows():\n    return [dict(case='t', source='s', quantity='q', measured=2.0, predicted=2.1, unit='GiB')]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(accuracy, "ROW_SOURCES", (("extra_rows", "training_rows"), ("no_such_module_here", "rows")))
    collected = accuracy.collect_rows()
    assert [r["case"] for r in collected] == ["t"]
    assert accuracy.error_pct(collected[0]) == pytest.approx(5.0)
    assert "| t | s | q | 2 | 2.1 | GiB | +5.00 |" in accuracy.render_markdown(collected)


TRAINING_KNOWN_MISSES = {"llama-2-7b QLORA r8, mb 1, s 1304", "llama-2-13b QLORA r8, mb 1, s 1304"}
"""LitGPT's QLoRA peaks are 20 % above the NF4 weights, adapters and activations the model counts; the LoRA runs of
the same table are within 5 % (docs/engines.md, training peaks)."""


def test_measured_training_peaks_are_the_reference_values():
    from benchmarks.accuracy_training import LITGPT_RUNS, LITGPT_TRAINABLE

    reference = {c["id"]: c for c in reference_data("training_peaks.json")["cases"]}
    litgpt = reference["litgpt-lora-llama2-a100-40gb"]
    for model, method, micro_batch, measured in LITGPT_RUNS:
        assert litgpt["measured"][f"{model} {method} mb{micro_batch}"] == measured
        assert any(f"{measured:.2f} GB" in line for line in litgpt["quote_lines"])
    for model, trainable in LITGPT_TRAINABLE.items():
        assert litgpt["measured"][f"{model} trainable"] == trainable
    published = {c["id"]: c for c in reference_data("training_published.json")["cases"]}
    gpt2 = reference["megatron-gpt2xl-1gpu-theoretical-vs-nvidia-smi"]
    assert all(line in published[gpt2["id"]]["quote"] for line in gpt2["quote_lines"])


def test_measured_training_peaks_are_within_15_percent_except_the_documented_qlora_runs():
    from benchmarks.accuracy_training import training_rows

    measured = [r for r in training_rows() if r["role"] in ("calibration", "validation") and r["unit"] != "params"]
    assert len(measured) >= 6
    misses = {r["case"] for r in measured if abs(accuracy.error_pct(r)) > 15.0}
    assert misses == TRAINING_KNOWN_MISSES
