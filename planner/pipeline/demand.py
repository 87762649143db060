"""Demand over time: a serving scenario's load per period, expanded into the time grid the procurement model plans on.

A ``demand`` section turns one load level into a profile::

    demand:
      period: hour                      # hour | day | week | month (730 h) | quarter (2190 h) | year (8760 h)
      loads: [120, 100, ..., 360]       # one load per period: concurrency, or {concurrency: N, label: "09:00"}
      repeat: 365                       # the loads are a typical cycle (a day here), repeated: a steady state
    demand:
      period: month
      count: 24                         # 24 periods at the workload's load...
      growth: {per: quarter, factor: 1.3}   # ...grown 30 % a quarter
      within: {period: hour, factors: [0.4, ..., 1.0]}   # the shape of a day inside every month
    demand:
      period: hour
      csv: {path: rates.csv, column: concurrency}        # one row per hour; rows_per_period takes their peak

Two kinds of time, one grid: *horizon periods* run one after another (purchases arrive, reservations start and
end between them); *slots* are the hours of a typical cycle inside each horizon period (rentals follow them,
commitments do not). ``repeat`` makes the loads the slots of one steady-state horizon period; ``within`` gives
every horizon period the slots of its cycle. Loads are integers (requirements round up); hours are exact
fractions (a month of 730 h holds 30 5/12 days).
"""

from __future__ import annotations

import csv
import io
import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, Issue
from ..plans.procurement import HorizonPeriod, Slot, TimeGrid
from ..schema.procurement import (
    MAX_CSV_ROWS,
    MAX_GRID_POINTS,
    MAX_LOAD,
    MAX_PERIODS,
    MAX_SLOTS,
    PERIOD_HOURS,
    DemandProfile,
    LoadCsv,
    PeriodLoad,
)
from ..yaml_io import read_text_file

if TYPE_CHECKING:
    from ..schema.workload import Workload


def read_load_csv(spec: LoadCsv, base_dir: Path | None = None, default_column: str = "concurrency") -> tuple[list[float], list[str]]:
    """Loads (and labels) of a CSV file, aggregated ``rows_per_period`` rows at a time by their maximum.

    Bounded (size, rows) and validated row by row: a bad value is named with its file, line and column.
    """
    path = Path(spec.path) if base_dir is None or Path(spec.path).is_absolute() else base_dir / spec.path
    text = read_text_file(path, "demand CSV", InputError)  # a regular text file of bounded size
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InputError("demand CSV is empty", [Issue("expected a header row naming the columns", source=str(path))])
    names = [h.strip() for h in header]

    def column_index(name: str) -> int:
        if name not in names:
            from ..errors import did_you_mean

            raise InputError("demand CSV column not found", [Issue(f"no column {name!r}", source=str(path), line=1,
                                                                   suggestion=did_you_mean(name, names) or f"columns: {', '.join(names)}")])
        return names.index(name)

    column = spec.column or default_column
    value_at, label_at = column_index(column), column_index(spec.label_column) if spec.label_column else None
    values: list[float] = []
    labels: list[str] = []
    for line, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(values) >= MAX_CSV_ROWS:
            raise InputError("demand CSV has too many rows", [Issue(f"more than {MAX_CSV_ROWS:,} rows", source=str(path), line=line)])
        cell = row[value_at].strip() if value_at < len(row) else ""
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if math.isnan(value) or not 0 <= value <= MAX_LOAD:
            raise InputError("bad value in demand CSV", [Issue(f"{column} must be a number between 0 and {MAX_LOAD:,} (got {cell!r})",
                                                               source=str(path), line=line, column=value_at + 1)])
        values.append(value)
        labels.append(row[label_at].strip()[:40] if label_at is not None and label_at < len(row) else "")
    if not values:
        raise InputError("demand CSV has no rows", [Issue("expected one row per period after the header", source=str(path))])
    step = spec.rows_per_period
    loads = [max(values[i:i + step]) for i in range(0, len(values), step)]
    return loads, [labels[i] for i in range(0, len(values), step)]


