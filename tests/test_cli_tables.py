"""Default tables fit 100 columns on every example; ``--wide`` shows every column; cells fold, never get cut."""

import functools
import io
import re

import pytest
from click.testing import CliRunner
from rich.console import Console

from planner.api import load_scenario, solve_scenario
from planner.catalog.pricing import pricing_summary
from planner.cli import cli
from planner.errors import InfeasibleError
from planner.report import tables
from planner.report.procurement import render_procurement
from planner.report.serving import render_solve_report
from planner.report.training import render_training_table
from tests.conftest import SCENARIOS

EXAMPLES = sorted(p for p in SCENARIOS.glob("*.yaml") if not p.name.startswith("sweep"))
BOX = re.compile(r"^[┏┃┡│└]")


@functools.cache
def _rendered(path, wide: bool) -> str:
    """The example's tables drawn on a console wide enough that rich never squeezes them (their natural width)."""
    scenario = load_scenario(path)
    console = Console(file=io.StringIO(), width=tables.WIDE_WIDTH, soft_wrap=False)
    if scenario.kind == "training":
        from planner.pipeline.training import solve_training

        render_training_table(solve_training(scenario), console, wide)
    elif scenario.demand is not None:
        from planner.pipeline.procurement import solve_procurement_scenario

        render_procurement(solve_procurement_scenario(scenario), console, wide)
    else:
        report = solve_scenario(scenario)
        render_solve_report(report, pricing_summary(scenario, report.plans[0]), console, wide)
    return console.file.getvalue()


def _table_widths(text: str) -> list[int]:
    return [len(line.rstrip()) for line in text.splitlines() if BOX.match(line)]


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.name != "budget-infeasible.yaml"], ids=lambda p: p.name)
def test_every_default_table_of_every_example_fits_100_columns(path):
    widths = _table_widths(_rendered(path, False))
    assert widths and max(widths) <= tables.DEFAULT_WIDTH


WIDE_ONLY = [
    ("owned-a100-top-up.yaml", ("EP", "activ. GiB", "overhead GiB", "graphs GiB", "capacity GiB", "TP link", "bound")),
    ("procurement-chat-daily-curve.yaml", ("order", "on premises", "reserve", "on demand (peak slot)", "spot")),
    ("training-llama-3.1-8b-lora-consumer-gpu.yaml", ("EP", "SP", "offload", "cuda_context", "nccl", "DP comm")),
]


@pytest.mark.parametrize("name, headers", WIDE_ONLY)
def test_wide_shows_the_columns_the_default_view_leaves_out(name, headers):
    default, wide = _rendered(SCENARIOS / name, False), _rendered(SCENARIOS / name, True)
    assert all(f" {h} " in _headers(wide) for h in headers)
    assert not all(f" {h} " in _headers(default) for h in headers)


def _headers(text: str) -> str:
    return " ".join(line for line in text.splitlines() if line.startswith("┃"))


def test_the_infeasible_example_has_no_table():
    with pytest.raises(InfeasibleError):
        solve_scenario(load_scenario(SCENARIOS / "budget-infeasible.yaml"))


COMMANDS = [["catalog", "gpus"], ["catalog", "models"], ["catalog", "formats"], ["catalog", "offers"],
            ["memory", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--tp", "4", "--batch", "32", "--context", "8192", "--explain"],
            ["memory", "--training", "--model", "llama-3.1-8b", "--dp", "8", "--zero", "3", "--explain"],
            ["perf", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--tp", "4", "--input-tokens", "2000", "--output-tokens", "300",
             "--request-rate", "8", "--explain"],
            ["perf", "--training", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--tp", "8", "--dp", "16", "--zero", "1",
             "--sequence-parallel", "--recompute", "selective", "--sequence-length", "8192", "--global-batch", "512"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_prints_within_100_columns_and_takes_wide(args, monkeypatch):
    natural = CliRunner().invoke(cli, args + ["--wide"])
    assert natural.exit_code == 0, natural.output
    monkeypatch.setattr(tables, "DEFAULT_WIDTH", tables.WIDE_WIDTH)  # no squeezing: the tables' own width
    unsqueezed = CliRunner().invoke(cli, args)
    assert max(_table_widths(unsqueezed.stdout)) <= 100
    monkeypatch.setattr(tables, "DEFAULT_WIDTH", 100)
    assert max(len(line) for line in CliRunner().invoke(cli, args).stdout.splitlines()) <= 100
    assert _columns(natural.stdout) >= _columns(unsqueezed.stdout)


def _columns(text: str) -> int:
    """Columns of all the tables in an output (counted on their top borders)."""
    return sum(line.count("┳") + 1 for line in text.splitlines() if line.startswith("┏"))


def test_a_narrow_terminal_folds_numbers_instead_of_cutting_them():
    console = Console(file=io.StringIO(), width=30)
    console.print(tables.table("t", [tables.left("name"), tables.Column("USD/h")], [("a-very-long-gpu-name", "123,456,789.125")]))
    text = console.file.getvalue()
    assert "…" not in text and "".join(re.findall(r"[\d,.]+", text.replace("│", " "))).find("123,456,789.125") >= 0


def test_wide_does_not_change_json():
    args = ["memory", "--model", "llama-3.1-8b", "--gpu", "l4", "--json"]
    assert CliRunner().invoke(cli, args).stdout == CliRunner().invoke(cli, args + ["--wide"]).stdout
