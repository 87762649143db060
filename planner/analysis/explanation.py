"""What an explanation of a missing plan is made of: the conflicting constraint groups, the nearest relaxations,
and the scenario's candidates re-enumerated under changed options (the memory model decides what fits)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..candidates.enumeration import Enumeration
from ..candidates.serving import Candidate, enumerate_candidates
from ..errors import InputError, Issue
from ..units import BYTES_PER_GIB

if TYPE_CHECKING:
    from ..catalog import GpuSpec
    from ..pipeline.serving import PreparedScenario


@dataclass(frozen=True)
class ConstraintGroup:
    """One switchable group of constraints, named as the scenario names it."""

    name: str  # demand | budget | headroom | homogeneous | inventory:<gpu id>
    field_path: str
    description: str


@dataclass(frozen=True)
class Relaxation:
    """The nearest change to one scenario field that removes the conflict, as found by the solver."""

    group: str
    field_path: str
    value: float | int | dict[str, int] | str | None  # None: relaxing this group alone is not enough
    message: str
    suggestion: str | None = None


@dataclass(frozen=True)
class Explanation:
    """Why there is no plan: the headline, the conflicting groups and the nearest relaxations."""

    message: str
    kind: str  # nothing_fits | conflicting_limits | undetermined
    conflict: tuple[ConstraintGroup, ...] = ()
    relaxations: tuple[Relaxation, ...] = ()
    extra: tuple[Issue, ...] = field(default_factory=tuple)

    @property
    def issues(self) -> list[Issue]:
        return [Issue(r.message, field_path=r.field_path, suggestion=r.suggestion) for r in self.relaxations] + list(self.extra)

    def relaxation(self, group: str) -> Relaxation | None:
        return next((r for r in self.relaxations if r.group == group), None)


def _enumerate(prepared: PreparedScenario, *, gpus: list[GpuSpec] | None = None, formats: list[str] | None = None,
               kv_dtypes: list[str] | None = None, tp: list[int] | None = None, pp: list[int] | None = None,
               max_gpus: int | None = None, headroom: float | None = None, context_tokens: int | None = None) -> Enumeration[Candidate]:
    """The scenario's candidate shapes with some options changed (the memory model decides what fits)."""
    s, ctx, p = prepared.scenario, prepared.context, prepared.scenario.parallelism
    gpus = gpus or prepared.gpus
    context = replace(ctx, context_tokens=context_tokens or ctx.context_tokens,
                      longest_context_tokens=context_tokens or ctx.longest_context_tokens,
                      min_headroom=ctx.min_headroom if headroom is None else headroom)
    return enumerate_candidates(context, gpus, formats or prepared.weight_formats, kv_dtypes or s.kv_cache_dtypes,
                                tp or p.tp, pp or p.pp, p.expert_parallel, max_gpus or p.max_gpus_per_replica,
                                {g.id: _price(prepared, g) for g in gpus}, {g.id: prepared.topology(g) for g in gpus},
                                prepared.deadline)


def _price(prepared: PreparedScenario, gpu: GpuSpec) -> float:
    """USD per GPU-hour as ``prepare`` priced it: the scenario's override, unless pricing sources set it on the GPU."""
    s = prepared.scenario
    if getattr(s, "pricing", None) is not None:
        return gpu.price_usd_per_gpu_hour
    return s.gpu_override(gpu.id).price_usd_per_gpu_hour or gpu.price_usd_per_gpu_hour


def _gib(num_bytes: float) -> str:
    return f"{num_bytes / BYTES_PER_GIB:,.1f} GiB"


def _describe(c: Candidate) -> str:
    lay = c.layout
    return f"TP={lay.tp} x PP={lay.pp} in {lay.weight_format.name} on {c.gpu.id}"


def _rentable(prepared: PreparedScenario, gpus: list[GpuSpec]) -> list[GpuSpec]:
    """The GPUs the scenario's pricing could rent (an estimated price needs ``allow_estimated``), at that price."""
    from ..catalog.pricing import rental_prices

    try:
        return rental_prices(prepared.scenario, prepared.catalog, gpus)[0] if gpus else []
    except InputError:
        return []


def _largest(feasible: Callable[[int], bool], low: int, high: int) -> int | None:
    """Largest x in [low, high] with ``feasible(x)``, for a predicate true up to some point (bisection)."""
    if high < low or not feasible(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if feasible(mid):
            low = mid
        else:
            high = mid - 1
    return low
