"""Tables for people: the console every command prints to, and tables whose default columns fit 100 columns.

A table lists all its columns; those marked ``wide`` are shown only with ``--wide`` (the default view collapses
them or merges them into another column). Every cell folds onto the next line rather than being cut off, so a
narrow terminal never hides a digit (rich's own default is to end a cut cell with an ellipsis).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

DEFAULT_WIDTH = 100
"""Columns of a default table, and the width text is wrapped to when the output is not a terminal."""

WIDE_WIDTH = 1000
"""``--wide``: wide enough that no table is squeezed and no line of text is wrapped."""

PROSE_WIDTH = 60
"""Most characters per line of a prose column (a formula, a description) in the default view; it wraps."""


def make_console(wide: bool = False, stderr: bool = False) -> Console:
    """The console a command prints to: the terminal's width (100 columns when not a terminal), or ``--wide``."""
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            """A closed pipe (``| head``) ends the command as ``planner.exits`` says (141), not with rich's exit 1."""
            raise BrokenPipeError

    stream = sys.stderr if stderr else sys.stdout
    width = WIDE_WIDTH if wide else (None if stream.isatty() else DEFAULT_WIDTH)
    return PipeConsole(stderr=stderr, soft_wrap=False, width=width)


@dataclass(frozen=True)
class Column:
    """One column: its header, alignment, whether only ``--wide`` shows it (``wide``) or only the default view
    (``narrow``: a merge of wide columns), and whether it is prose that wraps."""

    header: str
    justify: str = "right"
    wide: bool = False
    prose: bool = False
    prose_width: int = PROSE_WIDTH
    narrow: bool = False


def left(header: str, wide: bool = False, narrow: bool = False) -> Column:
    return Column(header, "left", wide, narrow=narrow)


def prose(header: str, width: int = PROSE_WIDTH, narrow: bool = False) -> Column:
    return Column(header, "left", prose=True, prose_width=width, narrow=narrow)


def table(title: str | None, columns: Sequence[Column], rows: Iterable[Sequence[Any]], wide: bool = False,
          **options: Any) -> Table:
    """A rich table of ``rows`` (one cell per column, in order) keeping the columns the view shows."""
    from rich.table import Table

    keep = [index for index, column in enumerate(columns) if not (column.narrow if wide else column.wide)]
    result = Table(title=title, title_justify="left", **options)
    for index in keep:
        column = columns[index]
        result.add_column(column.header, justify=column.justify, overflow="fold",  # type: ignore[arg-type]
                          max_width=column.prose_width if column.prose and not wide else None)
    for row in rows:
        result.add_row(*(row[index] for index in keep))
    return result
