"""What every command shares: errors to exit codes (``planner.exits``), click options built from the flag tables
(``planner.configuration.flags``), the output options."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from ..exits import BROKEN_PIPE_EXIT_CODE, close_stdout, ending

if TYPE_CHECKING:
    from ..configuration.flags import Flag

DEBUG = {"on": False}
SIGINT_SEEN: dict[str, Callable[[], bool]] = {"check": lambda: False}  # set by main(): Ctrl-C seen by the process


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses nan and inf (nan compares false with both bounds, so it passes them)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def stop(exc: BaseException, in_command: bool = True) -> NoReturn:
    """End the process as ``planner.exits.ending`` says; ``--debug`` lets the traceback through instead."""
    if DEBUG["on"] and not isinstance(exc, BrokenPipeError):
        raise exc
    message, code = ending(exc, SIGINT_SEEN["check"](), in_command)
    if code == BROKEN_PIPE_EXIT_CODE:
        close_stdout()
    if message is not None:
        click.echo(message, err=True)
    sys.exit(code)


class Group(click.Group):
    """The ``planner`` group, the one place a command ends on error: whatever it raises, and whatever is raised
    while click parses or prints help (a closed stdout, Ctrl-C), ends in one line on stderr and its exit code
    (``planner.exits``), never a traceback. click's own usage errors keep their message and exit 2."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - before any command: still one line, no traceback
            stop(exc, in_command=False)

    def invoke(self, ctx: click.Context) -> Any:
        sat_api = sys.modules.get("planner.solver.sat_api")  # a Ctrl-C left by an earlier command of this process
        if sat_api is not None:
            sat_api.clear_interrupt()
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every error ends in one message and its exit code
            stop(exc)


def options(flags: Sequence[Flag]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click options of a flag table, in its order."""
    def details(flag: Flag) -> dict[str, Any]:
        if flag.kind == "switch":
            return {"is_flag": True}
        kind: Any = {"path": lambda: click.Path(dir_okay=False), "choice": lambda: click.Choice(flag.choices),
                     "float": lambda: FiniteFloatRange(flag.low, flag.high),
                     "int": lambda: click.IntRange(cast("int | None", flag.low), cast("int | None", flag.high))}
        return {**({"type": kind[flag.kind]()} if flag.kind in kind else {}), **({} if flag.default is None else {"default": flag.default})}

    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for flag in reversed(flags):
            function = click.option(*flag.names, flag.field, show_default=flag.show_default, help=flag.help, metavar=flag.metavar,
                                    **details(flag))(function)
        return function

    return apply


def typed() -> set[str]:
    """The parameters of the running command the user gave (not left at their default)."""
    context = click.get_current_context()
    return {str(param.name) for param in context.command.params
            if context.get_parameter_source(str(param.name)) is not click.core.ParameterSource.DEFAULT}


def output(*decorators: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorators applied as one, in the order listed."""
    return lambda function: functools.reduce(lambda f, decorator: decorator(f), reversed(decorators), function)


WIDE = click.option("--wide", is_flag=True, help="Print every column of the tables (default: they fit 100 columns).")
JSON_OUTPUT = output(click.option("--json", "output_format", flag_value="json", default="table", help="Machine-readable output."), WIDE)
FORMAT_OUTPUT = output(click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table",
                                    show_default=True), WIDE)


def plot_option(help_text: str) -> Callable[..., Any]:
    return click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help=help_text)
