"""``planner solve``, ``whatif`` and ``validate``: a scenario in, a plan (or a comparison) out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..report.output import check_plot
from .base import FORMAT_OUTPUT, FiniteFloatRange, plot_option

if TYPE_CHECKING:  # types only: the command line imports the library when a command runs
    from ..analysis.whatif import Executor
    from ..pipeline.serving import Method

SCENARIO = click.argument("scenario_path", metavar="SCENARIO", type=click.Path(dir_okay=False))
SERVING_PAIRS = ("cost,headroom", "cost,gpus", "cost,concurrency", "cost,tpot", "cost,ttft")


@click.command()
@SCENARIO
@FORMAT_OUTPUT
@click.option("--method", type=click.Choice(["cpsat", "enumerate"]), default="cpsat", show_default=True,
              help="cpsat: mixed fleets, proven optimal; enumerate: exhaustive homogeneous reference.")
@click.option("--time-limit", type=FiniteFloatRange(0.01, 3600), default=None,
              help="Solver time limit in seconds [default: the scenario's solver.time_limit_s, 10]. When it is hit, or on "
                   "Ctrl-C, the best plan found so far is printed with status 'feasible' and its proven gap.")
@click.option("--pareto", type=click.Choice([*SERVING_PAIRS, "cost,time"]), is_flag=False, flag_value="cost,headroom", default=None,
              help="Pareto set of plans over two objectives (default pair: cost,headroom).")
@click.option("--pareto-points", type=click.IntRange(1, 1000), default=20, show_default=True, help="Most Pareto points to find.")
@plot_option("Write a plot (.png or .svg): the frontier with --pareto, else the plan's memory bill per GPU.")
def solve(scenario_path: str, output_format: str, wide: bool, method: Method, time_limit: float | None, pareto: str | None,
          pareto_points: int, plot_path: str | None) -> None:
    """Solve a scenario: the cheapest verified plan that meets its demand.

    \b
    Example:
      planner solve scenarios/llama-3.1-70b-chat.yaml --format json
      planner solve scenarios/llama-3.1-70b-chat.yaml --pareto cost,headroom --plot frontier.png
    """
    from ..api import load_scenario, plan
    from ..report.output import show

    check_plot(plot_path)
    answer = plan(load_scenario(scenario_path), method, time_limit, pareto, pareto_points, plot_path is not None)
    show(answer, output_format, wide, plot_path)


@click.command()
@SCENARIO
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="Override a scenario value (gpus.<id>.price=1.8 is the GPU's on-demand price). Without --sweep the "
                   "overrides are one variation compared with the file; with --sweep they change the baseline too.")
@click.option("--sweep", "sweep_path", type=click.Path(dir_okay=False), default=None, help="Sweep file: named variations and ranges.")
@FORMAT_OUTPUT
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: the RAY_ADDRESS cluster or a local Ray instance.")
@click.option("--workers", type=click.IntRange(1, 4096), default=None, help="Parallel solves (default: the CPU count).")
@click.option("--sensitivity", is_flag=True,
              help="Also find, by re-solving, how far each used GPU's price can move before the baseline plan changes.")
@plot_option("Write cost vs the swept variable (.png or .svg).")
def whatif(scenario_path: str, overrides: tuple[str, ...], sweep_path: str | None, output_format: str, wide: bool, executor: Executor,
           workers: int | None, sensitivity: bool, plot_path: str | None) -> None:
    """Re-solve a scenario under changes and compare each variation with the baseline.

    \b
    Example:
      planner whatif scenarios/llama-3.1-70b-chat.yaml --set gpus.h100-sxm.price=1.8 --set workload.concurrency=128
      planner whatif scenarios/llama-3.1-70b-chat.yaml --sweep scenarios/sweep-h100-price-drop.yaml --plot sweep.png
    """
    from ..analysis.whatif import WhatIfReport
    from ..api import whatif as run
    from ..errors import Incomplete
    from ..report.output import show_whatif
    from ..report.progress import progress_bar

    check_plot(plot_path)
    incomplete = None
    with progress_bar("solving variations") as update:
        try:
            report = run(scenario_path, overrides, sweep_path, executor, workers, sensitivity, update)
        except Incomplete as stopped:  # Ctrl-C or a dead worker: print what finished, then the message
            if not isinstance(stopped.partial, WhatIfReport):
                raise
            incomplete, report = stopped, stopped.partial
    show_whatif(report, output_format, wide, None if incomplete else plot_path)
    if incomplete is not None:
        raise incomplete


@click.command()
@SCENARIO
def validate(scenario_path: str) -> None:
    """Check a scenario (schema, catalog ids, model) without solving."""
    from ..api import load_scenario
    from ..api import validate as check
    from ..report.output import validation_summary

    click.echo(validation_summary(scenario_path, check(load_scenario(scenario_path))))
