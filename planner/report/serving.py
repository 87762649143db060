"""Rendering of results: rich tables for people, JSON and CSV for machines. No solving here."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from ..display import markup, plain
from ..plans.serving import Plan, SolveReport
from ..units import format_usd
from .tables import Column, left, prose, table

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..analysis.pareto import ParetoFront
    from ..analysis.pricing import PriceRange, RentVsBuy
    from ..analysis.whatif import WhatIfReport


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def plan_table(plan: Plan, title: str, wide: bool = False) -> Table:
    """Each replica group's layout, formats, sequences and memory per GPU (GiB), and its cost; ``--wide`` adds the
    smaller memory lines and the capacity, and spells out what the default view merges."""
    columns = [left("GPU"), Column("replicas"), Column("TP×PP"), Column("EP", wide=True),
               left("weights fmt", wide=True), left("KV dtype", wide=True), left("formats", narrow=True),
               Column("seqs (per replica / max)" if wide else "seqs/max"), Column("weights GiB" if wide else "weights"),
               Column("KV GiB" if wide else "KV"), Column("activ. GiB", wide=True), Column("overhead GiB", wide=True),
               Column("graphs GiB", wide=True), Column("free GiB" if wide else "free"), Column("capacity GiB", wide=True),
               Column("USD/h")]
    rows = []
    for group in plan.groups:
        row = group.to_dict()
        mem = row["memory_per_gpu_gib"]
        gpu = group.candidate.gpu
        layout = f"{row['tp']}×{row['pp']}" + (f" ep{row['ep']}" if row["ep"] > 1 and not wide else "")
        rows.append((
            gpu.id + (" (price est.)" if gpu.price_estimated else ""), str(group.count), layout, str(row["ep"]),
            row["weight_format"], row["kv_cache_dtype"], f"{row['weight_format']}/{row['kv_cache_dtype']}",
            f"{group.concurrency} ({group.concurrency_per_replica} / {row['max_concurrency']})" if wide else
            f"{group.concurrency_per_replica}/{row['max_concurrency']}",
            f"{mem['weights']:.2f}", f"{mem['kv_cache']:.2f}", f"{mem['activations']:.2f}", f"{mem['overhead']:.2f}",
            f"{mem['cuda_graphs']:.2f}", f"{mem['free']:.2f}", f"{mem['capacity']:.2f}", format_usd(group.cost_micro_usd_per_hour),
        ))
    return table(title, columns, rows, wide)


def performance_table(plan: Plan, wide: bool = False) -> Table:
    """Predicted performance of each replica group at its load (traffic) or its sequences (concurrency)."""
    groups = [g for g in plan.groups if g.performance is not None]
    percentile = groups[0].percentile if groups else "mean"
    traffic = any(g.load_requests_per_s is not None for g in groups)
    columns = [left("GPU"), Column("TP×PP"), left("TP link", wide=True)]
    if traffic:
        columns += [Column("requests/s (per replica / max)" if wide else "req/s / max"), Column("load")]
    columns += [Column("output tok/s"), Column("batch"), Column(f"TTFT {percentile} ms"), Column(f"TPOT {percentile} ms"),
                Column(f"E2E {percentile} s", wide=traffic), left("bound", wide=True)]
    rows = []
    for group in groups:
        perf = group.performance_dict()
        assert perf is not None
        link = group.candidate.tp_link + (", PP over network" if group.candidate.crosses_network else "")
        cells = [group.candidate.gpu.id, f"{group.candidate.layout.tp}×{group.candidate.layout.pp}", link]
        if traffic:
            per = (group.load_requests_per_s or 0.0) / group.count
            most = f"{per:,.3g} / {group.max_requests_per_s_per_replica or 0:,.3g}"
            cells += [f"{group.load_requests_per_s or 0:,.3g} ({most})" if wide else most, f"{group.load_factor or 0:.0%}"]
        cells += [f"{perf['output_tokens_per_s']:,.0f}", f"{perf['batch_size']:,.1f}", f"{perf['ttft_ms']:,.0f}",
                  f"{perf['tpot_ms']:,.1f}", f"{perf['e2e_latency_ms'] / 1000:,.2f}", perf["bound"]]
        rows.append(cells)
    return table("Predicted performance per replica at its load (performance model)", columns, rows, wide)


def render_solve_report(report: SolveReport, pricing: dict[str, Any] | None, console: Console, wide: bool = False) -> None:
    """``planner solve``'s tables and lines, with what the plan's USD/h means under the scenario's pricing."""
    render_solve_table(report, console, wide)
    if pricing:
        console.print(pricing_line(pricing))


