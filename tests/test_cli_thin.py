"""The command line only parses and dispatches: its flags come from one table, its text from ``planner.report``,
its exit codes from ``planner.exits``; a closed stdout ends it quietly."""

import ast
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.configuration import flags
from planner.configuration.memory import MemoryRequest
from planner.configuration.performance import PerfRequest
from planner.configuration.training import TrainingMemoryRequest, TrainingPerfRequest
from planner.exits import BROKEN_PIPE_EXIT_CODE

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "planner" / "cli"
MAX_CLI_LINES = 410
"""The CLI package's size: 401 lines once the flag tables, exit codes, summaries, rules and schema choice moved out (619 before)."""

NOT_REQUEST_FIELDS = {"training", "explain", "plot_path"}  # mode switch and output options, used by the command itself


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_the_cli_package_stays_thin():
    lines = sum(len(path.read_text().splitlines()) for path in CLI.glob("*.py"))
    assert lines <= MAX_CLI_LINES


def test_the_cli_composes_no_text_and_draws_no_tables():
    """No f-strings or string formatting (beyond click's own parameter errors) and no rich in planner/cli."""
    composed = []
    for path in CLI.glob("*.py"):
        source = path.read_text()
        tree = ast.parse(source)
        composed += [ast.get_source_segment(source, node) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)]
        composed += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rich")]
    assert composed == ['f"{value!r} is not a finite number"']  # FiniteFloatRange's message, in click's own error format


@pytest.mark.parametrize(("table", "serving", "training"), [(flags.MEMORY, MemoryRequest, TrainingMemoryRequest),
                                                            (flags.PERF, PerfRequest, TrainingPerfRequest)])
def test_every_flag_fills_a_field_of_the_request_of_each_mode_it_belongs_to(table, serving, training):
    for mode, request in (("serving", serving), ("training", training)):
        names = {item.name for item in fields(request)}
        missing = [item.names[0] for item in table
                   if item.mode in (mode, "both") and item.field not in NOT_REQUEST_FIELDS and item.field not in names]
        assert missing == [], mode


@pytest.mark.parametrize("table", [flags.MEMORY, flags.PERF])
def test_a_flag_is_declared_once_per_command(table):
    spellings = [name for item in table for name in item.names]
    assert len(spellings) == len(set(spellings))


def test_serving_flags_with_training_are_refused_by_name():
    result = run("memory", "--training", "--model", "llama-3.1-8b", "--batch", "4", "--ngl", "3", "--ep", "2")
    assert result.exit_code == 2
    assert result.stderr == ("error: serving options do not apply with --training\n  - --training: given: --ep, --batch, --n-gpu-layers "
                             "(training takes --micro-batch and --sequence-length instead of --batch and --context)\n")


def test_training_flags_without_training_are_refused_by_name():
    result = run("perf", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--input-tokens", "5", "--output-tokens", "5", "--offline",
                 "--zero", "1", "--mfu", "0.4")
    assert result.exit_code == 2
    assert result.stderr == "error: training options need --training\n  - --training: given: --zero, --mfu\n"


def test_perf_training_takes_expert_parallelism():
    result = run("perf", "--training", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--ep", "1", "--json")
    assert result.exit_code == 0, result.output


def test_a_training_plan_has_no_plot_and_is_not_solved_for_one(tmp_path):
    result = run("solve", str(ROOT / "scenarios" / "training-llama-3.1-8b-lora-consumer-gpu.yaml"), "--plot", str(tmp_path / "plan.png"))
    assert (result.exit_code, result.stderr) == (2, "error: --plot is for serving plans\n  - --plot: training plans have no plot yet; "
                                                    "use --format json\n")


@pytest.mark.parametrize("option", ["--mfu", "--scale-up-bandwidth", "--inter-node-bandwidth"])
def test_a_float_flag_refuses_nan(option):
    result = run("perf", "--training", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", option, "nan")
    assert result.exit_code == 2 and "is not a finite number" in result.stderr


def test_the_request_rate_refuses_nan():
    result = run("perf", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--input-tokens", "5", "--output-tokens", "5",
                 "--request-rate", "nan")
    assert result.exit_code == 2 and "is not a finite number" in result.stderr


@pytest.mark.parametrize("args", [["catalog", "gpus"], ["catalog", "offers", "--json"], ["--help"], ["schema", "plan"]],
                         ids=["table", "large-json", "help", "schema"])
def test_a_closed_stdout_ends_quietly_with_141(args):
    """``planner ... | head``: the reader is gone before anything is written (small and large outputs, rich tables,
    click's help); no traceback, no 'infeasible', exit 141 as after SIGPIPE."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "planner", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               cwd=ROOT)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert (process.wait(timeout=60), stderr) == (BROKEN_PIPE_EXIT_CODE, "")


def test_the_cli_choices_are_the_libraries():
    """The command line names its choices without importing the library (start-up time); they must not drift."""
    from typing import get_args

    from planner.analysis.pareto import PAIRS
    from planner.analysis.whatif import Executor
    from planner.pipeline.serving import Method

    params = {command: {param.name: param for param in cli.commands[command].params} for command in ("solve", "whatif")}
    assert list(params["solve"]["method"].type.choices) == list(get_args(Method))
    assert list(params["solve"]["pareto"].type.choices) == [*PAIRS, "cost,time"]
    assert list(params["whatif"]["executor"].type.choices) == list(get_args(Executor))
