"""Training layouts: every valid (GPU, TP, PP, DP, EP, ZeRO, recomputation, SP, offload, virtual stages)
combination with what the solver needs at each allowed micro-batch, and the reasons the others were rejected.

Which combinations are valid follows the frameworks that run them (``RejectReason`` names the rule):
Megatron-LM keeps tensor parallelism inside a node and needs sequence parallelism for TP with MoE; DeepSpeed
and Megatron-LM refuse pipeline parallelism with ZeRO-2/3 (DeepSpeed ``PipelineEngine`` asserts ZeRO stage
< 2; Megatron's distributed optimizer is ZeRO-1); Megatron-LM's interleaved schedule needs the layers to split
evenly into ``pp x v`` chunks and the micro-batches to be a multiple of ``pp``.

The micro-batch is left to the solver. Memory (exact bytes), job time and cost are evaluated by the memory and
time models at every allowed micro-batch of a layout, with the very layout the plan will have (micro-batches per
step included), so the solver decides on the models' numbers and the verifier recomputes the same ones.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING

from ..catalog import GpuSpec
from ..errors import Issue
from ..limits import MAX_TRAINING_CHOICES, Deadline, TimeLimitReached, check_count
from ..memory.runtime import training_gpu
from ..memory.training import TrainingLayout, TrainingRecipe
from ..memory.training_totals import WorstStageTotals
from ..model.architecture import ModelArchitecture
from ..performance.topology import NodeTopology
from ..performance.training import (
    TrainingTime,
    peak_flops_per_second,
    slowest_stage,
    step_seconds_lower_bound,
    training_steps,
    training_time,
)
from ..performance.training_compute import MicroBatchTime, compute_layout, pipeline_micro_batch
from ..rules import data_parallel_breach, offload_breach, pipeline_zero_breach, sequence_parallel_breach, training_shape_breach
from ..units import fraction_of_bytes_ceil, usd_to_micro_usd_ceil, whole_units
from .enumeration import Enumeration, Rejection

if TYPE_CHECKING:
    from ..schema.training import TrainingParallelism


class RejectReason(str, Enum):
    """Why a layout is left out besides a framework rule (those are ``planner.rules.Rule``)."""

    PRECISION_UNSUPPORTED = "compute precision not supported by the GPU"
    BATCH_NOT_DIVISIBLE = "no allowed micro-batch divides global batch / dp (with >= pp micro-batches, a multiple of pp when interleaved)"
    DOES_NOT_FIT = "does not fit in GPU memory at any allowed micro-batch"


@dataclass(frozen=True)
class TrainingContext:
    """Everything the models need besides the layout, resolved from a scenario."""

    arch: ModelArchitecture
    recipe: TrainingRecipe
    tokens: int
    global_batch: int  # sequences per optimizer step
    sequence_length: int
    micro_batches: tuple[int, ...]
    min_headroom: float


@dataclass(frozen=True)
class GpuTerms:
    """One GPU type as a scenario sees it: price, node topology (catalog + overrides), optional assumed MFU."""

    gpu: GpuSpec
    price_usd_per_gpu_hour: float
    topology: NodeTopology
    mfu_override: float | None = None
    instance_gpus: int = 1  # whole instances: GPUs are rented (and paid for) this many at a time

    def billed_gpus(self, gpus: int) -> int:
        return whole_units(gpus, self.instance_gpus)


@dataclass(frozen=True)
class TrainingCandidate:
    """One layout on one GPU type; the micro-batch is chosen by the solver among ``micro_batches``.

    For each allowed micro-batch the memory model's worst stage (exact bytes) and the time model's job seconds and
    cost are evaluated at that very micro-batch, as the plan and its verification will be: the solver decides on
    the models' own numbers, not on a linear fit of them. The time model runs when ``seconds`` or ``cost_usd`` is
    first asked for (``SearchTimes``): pruning never asks for the layouts it proves dominated.
    """

    terms: GpuTerms
    layout: TrainingLayout  # micro_batch = 1 here; ``layout_at`` gives the layout of one micro-batch
    micro_batches: tuple[int, ...]
    memory_bytes: tuple[int, ...]  # per micro-batch: bytes per GPU of the worst pipeline stage
    limit_bytes: int
    rank: int
    times: SearchTimes = field(compare=False, repr=False)

    @property
    def seconds(self) -> tuple[float, ...]:
        """Per micro-batch: wall-clock seconds of the whole job (infinite where it does not fit)."""
        return tuple(self.times.seconds_and_cost(self, b)[0] for b in self.micro_batches)

    @property
    def cost_usd(self) -> tuple[float, ...]:
        """Per micro-batch: USD of the whole job (infinite where it does not fit)."""
        return tuple(self.times.seconds_and_cost(self, b)[1] for b in self.micro_batches)

    @property
    def gpu(self) -> GpuSpec:
        return self.terms.gpu

    @property
    def price_usd_per_gpu_hour(self) -> float:
        return self.terms.price_usd_per_gpu_hour

    @property
    def key(self) -> str:
        lay = self.layout
        sp = "/sp" if lay.sequence_parallel else ""
        ep = f"/ep{lay.ep}" if lay.ep > 1 else ""
        vp = f"/v{lay.virtual_stages}" if lay.virtual_stages > 1 else ""
        off = {"none": "", "optimizer": "/offload-opt", "optimizer_and_parameters": "/offload-all"}[lay.offload]
        return f"{self.gpu.id}/tp{lay.tp}/pp{lay.pp}{vp}/dp{lay.dp}{ep}/z{lay.zero_stage}/rc-{lay.recompute}{sp}{off}"

    @property
    def gpus(self) -> int:
        return self.layout.gpus

    @property
    def usd_per_hour(self) -> float:
        return self.terms.billed_gpus(self.gpus) * self.price_usd_per_gpu_hour

    @property
    def price_micro_usd_per_hour(self) -> int:
        """The cluster's price per hour in exact micro-USD (the GPU price read as the decimal written)."""
        return self.terms.billed_gpus(self.gpus) * usd_to_micro_usd_ceil(self.price_usd_per_gpu_hour)

    def fits(self, micro_batch: int) -> bool:
        return self.memory_bytes[self.micro_batches.index(micro_batch)] <= self.limit_bytes

    def only(self, micro_batches: list[int]) -> TrainingCandidate:
        """The same layout restricted to some of its micro-batches."""
        if tuple(micro_batches) == self.micro_batches:
            return self
        keep = [self.micro_batches.index(b) for b in micro_batches]
        return replace(self, micro_batches=tuple(micro_batches), memory_bytes=tuple(self.memory_bytes[i] for i in keep))