def render_solve_table(report: SolveReport, console: Console, wide: bool = False) -> None:
    demand = report.demand_text or f"{report.demand_sequences:,} concurrent sequences × {report.context_tokens:,} tokens"
    console.print(f"[bold]{markup(report.scenario_name)}[/bold]: {markup(report.model_name)}, {demand}")
    for index, plan in enumerate(report.plans, start=1):
        title = f"Plan {index}: {markup(plan.gpu_mix)} — ${format_usd(plan.cost_micro_usd_per_hour)}/h, {plan.total_gpus} GPUs, " \
                f"min headroom {plan.min_headroom_fraction:.1%}"
        if plan.load_factor is not None:
            title += f", load {plan.load_factor:.0%} of " + ("its throughput" if report.job else "what it sustains within the SLO")
        console.print(plan_table(plan, title, wide))
        for group in plan.groups:
            if group.memory.host_bytes:
                console.print(f"{group.candidate.key}: {group.memory.host_bytes / 2**30:.2f} GiB of host RAM per GPU (llama.cpp: "
                              f"token embedding{', blocks beyond -ngl and their KV cells' if group.memory.host_kv_cache_bytes else ''})")
        for idle in plan.idle:
            console.print(f"whole instances of {idle.instance_gpus} {idle.gpu}: {idle.count} GPU{'s' if idle.count != 1 else ''} "
                          f"rented but idle (${idle.cost_usd_per_hour:,.2f}/h, included above)")
        if any(g.performance is not None for g in plan.groups):
            console.print(performance_table(plan, wide))
    if report.job:
        job = report.job
        console.print(f"offline job: {job['requests']:,} requests finish in {job['hours_to_finish']:,.2f} h of the "
                      f"{job['deadline_hours']:g} h allowed (${job['cost_usd']:,.2f}; ${job['cost_usd_held_to_deadline']:,.2f} if held "
                      f"to the deadline) — ${job['usd_per_million_tokens']:,.4f} per million tokens, "
                      f"${job['usd_per_million_output_tokens']:,.4f} per million output tokens")
    solver = report.solver
    gap = solver.get("gap")
    status = (report.status if report.status != "feasible" else
              f"feasible (gap {gap:.1%}, not proven optimal)" if gap is not None else "feasible")
    console.print(
        f"status: [bold]{status}[/bold] · {report.candidates_total:,} shapes considered, "
        + (f"{report.rejections['slo_unreachable']:,} never meet the SLO, " if report.rejections.get("slo_unreachable") else "")
        + f"{report.candidates_after_pruning:,} after pruning · "
        f"{solver.get('method')} in {solver.get('wall_time_s', 0):.3f} s · workers={solver.get('num_workers', '-')} "
        f"seed={solver.get('random_seed', '-')} ortools {solver.get('ortools', '-')}"
    )
    console.print("Memory per GPU of the busiest replica, GiB (2^30 bytes); free = capacity − weights − KV − activations − overhead − "
                  "CUDA graphs. USD/h exact (micro-USD)." + ("" if wide else " formats: weights/KV cache; seqs/max: sequences per "
                                                             "replica / the most it holds; epN: expert parallel; --wide: every column."))
    for note in report.notes:
        console.print(f"note: {markup(note)}")


def solve_csv(report: SolveReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["plan", "gpu", "count", "tp", "pp", "ep", "weight_format", "kv_cache_dtype", "gpus_per_replica",
                     "concurrency", "max_concurrency", "weights_gib", "kv_cache_gib", "activations_gib", "overhead_gib",
                     "cuda_graphs_gib", "total_gib", "free_gib", "capacity_gib", "cost_usd_per_hour", "price_estimated", "tp_link",
                     "requests_per_s", "load_factor", "output_tokens_per_s", "ttft_ms", "tpot_ms", "latency_percentile"])
    for index, plan in enumerate(report.plans, start=1):
        for group in plan.groups:
            row = group.to_dict()
            mem = row["memory_per_gpu_gib"]
            writer.writerow([index, row["gpu"], row["count"], row["tp"], row["pp"], row["ep"], row["weight_format"],
                             row["kv_cache_dtype"], row["gpus_per_replica"], row["concurrency"], row["max_concurrency"],
                             mem["weights"], mem["kv_cache"], mem["activations"], mem["overhead"], mem["cuda_graphs"],
                             mem["total"], mem["free"], mem["capacity"], format_usd(group.cost_micro_usd_per_hour, grouping=False),
                             row["price_estimated"], row["tp_link"]] + _performance_cells(row.get("performance")))
    return buffer.getvalue()


