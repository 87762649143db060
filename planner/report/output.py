"""One result in the form asked for: JSON, CSV or tables (only the chosen form is computed), and its plot."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ..analysis.whatif import WhatIfReport
    from ..plans.answer import Answer


def emit(output_format: str, wide: bool, data: Callable[[], Any], render: Callable[[Console], None],
         csv_text: Callable[[], str] | None = None) -> None:
    """Print a result as JSON, CSV or tables."""
    import click

    if output_format == "json":
        from .serving import to_json

        click.echo(to_json(data()))
    elif output_format == "csv" and csv_text is not None:
        click.echo(csv_text(), nl=False)
    else:
        from .tables import make_console

        render(make_console(wide))


def check_plot(plot_path: str | None) -> None:
    """A ``--plot`` destination is checked before any work: a plan is never computed and then not written."""
    if plot_path is not None:
        from .plots import check_plot_path

        check_plot_path(plot_path)


def show(answer: Answer, output_format: str, wide: bool, plot_path: str | None = None) -> None:
    """``planner solve``'s answer of any kind: a plan (serving, procurement, training) or a Pareto set, then its plot;
    a search stopped by Ctrl-C says so on stderr."""
    result = answer.result
    if answer.kind == "serving":
        from .serving import render_solve_report, solve_csv

        pricing = answer.after.get("pricing")
        table: Callable[[Console], None] = lambda console: render_solve_report(result, pricing, console, wide)  # noqa: E731
        csv_text: Callable[[], str] = lambda: solve_csv(result)  # noqa: E731
    elif answer.kind == "procurement":
        from .procurement import procurement_csv, render_procurement

        table, csv_text = (lambda console: render_procurement(result, console, wide)), (lambda: procurement_csv(result))
    elif answer.kind in ("training", "training_pareto"):
        from .training import render_training_pareto, render_training_table, training_csv

        table = (lambda console: render_training_table(result, console, wide)) if answer.kind == "training" else \
            (lambda console: render_training_pareto(result, _heading(answer), console, wide))
        csv_text = lambda: training_csv(result)  # noqa: E731
    else:
        from .serving import pareto_csv, render_pareto_table

        table, csv_text = (lambda console: render_pareto_table(result, _heading(answer), console, wide)), (lambda: pareto_csv(result))
    emit(output_format, wide, answer.to_dict, table, csv_text)
    if plot_path:
        plot(answer, plot_path)
    if answer.kind == "serving" and result.solver.get("interrupted"):
        import click

        click.echo("interrupted (Ctrl-C): the plan above is the best found before the search stopped (status feasible)", err=True)


def show_whatif(report: WhatIfReport, output_format: str, wide: bool, plot_path: str | None = None) -> None:
    """``planner whatif``'s comparison (or what finished of it) as JSON, CSV or tables, then its plot."""
    from .serving import render_whatif_report, whatif_csv

    emit(output_format, wide, report.to_dict, lambda console: render_whatif_report(report, console, wide), lambda: whatif_csv(report))
    if plot_path:
        from .plots import plot_sweep

        plot_sweep(report, plot_path)


def plot(answer: Answer, path: str) -> None:
    """``solve --plot``: the frontier of a Pareto set, the schedule of a procurement plan, else the plan's bill."""
    from . import plots

    if answer.kind == "pareto":
        plots.plot_pareto(answer.result, path, f"{answer.title[0]}: cost vs {answer.result.objective}")
    elif answer.kind == "procurement":
        plots.plot_procurement(answer.result, path)
    else:
        plots.plot_memory_bill(plots.plan_bills(answer.result.plans[0]), path, f"{answer.result.scenario_name}: memory bill per GPU")


def _heading(answer: Answer) -> str:
    """The line above a Pareto table: the scenario's name in bold, then what the set is of (markup escaped)."""
    from ..display import markup

    name, description = answer.title
    return f"[bold]{markup(name)}[/bold]: {markup(description)}"


def validation_summary(path: str, found: dict[str, Any]) -> str:
    """``planner validate``'s one line: what preparing the scenario found (``api.validate``)."""
    if found["kind"] == "training":
        return (f"{path}: valid — training {found['model']}, {found['gpu_types']} GPU types, {found['fit']} layouts fit "
                f"({found['after_pruning']} after pruning)")
    if found["kind"] == "procurement":
        return (f"{path}: valid — procurement over {found['periods']} period(s), {found['demand_points']} demand points, peak "
                f"{found['peak']}; model {found['model']}, {found['fit']} replica shapes fit, {found['supply_pools']} supply pools")
    return (f"{path}: valid — model {found['model']}, {found['gpu_types']} GPU types, {found['fit']} replica shapes fit "
            f"({found['after_pruning']} after pruning)")
