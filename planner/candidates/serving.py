"""Candidate replica shapes: every real (GPU, TP, PP, EP, weight format, KV dtype) combination with its
memory bill, plus the reasons the others were rejected.

All non-linear arithmetic (division by TP/PP, KV-head replication, paging) happens here through the memory
model, so the solver only sees integer constants per candidate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property, cmp_to_key, lru_cache

from ..catalog import Catalog, GpuSpec
from ..engines import EngineChoice, GpuFacts, engine_layout, engine_settings, unsupported_by_engine
from ..errors import CatalogError, InputError, Issue, did_you_mean
from ..limits import MAX_CANDIDATE_SHAPES, Deadline, TimeLimitReached, check_count
from ..memory.serving import EngineSettings, ServingLayout, ServingMemory, sequences_within
from ..memory.serving_bill import serving_memory
from ..model.architecture import ModelArchitecture
from ..model.formats import KvCacheDtype, WeightFormat, fidelity_penalty, kv_cache_dtype, weight_format
from ..model.gguf import GgufWeights
from ..performance.topology import NodeTopology, node_topology
from ..rules import format_breach, shape_breach
from ..units import fraction_of_bytes_ceil, usd_to_micro_usd_ceil
from .enumeration import Enumeration, Rejection


class RejectReason(str, Enum):
    """Why a structurally valid shape is left out (the structural reasons are ``planner.rules.Rule``)."""

    DOES_NOT_FIT = "weights, activations and overhead leave no room for one sequence"
    SLO_UNREACHABLE = "no load meets the latency targets (slo)"
    ENGINE_UNSUPPORTED = "the serving engine does not run this layout, format or KV-cache dtype"


@dataclass(frozen=True)
class ServingContext:
    """Everything the memory model needs besides the layout, resolved from a scenario."""

    arch: ModelArchitecture
    engine: EngineChoice
    context_tokens: int
    min_headroom: float
    gguf: GgufWeights | None = None  # a .gguf model: its tensors' own sizes
    longest_context_tokens: int = 0  # a traffic mix's longest request: every replica must hold one (0: context_tokens)

    def engine_for(self, gpu: GpuSpec, layout: ServingLayout) -> EngineSettings:
        """The engine's settings on this GPU and layout: its defaults depend on both (``planner.engines``)."""
        return self.engine_at(gpu, layout.tp, layout.pp)

    def engine_at(self, gpu: GpuSpec, tp: int, pp: int) -> EngineSettings:
        """``engine_for`` a layout of ``tp`` x ``pp`` GPUs (its formats do not change the engine's defaults)."""
        return engine_settings(self.engine, GpuFacts(gpu.capacity_bytes, gpu.name, gpu.scale_up_link or "none"), tp, pp,
                               self.context_tokens, self.arch.sliding_window is not None)

    def layout(self, tp: int, pp: int, ep: int, fmt: WeightFormat, kv: KvCacheDtype) -> ServingLayout:
        """A replica layout; under llama.cpp the layers are placed with ``-ngl`` (token embedding in host RAM)."""
        return engine_layout(self.engine, ServingLayout(tp=tp, pp=pp, ep=ep, weight_format=fmt, kv_cache_dtype=kv), self.gguf)


