"""Generated documentation: every sample output and number in README.md and docs/*.md comes from here.

The Markdown files hold cog blocks (https://nedbatchelder.com/code/cog/) hidden in HTML comments::

    <!-- [[[cog cog.out(shell("planner solve scenarios/llama-3.1-70b-chat.yaml"))]]] -->
    ...generated text...
    <!-- [[[end]]] -->

The first block of each file imports this module (``from benchmarks.docs import *``). The blocks run the CLI
in-process (click's test runner, from the repository root), call the benchmark scripts' table functions, or
render measured timings saved by the benchmarks under ``benchmarks/results/``.

    python -m benchmarks.docs            # regenerate README.md and docs/*.md in place
    python -m benchmarks.docs --check    # exit 1 and show a diff when a file is stale (tests/test_docs.py)

Outputs are made deterministic by ``normalise``, the one place that hides what varies between runs of the same
command: wall-clock times of the solver and of sweeps, the OR-Tools build and machine paths. Timings measured by
benchmarks are never re-measured here: they are read from the results file the benchmark wrote, whose date and
machine the docs print next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TIME_PLACEHOLDER = "…"
"""What a wall-clock time in a sample output becomes: the same command takes a different time on every run."""


def doc_files() -> list[Path]:
    """The generated documents: README.md and every docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# --- normalisation ----------------------------------------------------------------------------------------------

_TIMINGS = (
    # solver and analysis wall times printed by the CLI
    re.compile(r"(?P<pre>\b(?:cpsat|CP-SAT solves?|enumerate|greedy|solves?|search(?:ed)?) in )\d+(?:\.\d+)? ?(?P<unit>ms|s)\b"),
    re.compile(r"(?P<pre>\((?:local|ray|process pool|\d+ workers?)[^()]*?, )\d+(?:\.\d+)? ?(?P<unit>ms|s)\)"),
)
_ORTOOLS = re.compile(r"\bortools (\d+)\.\d+(?:\.\d+)?")


def normalise(text: str) -> str:
    """Hide what changes between two runs of the same command: wall times, the OR-Tools build, machine paths."""
    text = text.replace(str(ROOT) + os.sep, "").replace(str(ROOT), ".")
    for pattern in _TIMINGS:
        text = pattern.sub(lambda m: f"{m.group('pre')}{TIME_PLACEHOLDER} {m.group('unit')}" + (")" if m.group(0).endswith(")") else ""),
                           text)
    text = _ORTOOLS.sub(r"ortools \1.x", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


# --- running the CLI --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    command: str
    output: str
    exit_code: int


@contextlib.contextmanager
def _in_root():
    before = Path.cwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


@functools.cache
def run(command: str) -> Run:
    """``planner ...`` run in-process from the repository root: stdout then stderr, normalised, and the exit code.

    Cached by command line, so an example shown twice is solved once per regeneration.
    """
    from click.testing import CliRunner

    from planner.cli import cli

    words = shlex.split(command)
    if not words or words[0] != "planner":
        raise ValueError(f"not a planner command: {command!r}")
    with _in_root():
        result = CliRunner().invoke(cli, words[1:], catch_exceptions=False, env={"COLUMNS": "100"})
    output = result.stdout + (result.stderr if result.stderr else "")
    return Run(command, normalise(output).strip("\n"), result.exit_code)


def output_of(command: str) -> str:
    """The command's normalised output; a non-zero exit code other than the infeasible answer (1) is an error."""
    result = run(command)
    if result.exit_code not in (0, 1):
        raise RuntimeError(f"`{command}` exited {result.exit_code}:\n{result.output}")
    return result.output


def json_of(command: str) -> Any:
    """The parsed ``--format json`` / ``--json`` output of a command that succeeds."""
    result = run(command)
    if result.exit_code != 0:
        raise RuntimeError(f"`{command}` exited {result.exit_code}:\n{result.output}")
    return json.loads(result.output)


def shell(command: str, *, lines: slice | None = None, select: tuple[str, str] | None = None, show: str | None = None,
          exit_code: bool = False) -> str:
    """A fenced block: ``$ command`` and its output.

    ``lines`` keeps a slice of the output; ``select=(start, stop)`` keeps the lines from the first matching the
    regular expression ``start`` to the last before one matching ``stop`` (cut parts are marked "..."). ``show``
    replaces the command line shown (for a command wrapped over several lines); ``exit_code`` adds ``echo $?``.
    """
    result = run(command)
    if result.exit_code not in (0, 1):
        raise RuntimeError(f"`{command}` exited {result.exit_code}:\n{result.output}")
    out = result.output.splitlines()
    if select is not None:
        start = next(i for i, line in enumerate(out) if re.search(select[0], line))
        stop = next((i for i, line in enumerate(out[start + 1:], start + 1) if re.search(select[1], line)), len(out))
        lines = slice(start, stop)
    if lines is not None:
        kept = out[lines]
        first, last, _ = lines.indices(len(out))
        out = (["..."] if first > 0 else []) + kept + (["..."] if last < len(out) else [])
    text = [f"$ {show or command}", *out]
    if exit_code:
        text += ["$ echo $?", str(result.exit_code)]
    return fence("\n".join(text))


def fence(text: str, language: str = "text") -> str:
    return f"```{language}\n{text.rstrip()}\n```\n"


def include(path: str, language: str = "yaml") -> str:
    """A project file shown verbatim in a fenced block (a scenario, a sweep file)."""
    return fence((ROOT / path).read_text().rstrip("\n"), language)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def python_output(code: str) -> str:
    """Run a Python snippet from the repository root and return what it printed (for 'from Python' examples)."""
    import io

    buffer = io.StringIO()
    with _in_root(), contextlib.redirect_stdout(buffer):
        exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})
    return normalise(buffer.getvalue()).strip("\n")


