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
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from .errors import InputError, Issue
from .yaml_io import read_text_file

if TYPE_CHECKING:
    from .workload import Workload

PeriodName = Literal["hour", "day", "week", "month", "quarter", "year"]
PERIOD_HOURS: dict[str, int] = {"hour": 1, "day": 24, "week": 168, "month": 730, "quarter": 2190, "year": 8760}
"""Month = 8760 / 12 = 730 h and quarter = 2190 h: a 365-day year split evenly, so periods tile years exactly."""

MAX_PERIODS = 1000
MAX_SLOTS = 744
MAX_GRID_POINTS = 20_000
MAX_CSV_ROWS = 100_000
MAX_LOAD = 10_000_000
MAX_REQUEST_RATE = 1_000_000.0


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Growth(_Strict):
    """Compound growth: a period starting ``t`` hours in carries ``factor ** (t / per)`` times its load."""

    per: PeriodName = Field("quarter", description="The time over which the load grows by 'factor'")
    factor: float = Field(..., gt=0, le=100, description="1.3 = +30 % per 'per'")


class PeriodLoad(_Strict):
    """One period's load in the workload's own terms: sequences held at once, or requests per second."""

    concurrency: StrictInt | None = Field(None, ge=0, le=MAX_LOAD, description="Simultaneous sequences in this period (0: idle)")
    request_rate: float | None = Field(None, ge=0, le=MAX_REQUEST_RATE, description="Requests per second in this period")
    label: str | None = Field(None, max_length=40)

    @model_validator(mode="after")
    def _one_load(self) -> "PeriodLoad":
        if (self.concurrency is None) == (self.request_rate is None):
            raise ValueError("give exactly one of 'concurrency' or 'request_rate'")
        return self

    @property
    def value(self) -> float:
        return float(self.concurrency if self.concurrency is not None else self.request_rate)  # type: ignore[arg-type]


class LoadCsv(_Strict):
    """Loads from a CSV file: a header row, then one row per hour (or per ``period``)."""

    path: str = Field(..., description="CSV file, relative to the scenario")
    column: str | None = Field(None, description="Column holding the load (default: 'concurrency', or 'requests_per_s' "
                                                 "for a request-rate workload)")
    label_column: str | None = Field(None, description="Column naming each row (a timestamp), optional")
    rows_per_period: StrictInt = Field(1, ge=1, le=8784, description="Rows per period; a period's load is their maximum")


class Within(_Strict):
    """The cycle inside every horizon period: relative loads of its slots (the period's load times each factor)."""

    period: PeriodName = Field("hour", description="Length of each slot")
    factors: list[float] = Field(..., min_length=1, max_length=MAX_SLOTS, description="Load factor of each slot (peak = 1)")

    @model_validator(mode="after")
    def _factors(self) -> "Within":
        if any(not (0 <= f <= 100) or math.isnan(f) for f in self.factors):
            raise ValueError("factors must be between 0 and 100")
        if max(self.factors) <= 0:
            raise ValueError("at least one factor must be above 0")
        return self