@dataclass(frozen=True)
class Candidate:
    """One replica shape with the integer constants the solver uses (computed once: pruning reads them often)."""

    gpu: GpuSpec
    layout: ServingLayout
    price_usd_per_gpu_hour: float
    memory: ServingMemory  # the bill with zero sequences: fixed part and per-sequence KV
    limit_bytes: int  # per-GPU ceiling: min(usable, capacity x (1 - min_headroom) - CUDA graphs outside the budget)
    rank: int  # preference order among equal-cost shapes (lower = preferred)
    topology: NodeTopology | None = None  # the nodes of this GPU type (catalog + scenario overrides)

    @cached_property
    def fidelity_penalty(self) -> int:
        return fidelity_penalty(self.layout.weight_format, self.layout.kv_cache_dtype)

    @cached_property
    def node_topology(self) -> NodeTopology:
        return self.topology or node_topology(self.gpu)

    @property
    def tp_link(self) -> str:
        """The link the TP all-reduces use: 'nvswitch', 'nvlink-bridge', 'xgmi', 'pcie', 'pcie-host' (none: '-')."""
        return self.node_topology.link_for_group(self.layout.tp).kind if self.layout.tp > 1 else "-"

    @property
    def crosses_network(self) -> bool:
        """Whether the replica spans nodes (its pipeline stages then hand off over the network)."""
        return self.node_topology.crosses_network(self.gpus_per_replica)

    @cached_property
    def key(self) -> str:
        lay = self.layout
        ep = f"/ep{lay.ep}" if lay.ep > 1 else ""
        kv = lay.kv_cache_dtype.name if lay.kv_cache_dtype else "fp16"
        return f"{self.gpu.id}/tp{lay.tp}/pp{lay.pp}{ep}/{lay.weight_format.name}/kv-{kv}"

    @property
    def gpus_per_replica(self) -> int:
        return self.layout.gpus_per_replica

    @cached_property
    def max_sequences(self) -> int:
        """Sequences one replica holds: the most whole sequences whose KV cache fits, in exact bytes, beside the
        fixed part within the per-GPU limit (the memory model's own verdict, no rounding)."""
        return sequences_within(self.limit_bytes, self.memory.fixed_bytes, self.memory.kv_cache_bytes_per_sequence)

    @cached_property
    def price_micro_usd_per_gpu_hour(self) -> int:
        """The cost model's price of one GPU-hour: exact micro-USD (rounded up past six decimals)."""
        return usd_to_micro_usd_ceil(self.price_usd_per_gpu_hour)

    @cached_property
    def price_micro_usd_per_hour(self) -> int:
        """Price of one replica per hour, exact micro-USD."""
        return self.price_micro_usd_per_gpu_hour * self.gpus_per_replica


def per_gpu_limit_bytes(memory: ServingMemory, min_headroom: float) -> int:
    """The most one GPU may hold, in exact bytes: the engine's usable memory, and the capacity less the headroom
    kept free (``ceil(capacity x min_headroom)``, the headroom read as the decimal written) less what the engine
    keeps outside its budget (CUDA graphs, SGLang's activations: they occupy the headroom too)."""
    headroom_bytes = fraction_of_bytes_ceil(memory.capacity_bytes, min_headroom)
    return min(memory.usable_bytes, memory.capacity_bytes - headroom_bytes - memory.outside_budget_bytes)


def resolve_gpus(catalog: Catalog, allowed: list[str] | None, inventory_ids: Iterable[str] = (),
                 source: str = "scenario") -> list[GpuSpec]:
    """The catalog GPUs a scenario allows (all when ``allowed`` is None); unknown ids, in the GPU list or the
    inventory, are bad input with the nearest names."""
    known = [g.id for g in catalog.gpus]
    unknown_stock = [g for g in inventory_ids if g not in known]
    if unknown_stock:
        raise InputError("unknown GPU id in inventory", [
            Issue(f"unknown GPU {g!r}", field_path=f"inventory.{g}", suggestion=did_you_mean(g, known)) for g in unknown_stock])
    if allowed is None:
        return catalog.gpus
    gpus, issues = [], []
    for gpu_id in allowed:
        if gpu_id in known:
            gpus.append(catalog.gpu(gpu_id))
        else:
            issues.append(Issue(f"unknown GPU {gpu_id!r}", source=source, field_path="gpus",
                                suggestion=did_you_mean(gpu_id, known) or "see 'planner catalog gpus'"))
    if issues:
        raise CatalogError("unknown GPU id in scenario", issues)
    if not gpus:
        raise InputError("no GPUs to plan with", [Issue("the list of GPUs is empty", source=source, field_path="gpus")])
    return gpus