# --- formatting -------------------------------------------------------------------------------------------------

def pct(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f} %"


def usd(value: float) -> str:
    return f"${value:,.2f}"


def wrap(text: str, width: int = 116) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)) + "\n"


# --- measured results (timings are measured once and saved, never re-measured by the docs check) -----------------

def save_results(name: str, results: Any, command: str) -> Path:
    """Write a benchmark's results with when and where they were measured: benchmarks/results/NAME.json."""
    import datetime
    import platform

    import ortools

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    machine = {"cpus": os.cpu_count(), "processor": _cpu_model() or platform.machine(), "system": platform.system(),
               "python": platform.python_version(), "ortools": ortools.__version__,
               "load_average_1min_at_start": None if load is None else round(load, 2)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "command": command, "measured_on": datetime.date.today().isoformat(),
                                "machine": machine, "results": results}, indent=1, sort_keys=False) + "\n")
    return path


def _cpu_model() -> str:
    """The CPU's model name as Linux reports it (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        return ""


def measured(name: str) -> dict[str, Any]:
    """A benchmark's saved results (see ``save_results``)."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def measured_note(name: str) -> str:
    """One line saying when, where and by which command the numbers below were measured."""
    data = measured(name)
    m = data["machine"]
    load = m.get("load_average_1min_at_start")
    busy = "" if load is None else f", load average {load:g} at the start" + (" (shared, noisy)" if load > 0.5 * (m["cpus"] or 1) else "")
    return (f"*Measured on {data['measured_on']}, {m['cpus']} CPUs ({m['processor']}, {m['system']}), Python {m['python']}, "
            f"OR-Tools {m['ortools']}{busy}; `{data['command']}` (results in `benchmarks/results/{name}.json`).*\n")


# --- regeneration -----------------------------------------------------------------------------------------------

def regenerate(path: Path) -> str:
    """The file's text with every cog block re-run."""
    from cogapp import Cog

    cog = Cog()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return cog.process_string(path.read_text(), fname=str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name)


def stale(paths: Iterable[Path] | None = None) -> dict[str, str]:
    """{relative path: unified diff} for each generated file whose text differs from what its blocks produce."""
    diffs = {}
    for path in paths or doc_files():
        before = path.read_text()
        after = regenerate(path)
        if after != before:
            name = str(path.relative_to(ROOT))
            diffs[name] = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), name, name + " (regenerated)"))
    return diffs


IMAGES = {
    "docs/img/pareto-cost-headroom.png": "planner solve scenarios/llama-3.1-70b-chat.yaml --pareto --pareto-points 10",
    "docs/img/pareto-cost-concurrency.png": "planner solve scenarios/llama-3.1-70b-chat.yaml --pareto cost,concurrency --pareto-points 8",
    "docs/img/sweep-h100-price-drop.png": "planner whatif scenarios/llama-3.1-70b-chat.yaml --sweep scenarios/sweep-h100-price-drop.yaml",
    "docs/img/sweep-demand-growth.png": "planner whatif scenarios/owned-a100-top-up.yaml --sweep scenarios/sweep-demand-growth.yaml",
    "docs/img/memory-bill-owned-top-up.png": "planner solve scenarios/owned-a100-top-up.yaml",
}
"""The plots in docs/tradeoffs.md and the command that draws each (with ``--plot PATH``). Images are binary and
vary with the matplotlib release, so they are redrawn on request (``--images``), not checked."""


def draw_images() -> None:
    for path, command in IMAGES.items():
        result = run(f"{command} --plot {path}")
        if result.exit_code != 0:
            raise RuntimeError(f"`{command}` exited {result.exit_code}:\n{result.output}")
        print(f"drew {path}")


REGENERATE_HINT = "run `python -m benchmarks.docs` (or `cog -I . -r README.md docs/*.md`) and commit the result"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate (or check) the outputs and numbers in README.md and docs/*.md.")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 with a diff if a file is stale")
    parser.add_argument("--images", action="store_true", help="also redraw the plots in docs/img")
    parser.add_argument("files", nargs="*", type=Path, help="files to process (default: README.md and docs/*.md)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.files] or doc_files()
    if args.check:
        diffs = stale(paths)
        for diff in diffs.values():
            sys.stdout.write(diff)
        if diffs:
            print(f"\nstale: {', '.join(diffs)}; {REGENERATE_HINT}", file=sys.stderr)
        return 1 if diffs else 0
    if args.images:
        draw_images()
    for path in paths:
        text = regenerate(path)
        if text != path.read_text():
            path.write_text(text)
            print(f"regenerated {path.relative_to(ROOT)}")
    return 0


__all__ = ["ROOT", "fence", "include", "json_of", "measured", "measured_note", "normalise", "output_of", "pct", "python_output",
           "run", "shell", "table", "usd", "wrap"]

if __name__ == "__main__":
    raise SystemExit(main())
