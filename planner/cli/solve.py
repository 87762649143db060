"""``planner solve``, ``whatif`` and ``validate``: a scenario in, a plan (or a comparison) out."""

from __future__ import annotations

from typing import Any

import click

from .base import (
    FORMAT_OUTPUT,
    FiniteFloatRange,
    check_plot,
    emit,
    handle_errors,
    plot_option,
)

SCENARIO = click.argument("scenario_path", metavar="SCENARIO", type=click.Path(dir_okay=False))
SERVING_PAIRS = ("cost,headroom", "cost,gpus", "cost,concurrency", "cost,tpot", "cost,ttft")


def _input_error(message: str, issue: str, field: str) -> Exception:
    from ..errors import InputError, Issue

    return InputError(message, [Issue(issue, field_path=field)])


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
@handle_errors
def solve(scenario_path: str, output_format: str, wide: bool, method: str, time_limit: float | None, pareto: str | None,
          pareto_points: int, plot_path: str | None) -> None:
    """Solve a scenario: the cheapest verified plan that meets its demand.

    \b
    Example:
      planner solve scenarios/llama-3.1-70b-chat.yaml --format json
      planner solve scenarios/llama-3.1-70b-chat.yaml --pareto cost,headroom --plot frontier.png
    """
    from ..api import load_scenario

    check_plot(plot_path)
    scenario = load_scenario(scenario_path)
    if scenario.kind == "training":
        if plot_path is not None:
            raise _input_error("--plot is for serving plans", "training plans have no plot yet; use --format json", "--plot")
        if pareto is not None and pareto != "cost,time":
            raise _input_error(f"--pareto {pareto} is for serving scenarios", "training scenarios take --pareto cost,time", "--pareto")
        _solve_training(scenario, output_format, wide, method, time_limit, pareto, pareto_points)
    elif pareto == "cost,time":
        raise _input_error("--pareto cost,time is for training scenarios", "serving pairs: cost,headroom, cost,gpus, cost,concurrency",
                           "--pareto")
    elif scenario.demand is not None:
        if pareto is not None or method != "cpsat":
            raise _input_error("--pareto and --method enumerate are for single-load scenarios",
                               "a demand profile is planned by one CP-SAT model over all periods", "--pareto" if pareto else "--method")
        _solve_procurement(scenario, output_format, wide, time_limit, plot_path)
    elif pareto is not None:
        _solve_pareto(scenario, pareto, pareto_points, output_format, wide, plot_path, time_limit)
    else:
        _solve_serving(scenario, output_format, wide, method, time_limit, plot_path)


def _solve_serving(scenario: Any, output_format: str, wide: bool, method: str, time_limit: float | None, plot_path: str | None) -> None:
    from ..api import solve_scenario
    from ..catalog.pricing import pricing_summary
    from ..report.serving import render_solve_report, solve_csv

    report = solve_scenario(scenario, method=method, time_limit_s=time_limit)  # type: ignore[arg-type]
    pricing = pricing_summary(scenario, report.plans[0])
    emit(output_format, wide, lambda: {**report.to_dict(), **({"pricing": pricing} if pricing else {})},
         lambda console: render_solve_report(report, pricing, console, wide), lambda: solve_csv(report))
    if plot_path:
        from ..report.plots import plan_bills, plot_memory_bill

        plot_memory_bill(plan_bills(report.plans[0]), plot_path, f"{report.scenario_name}: memory bill per GPU")
    if report.solver.get("interrupted"):
        click.echo("interrupted (Ctrl-C): the plan above is the best found before the search stopped (status feasible)", err=True)


def _solve_procurement(scenario: Any, output_format: str, wide: bool, time_limit: float | None, plot_path: str | None) -> None:
    """``solve`` for a scenario with a demand profile: what to buy, reserve and rent in every period."""
    from ..pipeline.procurement import solve_procurement_scenario
    from ..report.procurement import procurement_csv, render_procurement

    report = solve_procurement_scenario(scenario, time_limit_s=time_limit)
    emit(output_format, wide, report.to_dict, lambda console: render_procurement(report, console, wide),
         lambda: procurement_csv(report))
    if plot_path:
        from ..report.plots import plot_procurement

        plot_procurement(report, plot_path)


def _solve_training(scenario: Any, output_format: str, wide: bool, method: str, time_limit: float | None, pareto: str | None,
                    pareto_points: int) -> None:
    """``solve`` for ``kind: training``: the cheapest (or fastest) verified layout and cluster, or with
    ``--pareto cost,time`` the cost-time frontier."""
    from ..pipeline.training import prepare_training, solve_training
    from ..report.training import (
        render_training_pareto,
        render_training_table,
        training_csv,
    )

    if pareto is None:
        report = solve_training(scenario, method=method, time_limit_s=time_limit)  # type: ignore[arg-type]
        emit(output_format, wide, report.to_dict, lambda console: render_training_table(report, console, wide),
             lambda: training_csv(report))
        return
    from ..analysis.training_pareto import training_pareto
    from ..errors import InfeasibleError, Issue

    prepared = prepare_training(scenario)
    front = training_pareto(prepared, pareto_points, method, time_limit)  # type: ignore[arg-type]
    if not front.points:
        raise InfeasibleError("no training plan meets the scenario, so there is no Pareto set",
                              [Issue("run 'planner solve' without --pareto for the reason")])
    name = scenario.name or "scenario"
    emit(output_format, wide, lambda: {"scenario": name, "kind": "training", "model": prepared.model_name, **front.to_dict()},
         lambda console: render_training_pareto(front, f"[bold]{name}[/bold]: {prepared.model_name}", console, wide),
         lambda: training_csv(front))