@lru_cache(maxsize=16384)
def _empty_bill(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, capacity_bytes: int,
                context_tokens: int) -> ServingMemory:
    """The memory bill with zero sequences, cached: it does not depend on the headroom or the prices, so a
    Pareto sweep over headroom or a what-if on prices re-enumerates without recomputing it (measured: the
    10-point cost/headroom sweep spent 80 % of its time here)."""
    return serving_memory(arch, layout, engine, capacity_bytes, 0, context_tokens, explain=False)


def enumerate_candidates(
    context: ServingContext,
    gpus: list[GpuSpec],
    weight_formats: list[str],
    kv_dtypes: list[str],
    tp_options: list[int],
    pp_options: list[int],
    expert_parallel_options: list[bool],
    max_gpus_per_replica: int,
    prices: dict[str, float],
    topologies: Mapping[str, NodeTopology] | None = None,
    deadline: Deadline | None = None,
) -> Enumeration[Candidate]:
    """All structurally valid shapes that fit at least one sequence, and why the rest were rejected.

    ``topologies`` gives each GPU id's nodes (default: the catalog's); a TP group must stay inside one node or
    rack-scale NVLink domain (``planner.rules``), over whatever link joins the GPUs there. The number of
    shapes is checked against ``MAX_CANDIDATE_SHAPES`` before any is built, and ``deadline`` (the solve's time
    limit) is checked per GPU type.
    """
    arch = context.arch
    check_count(len(gpus) * len(tp_options) * len(pp_options) * len(set(expert_parallel_options)) * len(weight_formats)
                * len(kv_dtypes), MAX_CANDIDATE_SHAPES, "replica shapes to enumerate (GPUs x tp x pp x EP x precisions x "
                "KV dtypes)", "parallelism", "narrow the GPU list, the precisions, the KV dtypes or the parallel degrees")
    result: Enumeration[Candidate] = Enumeration(candidates=[])
    rank = 0
    layouts: dict[tuple[int, int, int, str, str], tuple[KvCacheDtype, ServingLayout, str | None]] = {}  # the same for every GPU type
    for done, gpu in enumerate(gpus):
        if deadline is not None and deadline.expired():
            raise TimeLimitReached(f"the time limit of {deadline.seconds:g} s ran out while building replica shapes "
                                   f"({done:,} of {len(gpus):,} GPU types done)", [Issue(
                                       "raise --time-limit (solver.time_limit_s) or narrow the GPU list", field_path="gpus")])
        topology = (topologies or {}).get(gpu.id) or node_topology(gpu)
        for tp in tp_options:
            for pp in pp_options:
                key = f"{gpu.id}/tp{tp}/pp{pp}"
                breach = shape_breach(arch, tp, pp, topology, max_gpus_per_replica)
                if breach is not None:
                    result.rejections.append(Rejection(key, breach.rule, breach.detail))
                    continue
                engine = None  # the engine's settings for this GPU and tp x pp, when the first layout needs them
                ep_options = sorted({tp if (use and arch.is_moe and tp > 1) else 1 for use in expert_parallel_options})
                for ep in ep_options:
                    for fmt_name in weight_formats:
                        fmt = weight_format(fmt_name)
                        breach = format_breach(gpu, fmt)
                        if breach is not None:
                            result.rejections.append(Rejection(f"{key}/{fmt.name}", breach.rule, breach.detail))
                            continue
                        for kv_name in kv_dtypes:
                            found = layouts.get((tp, pp, ep, fmt_name, kv_name))
                            if found is None:
                                kv = kv_cache_dtype(kv_name)
                                layout = context.layout(tp, pp, ep, fmt, kv)
                                found = layouts[(tp, pp, ep, fmt_name, kv_name)] = kv, layout, unsupported_by_engine(context.engine, layout)
                            kv, layout, refusal = found
                            if refusal:
                                result.rejections.append(Rejection(f"{key}/{fmt.name}/kv-{kv.name}", RejectReason.ENGINE_UNSUPPORTED,
                                                                   refusal))
                                continue
                            engine = engine or context.engine_at(gpu, tp, pp)
                            bill = _empty_bill(arch, layout, engine, gpu.capacity_bytes, context.context_tokens)
                            limit = per_gpu_limit_bytes(bill, context.min_headroom)
                            candidate = Candidate(gpu, layout, prices[gpu.id], bill, limit, rank, topology)
                            rank += 1
                            if candidate.max_sequences < 1:
                                shortfall = bill.fixed_bytes + bill.kv_cache_bytes_per_sequence - limit
                                result.rejections.append(Rejection(candidate.key, RejectReason.DOES_NOT_FIT,
                                                                   f"needs {shortfall / 2**30:.1f} GiB more per GPU", max(shortfall, 0)))
                                continue
                            longest = context.longest_context_tokens
                            if longest > context.context_tokens:
                                long_bill = _empty_bill(arch, layout, engine, gpu.capacity_bytes, longest)
                                long_limit = per_gpu_limit_bytes(long_bill, context.min_headroom)
                                if sequences_within(long_limit, long_bill.fixed_bytes, long_bill.kv_cache_bytes_per_sequence) < 1:
                                    shortfall = long_bill.fixed_bytes + long_bill.kv_cache_bytes_per_sequence - long_limit
                                    result.rejections.append(Rejection(candidate.key, RejectReason.DOES_NOT_FIT,
                                                                       f"the longest request ({longest:,} tokens) needs "
                                                                       f"{shortfall / 2**30:.1f} GiB more per GPU", max(shortfall, 0)))
                                    continue
                            result.candidates.append(candidate)
    return result