def _performance_cells(perf: dict[str, Any] | None) -> list[Any]:
    if perf is None:
        return ["", "", "", "", "", ""]
    return [perf["requests_per_s"], "" if perf["load_factor"] is None else perf["load_factor"], perf["output_tokens_per_s"],
            perf["ttft_ms"], perf["tpot_ms"], perf["percentile"]]


def render_pareto_table(front: ParetoFront, header: str, console: Console, wide: bool = False) -> None:
    """One row per Pareto point: cost, the second objective, GPU mix and the bound it was proven optimal under."""
    console.print(header)  # the caller escapes the user's text in it
    latency = front.objective in ("tpot", "ttft")
    at = next((g.percentile for g in front.points[0].plan.groups), "mean") if latency and front.points else ""
    columns = [Column("#"), Column("USD/h")]
    columns += [Column(f"TPOT {at} ms"), Column(f"TTFT {at} ms")] if latency else [Column("min headroom")]
    columns += [Column("GPUs"), Column("max concurrency"), prose("GPU mix", 30), left("bound", wide=True), left("status")]
    rows = []
    for index, point in enumerate(front.points, start=1):
        bound = point.bound(front.objective)
        level = "-" if bound[1] is None else f"{bound[0]} ≥ {bound[1]:.2%}" if front.objective == "headroom" else \
            f"{bound[0]} ≤ {bound[1]:,.2f}" if latency else \
            f"{bound[0]} ≤ {bound[1]}" if front.objective == "gpus" else f"{bound[0]} = {bound[1]:,}"
        middle = [f"{point.plan.worst('tpot_ms') or 0:,.1f}", f"{point.plan.worst('ttft_ms') or 0:,.0f}"] if latency else \
            [f"{point.plan.min_headroom_fraction:.1%}"]
        rows.append((str(index), format_usd(point.cost_micro_usd_per_hour), *middle, str(point.plan.total_gpus),
                     f"{point.max_concurrency:,}", markup(point.plan.gpu_mix), level, point.status))
    plans = f"{len(front.points)} non-dominated plan{'s' if len(front.points) != 1 else ''}"
    console.print(table(f"Pareto set, cost vs {front.objective}: {plans}", columns, rows, wide))
    ended = {"infeasible": "complete (the next bound is infeasible)", "max_points": "stopped at the point limit",
             "ceiling": "stopped at 16x the demand", "time_limit": "stopped: a step hit the time limit"}[front.stopped]
    console.print(f"{ended} · {front.solves} CP-SAT solves in {front.wall_time_s:.2f} s")


def pareto_csv(front: ParetoFront) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["point", "cost_usd_per_hour", "min_headroom_fraction", "total_gpus", "max_concurrency", "gpu_mix", "status",
                     "tpot_ms", "ttft_ms"])
    for index, point in enumerate(front.points, start=1):
        writer.writerow([index, format_usd(point.cost_micro_usd_per_hour, grouping=False), round(point.plan.min_headroom_fraction, 4),
                         point.plan.total_gpus, point.max_concurrency, point.plan.gpu_mix, point.status,
                         point.plan.worst("tpot_ms") or "", point.plan.worst("ttft_ms") or ""])
    return buffer.getvalue()


def render_whatif_report(report: WhatIfReport, console: Console, wide: bool = False) -> None:
    """``planner whatif``'s comparison, then rent vs buy and price sensitivity when the analysis has them."""
    render_whatif_table(report, console, wide)
    if report.extras.get("rent_vs_buy"):
        render_rent_vs_buy(report.extras["rent_vs_buy"], console, wide)
    if report.extras.get("sensitivity"):
        render_sensitivity(report.extras["sensitivity"], console, wide)


