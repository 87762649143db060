"""Result types of a procurement plan: per period and slot, what is owned, bought, reserved and rented."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..candidates.serving import Candidate
from ..schema.outputs import (
    BreakEvenOutput,
    PeriodOutput,
    PoolOutput,
    ProcurementSolveOutput,
    ReplicasInPool,
    SlotOutput,
    SpotUnits,
)
from ..solver.procurement import ProcurementOutcome, ProcurementProblem
from ..solver.rentals import RentalTable
from ..units import rounded


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


def report_dict(report: ProcurementReport) -> dict[str, Any]:
    """The procurement plan's JSON (``planner schema plan``: ``ProcurementSolveOutput``)."""
    return report_output(report).model_dump()


def report_output(report: ProcurementReport) -> ProcurementSolveOutput:
    grid, outcome = report.grid, report.outcome
    pools = {key: PoolOutput(gpu=i.gpu, source=i.source, offer=i.label, unit_gpus=i.unit_gpus, usd_per_gpu_hour=i.usd_per_gpu_hour,
                             upfront_usd_per_gpu=i.upfront_usd_per_gpu or None, term_hours=i.term_hours, purchase_usd=i.purchase_usd,
                             power_usd_per_gpu_hour=i.power_usd_per_gpu_hour, lead_time_hours=i.lead_time_hours or None,
                             owned=i.owned or None, price_estimated=i.estimated, interruption_probability=i.interruption_probability)
             for key, i in report.pools.items()}
    solver: dict[str, Any] = {
        **outcome.parameters, "status": report.status, "wall_time_s": round(outcome.wall_time_s, 4), "variables": outcome.variables,
        "constraints": outcome.constraints,
        "objective_usd": None if outcome.objective_micro_usd is None else outcome.objective_micro_usd / 1e6,
        "best_bound_usd": None if outcome.best_bound_micro_usd is None else outcome.best_bound_micro_usd / 1e6,
        "shapes": len(report.shapes), "shapes_total": report.candidates_total}
    return ProcurementSolveOutput(
        scenario=report.scenario_name, model=report.model_name, status=report.status, kind="procurement",
        steady_state=grid.steady_state, horizon_hours=float(grid.hours), total_cost_usd=round(report.total_usd, 3),
        cost_usd_per_hour=round(report.cost_usd_per_hour, 4), discount_rate=report.discount_rate,
        cost_by_source_usd={k: round(v, 3) for k, v in report.cost_by_source().items()}, pools=pools,
        periods=[_period_output(p) for p in report.periods], utilisation=report.utilisation,
        break_even=[b.output() for b in report.break_even], solver=solver, notes=list(report.notes))


def _period_output(period: PeriodPlan) -> PeriodOutput:
    return PeriodOutput(
        period=period.label, start_hours=period.start_hours, hours=period.hours, ordered_gpus=period.ordered,
        onprem_gpus=period.onprem_gpus, reserved_started_units=period.reserved_started, reserved_active_units=period.reserved_active,
        cost_usd={k: v / 1e6 for k, v in period.cost_micro_usd.items() if v},
        slots=[SlotOutput(slot=s.label, hours=round(s.hours, 4), load=s.load, capacity={k: v for k, v in s.capacity.items() if v},
                          gpus=s.gpus,
                          replicas=[ReplicasInPool(pool=pool, shape=shape, count=n) for (pool, shape), n in s.replicas.items() if n],
                          spot_units=[SpotUnits(pool=pool, shape=shape, provisioned=a, guaranteed=b)
                                      for (pool, shape), (a, b) in s.spot_units.items()])
               for s in period.slots])


@dataclass(frozen=True)
class PoolInfo:
    """What a pool is, for people: its GPU, source, offer, and the prices its coefficients came from."""

    key: str
    gpu: str
    source: str  # onprem | reserved | on_demand | spot
    label: str
    unit_gpus: int
    usd_per_gpu_hour: float | None = None  # rentals and reservations (hourly part)
    upfront_usd_per_gpu: float = 0.0
    term_hours: float | None = None
    purchase_usd: float | None = None
    power_usd_per_gpu_hour: float | None = None
    lead_time_hours: float = 0.0
    owned: int = 0
    estimated: bool = False
    interruption_probability: float | None = None
    resale_fraction: float | None = None


@dataclass(frozen=True)
class SlotMap:
    """Each period's slots merged by equal load: ``merged[h][s]`` is the merged slot of original slot s."""

    merged: tuple[tuple[int, ...], ...]
    hours: tuple[tuple[Fraction, ...], ...]  # per merged slot, the hours it stands for


