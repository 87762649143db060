"""Plots of trade-offs: Pareto frontier, memory bill per GPU, sweep results. PNG or SVG, no display needed.

Figures are drawn on matplotlib's Agg canvas through ``matplotlib.figure.Figure`` (no pyplot state, no GUI
backend), so they work on headless machines and in worker processes.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter, ScalarFormatter

from ..display import mathtext, plain
from ..errors import InputError, Issue
from ..units import BYTES_PER_GIB, format_usd
from ..yaml_io import check_output_file

if TYPE_CHECKING:
    from ..analysis.pareto import ParetoFront
    from ..analysis.whatif import VariationResult, WhatIfReport
    from ..memory.serving import ServingMemory
    from ..plans.procurement import ProcurementReport
    from ..plans.serving import Plan

FORMATS = (".png", ".svg")
BILL_LINES = (("weights", "weights_bytes", "#4c72b0"), ("KV cache", "kv_cache_bytes", "#55a868"),
              ("activations", "activations_bytes", "#c44e52"), ("overhead", "overhead_bytes", "#8172b2"),
              ("free", "free_bytes", "#dddddd"))
AXIS_LABELS = {"headroom": "minimum memory headroom (fraction of GPU memory free)", "gpus": "GPUs",
               "concurrency": "sequences the fleet can hold (KV-cache capacity)"}


def check_plot_path(path: str | Path) -> Path:
    """A ``--plot`` destination that can be written, checked before any solving (``yaml_io.check_output_file``)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise InputError("unsupported plot format", [Issue(f"{plain(path.name)}: the file name must end in .png or .svg",
                                                           field_path="--plot")])
    return check_output_file(path, "--plot", InputError)


def _title(text: str, width: int = 70) -> str:
    """A title shown whole: user text escaped for mathtext, wrapped instead of cut at the figure's edge."""
    return "\n".join(textwrap.wrap(mathtext(text), width, break_long_words=True, break_on_hyphens=True)) or " "


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    # bbox_inches="tight": titles, labels and the side listing are never cut at the figure's edge
    figure.savefig(path, dpi=120, bbox_inches="tight",
                   metadata={"Software": None} if path.suffix.lower() == ".png" else {"Date": None})
    return path


def plot_pareto(front: ParetoFront, path: str | Path, title: str | None = None) -> Path:
    """Cost against the second objective; points are numbered and their GPU mixes listed beside the axes (long
    labels on the points themselves overlap when points are close)."""
    path = check_plot_path(path)
    figure = Figure(figsize=(8, 5))
    ax = figure.add_subplot()
    points = sorted(front.points, key=lambda p: p.value(front.objective))
    xs = [p.value(front.objective) for p in points]
    ys = [p.cost_usd_per_hour for p in points]
    # the cost of reaching at least x (maximised) / at most x (minimised) is the next point's cost: a staircase
    ax.step(xs, ys, where="pre" if front.objective != "gpus" else "post", color="#999999", linewidth=1, zorder=1)
    ax.scatter(xs, ys, color="#4c72b0", zorder=2)
    listing = []
    for index, (x, y, point) in enumerate(zip(xs, ys, points), start=1):
        ax.annotate(str(index), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        listing.append(f"{index:>2}  \\${format_usd(point.cost_micro_usd_per_hour)}/h  {mathtext(point.plan.gpu_mix)}")
    ax.text(1.02, 1.0, "\n".join(listing), transform=ax.transAxes, va="top", ha="left", fontsize=7, family="monospace")
    if front.objective == "headroom":
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(AXIS_LABELS[front.objective])
    ax.set_ylabel("cost, USD per hour")
    ax.set_title(_title(title or f"Pareto set: cost vs {front.objective} ({len(front.points)} plans)"))
    ax.grid(alpha=0.3)
    return _save(figure, path)


def plot_memory_bill(bills: Sequence[tuple[str, ServingMemory]], path: str | Path, title: str | None = None) -> Path:
    """Stacked bars per replica shape: weights / KV / activations / overhead / free, GiB per GPU."""
    path = check_plot_path(path)
    if not bills:
        raise InputError("nothing to plot", [Issue("no memory bill to draw")])
    figure = Figure(figsize=(max(5, 1.6 * len(bills) + 3), 5))
    ax = figure.add_subplot()
    labels = [label for label, _ in bills]
    bottoms = [0.0] * len(bills)
    for name, attribute, color in BILL_LINES:
        heights = [max(0, getattr(bill, attribute)) / BYTES_PER_GIB for _, bill in bills]
        ax.bar(labels, heights, bottom=bottoms, label=name, color=color, edgecolor="white", linewidth=0.5)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    usable = [bill.usable_bytes / BYTES_PER_GIB for _, bill in bills]
    ax.scatter(labels, usable, marker="_", s=800, color="black", label="engine budget (usable)", zorder=3)
    ax.set_ylabel("GiB per GPU (busiest replica)")
    ax.set_title(_title(title or "Memory bill per GPU"))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelrotation=15, labelsize=8)
    return _save(figure, path)