def render_whatif_table(report: WhatIfReport, console: Console, wide: bool = False) -> None:
    """The comparison table: variation, cost, change vs baseline, GPU mix, GPUs, headroom."""
    base = report.baseline
    rows = []
    for result in (base, *report.variations):
        delta, fraction = result.delta_micro_vs(base)
        signed = "" if delta is None else ("+" if delta >= 0 else "") + format_usd(delta)
        change = "—" if result is base else "n/a" if delta is None else \
            f"{signed} ({fraction:+.1%})" if fraction is not None else signed
        rows.append((markup(result.name), "-" if result.cost_micro_usd_per_hour is None else format_usd(result.cost_micro_usd_per_hour),
                     change, markup(result.gpu_mix or (result.message or "")[:60]),
                     "-" if result.total_gpus is None else str(result.total_gpus),
                     "-" if result.min_headroom_fraction is None else f"{result.min_headroom_fraction:.1%}", result.status))
    columns = [prose("variation", 30), Column("USD/h"), Column("vs baseline"), prose("GPU mix", 24), Column("GPUs"),
               Column("min headroom"), left("status")]
    title = (f"What-if: {markup(report.scenario_name)} — {len(report.variations)} variation{'s' if len(report.variations) != 1 else ''} "
             f"({report.executor}, {report.wall_time_s:.1f} s)")
    console.print(table(title, columns, rows, wide))


def whatif_csv(report: WhatIfReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variation", "status", "cost_usd_per_hour", "delta_usd_per_hour", "delta_fraction", "gpu_mix",
                     "total_gpus", "min_headroom_fraction", "overrides"])
    for result in (report.baseline, *report.variations):
        row = result.to_dict(report.baseline)
        writer.writerow([plain(row["variation"]), row["status"], row["cost_usd_per_hour"], row["delta_usd_per_hour"],
                         row["delta_fraction"], row["gpu_mix"], row["total_gpus"], row["min_headroom_fraction"],
                         "; ".join(f"{k}={v}" for k, v in row["overrides"].items())])
    return buffer.getvalue()


def render_rent_vs_buy(rows: list[RentVsBuy], console: Console, wide: bool = False) -> None:
    def number(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    columns = [left("GPU"), Column("rent USD/h"), Column("purchase USD"), Column("amortised USD/h", wide=True),
               Column("power USD/h", wide=True), Column("break-even utilisation"), Column("at your utilisation")]
    cells = [(r.gpu, number(r.rent_usd_per_gpu_hour, ",.3f"), number(r.purchase_usd, ",.0f"), number(r.amortised_usd_per_gpu_hour, ",.3f"),
              number(r.power_usd_per_gpu_hour, ",.3f"), number(r.break_even_utilisation, ".1%"), f"{r.verdict} ({r.utilisation:.0%})")
             for r in rows]
    console.print(table("Rent vs buy (per GPU; buying beats renting on demand above the break-even utilisation)", columns, cells, wide))


def render_sensitivity(ranges: list[PriceRange], console: Console, wide: bool = False) -> None:
    rows = []
    for r in ranges:
        low = f"no change down to {r.floor_usd_per_gpu_hour:,.3f}" if r.low_usd_per_gpu_hour is None else \
            f"{r.low_usd_per_gpu_hour:,.3f} ({r.low_usd_per_gpu_hour / r.price_usd_per_gpu_hour - 1:+.1%})"
        high = f"no change up to {r.ceiling_usd_per_gpu_hour:,.3f}" if r.high_usd_per_gpu_hour is None else \
            f"{r.high_usd_per_gpu_hour:,.3f} ({r.high_usd_per_gpu_hour / r.price_usd_per_gpu_hour - 1:+.1%})"
        rows.append((r.gpu, f"{r.price_usd_per_gpu_hour:,.3f}", low, high, str(r.solves)))
    columns = [left("GPU"), Column("price USD/h"), Column("low"), Column("high"), Column("solves")]
    console.print(table("Price sensitivity: the baseline plan stays optimal while each GPU's price stays in its range "
                        "(others fixed; found by re-solving)", columns, rows, wide))


def pricing_line(summary: dict[str, Any]) -> str:
    """One line saying what the plan's USD/h means under a scenario's pricing section."""
    text = (f"pricing: {summary['objective']} objective at {summary['utilisation']:.0%} utilisation — "
            f"USD/h is {summary['cost_usd_per_hour_means']}")
    if "total_cost_of_ownership_usd" in summary:
        text += f"; total cost of ownership over {summary['horizon_years']:g} years: ${summary['total_cost_of_ownership_usd']:,.0f}"
    return text