class DemandProfile(_Strict):
    """Load per period over a horizon, or over a typical cycle repeated (see the module docstring)."""

    period: PeriodName = Field("hour", description="Length of one period")
    loads: list[StrictInt | float | PeriodLoad] | None = Field(
        None, max_length=MAX_PERIODS * 10, description="One load per period in the workload's unit (sequences or "
                                                       "requests/s), or a mapping {concurrency | request_rate, label}")
    csv: LoadCsv | None = Field(None, description="Loads from a CSV file instead of 'loads'")
    count: StrictInt | None = Field(None, ge=1, le=MAX_PERIODS, description="Periods at the workload's load (with growth)")
    growth: Growth | None = None
    repeat: StrictInt | None = Field(None, ge=1, le=100_000, description="The loads are one cycle, repeated this many times")
    within: Within | None = Field(None, description="The cycle inside every period (a typical day in each month)")

    @model_validator(mode="after")
    def _one_source(self) -> "DemandProfile":
        given = [name for name in ("loads", "csv", "count") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'loads', 'csv' or 'count'" + (f" (got {', '.join(given)})" if given else ""))
        if self.loads is not None and not self.loads:
            raise ValueError("list at least one load")
        if self.loads is not None and any(not isinstance(x, PeriodLoad) and not (0 <= x <= MAX_LOAD) for x in self.loads):
            raise ValueError(f"loads must be between 0 and {MAX_LOAD:,}")
        if self.repeat is not None and (self.growth is not None or self.within is not None):
            raise ValueError("'repeat' makes the loads a steady-state cycle: it takes neither 'growth' nor 'within'")
        if self.within is not None and PERIOD_HOURS[self.within.period] * len(self.within.factors) > PERIOD_HOURS[self.period]:
            raise ValueError(f"the 'within' cycle ({len(self.within.factors)} x {self.within.period}) is longer than one {self.period}")
        return self


@dataclass(frozen=True)
class Slot:
    """Part of a horizon period with one load: ``hours`` in all (a cycle's hour, times the cycles in the period)."""

    index: int
    label: str
    hours: Fraction
    load: int


@dataclass(frozen=True)
class HorizonPeriod:
    index: int
    label: str
    start_hours: Fraction
    hours: Fraction
    slots: tuple[Slot, ...]

    @property
    def end_hours(self) -> Fraction:
        return self.start_hours + self.hours

    @property
    def peak(self) -> int:
        return max(slot.load for slot in self.slots)


@dataclass(frozen=True)
class TimeGrid:
    """The horizon periods in order, each with its slots; ``steady_state`` when the profile is a repeated cycle.
    Loads are integers in the solver's unit: sequences, or milli-requests per second for traffic."""

    periods: tuple[HorizonPeriod, ...]
    steady_state: bool
    cycle_hours: Fraction  # one cycle of slots (a day, a week; the period itself without a cycle)
    traffic: bool = False

    def display(self, load: int) -> str:
        """A load as a person reads it: '1,200 sequences' or '12.5 requests/s'."""
        return f"{load / 1000:,.4g} requests/s" if self.traffic else f"{load:,} sequences"

    @property
    def hours(self) -> Fraction:
        return self.periods[-1].end_hours

    @property
    def points(self) -> int:
        return sum(len(p.slots) for p in self.periods)

    @property
    def peak(self) -> int:
        return max(p.peak for p in self.periods)


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
            from .errors import did_you_mean

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


def expand(profile: DemandProfile, workload: "Workload", base_dir: Path | None = None) -> TimeGrid:
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
            given = (x.concurrency, x.request_rate) if isinstance(x, PeriodLoad) else ((x, None) if isinstance(x, int) and not traffic else (None, x))
            if (given[1] if traffic else given[0]) is None:
                raise InputError("demand load in another unit than the workload", [Issue(
                    f"the workload states {unit}; load {index + 1} is " + ("a concurrency" if traffic else "a request rate (not a whole number)"),
                    field_path=f"demand.loads.{index}", suggestion=f"give every load as {unit}")])
            values.append(float(given[1] if traffic else given[0]))  # type: ignore[arg-type]
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
            raise InputError("cycle too long", [Issue(f"{len(values)} loads in a repeated cycle; at most {MAX_SLOTS}", field_path="demand.loads")])
        weight = period_hours * profile.repeat
        slots = tuple(Slot(i, labels[i], weight, load(v)) for i, v in enumerate(values))
        cycle = period_hours * len(values)
        return TimeGrid((HorizonPeriod(0, f"{profile.repeat} x {len(values)} {profile.period}s", Fraction(0), cycle * profile.repeat, slots),),
                        True, cycle, traffic)
    if len(values) > MAX_PERIODS:
        raise InputError("too many periods", [Issue(f"{len(values)} periods; at most {MAX_PERIODS} (use a longer 'period' or rows_per_period)",
                                                    field_path="demand")])
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
