"""Scenario validation: every bad input becomes a located, explained issue."""

import pytest

from planner.errors import ScenarioError
from planner.schema import validate_scenario
from planner.yaml_io import parse_yaml

GOOD = "model: llama-3.1-8b\nworkload:\n  concurrency: 4\n  context_tokens: 2048\n"


def issues_of(text: str):
    data, locator = parse_yaml(text, "s.yaml")
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data, locator, "s.yaml")
    return caught.value.issues


def test_minimal_scenario_is_valid_with_documented_defaults():
    data, locator = parse_yaml(GOOD, "s.yaml")
    scenario = validate_scenario(data, locator, "s.yaml")
    assert scenario.model.id == "llama-3.1-8b"
    assert scenario.engine.name == "vllm" and scenario.engine.gpu_memory_utilization is None  # the engine's own default
    assert scenario.kv_cache_dtypes == ["fp16"]
    assert scenario.workload.tokens_per_sequence == 2048


def test_unknown_key_names_line_and_suggests_the_nearest_key():
    (issue,) = issues_of(GOOD + "min_headroon: 0.1\n")
    assert issue.field_path == "min_headroon"
    assert issue.line == 5 and issue.column == 1
    assert "min_headroom" in issue.suggestion


def test_unknown_nested_key_suggests_from_the_nested_schema():
    (issue,) = issues_of(GOOD + "engine:\n  gpu_memory_utilisation: 0.8\n")
    assert issue.field_path == "engine.gpu_memory_utilisation"
    assert "gpu_memory_utilization" in issue.suggestion


def test_prompt_plus_output_tokens_give_the_context():
    data, _ = parse_yaml("model: x\nworkload: {concurrency: 1, prompt_tokens: 1000, output_tokens: 24}\n", "s")
    assert validate_scenario(data).workload.tokens_per_sequence == 1024


@pytest.mark.parametrize("snippet, path", [
    ("workload: {concurrency: 0, context_tokens: 10}", "workload.concurrency"),
    ("workload: {concurrency: 1, context_tokens: 1000000000000}", "workload.context_tokens"),
    ("workload: {concurrency: 1}", "workload"),
])
def test_out_of_range_workload_is_rejected(snippet, path):
    issues = issues_of("model: llama-3.1-8b\n" + snippet + "\n")
    assert any(i.field_path == path for i in issues)


def test_utilisation_above_one_is_rejected():
    issues = issues_of(GOOD + "engine: {gpu_memory_utilization: 1.5}\n")
    assert issues[0].field_path == "engine.gpu_memory_utilization"


def test_unknown_weight_format_suggests_a_known_one():
    issues = issues_of(GOOD + "precisions: [bf61]\n")
    assert "bf16" in issues[0].message


def test_model_reference_needs_exactly_one_form():
    issues = issues_of("model: {id: llama-3.1-8b, config: c.json}\nworkload: {concurrency: 1, context_tokens: 8}\n")
    assert "exactly one" in issues[0].message


def test_malformed_yaml_reports_line_and_column():
    with pytest.raises(ScenarioError) as caught:
        parse_yaml("model: [unclosed\nworkload: 1\n", "bad.yaml")
    issue = caught.value.issues[0]
    assert issue.source == "bad.yaml" and issue.line is not None and issue.column is not None


TRAFFIC = "model: llama-3.1-8b\nworkload:\n  request_rate: 12.5\n  prompt_tokens: 1500\n  output_tokens: 300\n"


def test_traffic_workload_states_rate_lengths_and_a_p99_slo_by_default():
    data, _ = parse_yaml(TRAFFIC + "  slo: {ttft_ms: 800, tpot_ms: 40}\n", "s")
    workload = validate_scenario(data).workload
    assert workload.kind == "request_rate" and workload.is_traffic
    assert workload.demand_requests_per_s == 12.5 and workload.tokens_per_sequence == 1800
    assert workload.slo.percentile == "p99" and workload.slo.tpot_limit_ms == 40


def test_min_output_speed_per_user_is_a_tpot_limit():
    data, _ = parse_yaml(TRAFFIC + "  slo: {tpot_ms: 80, min_output_tokens_per_s_per_user: 25}\n", "s")
    assert validate_scenario(data).workload.slo.tpot_limit_ms == 40


def test_length_mix_weights_are_normalised_and_memory_uses_the_mean_length():
    data, _ = parse_yaml("model: x\nworkload:\n  request_rate: 2\n  length_mix:\n"
                         "    - {prompt_tokens: 500, output_tokens: 500, weight: 3}\n"
                         "    - {prompt_tokens: 7000, output_tokens: 1000, weight: 1}\n", "s")
    workload = validate_scenario(data).workload
    assert [b.weight for b in workload.buckets] == [0.75, 0.25]
    assert workload.tokens_per_sequence == 2750 and workload.longest_sequence_tokens == 8000


def test_offline_job_in_tokens_becomes_requests_and_a_rate_over_the_deadline():
    data, _ = parse_yaml("model: x\nworkload:\n  offline: {total_tokens: 3300000, deadline_hours: 2}\n"
                         "  prompt_tokens: 3000\n  output_tokens: 300\n", "s")
    workload = validate_scenario(data).workload
    assert workload.offline_requests == 1000
    assert workload.demand_requests_per_s == pytest.approx(1000 / 7200)


@pytest.mark.parametrize("snippet, path, words", [
    ("workload: {concurrency: 4, request_rate: 2, prompt_tokens: 1, output_tokens: 1}", "workload", "exactly one of"),
    ("workload: {request_rate: 2, context_tokens: 100}", "workload", "prompt_tokens and output_tokens"),
    ("workload: {request_rate: -1, prompt_tokens: 1, output_tokens: 1}", "workload.request_rate", "greater than 0"),
    ("workload: {request_rate: 2, prompt_tokens: 1, output_tokens: 1, slo: {percentile: p95, tpot_ms: 5}}",
     "workload.slo.percentile", "p50"),
    ("workload: {request_rate: 2, prompt_tokens: 1, output_tokens: 1, slo: {percentile: p90}}", "workload.slo", "at least one target"),
    ("workload: {concurrency: 2, context_tokens: 9, slo: {tpot_ms: 5}}", "workload", "slo needs request_rate"),
    ("workload: {offline: {requests: 5}, prompt_tokens: 1, output_tokens: 1}", "workload.offline.deadline_hours", "required"),
    ("workload: {offline: {requests: 5, total_tokens: 9, deadline_hours: 1}, prompt_tokens: 1, output_tokens: 1}",
     "workload.offline", "exactly one of"),
    ("workload: {request_rate: 2, prompt_tokens: 1, output_tokens: 1, prefix_cache_hit_rate: 30}",
     "workload.prefix_cache_hit_rate", "less than 1"),
    ("workload: {request_rate: 2, prompt_tokens: 1, output_tokens: 1, slo: {tpot: 5}}", "workload.slo.tpot", "unknown key"),
])
def test_bad_traffic_is_rejected_with_its_location(snippet, path, words):
    issues = issues_of("model: llama-3.1-8b\n" + snippet + "\n")
    assert any(i.field_path == path and words in i.message for i in issues), [(i.field_path, i.message) for i in issues]
