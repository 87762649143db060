"""One line of a memory bill: its bytes and the formula that produced them, built by the memory model itself.

The serving and training models compute each line from ``Term`` values, and the line's formula is written from
those very terms, so what ``planner memory --explain``, the JSON outputs and the reports print cannot drift from
the number it explains. A term is ``ceil(count x bytes_each / over)`` bytes; its text shows the same three
numbers (``tests/test_bill_lines.py`` reads them back out of the text and checks they give the line's bytes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..units import BYTES_PER_GIB


def number_text(value: float) -> str:
    """A count or a per-item size, exactly as the bill uses it (integers with thousands separators)."""
    if float(value).is_integer():
        return f"{int(value):,}"
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def gib_text(num_bytes: float) -> str:
    return f"{num_bytes / BYTES_PER_GIB:.3f} GiB"


@dataclass(frozen=True)
class Term:
    """``ceil(count x bytes_each / over)`` bytes: one term of a bill line and the words that say what it is.

    ``count`` of ``unit`` (parameters, sequences, ...) at ``bytes_each``; a term that is a size already has
    ``bytes_each`` 1 and no unit. ``over`` is how many GPUs share it (ZeRO's data-parallel degree), 1 if none."""

    label: str
    count: int | float
    bytes_each: float = 1.0
    unit: str = ""
    over: int = 1
    over_label: str = ""

    @property
    def bytes(self) -> int:
        return math.ceil(self.count * self.bytes_each / self.over)

    @property
    def formula(self) -> str:
        if self.unit:
            text = f"{number_text(self.count)} {self.unit} x {number_text(self.bytes_each)} B"
        else:
            text = gib_text(self.count * self.bytes_each)
        if self.over > 1:
            text += f" / {self.over}" + (f" {self.over_label}" if self.over_label else "")
        return f"{self.label}: {text}" if self.label else text


@dataclass(frozen=True)
class BillLine:
    """One line of a per-GPU memory bill: ``bytes``, the ``formula`` that produced them and the ``source`` of
    the rule (paper, section, engine code). ``in_total`` is false for what a bill shows beside its total (CUDA
    graphs outside an engine's budget, host memory, the formulas' flat overhead)."""

    name: str
    bytes: int
    formula: str
    source: str = ""
    in_total: bool = True


TERM_SEPARATOR = " + "


def line_of_terms(name: str, terms: Iterable[Term], source: str = "", note: str = "", in_total: bool = True,
                  empty: str = "none") -> BillLine:
    """The line whose bytes are the sum of ``terms`` and whose formula lists them (``empty`` when there are none);
    ``note`` adds what the terms do not say (layout, convention)."""
    kept = [t for t in terms if t.count and t.bytes_each]
    formula = TERM_SEPARATOR.join(t.formula for t in kept) or empty
    return BillLine(name, sum(t.bytes for t in kept), formula + (f"; {note}" if note else ""), source, in_total)


def total_bytes(lines: Iterable[BillLine]) -> int:
    """The bill's total: the lines counted in it."""
    return sum(line.bytes for line in lines if line.in_total)


def sum_formula(lines: Iterable[BillLine]) -> str:
    """The total in words, written from the lines themselves: ``weights + kv_cache + ...``."""
    return " + ".join(line.name for line in lines if line.in_total)


def formulas(lines: Iterable[BillLine]) -> dict[str, str]:
    """Line name -> formula, as the JSON outputs' ``explain`` holds them."""
    return {line.name: line.formula for line in lines}
