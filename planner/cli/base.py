"""What every command shares: errors to exit codes in one place, option groups and their scoping."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import PlannerError

DEBUG = {"on": False}
SIGINT_SEEN: dict[str, Callable[[], bool]] = {"check": lambda: False}  # set by main(): Ctrl-C seen by the process

INTERRUPTED_EXIT_CODE = 130
"""What shells report for a process stopped by Ctrl-C (128 + SIGINT)."""

LABELS = {1: "infeasible", 2: "error", 3: "internal error", INTERRUPTED_EXIT_CODE: "interrupted"}
"""Exit codes: 0 plan found, 1 infeasible (with the reason), 2 bad input, 3 internal error, 130 Ctrl-C."""

STOPPED = "interrupted (Ctrl-C): stopped before a result was complete; nothing was written"


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses nan and inf (nan compares false with both bounds, so it passes them)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn planner errors into one clear message on stderr and their exit code; no tracebacks.

    Ctrl-C anywhere ends the command within a second with ``interrupted: ...`` and exit code 130 (what finished
    was printed before); text quoted from the input is shown with control characters escaped.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..display import plain
        from ..solver import sat_api

        sat_api.clear_interrupt()
        try:
            return func(*args, **kwargs)
        except PlannerError as exc:
            if DEBUG["on"]:
                raise
            label = LABELS.get(exc.exit_code, "error")
            if exc.exit_code == 3 and getattr(exc, "partial", None) is not None:
                label = "incomplete"
            click.echo(plain(f"{label}: {exc.render()}"), err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            if DEBUG["on"]:
                raise
            click.echo(STOPPED, err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            if DEBUG["on"]:
                raise
            if SIGINT_SEEN["check"]():  # Ctrl-C while an extension module loaded: it reports ImportError
                click.echo(STOPPED, err=True)
                sys.exit(INTERRUPTED_EXIT_CODE)
            click.echo(plain(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback; "
                             "this is a bug in planner)"), err=True)
            sys.exit(3)

    return wrapper


class Options:
    """A group of click options applied in the order listed; ``names`` are their parameter names (for scoping)."""

    def __init__(self, *decorators: Callable[..., Any]) -> None:
        self.decorators = decorators
        probe: Any = self(lambda **_: None)
        self.names = tuple(param.name for param in reversed(probe.__click_params__))  # click stores them last first

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(self.decorators):
            function = decorator(function)
        return function


def given(names: tuple[str, ...]) -> list[str]:
    """The flags among ``names`` the user typed (not left at their default), spelled as typed in --help."""
    context = click.get_current_context()
    flags = {param.name: param.opts[0] for param in context.command.params}
    return [flags[name] for name in names if context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]


def refuse(flags: list[str], message: str, suggestion: str | None = None) -> None:
    """Options of another mode (serving vs --training) are an input error naming them, never silently ignored."""
    if flags:
        from ..errors import InputError, Issue

        raise InputError(message, [Issue(f"given: {', '.join(flags)}", field_path="--training", suggestion=suggestion)])


def check_plot(plot_path: str | None) -> None:
    """A ``--plot`` destination is checked before any work: a plan is never computed and then not written."""
    if plot_path is not None:
        from ..report.plots import check_plot_path

        check_plot_path(plot_path)


WIDE = click.option("--wide", is_flag=True, help="Print every column of the tables (default: they fit 100 columns).")
JSON_OUTPUT = Options(click.option("--json", "as_json", is_flag=True, help="Machine-readable output."), WIDE)
FORMAT_OUTPUT = Options(click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table",
                                     show_default=True), WIDE)


def plot_option(help_text: str) -> Callable[..., Any]:
    return click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help=help_text)