TrainingEnumeration = Enumeration["TrainingCandidate"]


def layout_at(layout: TrainingLayout, context: TrainingContext, micro_batch: int) -> TrainingLayout:
    """The layout with ``micro_batch`` sequences per micro-batch and the micro-batches per step that implies."""
    return replace(layout, micro_batch=micro_batch, num_microbatches=pipeline_micro_batches(context, layout.dp, micro_batch))


def pipeline_micro_batches(context: TrainingContext, dp: int, micro_batch: int) -> int:
    """Micro-batches each pipeline runs per optimizer step: global batch / (dp x micro-batch)."""
    return context.global_batch // (dp * micro_batch)


@lru_cache(maxsize=1024)
def training_limit_bytes(capacity_bytes: int, min_headroom: float) -> int:
    """The most one GPU may hold: capacity less ``ceil(capacity x min_headroom)`` (headroom as the decimal written)."""
    return capacity_bytes - fraction_of_bytes_ceil(capacity_bytes, min_headroom)


def valid_micro_batches(context: TrainingContext, dp: int, pp: int, virtual_stages: int = 1) -> tuple[int, ...]:
    """Micro-batches b with global batch divisible by dp x b and, with PP, at least pp micro-batches per step
    (a multiple of pp under the interleaved schedule, Megatron-LM ``get_forward_backward_func``)."""
    per_replica = context.global_batch // dp if context.global_batch % dp == 0 else 0
    sizes = []
    for b in context.micro_batches:
        if not per_replica or per_replica % b:
            continue
        m = per_replica // b
        if pp > 1 and (m < pp or (virtual_stages > 1 and m % pp)):
            continue
        sizes.append(b)
    return tuple(sizes)