def prune_dominated(candidates: list[Candidate], uncapped_gpu_types: Collection[str] = (),
                    whole_instance_types: Collection[str] = (), capacity: Callable[[Candidate], int] | None = None,
                    latency_us: Callable[[Candidate], int] | None = None) -> list[Candidate]:
    """Drop every shape that some number of copies of another shape can replace in any plan.

    ``k`` copies of A replace one B when they serve at least as much (k x cap_A >= cap_B, where ``capacity`` is
    the sequences a replica holds, or its sustainable request rate for traffic), need no more GPUs
    (k x gpus_A <= gpus_B) and cost no more (k x price_A <= price_B, in the cost model's exact micro-USD, so the
    integer optimum is kept exactly, not just up to rounding). The smallest such k is ceil(cap_B / cap_A).
    When the copies cost strictly less, B is in no optimal plan at all; when they cost the same, A must also be
    no worse on the tie-breaks at equal cost (fidelity penalty, then ``latency_us``), so those phases keep their
    optima too. ``latency_us`` is asked only for those equal-cost comparisons (it may be a performance-model call).
    A may replace B when inventory and instances cannot tell them apart: same GPU type (same stock, fewer
    GPUs so never more whole instances), or A's type has no inventory cap (``uncapped_gpu_types``) and neither
    type is rented as whole instances (``whole_instance_types``: freeing B's GPUs need not free an instance, so
    for those types a cheaper replica need not make a cheaper plan and the tie-breaks are always compared).
    Replacing B never raises cost, GPUs, the worst penalty or latency at equal cost or the use of any capped
    stock, keeps the budget and a homogeneous plan homogeneous, and leaves every replica at least one unit of
    demand (use ceil(x_B / cap_A) <= x_B copies), so one optimum of every model built from the kept shapes is an
    optimum of the full model, also for the tie-breaks and the Pareto sweeps over GPUs and concurrency. The
    relation is transitive, so removing all replaceable shapes at once is safe; among identical shapes the
    earlier (preferred) one is kept. Tested against no pruning on generated problems with inventory caps
    (tests/test_solver_performance_model.py).

    Compositional dominance of this kind is the "composite variable" reduction the CP-SAT primer suggests
    (modelling.md, composite variables); the per-type step is a Pareto frontier over (GPUs, capacity).
    """
    def preference(c: Candidate) -> tuple[int, int]:
        return c.fidelity_penalty, latency_us(c) if latency_us else 0

    def shape(c: Candidate) -> _Shape:
        return _Shape.of(c, capacity(c) if capacity else c.max_sequences, preference, c.gpu.id in whole_instance_types)

    shapes = [shape(c) for c in candidates]
    for strict in (True, False):  # first what is strictly dearer (no tie-break needed), then the ties
        by_gpu: dict[str, list[_Shape]] = {}
        for x in shapes:
            by_gpu.setdefault(x.gpu_type, []).append(x)
        survivors: list[_Shape] = []
        for group in by_gpu.values():
            frontier = _frontier(group, strict)
            integers = [a.integers for a in frontier]
            survivors += [b for b in frontier if not _dominated(b, integers, strict)]
        replacers = _distinct(sorted((x for x in survivors if x.gpu_type in uncapped_gpu_types and x.gpu_type not in whole_instance_types),
                                     key=_BY_PRICE_PER_UNIT), strict)
        by_gpus: dict[int, list[tuple[int, int, int, int, _Shape]]] = {}  # copies of A use at least A's GPUs
        for a in replacers:
            by_gpus.setdefault(a.gpus, []).append(a.integers)
        shapes = [b for b in survivors if b.gpu_type in whole_instance_types
                  or not any(gpus <= b.gpus and _dominated(b, group, strict, True) for gpus, group in by_gpus.items())]
    return sorted((x.candidate for x in shapes), key=lambda c: c.rank)


