"""Plots are written without a display, as non-empty PNG and SVG files."""

import matplotlib
import pytest

from planner.analysis.pareto import pareto_front
from planner.analysis.sweep import Axis
from planner.analysis.whatif import VariationResult, WhatIfReport
from planner.api import solve_scenario
from planner.errors import InputError
from planner.pipeline.serving import prepare
from planner.report.plots import plan_bills, plot_memory_bill, plot_pareto, plot_sweep
from planner.schema import validate_scenario

SMALL = validate_scenario({"model": "llama-3.1-8b", "gpus": ["l4", "l40s"], "parallelism": {"tp": [1], "pp": [1, 2]},
                           "workload": {"concurrency": 24, "context_tokens": 4096}})


def test_plots_use_the_headless_agg_backend():
    assert matplotlib.get_backend().lower() == "agg"


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_pareto_frontier_plot_is_written(tmp_path, suffix, magic):
    front = pareto_front(prepare(SMALL), "headroom", max_points=4)
    path = plot_pareto(front, tmp_path / f"frontier{suffix}")
    data = path.read_bytes()
    assert data.startswith(magic) and len(data) > 5000
    if suffix == ".svg":
        assert front.points[0].plan.gpu_mix in data.decode()


def test_memory_bill_plot_has_one_bar_per_replica_shape(tmp_path):
    plan = solve_scenario(SMALL).plans[0]
    bills = plan_bills(plan)
    assert len(bills) == len(plan.groups)
    svg = plot_memory_bill(bills, tmp_path / "bill.svg").read_text()
    assert "KV cache" in svg and "weights" in svg


def test_sweep_plot_draws_cost_against_the_swept_variable(tmp_path):
    rows = [VariationResult(f"c {n}", "optimal", 10**6 * n, f"{n}x l4", n, 0.2, axes=(Axis("concurrency", 8.0 * n, str(n)),))
            for n in (1, 2, 4)]
    report = WhatIfReport("small", VariationResult("baseline", "optimal", 10**6, "1x l4", 1, 0.2), tuple(rows), "local", 0.1)
    assert plot_sweep(report, tmp_path / "sweep.png").stat().st_size > 5000


def test_unknown_plot_format_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        plot_pareto(pareto_front(prepare(SMALL), "headroom", max_points=1), tmp_path / "frontier.jpg")