def _solve_pareto(scenario: Any, pair: str, max_points: int, output_format: str, wide: bool, plot_path: str | None,
                  time_limit: float | None) -> None:
    """``solve --pareto``: the Pareto set as a table, JSON (``pareto[]`` of solve's plan objects) or CSV."""
    from ..analysis.pareto import PAIRS, pareto_front
    from ..display import markup
    from ..errors import InfeasibleError, Issue
    from ..pipeline.serving import prepare
    from ..report.serving import pareto_csv, render_pareto_table

    prepared = prepare(scenario)
    front = pareto_front(prepared, PAIRS[pair], max_points, time_limit)
    if not front.points:
        raise InfeasibleError("no plan meets the scenario, so there is no Pareto set", [Issue("run 'planner solve' without --pareto for the reason")])
    name = scenario.name or "scenario"
    header = f"[bold]{markup(name)}[/bold]: {markup(prepared.model_name)}, {scenario.workload.describe()}"
    emit(output_format, wide, lambda: {"scenario": name, "model": prepared.model_name, "demand": scenario.workload.as_dict(), **front.to_dict()},
         lambda console: render_pareto_table(front, header, console, wide), lambda: pareto_csv(front))
    if plot_path:
        from ..report.plots import plot_pareto

        plot_pareto(front, plot_path, f"{name}: cost vs {front.objective}")


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
@click.option("--sensitivity", is_flag=True, help="Also find, by re-solving, how far each used GPU's price can move before the baseline plan changes.")
@plot_option("Write cost vs the swept variable (.png or .svg).")
@handle_errors
def whatif(scenario_path: str, overrides: tuple[str, ...], sweep_path: str | None, output_format: str, wide: bool, executor: str,
           workers: int | None, sensitivity: bool, plot_path: str | None) -> None:
    """Re-solve a scenario under changes and compare each variation with the baseline.

    \b
    Example:
      planner whatif scenarios/llama-3.1-70b-chat.yaml --set gpus.h100-sxm.price=1.8 --set workload.concurrency=128
      planner whatif scenarios/llama-3.1-70b-chat.yaml --sweep scenarios/sweep-h100-price-drop.yaml --plot sweep.png
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ..analysis.sweep import Variation, load_sweep
    from ..analysis.whatif import WhatIf, parse_override, run_whatif
    from ..errors import Incomplete
    from ..report.serving import render_whatif_report, whatif_csv
    from ..report.tables import make_console

    check_plot(plot_path)
    sweep = load_sweep(sweep_path) if sweep_path else None
    if sweep is not None:
        analysis, extra = WhatIf(scenario_path, list(overrides)), []
    else:
        analysis = WhatIf(scenario_path)
        parsed = [parse_override(text) for text in overrides]
        extra = [Variation("--set " + " ".join(overrides), tuple(parsed))] if parsed else []
    stderr = make_console(stderr=True)
    incomplete = None
    with Progress(TextColumn("solving variations"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True, disable=not stderr.is_terminal) as bar:
        task = bar.add_task("solve", total=None)
        try:
            report = run_whatif(analysis, sweep, extra, executor, workers,  # type: ignore[arg-type]
                                lambda done, total: bar.update(task, completed=done, total=total), sensitivity)
        except Incomplete as stopped:  # Ctrl-C or a dead worker: print what finished, then the message
            incomplete, report = stopped, stopped.partial
    emit(output_format, wide, report.to_dict, lambda console: render_whatif_report(report, console, wide), lambda: whatif_csv(report))
    if incomplete is not None:
        raise incomplete
    if plot_path:
        from ..report.plots import plot_sweep

        plot_sweep(report, plot_path)


@click.command()
@SCENARIO
@handle_errors
def validate(scenario_path: str) -> None:
    """Check a scenario (schema, catalog ids, model) without solving."""
    from ..api import load_scenario

    scenario = load_scenario(scenario_path)
    if scenario.kind == "training":
        from ..pipeline.training import prepare_training

        trained = prepare_training(scenario)
        click.echo(f"{scenario_path}: valid — training {trained.model_name}, {len(trained.gpus)} GPU types, "
                   f"{len(trained.enumeration.candidates)} layouts fit ({len(trained.candidates)} after pruning)")
    elif scenario.demand is not None:
        from ..pipeline.procurement import check_procurement_scenario

        grid, shapes, supply = check_procurement_scenario(scenario)
        click.echo(f"{scenario_path}: valid — procurement over {len(grid.periods)} period(s), {grid.points} demand points, peak "
                   f"{grid.display(grid.peak)}; model {shapes.model_name}, {len(shapes.enumeration.candidates)} replica shapes fit, "
                   f"{len(supply.pools)} supply pools")
    else:
        from ..pipeline.serving import prepare

        prepared = prepare(scenario)
        click.echo(f"{scenario_path}: valid — model {prepared.model_name}, {len(prepared.gpus)} GPU types, "
                   f"{len(prepared.enumeration.candidates)} replica shapes fit ({len(prepared.candidates)} after pruning)")