def plan_bills(plan: Plan) -> list[tuple[str, ServingMemory]]:
    """(label, bill) per replica group of a plan, labelled 'count x shape'."""
    return [(f"{g.count}x {g.candidate.key}".replace("/", "\n", 1), g.memory) for g in plan.groups]


def plot_configuration_bill(data: dict[str, Any], memory: ServingMemory, path: str | Path) -> Path:
    """``memory --plot``: one configuration's bill (``data``: its JSON form), labelled with its format, layout and load."""
    label = f"{data['weight_format']}, TP={data['tp']} PP={data['pp']}\n{data['batch']} x {data['context_tokens']:,} tokens"
    return plot_memory_bill([(label, memory)], path, f"{data['model']}: memory bill per GPU")


def _gpu_types(gpu_mix: str | None) -> str:
    """'8x a100-80gb + 16x a100-80gb@owned' -> 'a100-80gb + a100-80gb@owned': one line per set of GPU types."""
    return " + ".join(part.split("x ", 1)[-1] for part in (gpu_mix or "").split(" + "))


def _cost(result: VariationResult) -> float:
    """A variation's USD per hour (NaN, a gap in the line, when it has no plan)."""
    return math.nan if result.cost_usd_per_hour is None else result.cost_usd_per_hour


def plot_sweep(report: WhatIfReport, path: str | Path, title: str | None = None) -> Path:
    """Cost against each swept variable, one line per GPU mix (the set of GPU types; counts labelled at each
    point); named variations as bars."""
    path = check_plot_path(path)
    results = [r for r in report.variations if r.cost_usd_per_hour is not None]
    axes_names = list(dict.fromkeys(a.name for r in results for a in r.axes[:1]))
    named = [r for r in results if not r.axes]
    panels = len(axes_names) + (1 if named else 0)
    if panels == 0:
        raise InputError("nothing to plot", [Issue("no variation has a plan")])
    figure = Figure(figsize=(8, 4.2 * panels))
    for index, axis_name in enumerate(axes_names, start=1):
        ax = figure.add_subplot(panels, 1, index)
        rows = sorted((r for r in results if r.axes and r.axes[0].name == axis_name), key=lambda r: r.axes[0].value)
        for kinds in dict.fromkeys(_gpu_types(r.gpu_mix) for r in rows):
            mine = [r for r in rows if _gpu_types(r.gpu_mix) == kinds]
            ax.plot([r.axes[0].value for r in mine], [_cost(r) for r in mine], marker="o", label=mathtext(kinds))
            shown = None
            for turn, r in enumerate(mine):  # label where the GPU counts change, alternating above and below
                if r.gpu_mix != shown:
                    ax.annotate(mathtext(r.gpu_mix or ""), (r.axes[0].value, r.cost_usd_per_hour or 0), textcoords="offset points",
                                xytext=(4, 6 if turn % 2 == 0 else -11), fontsize=6, color="#555555")
                    shown = r.gpu_mix
        if report.baseline.cost_usd_per_hour is not None:
            ax.axhline(report.baseline.cost_usd_per_hour, color="#999999", linestyle="--", linewidth=1, label="baseline")
        values = [r.axes[0].value for r in rows]
        if values and min(values) > 0 and max(values) / min(values) >= 16:
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(ScalarFormatter())
        unit = rows[0].axes[0].unit if rows else ""
        ax.set_xlabel(mathtext(f"{axis_name} ({unit})" if unit else axis_name))
        ax.set_ylabel("cost, USD per hour")
        ax.set_title(_title(title or f"{report.scenario_name}: cost vs {axis_name}, one line per GPU mix"), fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if named:
        ax = figure.add_subplot(panels, 1, panels)
        ax.bar([textwrap.fill(mathtext(r.name), 24) for r in named], [_cost(r) for r in named], color="#4c72b0", width=0.5)
        ax.set_xlim(-0.75, len(named) - 0.25)
        ax.set_ylim(0, max(r.cost_usd_per_hour or 0 for r in named) * 1.25 or 1)  # room for the labels above the bars
        for i, r in enumerate(named):
            ax.annotate(textwrap.fill(mathtext(r.gpu_mix or ""), 30), (i, r.cost_usd_per_hour or 0), ha="center", va="bottom", fontsize=7)
        ax.set_ylabel("cost, USD per hour")
        ax.set_title("named variations", fontsize=10)
    return _save(figure, path)


SOURCE_COLOURS = (("owned", "owned", "#4c72b0"), ("bought", "bought", "#8172b2"), ("reserved", "reserved", "#55a868"),
                  ("on_demand", "on demand", "#dd8452"), ("spot", "spot (guaranteed)", "#c44e52"))


def plot_procurement(report: ProcurementReport, path: str | Path, title: str | None = None) -> Path:
    """Capacity by source (owned, bought, reserved, on demand, spot), stacked, against the demand curve.

    One step per slot; a horizon with a cycle inside each period draws every period's cycle side by side.
    """
    path = check_plot_path(path)
    points = [(p, s) for p in report.periods for s in p.slots]
    cycle = max(len(p.slots) for p in report.periods)
    xs = [p.index + i / cycle for p in report.periods for i in range(len(p.slots))] if not report.grid.steady_state else \
        list(range(len(points)))
    step = 1 / cycle if not report.grid.steady_state else 1
    xs_edges = xs + [xs[-1] + step]
    figure = Figure(figsize=(max(8, min(16, len(points) / 12)), 5))
    ax = figure.add_subplot()
    bottom = [0.0] * len(points)
    for source, label, colour in SOURCE_COLOURS:
        scale = 1000.0 if report.grid.traffic else 1.0
        heights = [slot.capacity.get(source, 0) / scale for _, slot in points]
        if not any(heights):
            continue
        top = [b + h for b, h in zip(bottom, heights)]
        ax.stairs(top, xs_edges, baseline=bottom, fill=True, color=colour, label=label, alpha=0.85)
        bottom = top
    ax.stairs([slot.load / (1000.0 if report.grid.traffic else 1.0) for _, slot in points], xs_edges, baseline=None, color="black",
              linewidth=1.6, label="demand (load)")
    if report.grid.steady_state:
        ticks = list(range(0, len(points), max(1, len(points) // 12)))
        ax.set_xticks([x + 0.5 for x in ticks], [points[i][1].label for i in ticks], fontsize=8)
        ax.set_xlabel(f"slot of the repeated cycle ({float(report.grid.cycle_hours):g} h)")
    else:
        ticks = list(range(0, len(report.periods), max(1, len(report.periods) // 12)))
        ax.set_xticks([t + 0.5 for t in ticks], [report.periods[t].label for t in ticks], fontsize=8)
        ax.set_xlabel("period" + (" (each drawn with its cycle of slots)" if cycle > 1 else ""))
    ax.set_ylabel("requests/s within the SLO" if report.grid.traffic else "sequences held (KV-cache capacity)")
    ax.set_title(_title(title or f"{report.scenario_name}: capacity by source against demand, total USD {report.total_usd:,.0f}"),
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3)
    return _save(figure, path)
