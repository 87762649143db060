"""Accuracy of the memory model: case, source, measured, predicted, error %, against published engine logs.

Rows come from ``benchmarks/accuracy_serving.py`` (``serving_rows()``) and, where it exists,
``benchmarks/accuracy_training.py`` (``training_rows()``); each row is a dict with ``case``, ``source``,
``quantity``, ``measured``, ``predicted``, ``unit`` and optionally ``goal_pct`` (the error the model aims
to stay within) and ``note``.

    python3 -m benchmarks.accuracy              # plain table
    python3 -m benchmarks.accuracy --markdown   # the table as it appears in the README
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from typing import Any

ROW_SOURCES = (("benchmarks.accuracy_serving", "serving_rows"), ("benchmarks.accuracy_training", "training_rows"))
COLUMNS = ("case", "source", "quantity", "measured", "predicted", "unit", "error %", "goal")


def collect_rows() -> list[dict[str, Any]]:
    """Rows of every available suite, in suite order."""
    rows: list[dict[str, Any]] = []
    for module_name, function in ROW_SOURCES:
        if importlib.util.find_spec(module_name) is None:
            continue
        rows += getattr(importlib.import_module(module_name), function)()
    return rows


def error_pct(row: dict[str, Any]) -> float | None:
    """Signed relative error of the prediction, in percent of the measured value."""
    measured = float(row["measured"])
    return None if measured == 0 else (float(row["predicted"]) - measured) / measured * 100


def _number(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:,.5g}" if abs(value) < 1000 else f"{value:,.1f}"


def table_cells(row: dict[str, Any]) -> list[str]:
    err = error_pct(row)
    goal = row.get("goal_pct")
    verdict = "" if goal is None or err is None else ("yes" if abs(err) <= goal else "NO") + f" (±{goal:g} %)"
    return [str(row["case"]), str(row["source"]), str(row["quantity"]), _number(row["measured"]), _number(row["predicted"]),
            str(row["unit"]), "" if err is None else f"{err:+.2f}", verdict]


def render_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(table_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def render_plain(rows: list[dict[str, Any]]) -> str:
    cells = [list(COLUMNS)] + [table_cells(row) for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def summary(rows: list[dict[str, Any]]) -> str:
    checked = [(row, error_pct(row)) for row in rows if row.get("goal_pct") is not None]
    within = sum(1 for row, err in checked if err is not None and abs(err) <= row["goal_pct"])
    return f"{within} of {len(checked)} rows with a goal are within it; {len(rows)} rows in all."


def summary_by_group(rows: list[dict[str, Any]]) -> str:
    """Per engine (or training) and role: cases, rows with a goal, median and max |error| of those rows."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row.get("engine", "training"), row.get("role", "formula")), []).append(row)
    lines = ["| engine | role | cases | rows with a goal | within goal | median abs error % | max abs error % |",
             "|---|---|---|---|---|---|---|"]
    for (engine, role), members in sorted(groups.items()):
        checked = [(r, abs(error_pct(r) or 0.0)) for r in members if r.get("goal_pct") is not None and error_pct(r) is not None]
        errors = sorted(e for _, e in checked)
        middle = len(errors) // 2
        median = errors[middle] if len(errors) % 2 else (sum(errors[middle - 1:middle + 1]) / 2 if errors else 0.0)
        within = sum(1 for r, e in checked if e <= r["goal_pct"])
        lines.append(f"| {engine} | {role} | {len({r['case'] for r in members})} | {len(checked)} | {within} | "
                     f"{median:.2f} | {max(errors, default=0.0):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="Print a Markdown table.")
    args = parser.parse_args(argv)
    rows = collect_rows()
    print(render_markdown(rows) if args.markdown else render_plain(rows))
    print()
    print(summary(rows))
    print()
    print(summary_by_group(rows))


if __name__ == "__main__":
    main()
