"""Command-line interface: parses options, calls one library function per command, renders the result.

Exit codes: 0 plan found, 1 infeasible (with the reason), 2 bad input, 3 internal error, 130 interrupted (Ctrl-C:
what finished is reported first). Errors become exit codes in one place (``base.handle_errors``); tables and
text are drawn by ``planner.report``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from .. import __version__
from .base import DEBUG, INTERRUPTED_EXIT_CODE, SIGINT_SEEN, handle_errors
from .catalog import catalog, schema
from .configuration import memory, perf
from .solve import solve, validate, whatif

__all__ = ["cli", "handle_errors", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="planner")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def cli(debug: bool) -> None:
    """Find the cheapest GPU fleet that serves or trains a model, with its memory bill per GPU.

    \b
    Example:
      planner solve scenarios/llama-3.1-70b-chat.yaml
      planner memory --model llama-3.1-70b --gpu h100-sxm --tp 4 --batch 32 --context 8192
      planner solve scenarios/training-llama-3.1-8b-lora-consumer-gpu.yaml
      planner whatif scenarios/llama-3.1-70b-chat.yaml --set workload.concurrency=128
    """
    DEBUG["on"] = debug


for command in (solve, whatif, validate, memory, perf, catalog, schema):
    cli.add_command(command)


def main(interrupted: Callable[[], bool] = lambda: False) -> None:
    """The ``planner`` command. Ctrl-C before a command starts (while its modules load) is reported like Ctrl-C
    inside it, exit 130, instead of click's 'Aborted!' with exit 1; ``interrupted`` says whether Ctrl-C was seen
    (an extension module interrupted while loading raises ImportError instead)."""
    SIGINT_SEEN["check"] = interrupted
    try:
        cli.main(prog_name="planner", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted (Ctrl-C)", err=True)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - outside any command (option callbacks): still no traceback
        if interrupted():
            click.echo("interrupted (Ctrl-C)", err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)
        click.echo(f"internal error: {type(exc).__name__}: {exc} (this is a bug in planner)", err=True)
        sys.exit(3)
