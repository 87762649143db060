"""What the analyses write as JSON, as pydantic models: Pareto sets (``planner solve --pareto ... --format json``),
what-if comparisons and sweeps (``planner whatif --format json``) with their pricing analyses (rent or buy, the
price range a plan stays optimal over). ``planner schema pareto`` and ``planner schema whatif`` print their JSON
Schema; ``planner.analysis`` builds its JSON through them.

Like the plan's models (``planner.schema.outputs``) every model refuses unknown keys; a Pareto point and a
variation carry the solve's own plan objects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, TypeAdapter

from .base import StrictModel
from .outputs import ProcurementSolveOutput, ServingPlanOutput, StatedDemand, TrainingPlanOutput

SecondObjective = Literal["headroom", "gpus", "concurrency", "tpot", "ttft"]
"""What a serving Pareto set trades against cost (``--pareto cost,<objective>``)."""
ParetoBound = Literal["min_headroom", "max_gpus", "demand", "max_tpot_ms", "max_ttft_ms"]
"""The bound each objective's sweep tightens, point after point."""
ParetoStop = Literal["infeasible", "max_points", "ceiling", "time_limit"]
"""Why a Pareto sweep ended."""


class ParetoPointOutput(StrictModel):
    """One plan of a serving Pareto set, optimal (``status``) under the bound it was solved with."""

    cost_usd_per_hour: float
    min_headroom_fraction: float
    total_gpus: int
    max_concurrency: int = Field(description="Sequences the fleet holds at the scenario's context and headroom")
    gpu_mix: str
    status: str
    bound: dict[ParetoBound, int | float | None] = Field(
        description="The bound the point was solved under, by name (None: the first point, unbounded)")
    ttft_ms: float | None = Field(None, description="The slowest group's TTFT at the SLO's percentile (plans with a time model)")
    tpot_ms: float | None = Field(None, description="The slowest group's TPOT at the SLO's percentile (plans with a time model)")
    plan: ServingPlanOutput


class ServingParetoOutput(StrictModel):
    """``planner solve --pareto cost,<objective>`` of a serving scenario: non-dominated plans sorted by cost."""

    scenario: str
    model: str
    demand: StatedDemand
    objectives: tuple[Literal["cost"], SecondObjective]
    stopped: ParetoStop = Field(
        description="Why the sweep ended: infeasible (the whole set was found), max_points, ceiling (the concurrency "
                    "sweep reached 16x the demand) or time_limit")
    complete: bool = Field(description="Every Pareto point was found (stopped: infeasible)")
    solves: int
    wall_time_s: float
    pareto: list[ParetoPointOutput]


class TrainingParetoOutput(StrictModel):
    """``planner solve --pareto cost,time`` of a training scenario: plans from the cheapest to the fastest."""

    scenario: str
    kind: Literal["training"]
    model: str
    objective: Literal["cost,time"]
    complete: bool = Field(description="False when --pareto-points stopped the sweep before the fastest plan")
    pareto: list[TrainingPlanOutput]


ParetoOutput = TrainingParetoOutput | ServingParetoOutput
"""What ``planner solve --pareto ... --format json`` writes (a training set says its ``kind``)."""

PARETO: TypeAdapter[ParetoOutput] = TypeAdapter(ParetoOutput)
"""Validates a Pareto set's JSON and describes it (``planner schema pareto``)."""


Verdict = Literal["buy", "rent", "no purchase price"]


class RentVsBuyOutput(StrictModel):
    """Rent or buy one GPU type: the utilisation above which buying it beats renting it."""

    gpu: str
    rent_usd_per_gpu_hour: float
    purchase_usd: float | None
    power_usd_per_gpu_hour: float | None
    amortised_usd_per_gpu_hour: float | None
    break_even_utilisation: float | None = Field(
        description="None: no purchase price or TDP, or power alone costs more than renting")
    utilisation: float = Field(description="The scenario's expected utilisation (pricing.utilisation)")
    verdict: Verdict


class PriceRangeOutput(StrictModel):
    """The prices of one GPU type over which the baseline plan stays optimal, all else fixed (found by re-solving)."""

    gpu: str
    price_usd_per_gpu_hour: float
    low_usd_per_gpu_hour: float | None = Field(description="None: still optimal at the lowest price searched")
    high_usd_per_gpu_hour: float | None = Field(description="None: still optimal at the highest price searched")
    searched_usd_per_gpu_hour: tuple[float, float] = Field(description="The lowest and highest prices searched")
    solves: int


VariationStatus = Literal["optimal", "feasible", "infeasible", "unknown", "error", "interrupted", "failed"]


class VariationOutput(StrictModel):
    """One re-solved variation of a what-if, with its cost change from the baseline."""

    variation: str
    status: VariationStatus = Field(description="The solve's status, or interrupted (Ctrl-C) or failed (its worker died)")
    overrides: dict[str, Any] = Field(description="The --set / sweep overrides that made it: dotted path -> value")
    axes: dict[str, Any] = Field(description="Its value on each sweep axis")
    cost_usd_per_hour: float | None = Field(description="A demand profile's plan: its total over the horizon per hour")
    delta_usd_per_hour: float | None
    delta_fraction: float | None = Field(description="The cost change as a fraction of the baseline's cost")
    gpu_mix: str | None
    total_gpus: int | None = Field(description="A demand profile's plan: the GPUs of its busiest slot")
    min_headroom_fraction: float | None
    message: str | None = Field(description="Why there is no plan (infeasible, error, interrupted, failed)")
    plan: ServingPlanOutput | ProcurementSolveOutput | None = Field(
        description="The variation's plan: a serving plan, or the whole answer for a demand profile")


class WhatIfOutput(StrictModel):
    """``planner whatif --format json``: the baseline, each variation compared with it, and pricing analyses."""

    scenario: str
    executor: Literal["local", "ray"]
    wall_time_s: float
    baseline: VariationOutput
    variations: list[VariationOutput]
    rent_vs_buy: list[RentVsBuyOutput] | None = Field(None, description="The baseline plan's GPU types (single-load scenarios)")
    sensitivity: list[PriceRangeOutput] | None = Field(None, description="With --sensitivity: each used GPU's price range")


WHATIF: TypeAdapter[WhatIfOutput] = TypeAdapter(WhatIfOutput)
"""Validates ``planner whatif --format json`` and describes it (``planner schema whatif``)."""