def dp_options(context: TrainingContext, allowed: list[int] | None, max_replicas: int) -> list[int]:
    """Data-parallel degrees: the allowed ones (default every divisor of the global batch) up to the GPU limit."""
    if allowed is not None:
        return [d for d in allowed if d <= max_replicas]
    batch = context.global_batch
    small = [d for d in range(1, math.isqrt(batch) + 1) if batch % d == 0]
    return sorted(d for d in set(small + [batch // d for d in small]) if d <= max_replicas)


def layout_time(context: TrainingContext, terms: GpuTerms, layout: TrainingLayout) -> TrainingTime:
    """The job's time and cost on ``layout`` (as ``layout_at`` gives it): the time model, or the assumed MFU."""
    return training_time(context.arch, context.recipe, layout, terms.gpu, terms.topology, context.tokens,
                         context.global_batch, terms.price_usd_per_gpu_hour, terms.mfu_override, terms.instance_gpus)


class SearchTimes:
    """The time model over one search's layouts: each (layout, micro-batch)'s job seconds and cost from
    ``layout_time``, evaluated on first use and kept, and a cheap lower bound on the seconds.

    The bound is ``step_seconds_lower_bound`` times the steps: the slowest stage's compute, TP and EP time and the
    bubble, which depend only on the GPU, TP, PP, EP, micro-batch, recomputation and SP (memoised here). A
    catalog-wide search fits tens of thousands of (layout, micro-batch) choices; ``prune_dominated`` times only
    those whose bound no faster choice beats."""

    def __init__(self, context: TrainingContext) -> None:
        self.context = context
        self.steps = training_steps(context.tokens, context.global_batch * context.sequence_length)
        self._exact: dict[tuple[int, int], tuple[float, float]] = {}
        self._slowest: dict[tuple[int, int, int, int, int, str, bool], MicroBatchTime] = {}

    def seconds_and_cost(self, candidate: TrainingCandidate, micro_batch: int) -> tuple[float, float]:
        """The job's seconds and USD at ``micro_batch`` (infinite when it does not fit: never timed, never chosen)."""
        key = (candidate.rank, micro_batch)
        found = self._exact.get(key)
        if found is None:
            if not candidate.fits(micro_batch):
                found = (math.inf, math.inf)
            else:
                timing = layout_time(self.context, candidate.terms, layout_at(candidate.layout, self.context, micro_batch))
                found = (timing.total_seconds, timing.cost_usd)
            self._exact[key] = found
        return found

    def seconds_lower_bound(self, candidate: TrainingCandidate, micro_batch: int) -> float:
        """At most ``seconds_and_cost(...)[0]`` (0 under an assumed MFU, which the bound does not model)."""
        terms, layout, context = candidate.terms, candidate.layout, self.context
        if terms.mfu_override is not None:
            return 0.0
        key = (id(terms), layout.tp, layout.pp, layout.ep, micro_batch, layout.recompute, layout.sequence_parallel)
        slowest = self._slowest.get(key)
        if slowest is None:
            at = compute_layout(layout, micro_batch)
            stages = pipeline_micro_batch(context.arch, context.recipe, at, terms.gpu, terms.topology)
            slowest = self._slowest[key] = stages[slowest_stage(stages)]
        step = step_seconds_lower_bound(layout, slowest, pipeline_micro_batches(context, layout.dp, micro_batch))
        return self.steps * step


def build_candidate(context: TrainingContext, terms: GpuTerms, layout: TrainingLayout, micro_batches: tuple[int, ...],
                    rank: int, totals: WorstStageTotals | None = None, times: SearchTimes | None = None) -> TrainingCandidate:
    """One layout with its memory at each allowed micro-batch (the memory model); its time and cost come from the
    time model when first asked for (``SearchTimes``). ``totals`` and ``times`` (one each per search) memoise the
    models' terms that layouts share."""
    gpu = terms.gpu
    totals = totals or WorstStageTotals(context.arch, context.recipe)
    runtime = training_gpu(gpu.id, gpu.release_year, gpu.scale_up_link, gpu.nvlink_domain_size)
    memory = totals.totals_bytes(layout, runtime, [(b, pipeline_micro_batches(context, layout.dp, b)) for b in micro_batches])
    limit = training_limit_bytes(gpu.capacity_bytes, context.min_headroom)
    return TrainingCandidate(terms, layout, micro_batches, memory, limit, rank, times or SearchTimes(context))


def enumerate_layouts(context: TrainingContext, gpus: list[GpuTerms], parallelism: TrainingParallelism,
                      deadline: Deadline | None = None) -> TrainingEnumeration:
    """Valid layouts that fit at some allowed micro-batch, and why the rest were rejected.

    The (layout, micro-batch) choices are listed first, cheaply, and counted against ``MAX_TRAINING_CHOICES``
    (the listing stops at the limit); only then are the memory and time models run, with ``deadline`` (the
    solve's time limit) checked as they go.
    """
    arch, p = context.arch, parallelism
    result = TrainingEnumeration(candidates=[])
    todo: list[tuple[GpuTerms, TrainingLayout, tuple[int, ...]]] = []
    choices = 0
    for terms in gpus:
        gpu = terms.gpu
        if peak_flops_per_second(gpu, context.recipe.precision) is None:
            result.rejections.append(Rejection(gpu.id, RejectReason.PRECISION_UNSUPPORTED, context.recipe.precision))
            continue
        for tp in p.tp:
            for pp in p.pp:
                for ep in p.ep:
                    for v in p.virtual_stages:
                        key = f"{gpu.id}/tp{tp}/pp{pp}" + (f"/v{v}" if v > 1 else "") + (f"/ep{ep}" if ep > 1 else "")
                        breach = training_shape_breach(arch, tp, pp, ep, v, terms.topology, p.max_gpus)
                        if breach is not None:
                            result.rejections.append(Rejection(key, breach.rule, breach.detail))
                            continue
                        for dp in dp_options(context, p.dp, p.max_gpus // (tp * pp)):
                            breach = data_parallel_breach(tp, dp, ep)
                            if breach is not None:
                                result.rejections.append(Rejection(f"{key}/dp{dp}", breach.rule, breach.detail))
                                continue
                            micro_batches = valid_micro_batches(context, dp, pp, v)
                            if not micro_batches:
                                result.rejections.append(Rejection(f"{key}/dp{dp}", RejectReason.BATCH_NOT_DIVISIBLE))
                                continue
                            for layout in _layouts(context, p, tp, pp, dp, ep, v, result):
                                todo.append((terms, layout, micro_batches))
                                choices += len(micro_batches)
                                if choices > MAX_TRAINING_CHOICES:
                                    check_count(choices, MAX_TRAINING_CHOICES, "training choices to evaluate (layouts x micro-batches)",
                                                "parallelism", "narrow the GPU list, the parallel degrees, dp or the micro-batch sizes")
    totals, times = WorstStageTotals(arch, context.recipe), SearchTimes(context)
    for rank, (terms, layout, micro_batches) in enumerate(todo):
        if deadline is not None and rank % 256 == 0 and deadline.expired():
            raise TimeLimitReached(f"the time limit of {deadline.seconds:g} s ran out while evaluating training layouts "
                                   f"({rank:,} of {len(todo):,} done)", [Issue(
                                       "raise --time-limit (solver.time_limit_s) or narrow the GPU list and parallel degrees",
                                       field_path="parallelism")])
        candidate = build_candidate(context, terms, layout, micro_batches, rank, totals, times)
        fitting = [b for b, memory in zip(micro_batches, candidate.memory_bytes) if memory <= candidate.limit_bytes]
        if not fitting:
            shortfall = min(candidate.memory_bytes) - candidate.limit_bytes
            result.rejections.append(Rejection(candidate.key, RejectReason.DOES_NOT_FIT,
                                               f"needs {shortfall / 2**30:.1f} GiB more per GPU", max(0, shortfall)))
            continue
        result.candidates.append(candidate.only(fitting))
    return result


def _layouts(context: TrainingContext, p: TrainingParallelism, tp: int, pp: int, dp: int, ep: int, v: int,
             result: TrainingEnumeration) -> Iterator[TrainingLayout]:
    arch = context.arch
    for zero in p.zero_stages:
        breach = pipeline_zero_breach(pp, zero)
        if breach is not None:
            result.rejections.append(Rejection(f"tp{tp}/pp{pp}/dp{dp}/z{zero}", breach.rule, breach.detail))
            continue
        for offload in p.offload:
            if offload_breach(zero, offload) is not None:
                continue  # an offload mode this ZeRO stage cannot run is not a layout
            for recompute in p.recompute:
                for sp in p.sequence_parallel:
                    if sp and tp == 1:
                        continue  # sequence parallelism splits over the TP group: nothing to split
                    breach = sequence_parallel_breach(arch, tp, sp)
                    if breach is not None:
                        result.rejections.append(Rejection(f"tp{tp}/pp{pp}/dp{dp}/z{zero}", breach.rule, breach.detail))
                        continue
                    yield TrainingLayout(tp, pp, dp, zero, 1, context.sequence_length, recompute, sp, offload,
                                         ep=ep, virtual_stages=v)


def prune_dominated(candidates: list[TrainingCandidate]) -> list[TrainingCandidate]:
    """Keep only the (layout, micro-batch) choices no other choice of the same GPU type beats; drop the rest.

    The plan is one choice, and every limit on it is monotone: memory (the dominating choice must fit), stock
    and price per hour (GPUs of the same type), deadline (seconds) and budget (USD). Choice Q dominates P
    when Q fits, needs no more GPUs, seconds and USD, and, when seconds and cost tie, comes first in the
    solver's tie-break (layout rank, then the larger micro-batch). Any plan using P then stays feasible and is
    no better than Q under both objectives, so the optimum - and the returned plan - survive (design notes C4).
    What is left per GPU type is the Pareto front over (GPUs, time, cost), typically one choice per GPU count.
    Only the choices ``_not_beaten`` keeps are timed.
    """
    by_type: dict[str, list[tuple[TrainingCandidate, int]]] = {}
    for c in candidates:
        for b, memory in zip(c.micro_batches, c.memory_bytes):
            if memory <= c.limit_bytes:
                by_type.setdefault(c.gpu.id, []).append((c, b))
    kept: dict[int, list[int]] = {}
    by_rank = {c.rank: c for c in candidates}
    for choices in by_type.values():
        front = _Staircase()
        timed = []
        for c, b in _not_beaten(choices):
            seconds, cost = c.times.seconds_and_cost(c, b)
            timed.append(((c.gpus, seconds, cost, c.rank, -b), c, b))
        for order, c, b in sorted(timed, key=lambda item: item[0]):
            if not front.dominates(order):
                front.add(order)
                kept.setdefault(c.rank, []).append(b)
    return [by_rank[rank].only(sorted(sizes)) for rank, sizes in sorted(kept.items())]


def _not_beaten(choices: list[tuple[TrainingCandidate, int]]) -> list[tuple[TrainingCandidate, int]]:
    """The choices of one GPU type less some that are surely dominated, found without timing them.

    By GPUs, then by lower bound on the seconds (``SearchTimes.seconds_lower_bound``): a choice whose bound is
    above the exact seconds of a choice already timed with no more GPUs is strictly slower than it and, the
    cost being GPUs x price x time (a monotone product), no cheaper, so it is dominated and is not timed. Every
    choice on the Pareto front is kept: one that a timed choice strictly beats on time with no more GPUs is not
    on it."""
    bounded = sorted(((c.gpus, c.times.seconds_lower_bound(c, b), i) for i, (c, b) in enumerate(choices)))
    fastest = math.inf
    kept = []
    for _, bound, i in bounded:
        if fastest < bound:
            continue
        c, b = choices[i]
        fastest = min(fastest, c.times.seconds_and_cost(c, b)[0])
        kept.append(choices[i])
    return kept


class _Staircase:
    """Choices kept so far (all with no more GPUs than the next, by sort order) as a 2-D staircase over (seconds,
    cost), cost strictly falling as seconds rise, plus the best tie-break seen for each exact (seconds, cost)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.costs: list[float] = []
        self.ties: dict[tuple[float, float], tuple[int, int]] = {}

    def dominates(self, order: tuple[int, float, float, int, int]) -> bool:
        _, seconds, cost, rank, neg_b = order
        index = bisect.bisect_right(self.seconds, seconds) - 1
        if index < 0 or self.costs[index] > cost:
            return False
        if self.costs[index] < cost or self.seconds[index] < seconds:
            return True
        return self.ties[(seconds, cost)] < (rank, neg_b)

    def add(self, order: tuple[int, float, float, int, int]) -> None:
        _, seconds, cost, rank, neg_b = order
        self.ties[(seconds, cost)] = min(self.ties.get((seconds, cost), (rank, neg_b)), (rank, neg_b))
        index = bisect.bisect_right(self.seconds, seconds)
        if index > 0 and self.costs[index - 1] <= cost:
            return  # an equal point is already on the staircase
        end = index
        while end < len(self.seconds) and self.costs[end] >= cost:
            end += 1
        self.seconds[index:end], self.costs[index:end] = [seconds], [cost]
