"""Rendering of procurement plans: a schedule table for people, JSON and CSV for machines. No solving here."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from .tables import Column, left, prose, table

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..plans.procurement import PeriodPlan, ProcurementReport

SOURCE_NAMES = {"owned": "owned", "bought": "bought", "reserved": "reserved", "on_demand": "on demand", "spot": "spot"}


def _gpus_by(report: ProcurementReport, period: PeriodPlan, source: str) -> dict[str, int]:
    """GPUs of one source at the period's busiest slot, per GPU type."""
    busiest = max(period.slots, key=lambda s: (s.load, sum(s.gpus.values())))
    out: dict[str, int] = {}
    for pool, n in busiest.gpus.items():
        info = report.pools[pool]
        if info.source == source and n:
            out[info.gpu] = out.get(info.gpu, 0) + n
    return out


def _mix(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {gpu}" for gpu, n in sorted(counts.items())) or "-"


def render_procurement(report: ProcurementReport, console: Console, wide: bool = False) -> None:
    """The schedule per period, the cost by source, utilisation of committed capacity, break-even points."""
    grid = report.grid
    kind = f"steady state: {grid.periods[0].label}" if grid.steady_state else f"{len(grid.periods)} periods over {float(grid.hours):,.0f} h"
    console.print(f"[bold]{_escape(report.scenario_name)}[/bold]: {_escape(report.model_name)}, {kind}, peak {grid.display(grid.peak)}"
                  + (f", net present cost at {report.discount_rate:.1%}/year" if report.discount_rate else ""))
    columns = [left("period"), Column("peak requests/s" if grid.traffic else "peak load"), left("order", wide=True),
               left("on premises", wide=True), left("reserve", wide=True), left("reserved", wide=True),
               prose("committed", 28, narrow=True), left("on demand (peak slot)", wide=True), left("spot (peak slot)", wide=True),
               prose("rented (peak slot)", 28, narrow=True), Column("cost USD")]
    rows = []
    for period in report.periods:
        started = {report.pools[k].gpu + " " + k.split("@")[1]: n * report.pools[k].unit_gpus for k, n in period.reserved_started.items()}
        active = {report.pools[k].gpu: n * report.pools[k].unit_gpus for k, n in period.reserved_active.items()}
        onprem = {g: n for g, n in period.onprem_gpus.items() if n}
        on_demand, spot = _gpus_by(report, period, "on_demand"), _gpus_by(report, period, "spot")
        committed = [f"{label} {_mix(mix)}" for label, mix in (("order", period.ordered), ("on premises", onprem),
                                                              ("reserve", started), ("reserved", active)) if mix]
        rented = [f"{_mix(mix)} {label}" for label, mix in (("on demand", on_demand), ("spot", spot)) if mix]
        rows.append((_escape(period.label), _load(report, period.peak), _mix(period.ordered), _mix(onprem), _mix(started), _mix(active),
                     "; ".join(committed) or "-", _mix(on_demand), _mix(spot), "; ".join(rented) or "-", f"{period.cost_usd:,.2f}"))
    console.print(table(f"Procurement plan — total ${report.total_usd:,.2f} (${report.cost_usd_per_hour:,.2f}/h on average)", columns,
                        rows, wide))
    if grid.steady_state:
        console.print(_slot_table(report, wide))
    by_source = report.cost_by_source()
    console.print("cost by source: " + " · ".join(f"{SOURCE_NAMES[s]} ${v:,.2f}" for s, v in by_source.items() if v))
    for pool, stats in report.utilisation.items():
        console.print(f"utilisation of {pool}: {stats['gpu_hours_in_replicas_of_available']:.1%} of its GPU-hours run replicas, "
                      f"{stats['load_served_of_capacity']:.1%} of their capacity serves load")
    for even in report.break_even:
        if even.buy_utilisation is None and not even.reserved:
            continue  # renting is the only option for this type: nothing to break even with
        parts = [f"on demand ${even.on_demand_usd_per_gpu_hour:.3f}/GPU-h"]
        if even.buy_utilisation is not None:
            parts.append(f"buying wins above {even.buy_utilisation:.1%} utilisation "
                         f"(payback {even.buy_payback_months:.1f} months of full use)")
        parts += [f"{k.split('@')[1]} wins above {u:.1%}" for k, u in even.reserved.items()]
        console.print(f"break-even {even.gpu}: " + "; ".join(parts))
    outcome = report.outcome
    bound = outcome.best_bound_micro_usd
    gap = "" if report.status == "optimal" else f" (bound ${bound / 1e6:,.2f})" if bound is not None else ""
    console.print(f"status: [bold]{report.status}[/bold]{gap} · model {outcome.variables:,} variables, "
                  f"{outcome.constraints:,} constraints · "
                  f"{len(report.shapes):,} replica shapes of {report.candidates_total:,} · cpsat in {outcome.wall_time_s:.3f} s · "
                  f"workers={outcome.parameters.get('num_workers')} seed={outcome.parameters.get('random_seed')}")
    estimated = sorted({i.gpu for i in report.pools.values() if i.estimated})
    if estimated:
        console.print(f"ESTIMATED prices (derived, not quoted) used for: {', '.join(estimated)}")
    unit = "requests/s within the SLO" if grid.traffic else "sequences (KV-cache memory)"
    console.print("Costs are charged to the period a purchase is ordered or a reservation starts in; on-premises GPUs pay power while "
                  f"in replicas. Load and capacity in {unit}; spot counted at the replicas that survive with the target odds.")
    for note in report.notes:
        console.print(f"note: {note}", markup=False)


def _slot_table(report: ProcurementReport, wide: bool = False) -> Table:
    """The steady state hour by hour: load, capacity by source, rented GPUs and what they cost per cycle (the default
    view leaves out the sources no slot uses)."""
    period = report.periods[0]
    cycles = report.grid.periods[0].hours / report.grid.cycle_hours
    rows = []
    for slot in period.slots:
        rented = {}
        usd = 0.0
        for pool, n in slot.gpus.items():
            info = report.pools[pool]
            if info.source in ("on_demand", "spot") and n:
                units = [(a, b) for (p, _), (a, b) in slot.spot_units.items() if p == pool]
                spares = f" (N+k: {units[0][1]}+{units[0][0] - units[0][1]} units)" if units else ""
                rented[f"{info.gpu} {SOURCE_NAMES[info.source]}{spares}"] = n
                usd += n * (info.usd_per_gpu_hour or 0) * slot.hours / float(cycles)
        cap = slot.capacity
        rows.append((_escape(slot.label), _load(report, slot.load), *(_load(report, cap[s]) if cap[s] else "-" for s in SOURCE_NAMES),
                     _mix(rented), f"{usd:,.2f}"))
    used = {source for source in SOURCE_NAMES if any(slot.capacity[source] for slot in period.slots)}
    columns = [left("slot"), Column("requests/s" if report.grid.traffic else "load"),
               *(Column(name, wide=source not in used) for source, name in SOURCE_NAMES.items()),
               prose("rented GPUs", 36), Column("rent USD per cycle" if wide else "rent USD/cycle")]
    return table(f"One cycle ({float(report.grid.cycle_hours):g} h) of the steady state; rentals follow the load", columns, rows, wide)


def _load(report: ProcurementReport, value: int) -> str:
    """A load or capacity in the table: sequences, or requests/s (the solver counts milli-requests/s)."""
    return f"{value / 1000:,.2f}" if report.grid.traffic else f"{value:,}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def procurement_csv(report: ProcurementReport) -> str:
    """One row per period, slot and pool: GPUs, replicas and the capacity they hold."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    unit = "milli_requests_per_s" if report.grid.traffic else "sequences"
    writer.writerow(["period", "slot", "hours", f"load_{unit}", "pool", "gpu", "source", "gpus", "replicas", f"capacity_{unit}",
                     "price_estimated"])
    for period in report.periods:
        for slot in period.slots:
            for pool in sorted(slot.gpus):
                info = report.pools[pool]
                replicas = sum(n for (p, _), n in slot.replicas.items() if p == pool)
                capacity = sum(n * report.capacity[shape] for (p, shape), n in slot.replicas.items() if p == pool)
                writer.writerow([period.label, slot.label, round(slot.hours, 4), slot.load, pool, info.gpu, info.source,
                                 slot.gpus[pool], replicas, capacity, info.estimated])
    return buffer.getvalue()