@dataclass(frozen=True)
class Supply:
    problem: ProcurementProblem
    pools: dict[str, PoolInfo]
    slots: SlotMap
    candidates: dict[str, Candidate]
    notes: tuple[str, ...]
    rental_table: RentalTable | None = None


SOURCES = ("owned", "bought", "reserved", "on_demand", "spot")


MICRO = 1_000_000


@dataclass(frozen=True)
class SlotPlan:
    """What serves one slot of one period: replicas per (pool, shape), capacity per source, the load."""

    label: str
    hours: float
    load: int
    replicas: dict[tuple[str, str], int]  # (pool, shape) -> replicas serving (spot: the guaranteed ones)
    gpus: dict[str, int]  # pool -> GPUs paid for in this slot (committed pools: the period's)
    capacity: dict[str, int]  # source -> sequences
    spot_units: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (pool, shape) -> (provisioned, guaranteed)

    @property
    def total_capacity(self) -> int:
        return sum(self.capacity.values())


@dataclass(frozen=True)
class PeriodPlan:
    index: int
    label: str
    start_hours: float
    hours: float
    ordered: dict[str, int]  # GPU type -> GPUs ordered at the start of this period
    onprem_gpus: dict[str, int]  # GPU type -> owned + delivered GPUs available
    reserved_started: dict[str, int]  # pool -> units committed now
    reserved_active: dict[str, int]  # pool -> units active
    slots: tuple[SlotPlan, ...]
    cost_micro_usd: dict[str, int]  # source -> cost charged to this period

    @property
    def peak(self) -> int:
        return max(s.load for s in self.slots)

    @property
    def cost_usd(self) -> float:
        return sum(self.cost_micro_usd.values()) / MICRO


@dataclass(frozen=True)
class BreakEven:
    """When owning or committing beats renting one GPU type on demand."""

    gpu: str
    on_demand_usd_per_gpu_hour: float
    buy_utilisation: float | None  # Armbrust et al. 2009, Eq. 1 (planner.catalog.pricing.break_even_utilisation)
    buy_payback_months: float | None  # months of full use after which buying beats renting
    reserved: dict[str, float]  # term pool -> utilisation above which the commitment beats on demand

    def output(self) -> BreakEvenOutput:
        return BreakEvenOutput(gpu=self.gpu, on_demand_usd_per_gpu_hour=round(self.on_demand_usd_per_gpu_hour, 4),
                               buy_break_even_utilisation=rounded(self.buy_utilisation),
                               buy_payback_months=rounded(self.buy_payback_months),
                               reserved_break_even_utilisation={k: round(v, 4) for k, v in self.reserved.items()})


@dataclass(frozen=True)
class ProcurementReport:
    scenario_name: str
    model_name: str
    status: str
    grid: TimeGrid
    periods: tuple[PeriodPlan, ...]
    pools: dict[str, PoolInfo]
    utilisation: dict[str, dict[str, float]]
    break_even: tuple[BreakEven, ...]
    outcome: ProcurementOutcome
    shapes: dict[str, Candidate]
    capacity: dict[str, int]  # per shape: what one replica serves, in the load's unit (sequences or milli-requests/s)
    notes: tuple[str, ...]
    candidates_total: int
    discount_rate: float

    @property
    def total_usd(self) -> float:
        return sum(p.cost_usd for p in self.periods)

    @property
    def total_micro_usd(self) -> int:
        return sum(sum(p.cost_micro_usd.values()) for p in self.periods)

    @property
    def cost_usd_per_hour(self) -> float:
        """The horizon's cost spread over its hours (what 'whatif' compares across variations)."""
        return self.total_usd / float(self.grid.hours)

    @property
    def cost_micro_usd_per_hour(self) -> int:
        """The same in whole micro-USD, rounded up."""
        hours = self.grid.hours
        return -(-(self.total_micro_usd * hours.denominator) // hours.numerator)

    def cost_by_source(self) -> dict[str, float]:
        totals = dict.fromkeys(SOURCES, 0)
        for period in self.periods:
            for source, micro in period.cost_micro_usd.items():
                totals[source] += micro
        return {source: micro / MICRO for source, micro in totals.items()}

    @property
    def gpu_mix(self) -> str:
        """GPU types and sources at the busiest slot, e.g. '16x h100-sxm owned + 8x h100-sxm on_demand'."""
        busiest = max((slot for p in self.periods for slot in p.slots), key=lambda s: (s.load, sum(s.gpus.values())))
        parts = [f"{n}x {self.pools[pool].gpu} {self.pools[pool].source}" for pool, n in sorted(busiest.gpus.items()) if n]
        return " + ".join(parts)

    def to_dict(self) -> dict[str, Any]:

        return report_dict(self)
