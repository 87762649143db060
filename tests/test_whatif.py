"""What-if: overrides validated like the scenario, sweeps expanded and re-solved, same results on every executor."""

import json

import pytest
from click.testing import CliRunner

from planner.analysis.sweep import SweepFile, expand_range, load_sweep
from planner.analysis.whatif import WhatIf, parse_override, run_tasks, run_whatif
from planner.cli import cli
from planner.errors import InputError, ScenarioError
from planner.schema import validate_scenario
from tests.conftest import SCENARIOS

SMALL = """name: small
model: llama-3.1-8b
gpus: [l4, a10g, l40s]
parallelism: {tp: [1, 2], pp: [1, 2]}
workload: {concurrency: 16, context_tokens: 4096}
"""


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_set_overrides_a_nested_value(small):
    assert WhatIf(small, ["workload.concurrency=128"]).baseline.workload.concurrency == 128


def test_gpu_price_shortcut_sets_the_on_demand_price(small):
    scenario = WhatIf(small, ["gpus.l4.price=0.5"]).baseline
    assert scenario.gpu_override("l4").price_usd_per_gpu_hour == 0.5
    assert scenario.gpu_ids == ["l4", "a10g", "l40s"]


def test_unknown_key_in_set_is_an_error_with_did_you_mean(small):
    with pytest.raises(ScenarioError) as error:
        WhatIf(small, ["workload.concurency=64"])
    issue = error.value.issues[0]
    assert issue.source == "--set workload.concurency=64" and "unknown key 'concurency'" in issue.message
    assert "concurrency" in issue.suggestion


def test_unknown_top_level_key_suggests_the_full_path(small):
    with pytest.raises(ScenarioError) as error:
        WhatIf(small, ["concurrency=64"])
    assert "workload.concurrency" in error.value.issues[0].suggestion


def test_out_of_range_value_in_set_fails_like_the_scenario_file(small):
    with pytest.raises(ScenarioError) as from_set:
        WhatIf(small, ["workload.concurrency=0"])
    with pytest.raises(ScenarioError) as from_file:
        validate_scenario({"model": "llama-3.1-8b", "workload": {"concurrency": 0, "context_tokens": 4096}})
    assert from_set.value.issues[0].message == from_file.value.issues[0].message


def test_price_of_a_gpu_outside_the_scenario_is_an_error(small):
    with pytest.raises(InputError) as error:
        WhatIf(small, ["gpus.l40.price=1"])
    assert "l40s" in error.value.issues[0].suggestion


def test_set_without_equals_is_an_error():
    with pytest.raises(InputError):
        parse_override("workload.concurrency")


@pytest.mark.parametrize("text, base, expected", [
    ("64..1024 x2", None, [64, 128, 256, 512, 1024]),
    ("1x..16x x2", 128, [128, 256, 512, 1024, 2048]),
    ("-30%..+30% step 10%", 2.0, [1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6]),
    ("0.5..2 step 0.5", None, [0.5, 1.0, 1.5, 2.0]),
])
def test_range_grammar(text, base, expected):
    assert [value for _, value in expand_range(text, base)] == pytest.approx(expected)


def test_range_without_step_counts_by_one():
    assert [value for _, value in expand_range("64..70", None)] == [64, 65, 66, 67, 68, 69, 70]


@pytest.mark.parametrize("text", ["64...1024 x2", "1x..16% x2", "64..1024 x1", "10..1 step 1", "cheap..dear"])
def test_bad_ranges_are_input_errors(text):
    with pytest.raises(InputError):
        expand_range(text, 1.0)


def test_sweep_file_unknown_key_has_did_you_mean(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("sweeps:\n  - path: workload.concurrency\n    range: 1x..2x x2\n")
    with pytest.raises(ScenarioError) as error:
        load_sweep(path)
    issue = error.value.issues[0]
    assert issue.line == 1 and "sweep" in issue.suggestion


def test_every_variation_is_validated_before_solving(small):
    sweep = SweepFile.model_validate({"sweep": [{"path": "workload.concurrency", "values": [8, -1]}]})
    with pytest.raises(ScenarioError) as error:
        run_whatif(WhatIf(small), sweep, workers=1)
    assert "concurrency -1" in error.value.issues[0].message


def test_sweep_compares_each_variation_with_the_baseline(small):
    sweep = SweepFile.model_validate({"sweep": [{"path": "workload.concurrency", "range": "1x..4x x2"}],
                                      "variations": [{"name": "no l4", "set": {"gpus": ["a10g", "l40s"]}}]})
    report = run_whatif(WhatIf(small), sweep, workers=1)
    names = [v.name for v in report.variations]
    assert names == ["no l4", "concurrency 1x", "concurrency 2x", "concurrency 4x"]
    costs = [v.cost_usd_per_hour for v in report.variations[1:]]
    assert costs[0] == report.baseline.cost_usd_per_hour and costs == sorted(costs) and costs[2] > costs[0]
    delta, fraction = report.variations[3].delta_micro_vs(report.baseline)
    assert delta == report.variations[3].cost_micro_usd_per_hour - report.baseline.cost_micro_usd_per_hour
    assert delta / 10**6 == pytest.approx(costs[2] - costs[0]) and fraction == pytest.approx(delta / 10**6 / costs[0])
    assert "l4" not in report.variations[0].gpu_mix.replace("l40s", "")


def _tasks(small):
    analysis = WhatIf(small)
    sweep = SweepFile.model_validate({"sweep": [{"path": "gpus.l4.price", "range": "-40%..0% step 20%"}]})
    return analysis.tasks(analysis.variations(sweep))


def test_process_pool_gives_the_same_results_as_one_process(small):
    tasks = _tasks(small)
    assert run_tasks(tasks, "local", workers=2) == run_tasks(tasks, "local", workers=1)


def test_ray_executor_gives_the_same_results_as_the_local_pool(small, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    tasks = _tasks(small)
    assert run_tasks(tasks, "ray", workers=1) == run_tasks(tasks, "local", workers=1)


def test_whatif_cli_writes_csv_and_a_plot(tmp_path):
    plot = tmp_path / "sweep.png"
    result = CliRunner().invoke(cli, ["whatif", str(SCENARIOS / "llama-3.1-8b-consumer-gpu.yaml"), "--set",
                                      "workload.concurrency=16", "--format", "csv", "--workers", "1", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("variation,status,cost_usd_per_hour") and lines[1].startswith("baseline,optimal")
    assert lines[2].startswith("--set workload.concurrency=16,optimal") and plot.stat().st_size > 1000


def test_whatif_cli_json_has_rent_vs_buy_for_the_baseline_gpus():
    result = CliRunner().invoke(cli, ["whatif", str(SCENARIOS / "llama-3.1-8b-consumer-gpu.yaml"), "--format", "json"])
    data = json.loads(result.output)
    assert [row["gpu"] for row in data["rent_vs_buy"]] == [g["gpu"] for g in data["baseline"]["plan"]["replicas"]]


def test_whatif_cli_bad_set_exits_2():
    result = CliRunner().invoke(cli, ["whatif", str(SCENARIOS / "llama-3.1-8b-consumer-gpu.yaml"), "--set", "workload.concurency=1"])
    assert result.exit_code == 2 and "did you mean" in result.output


def test_example_sweeps_are_valid():
    for path in sorted(SCENARIOS.glob("sweep-*.yaml")):
        assert load_sweep(path).sweep
