"""The performance model's accuracy evidence: every case quotes its source, calibration and validation cases
are kept apart, and the model meets the issue's goals on the cases it was not fitted on."""

import re
from pathlib import Path

import pytest

from benchmarks.accuracy_performance import CASES_PATH, GOALS_PCT, case_rows, load_cases, load_sources, summary

TEST_COPY = Path(__file__).parent / "data" / "serving_performance_cases.json"


@pytest.fixture(scope="module")
def rows():
    return case_rows()


def _numbers(text):
    return {float(token.replace(",", "")) for token in re.findall(r"\d[\d,]*\.?\d*", text)}


def test_every_measured_number_is_quoted_from_its_source():
    sources = load_sources()
    for case in load_cases():
        assert case["split"] in ("calibration", "validation"), case["id"]
        assert case["source"]["group"] in sources and case["source"]["quote"], case["id"]
        quoted = _numbers(case["source"]["quote"])
        measured = case["measured"]
        if "quoted_values" in measured:  # derived from printed values (e.g. tokens/s from a latency)
            values = list(measured["quoted_values"])
        else:
            values = [measured.get("output_tokens_per_s_per_gpu", measured.get("output_tokens_per_s"))]
            values += [measured[key]["value"] for key in ("ttft_ms", "tpot_ms", "e2e_latency_ms") if key in measured]
        for value in values:
            if value is not None:
                assert any(abs(q - value) < 1e-6 for q in quoted), (case["id"], value)


def test_cases_cover_engines_gpus_models_and_loads():
    cases = load_cases()
    assert len(cases) >= 40
    assert {c["engine"] for c in cases} >= {"vllm", "sglang", "trtllm"}
    assert len({c["gpu"] for c in cases}) >= 5 and len({c["model"] for c in cases}) >= 5
    assert {c["tp"] for c in cases} >= {1, 2, 4, 8}
    assert {c["workload"]["load"] for c in cases} == {"static_batch", "offline", "concurrency", "request_rate"}


def test_calibration_and_validation_are_apart_and_validation_dominates():
    cases = load_cases()
    calibration = [c for c in cases if c["split"] == "calibration"]
    validation = [c for c in cases if c["split"] == "validation"]
    assert len(calibration) >= 20 and len(validation) >= 3 * len(calibration)
    assert not {c["id"] for c in calibration} & {c["id"] for c in validation}
    copied = {c["id"] for c in load_cases(TEST_COPY)}
    assert copied <= {c["id"] for c in validation}


def test_validation_errors_meet_the_issue_goals(rows):
    validation = summary(rows)["validation"]
    for metric, goal in GOALS_PCT.items():
        assert validation[metric]["median_abs_error_pct"] <= goal, (metric, validation[metric])


KNOWN_BEYOND_TWO = {"trtllm090-mixtral8x7b-h200-tp2-bs1-ttft-2048", "trtllm090-mixtral-h200-fp8-tp2-bs1024-128-128"}
"""TensorRT-LLM 0.9's FP8 Mixtral rows on Hopper ran the experts at about half the speed the model expects (its
2,048-token TTFT on H100 is only 1.8x A100's, where dense models gain 4x); 0.13's Mixtral cases are within 15 %. The
v0.9.0 MoE plugin (no FP8 runner, SM80 grouped GEMMs on Hopper) does not reproduce the table's short-prompt rows,
so no rule models it (docs/performance.md, "Known misses")."""


def test_no_validation_case_is_off_by_more_than_two_x_but_the_known_ones(rows):
    beyond = {r["case"] for r in rows if r["split"] == "validation" and r["factor"] > 2.0}
    assert beyond <= KNOWN_BEYOND_TWO
    assert max(r["factor"] for r in rows) < 2.1


def test_the_copy_for_tests_matches_the_benchmark_data():
    originals = {c["id"]: c for c in load_cases(CASES_PATH)}
    for case in load_cases(TEST_COPY):
        assert case == originals[case["id"]]
