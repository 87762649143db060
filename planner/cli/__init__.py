"""Command-line interface: parses options, calls one library function per command, renders the result.

Exit codes (``planner.exits``): 0 plan found, 1 infeasible (with the reason), 2 bad input, 3 internal error, 130
interrupted (Ctrl-C: what finished is reported first), 141 output closed (``| head``). Options of ``memory`` and
``perf`` come from the flag tables of ``planner.configuration.flags``; tables and text are drawn by ``planner.report``.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from .. import __version__
from .base import DEBUG, SIGINT_SEEN, Group
from .catalog import catalog, schema
from .configuration import memory, perf
from .solve import solve, validate, whatif

__all__ = ["cli", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    """The ``planner`` command; ``interrupted`` says whether Ctrl-C was seen while its modules loaded (an extension
    module interrupted while it loads raises ImportError instead), so that is reported as Ctrl-C, exit 130."""
    SIGINT_SEEN["check"] = interrupted
    cli.main(prog_name="planner")
