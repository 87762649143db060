"""Bad and hostile input gets one clear message and exit code 2 (or the right answer), never a traceback, within
seconds and bounded memory: the corpus of tests/data/bad/ plus inputs made here (``benchmarks/hostile.py``)."""

import resource
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.hostile import BAD, all_cases, problems
from planner.cli import cli

CASES = {case.name: case for case in all_cases()}
TIME_LIMIT_S = 30  # generous: a shared, loaded machine; benchmarks/hostile.py measures against 10 s
MEMORY_LIMIT_BYTES = 2 * 2**30


def test_the_corpus_has_at_least_120_files_and_each_has_an_expected_answer():
    import yaml

    files = sorted(p.name for p in BAD.iterdir() if p.name != "expected.yaml")
    assert len(files) >= 120
    assert set(files) == set(yaml.safe_load((BAD / "expected.yaml").read_text())["cases"]), \
        "every bad file needs a case in expected.yaml, and every case a file"


def test_every_class_of_the_corpus_is_there():
    kinds = {case.kind for case in CASES.values()}
    assert kinds == {"scenario", "config", "gpu-catalog", "model-catalog", "sweep", "architecture", "generated", "cli"}
    assert len(CASES) >= 250


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_hostile_input_is_answered_in_seconds_and_bounded_memory(name, tmp_path, monkeypatch):
    case = CASES[name]
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # the unreachable-cluster case: nothing listens on the discard port
    argv = case.prepare(tmp_path)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT_S)
    start = time.perf_counter()
    try:
        result = CliRunner().invoke(cli, argv)
    except _Timeout:
        pytest.fail(f"no answer within {TIME_LIMIT_S} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - start < TIME_LIMIT_S
    assert not isinstance(result.exception, _Timeout), f"no answer within {TIME_LIMIT_S} s"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert problems(case, result.exit_code, result.stdout, result.stderr) == [], (argv, result.stderr[-600:])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak < MEMORY_LIMIT_BYTES, "the test process (every case so far) stayed under 2 GiB"


@pytest.mark.parametrize("args, fragment", [
    (["memory", "--model", "llama-3.1-8b", "--tp", "2", "--ep", "3"], "--ep must be 1"),
    (["memory", "--tp", "2"], "give exactly one of --model"),
    (["memory", "--model", "llama-3.1-8b", "--gpu", "h100-sxn"], "did you mean 'h100-sxm'"),
    (["memory", "--model", "llama-3.1-8b", "--pp", "64"], "exceeds the model's 32 layers"),
    (["solve", str(BAD / "unknown-gpu.yaml"), "--time-limit", "0"], "--time-limit"),
    (["solve", str(BAD)], "is a directory"),
    (["solve", str(BAD / "no-such-file.yaml")], "not found"),
])
def test_bad_command_line_values_exit_2_with_one_message(args, fragment):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and "Traceback" not in result.output


def test_a_plot_destination_that_cannot_be_written_is_refused_before_solving(tmp_path, monkeypatch):
    import planner.api

    def never(*args, **kwargs):
        raise AssertionError("solved although the plot could not be written")

    monkeypatch.setattr(planner.api, "solve_scenario", never)
    result = CliRunner().invoke(cli, ["solve", str(BAD.parent.parent.parent / "scenarios" / "llama-3.1-8b-consumer-gpu.yaml"),
                                      "--plot", str(tmp_path / "missing" / "plot.png")])
    assert result.exit_code == 2 and "output folder not found" in result.stderr and result.stdout == ""


def test_debug_lets_the_traceback_through():
    from planner.errors import ScenarioError

    result = CliRunner().invoke(cli, ["--debug", "validate", str(BAD / "concurrency-zero.yaml")])
    assert isinstance(result.exception, ScenarioError)


def test_an_unexpected_exception_is_one_line_internal_error_exit_3(monkeypatch):
    import planner.pipeline.serving

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(planner.pipeline.serving, "prepare", broken)
    result = CliRunner().invoke(cli, ["validate", str(Path(__file__).resolve().parent.parent / "scenarios" / "llama-3.1-70b-chat.yaml")])
    assert result.exit_code == 3
    assert result.stderr.startswith("internal error: RuntimeError: boom") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_schema_describes_scenarios_and_both_catalogs_for_editors():
    import json

    scenario = json.loads(CliRunner().invoke(cli, ["schema"]).stdout)
    gpus = json.loads(CliRunner().invoke(cli, ["schema", "gpus"]).stdout)
    models = json.loads(CliRunner().invoke(cli, ["schema", "models"]).stdout)
    assert {"model", "workload"} <= set(scenario["required"])
    assert scenario["additionalProperties"] is False, "unknown keys are errors, so editors flag typos"
    assert {"memory_usable_mib", "price_usd_per_gpu_hour", "nvlink_domain_size"} <= set(gpus["$defs"]["GpuSpec"]["required"])
    assert {"id", "name"} <= set(models["$defs"]["ModelEntry"]["required"])