def _cheaper_per_unit_first(a: _Shape, b: _Shape) -> int:
    """Price per unit of capacity (price / units, compared exactly in integers), then rank."""
    left, right = a.price * b.units, b.price * a.units
    return (left > right) - (left < right) or (a.rank > b.rank) - (a.rank < b.rank)


_BY_PRICE_PER_UNIT = cmp_to_key(_cheaper_per_unit_first)


def _dominated(b: _Shape, shapes: list[tuple[int, int, int, int, _Shape]], strict: bool, by_price_per_unit: bool = False,
               one_for_one: bool = False) -> bool:
    """Whether one of ``shapes`` (their ``_Shape.integers``) dominates ``b`` (``one_for_one``: replaces it with as much
    capacity as ``b`` has, the frontier's test). Copies of A cost at least price_A x cap_B / cap_A, so with ``shapes``
    sorted by price per unit the scan stops at the first one dearer per unit than ``b``. The integer test of
    ``_copies_fit`` comes first, written out (strictly cheaper copies in the ``strict`` pass, the only ones that
    replace there): these scans are quadratic."""
    b_units, b_capacity, b_gpus, b_price = b.units, b.capacity, b.gpus, b.price
    for a_units, a_capacity, a_gpus, a_price, a in shapes:
        if by_price_per_unit and a_price * b_units > b_price * a_units:
            return False
        if one_for_one and a_capacity < b_capacity:
            continue
        copies = -(-b_capacity // a_capacity)
        if (copies * a_gpus <= b_gpus and (copies * a_price < b_price if strict else copies * a_price <= b_price) and a is not b
                and (a.replaces(b, strict) if one_for_one else a.dominates(b, strict))):
            return True
    return False


DISTINCT_AFTER = 64
"""Replacers beyond which identical ones are merged before the scan (each then computes its preferences once)."""


def _distinct(replacers: list[_Shape], strict: bool = False) -> list[_Shape]:
    """One replacer per (GPUs, capacity, price, preferences), the preferred one: another with the same values replaces
    only what it replaces (and not it), so scanning the others adds nothing. Identical GPU types otherwise make the
    scan quadratic (measured: preparing a catalog of 1,000 identical GPUs, 12,000 shapes, took 109 s of CPU; 2.2 s
    with this). Below ``DISTINCT_AFTER`` replacers the scan is cheap and the preferences (a performance-model call)
    stay unasked; they are asked only where two replacers agree on everything else, and never in the ``strict``
    pass, where only strictly cheaper copies replace a shape and the preferences decide nothing."""
    if len(replacers) <= DISTINCT_AFTER:
        return replacers
    plain = Counter(x.values for x in replacers)
    seen: set[tuple[object, ...]] = set()
    out = []
    for x in replacers:
        signature = x.values if strict or plain[x.values] == 1 else (*x.values, x.preference)
        if signature not in seen:
            seen.add(signature)
            out.append(x)
    return out


def _frontier(group: list[_Shape], strict: bool = False) -> list[_Shape]:
    """Shapes of one GPU type that no shape with as few GPUs and as much capacity replaces one for one."""
    frontier: list[_Shape] = []
    kept: list[tuple[int, int, int, int, _Shape]] = []
    for shape in sorted(group, key=lambda x: (x.gpus, -x.capacity, x.rank)):
        if not _dominated(shape, kept, strict, one_for_one=True):
            frontier.append(shape)
            kept.append(shape.integers)
    return frontier


def _copies_fit(a: _Shape, b: _Shape) -> bool:
    """``_Shape.replaces``' first test alone (enough copies of ``a`` for ``b``'s capacity use no more GPUs and cost no
    more): most pairs of the quadratic scans fail it, and a plain function is cheaper than the method pair."""
    copies = -(-b.capacity // a.capacity)
    return copies * a.gpus <= b.gpus and copies * a.price <= b.price


_ShapeValues = tuple[int, int, int, bool, int]
"""(GPUs, capacity, price, whole instance, fidelity penalty) of a shape: what replacing depends on."""


@dataclass(frozen=True)
class _Shape:
    """The integers dominance compares, computed once per candidate (the tie-break preferences when first asked)."""

    candidate: Candidate
    gpu_type: str
    gpus: int
    capacity: int
    price: int
    rank: int
    preference_of: Callable[[Candidate], tuple[int, ...]]  # the tie-breaks at equal cost, lower is better
    whole_instance: bool
    units: int  # the capacity a price per unit divides by (at least 1)

    @classmethod
    def of(cls, c: Candidate, capacity: int, preference_of: Callable[[Candidate], tuple[int, ...]],
           whole_instance: bool = False) -> _Shape:
        price = c.price_micro_usd_per_hour
        return cls(c, c.gpu.id, c.gpus_per_replica, capacity, price, c.rank, preference_of, whole_instance, max(1, capacity))

    @cached_property
    def preference(self) -> tuple[int, ...]:
        return self.preference_of(self.candidate)

    @cached_property
    def integers(self) -> tuple[int, int, int, int, _Shape]:
        """(units, capacity, GPUs, price, the shape): what the dominance scans read, in one tuple."""
        return self.units, self.capacity, self.gpus, self.price, self

    @property
    def values(self) -> _ShapeValues:
        """What replacing and being replaced depend on besides the tie-break preferences."""
        return self.gpus, self.capacity, self.price, self.whole_instance, self.candidate.fidelity_penalty

    def replaces(self, other: _Shape, strict: bool = False) -> bool:
        """Copies of this shape take ``other``'s place in any plan; ``strict``: only when that is strictly cheaper
        (then no tie-break is asked)."""
        if not _copies_fit(self, other):
            return False
        copies = -(-other.capacity // self.capacity)
        if copies * self.price < other.price and not (self.whole_instance or other.whole_instance):
            return True  # strictly cheaper: ``other`` is in no optimal plan, whatever the tie-breaks say
        return not strict and self.prefers(other)

    def prefers(self, other: _Shape) -> bool:
        """No worse on every tie-break at equal cost (each a worst-over-the-plan objective, so a swap never raises it).
        The fidelity penalty is compared first, so the latency (a performance-model call) is asked only when needed."""
        if self.candidate.fidelity_penalty > other.candidate.fidelity_penalty:
            return False
        return all(a <= b for a, b in zip(self.preference, other.preference))

    def dominates(self, other: _Shape, strict: bool = False) -> bool:
        """Replaces ``other``, and when they replace each other (identical integers), comes first."""
        return self.replaces(other, strict) and (self.rank < other.rank or not other.replaces(self, strict))