def expand(profile: DemandProfile, workload: Workload, base_dir: Path | None = None) -> TimeGrid:
    """The time grid of a profile for a workload: its loads in the solver's unit (sequences, or milli-requests/s
    for a request-rate workload, rounded up), the workload's own load where the profile gives none (``count``)."""
    if workload.kind == "offline":
        raise InputError("a demand profile needs a live load", [Issue(
            "an offline job has a deadline, not a load per period: state the workload as concurrency or request_rate",
            field_path="workload.offline")])
    traffic = workload.kind == "request_rate"
    scale, unit = (1000, "request_rate") if traffic else (1, "concurrency")
    period_hours = Fraction(PERIOD_HOURS[profile.period])
    if profile.loads is not None:
        values = []
        for index, x in enumerate(profile.loads):
            if isinstance(x, PeriodLoad):
                concurrency, rate = x.concurrency, x.request_rate
            else:
                concurrency, rate = (x, None) if isinstance(x, int) and not traffic else (None, x)
            given = rate if traffic else concurrency
            if given is None:
                other = "a concurrency" if traffic else "a request rate (not a whole number)"
                raise InputError("demand load in another unit than the workload", [Issue(
                    f"the workload states {unit}; load {index + 1} is {other}",
                    field_path=f"demand.loads.{index}", suggestion=f"give every load as {unit}")])
            values.append(float(given))
        labels = [(x.label or "") if isinstance(x, PeriodLoad) else "" for x in profile.loads]
    elif profile.csv is not None:
        values, labels = read_load_csv(profile.csv, base_dir, "requests_per_s" if traffic else "concurrency")
    else:
        base = float(workload.request_rate if traffic else workload.concurrency)  # type: ignore[arg-type]
        values, labels = [base] * (profile.count or 1), [""] * (profile.count or 1)
    labels = [label or default_label(profile.period, index) for index, label in enumerate(labels)]

    def load(value: float) -> int:
        return math.ceil(value * scale - 1e-9)

    if max(values) <= 0:
        raise InputError("no demand", [Issue("every period's load is 0", field_path="demand")])
    if profile.repeat is not None:
        if len(values) > MAX_SLOTS:
            raise InputError("cycle too long", [Issue(f"{len(values)} loads in a repeated cycle; at most {MAX_SLOTS}",
                                                      field_path="demand.loads")])
        weight = period_hours * profile.repeat
        cycle_slots = tuple(Slot(i, labels[i], weight, load(v)) for i, v in enumerate(values))
        cycle = period_hours * len(values)
        return TimeGrid((HorizonPeriod(0, f"{profile.repeat} x {len(values)} {profile.period}s", Fraction(0), cycle * profile.repeat,
                                       cycle_slots),), True, cycle, traffic)
    if len(values) > MAX_PERIODS:
        raise InputError("too many periods", [Issue(f"{len(values)} periods; at most {MAX_PERIODS} "
                                                    "(use a longer 'period' or rows_per_period)", field_path="demand")])
    within = profile.within
    slots_per_period = len(within.factors) if within else 1
    if len(values) * slots_per_period > MAX_GRID_POINTS:
        raise InputError("demand profile too fine", [Issue(f"{len(values)} periods x {slots_per_period} slots; at most {MAX_GRID_POINTS:,}",
                                                           field_path="demand")])
    periods = []
    for index, value in enumerate(values):
        start = period_hours * index
        grown = value * (profile.growth.factor ** (float(start) / PERIOD_HOURS[profile.growth.per]) if profile.growth else 1.0)
        if within is None:
            slots: tuple[Slot, ...] = (Slot(0, labels[index], period_hours, load(grown)),)
        else:
            cycle_hours = PERIOD_HOURS[within.period] * len(within.factors)
            share = period_hours / cycle_hours * PERIOD_HOURS[within.period]
            slots = tuple(Slot(i, default_label(within.period, i), share, load(grown * f)) for i, f in enumerate(within.factors))
        periods.append(HorizonPeriod(index, labels[index], start, period_hours, slots))
    cycle = Fraction(PERIOD_HOURS[within.period] * len(within.factors)) if within else period_hours
    return TimeGrid(tuple(periods), False, cycle, traffic)


def default_label(period: str, index: int) -> str:
    """'h07' for the 8th hour, 'd2' for a day, 'w3', 'm12', 'q4', 'y2' (counting from 1 except hours)."""
    if period == "hour":
        day, hour = divmod(index, 24)
        return f"h{hour:02d}" if day == 0 else f"d{day + 1} h{hour:02d}"
    return f"{period[0]}{index + 1}"
