"""Why a scenario has no plan, in the user's terms, and the nearest change that would give one.

Three situations, told apart in this order:

1. **The options allow no replica shape at all** (a TP list that divides no head count, a precision no chosen GPU
   supports, ...). That is bad input, not infeasibility: ``check_options`` raises ``InputError`` (exit 2).
2. **No replica shape holds even one sequence.** ``_nothing_fits`` names the smallest thing that does not fit
   (the weights alone, then weights + activations + overhead, then one sequence's KV cache) on the closest shape,
   and which single change to the scenario's options would make one fit — each change checked by re-running the
   memory model over the changed options, never guessed.
3. **Shapes fit, but the limits together exclude every fleet.** The serving model is rebuilt with one enforcement
   literal per constraint group (demand, budget, inventory per GPU type, headroom, homogeneity); CP-SAT solves it
   under those literals as assumptions and ``sufficient_assumptions_for_infeasibility`` returns a conflicting set
   of groups, shrunk to a minimal one by deletion (OR-Tools ``troubleshooting.md``, "Infeasible models"; the CP-SAT
   primer on assumptions). For each group in the set one more solve finds the nearest relaxation: the budget that
   would suffice (min cost), the concurrency that fits (max sequences), the inventory needed (min extra GPUs), the
   headroom that fits (largest, by bisection) or the cost of a mixed fleet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..candidates import Candidate, Enumeration, RejectReason, enumerate_candidates, per_gpu_limit_bytes
from ..errors import InputError, Issue
from ..limits import TimeLimitReached
from ..formats import WEIGHT_FORMATS, weight_format
from ..memory.serving import ServingLayout, ServingMemory, serving_memory, weight_bytes_by_stage
from ..memory.serving import sequences_within
from ..units import BYTES_PER_GIB, cents_ceil, format_usd, micro_usd_to_usd, usd_to_micro_usd_floor
from .explain_traffic import Capacities, demand_field, demand_phrase, relax_traffic_demand, slo_unreachable, traffic_shapes
from . import sat_api as cp_model
from .cpsat import rent_whole_instances
from .problem import Instance

if TYPE_CHECKING:
    from ..catalog import GpuSpec
    from ..planning import PreparedScenario

ROOMY_MIB = 2**30  # 1 PiB: a GPU no shape outgrows, to enumerate every structurally valid shape with its bill
SOLVE_LIMIT_S = 5.0
COMMON_FORMATS = ("bf16", "fp16", "fp8", "int8", "int4-awq", "int4-gptq", "mxfp4")  # suggested first, at equal bits


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


# --- 1. options that allow no shape at all: bad input -------------------------------------------------------------

def _supports(gpu: GpuSpec, fmt_name: str) -> bool:
    fmt = weight_format(fmt_name)
    return (gpu.supports_fp8 or not fmt.needs_fp8_hardware) and (gpu.supports_bf16 or not fmt.needs_bf16_hardware)


def check_options(prepared: PreparedScenario) -> None:
    """Raise ``InputError`` when the scenario's own options contradict each other or the model (exit 2)."""
    s = prepared.scenario
    issues = []
    chosen = ", ".join(g.id for g in prepared.gpus)
    for fmt in prepared.weight_formats:
        if not any(_supports(g, fmt) for g in prepared.gpus):
            need = "FP8 tensor cores" if weight_format(fmt).needs_fp8_hardware else "BF16 support"
            what = f"precision {fmt!r}" if s.precisions is not None else f"the checkpoint's format {fmt!r}"
            able = [g.id for g in prepared.catalog.gpus if _supports(g, fmt)][:3]
            issues.append(Issue(f"{what} needs {need}, which none of the chosen GPUs ({chosen}) has",
                                field_path="precisions", suggestion="list precisions these GPUs support"
                                + (f", or allow a GPU such as {', '.join(able)}" if able else "")))
    enumeration = prepared.enumeration
    structural = enumeration.candidates or any(r.reason is RejectReason.DOES_NOT_FIT for r in enumeration.rejections)
    if not structural and not issues:
        issues = _structural_issues(prepared)
    if issues:
        raise InputError("the scenario's options allow no replica shape", issues)


def _structural_issues(prepared: PreparedScenario) -> list[Issue]:
    """Which option rules every shape out: the first rule that each candidate (gpu, tp, pp) broke."""
    arch, p = prepared.context.arch, prepared.scenario.parallelism
    counts = prepared.enumeration.rejection_counts()
    issues = []
    domain = _largest_tp_group(prepared)
    if counts[RejectReason.TP_CROSSES_NETWORK] and all(t > domain for t in p.tp):
        issues.append(Issue(f"every tensor-parallel degree in {p.tp} exceeds the GPUs of one node of the chosen GPUs "
                            f"({domain} GPU{'s' if domain != 1 else ''}); tensor parallelism stays inside a node",
                            field_path="parallelism.tp",
                            suggestion=f"use degrees up to {domain}, and pipeline parallelism across nodes" if domain > 1
                            else "use tp: [1] with pipeline parallelism, or GPUs with more per node"))
    dividing = [t for t in p.tp if arch.tp_is_valid(t)]
    if not dividing:
        good = [t for t in range(1, min(domain, 64) + 1) if arch.tp_is_valid(t)]
        issues.append(Issue(f"no tensor-parallel degree in {p.tp} divides the model's {arch.num_attention_heads} attention "
                            f"heads and {arch.kv_heads} KV heads", field_path="parallelism.tp",
                            suggestion=f"degrees that do: {', '.join(map(str, good))}"))
    if all(pp > arch.num_layers for pp in p.pp):
        issues.append(Issue(f"every pipeline degree in {p.pp} exceeds the model's {arch.num_layers} layers",
                            field_path="parallelism.pp", suggestion=f"use degrees up to {arch.num_layers}"))
    smallest = min(p.tp) * min(p.pp)
    if smallest > p.max_gpus_per_replica:
        issues.append(Issue(f"max_gpus_per_replica {p.max_gpus_per_replica} is below the smallest tp x pp ({smallest})",
                            field_path="parallelism.max_gpus_per_replica", suggestion=f"allow at least {smallest}"))
    if not issues:
        summary = "; ".join(f"{n} x {reason.value}" for reason, n in counts.most_common())
        issues.append(Issue(f"every combination of GPU, tp and pp is ruled out: {summary}", field_path="parallelism"))
    return issues


# --- entry point ----------------------------------------------------------------------------------------------------

def explain_infeasible(prepared: PreparedScenario, method: str = "cpsat", time_limit_s: float = 20.0) -> Explanation:
    """Why ``prepared`` has no plan: nothing fits, or which limits conflict and the nearest relaxation of each."""
    if prepared.deadline is not None:  # the solve's time limit covers the explanation too
        time_limit_s = max(0.0, prepared.deadline.left())
    headroom = prepared.scenario.min_headroom
    if prepared.is_traffic:
        shapes, capacity, unreachable = traffic_shapes(prepared)
        if not shapes and not unreachable:
            return _nothing_fits(prepared)
        if not shapes:
            return slo_unreachable(prepared, unreachable)
        return _LimitConflict(prepared, shapes, method, time_limit_s, capacity).explain()
    shapes = prepared.enumeration.candidates if headroom == 0 else _enumerate(prepared, headroom=0.0).candidates
    if not shapes:
        return _nothing_fits(prepared)
    return _LimitConflict(prepared, shapes, method, time_limit_s).explain()


def _enumerate(prepared: PreparedScenario, *, gpus: list[GpuSpec] | None = None, formats: list[str] | None = None,
               kv_dtypes: list[str] | None = None, tp: list[int] | None = None, pp: list[int] | None = None,
               max_gpus: int | None = None, headroom: float | None = None, context_tokens: int | None = None) -> Enumeration:
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


# --- 2. nothing fits ------------------------------------------------------------------------------------------------

def _gib(num_bytes: float) -> str:
    return f"{num_bytes / BYTES_PER_GIB:,.1f} GiB"


def _describe(c: Candidate) -> str:
    lay = c.layout
    return f"TP={lay.tp} x PP={lay.pp} in {lay.weight_format.name} on {c.gpu.id}"


def _nothing_fits(prepared: PreparedScenario) -> Explanation:
    """The smallest thing that does not fit on the closest shape, and the single option changes that make one fit."""
    ctx = prepared.context
    real = {g.id: g for g in prepared.gpus}
    roomy = [g.model_copy(update={"memory_usable_mib": ROOMY_MIB}) for g in prepared.gpus]
    bills: list[tuple[Candidate, GpuSpec, ServingMemory]] = []
    for c in _enumerate(prepared, gpus=roomy, headroom=0.0).candidates:
        gpu = real[c.gpu.id]
        bills.append((c, gpu, serving_memory(ctx.arch, c.layout, ctx.engine_for(gpu, c.layout), gpu.capacity_bytes, 0,
                                             ctx.context_tokens)))
    if not bills:
        return Explanation("no replica shape is possible for this model with these options", "nothing_fits")
    def usable(gpu: GpuSpec, bill: ServingMemory, c: Candidate) -> str:
        engine = ctx.engine_for(gpu, c.layout)
        if engine.engine == "vllm" or engine.mode == "formula":
            return f"the {_gib(bill.usable_bytes)} usable on {gpu.id} ({_gib(gpu.capacity_bytes)} x {engine.gpu_memory_utilization:g})"
        return f"the {_gib(bill.usable_bytes)} {engine.engine} may use on {gpu.id} ({_gib(gpu.capacity_bytes)})"

    if all(b.weights_bytes > b.usable_bytes for _, _, b in bills):
        c, gpu, bill = min(bills, key=lambda t: (t[2].weights_bytes / t[2].usable_bytes, t[0].rank))
        lay = c.layout
        whole = sum(weight_bytes_by_stage(ctx.arch, ServingLayout(weight_format=lay.weight_format, kv_cache_dtype=lay.kv_cache_dtype)))
        split = f"even split TP={lay.tp} x PP={lay.pp} ({_gib(whole)} per replica)" if lay.gpus_per_replica > 1 else "on one GPU"
        message = (f"no replica shape fits: the weights alone need {_gib(bill.weights_bytes)} per GPU in "
                   f"{lay.weight_format.name} {split}, more than {usable(gpu, bill, c)}; "
                   f"{_gib(bill.weights_bytes - bill.usable_bytes)} more per GPU")
    elif all(b.fixed_bytes > b.usable_bytes for _, _, b in bills):
        c, gpu, bill = min(bills, key=lambda t: (t[2].fixed_bytes - t[2].usable_bytes, t[0].rank))
        message = (f"no replica shape fits: on the closest shape, {_describe(c)}, weights ({_gib(bill.weights_bytes)}) + "
                   f"activations ({_gib(bill.activations_bytes)}) + engine overhead ({_gib(bill.overhead_bytes)}) need "
                   f"{_gib(bill.fixed_bytes)} per GPU, more than {usable(gpu, bill, c)}; "
                   f"{_gib(bill.fixed_bytes - bill.usable_bytes)} more per GPU")
    else:
        c, gpu, bill = min(bills, key=lambda t: (t[2].fixed_bytes + t[2].kv_cache_bytes_per_sequence - t[2].usable_bytes, t[0].rank))
        message = (f"no replica shape fits: one sequence of {ctx.context_tokens:,} tokens needs "
                   f"{_gib(bill.kv_cache_bytes_per_sequence)} of KV cache per GPU on the closest shape, {_describe(c)}, "
                   f"but only {_gib(max(0, bill.kv_budget_bytes))} of {usable(gpu, bill, c)} is left after the weights, "
                   f"activations and overhead; {_gib(bill.kv_cache_bytes_per_sequence - max(0, bill.kv_budget_bytes))} "
                   "more per GPU")
    try:
        relaxations = _fitting_changes(prepared, kv_binds=any(b.fixed_bytes <= b.usable_bytes for _, _, b in bills))
    except TimeLimitReached:
        return Explanation(message, "nothing_fits", relaxations=(Relaxation(
            "options", "precisions", None, "the time limit ran out before a change that makes a replica fit was found",
            "raise --time-limit (solver.time_limit_s) to search for one"),))
    if not relaxations:
        relaxations = [Relaxation("options", "precisions", None, "no single change to precisions, parallelism, GPUs or "
                                  "context makes one replica fit")]
    return Explanation(message, "nothing_fits", relaxations=tuple(relaxations))


def _fitting_changes(prepared: PreparedScenario, kv_binds: bool) -> list[Relaxation]:
    """Single changes to the scenario's options after which at least one replica shape holds one sequence."""
    s, arch, p = prepared.scenario, prepared.context.arch, prepared.scenario.parallelism
    found: list[Relaxation] = []
    other_formats = sorted((f for f in WEIGHT_FORMATS.values() if f.name not in prepared.weight_formats and "vllm" in f.engines),
                           key=lambda f: (-f.bits_per_weight, COMMON_FORMATS.index(f.name) if f.name in COMMON_FORMATS else
                                          len(COMMON_FORMATS), f.name))
    fitting = [f.name for f in other_formats if _enumerate(prepared, formats=[f.name]).candidates][:2]
    if fitting:
        found.append(Relaxation("precisions", "precisions", fitting[0], f"allowing {' or '.join(fitting)} would make a replica fit",
                                f"precisions: [{', '.join(prepared.weight_formats + fitting[:1])}]"))
    if kv_binds and "fp8" not in s.kv_cache_dtypes and _enumerate(prepared, kv_dtypes=["fp8"]).candidates:
        found.append(Relaxation("kv_cache_dtypes", "kv_cache_dtypes", "fp8", "an fp8 KV cache would make a replica fit",
                                f"kv_cache_dtypes: [{', '.join(s.kv_cache_dtypes + ['fp8'])}]"))
    domain = _largest_tp_group(prepared)
    tp_options = [x for x in (2, 4, 8, 16, 32, 64, 72) if max(p.tp) < x <= domain and arch.tp_is_valid(x)]
    pp_options = [x for x in (2, 4, 8, 16, 32, 64, 128) if max(p.pp) < x <= arch.num_layers]
    for name, options, field_path in (("tp", tp_options, "parallelism.tp"), ("pp", pp_options, "parallelism.pp")):
        for degree in options:
            change = _degree_that_fits(prepared, name, degree)
            if change is not None:
                label = f"tensor parallelism TP={degree}" if name == "tp" else f"pipeline parallelism PP>={degree}"
                found.append(Relaxation(name, field_path, degree, f"{label} would make a replica fit", change))
                break
    if s.gpu_ids is not None:
        others = _rentable(prepared, [g for g in prepared.catalog.gpus if g.id not in s.gpu_ids])
        fit_ids = {c.gpu.id for c in _enumerate(prepared, gpus=others).candidates} if others else set()
        smallest_first = sorted((g for g in others if g.id in fit_ids), key=lambda g: (g.memory_usable_mib, g.price_usd_per_gpu_hour, g.id))
        names = [g.id for g in smallest_first[:2]]
        if names:
            found.append(Relaxation("gpus", "gpus", names[0], f"a GPU with more memory, {' or '.join(names)}, would fit a replica",
                                    f"add {names[0]} to gpus"))
    if kv_binds:
        fitting_tokens = _largest(lambda tokens: bool(_enumerate(prepared, context_tokens=tokens).candidates), 1, prepared.context.context_tokens - 1)
        if fitting_tokens:
            found.append(Relaxation("context", "workload.context_tokens", fitting_tokens,
                                    f"at most {fitting_tokens:,} tokens per sequence fit with these options",
                                    f"context_tokens: {fitting_tokens}"))
    return found


def _rentable(prepared: PreparedScenario, gpus: list[GpuSpec]) -> list[GpuSpec]:
    """The GPUs the scenario's pricing could rent (an estimated price needs ``allow_estimated``), at that price."""
    from ..pricing import rental_prices

    try:
        return rental_prices(prepared.scenario, prepared.catalog, gpus)[0] if gpus else []
    except InputError:
        return []


def _largest_tp_group(prepared: PreparedScenario) -> int:
    """The largest TP group any chosen GPU allows: its node, or its rack-scale NVLink domain."""
    return max(prepared.topology(g).max_group_without_network for g in prepared.gpus)


def _degree_that_fits(prepared: PreparedScenario, name: str, degree: int) -> str | None:
    """The scenario change (as YAML) that adds one TP or PP degree, with a larger max_gpus_per_replica if that is needed."""
    p = prepared.scenario.parallelism
    values = (p.tp if name == "tp" else p.pp) + [degree]
    change = f"{name}: [{', '.join(map(str, values))}]"
    if _enumerate(prepared, **{name: [degree]}).candidates:
        return change
    needed = degree * (max(p.pp) if name == "tp" else max(p.tp))
    if needed > p.max_gpus_per_replica and _enumerate(prepared, **{name: [degree]}, max_gpus=needed).candidates:
        return f"{change} and max_gpus_per_replica: {needed}"
    return None


def _largest(feasible, low: int, high: int) -> int | None:
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


# --- 3. the limits conflict -----------------------------------------------------------------------------------------

def _sequences_at(c: Candidate, headroom: float) -> int:
    """Sequences one replica of ``c`` holds when ``headroom`` of each GPU stays free (Candidate.max_sequences' rule)."""
    return sequences_within(per_gpu_limit_bytes(c.memory, headroom), c.memory.fixed_bytes, c.memory.kv_cache_bytes_per_sequence)


def _undominated(shapes: list[Candidate], headroom: float, capacity: Capacities | None = None) -> list[Candidate]:
    """Drop shapes that another shape of the same GPU type beats at every headroom.

    As in ``candidates.prune_dominated``: same GPU type (same stock, same price per GPU) and no more GPUs per
    replica, so swapping keeps any plan feasible and no dearer under every group and every objective used here.
    It must also hold at least as many sequences at every headroom the explanation tries; no more fixed bytes, KV
    bytes per sequence and CUDA-graph bytes per GPU guarantee that at every limit (exact bytes, no rounding).
    With ``capacity`` (traffic: request rates without and with the headroom) the two rates are compared instead.
    """
    def beats(a: Candidate, b: Candidate) -> bool:
        if capacity is not None:
            return a.gpus_per_replica <= b.gpus_per_replica and all(x >= y for x, y in zip(capacity[a.key], capacity[b.key]))
        ma, mb = a.memory, b.memory
        return (a.gpus_per_replica <= b.gpus_per_replica and ma.fixed_bytes <= mb.fixed_bytes
                and ma.kv_cache_bytes_per_sequence <= mb.kv_cache_bytes_per_sequence
                and ma.outside_budget_bytes <= mb.outside_budget_bytes)

    by_gpu: dict[str, list[Candidate]] = {}
    for c in shapes:
        by_gpu.setdefault(c.gpu.id, []).append(c)
    kept: list[Candidate] = []
    for group in by_gpu.values():
        survivors: list[Candidate] = []
        for c in sorted(group, key=lambda c: (c.gpus_per_replica, c.memory.fixed_bytes, c.rank)):
            if not any(beats(a, c) for a in survivors):
                survivors.append(c)
        kept += survivors
    return sorted(kept, key=lambda c: c.rank)


class _GroupModel:
    """The serving model (see ``cpsat``) with an enforcement literal per constraint group.

    Rows carry two memory limits: the engine's usable memory, always on, and the headroom limit, on with the
    ``headroom`` literal. ``sum s <= D`` always holds, ``sum s >= D`` only with ``demand``, so relaxing demand
    means serving fewer. Inventory types listed in ``slack`` get a free extra-GPU variable instead of a literal.
    Traffic scenarios pass ``capacity``: per shape the request rate (milli-requests/s) one replica sustains within
    the SLO without and with the headroom, and ``s`` is the load served.
    """

    def __init__(self, shapes: list[Candidate], demand: int, budget: int | None, inventory: dict[str, int],
                 headroom: float, mixed_fleet: bool, slack: frozenset[str] = frozenset(),
                 instances: Mapping[str, Instance] | None = None, capacity: Capacities | None = None):
        m = self.model = cp_model.CpModel()
        self.literals: dict[str, cp_model.IntVar] = {}
        self.slack: dict[str, cp_model.IntVar] = {}
        replicas, sequences, used = [], [], []
        cover = []
        for c in shapes:
            whole, limited = capacity[c.key] if capacity is not None else (_sequences_at(c, 0.0), _sequences_at(c, headroom))
            fewest = limited if limited >= 1 else whole  # capacity per replica when the headroom binds (if it can)
            n = m.new_int_var(0, -(-demand // fewest), f"replicas[{c.key}]")  # more replicas than that serve no one
            s = m.new_int_var(0, demand, f"sequences[{c.key}]")
            u = m.new_bool_var(f"used[{c.key}]")
            m.add(s <= whole * n)
            if limited < whole:
                m.add(s <= limited * n).only_enforce_if(self._literal("headroom"))
            m.add(n <= s)
            cover.append(min(whole, demand) * n)
            m.add(n >= 1).only_enforce_if(u)
            m.add(n == 0).only_enforce_if(~u)
            replicas.append((c, n))
            sequences.append(s)
            used.append(u)
        self.served = sum(sequences)
        m.add(self.served <= demand)
        m.add(sum(cover) >= self.served)  # implied by the memory rows; tightens the LP (as in the main model)
        m.add(self.served >= demand).only_enforce_if(self._literal("demand"))
        instances = instances or {}
        cost_terms = [c.price_micro_usd_per_hour * n for c, n in replicas if c.gpu.id not in instances]
        for gpu, instance in sorted(instances.items()):
            terms = [c.gpus_per_replica * n for c, n in replicas if c.gpu.id == gpu]
            if terms:
                most = demand * max(c.gpus_per_replica for c, _ in replicas if c.gpu.id == gpu)
                cost_terms.append(instance.price_micro_usd_per_hour * rent_whole_instances(m, gpu, sum(terms), instance, most))
        self.cost = sum(cost_terms)
        # whole instances: the GPUs rented, idle ones included, within stock = the used ones within whole instances of it
        inventory = {gpu: n - n % instances[gpu].gpus if gpu in instances else n for gpu, n in inventory.items()}
        for gpu in sorted(inventory):
            terms = [c.gpus_per_replica * n for c, n in replicas if c.gpu.id == gpu]
            if not terms:
                continue
            if gpu in slack:
                extra = self.slack[gpu] = m.new_int_var(0, demand * max(c.gpus_per_replica for c in shapes), f"extra[{gpu}]")
                m.add(sum(terms) <= inventory[gpu] + extra)
            else:
                m.add(sum(terms) <= inventory[gpu]).only_enforce_if(self._literal(f"inventory:{gpu}"))
        if budget is not None:
            m.add(self.cost <= budget).only_enforce_if(self._literal("budget"))
        if not mixed_fleet:
            m.add(sum(used) <= 1).only_enforce_if(self._literal("homogeneous"))

    def _literal(self, group: str) -> cp_model.IntVar:
        if group not in self.literals:
            self.literals[group] = self.model.new_bool_var(f"on[{group}]")
        return self.literals[group]

    def solve(self, enforced: list[str], time_limit_s: float) -> tuple[str, cp_model.CpSolver]:
        """Solve with the groups in ``enforced`` assumed on (the others free)."""
        self.model.clear_assumptions()
        self.model.add_assumptions([self.literals[g] for g in enforced if g in self.literals])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1  # sufficient_assumptions_for_infeasibility needs the single-thread search
        solver.parameters.random_seed = 0
        solver.parameters.linearization_level = 2  # assumptions weaken presolve; the LP cuts prove these fast
        solver.parameters.max_time_in_seconds = max(0.05, time_limit_s)
        status = solver.solve(self.model)
        return {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible", cp_model.INFEASIBLE: "infeasible"}.get(status, "unknown"), solver


class _LimitConflict:
    """Finds a minimal set of conflicting constraint groups and the nearest relaxation of each."""

    ORDER = ("homogeneous", "headroom", "inventory", "budget", "demand")  # deletion order: keep what users set last

    def __init__(self, prepared: PreparedScenario, shapes: list[Candidate], method: str, time_limit_s: float,
                 capacity: Capacities | None = None):
        s = prepared.scenario
        self.prepared, self.shapes = prepared, _undominated(shapes, s.min_headroom, capacity)
        self.capacity = capacity
        self.demand = prepared.problem().demand
        self.what = demand_phrase(prepared)
        self.budget_usd = s.budget.max_usd_per_hour
        self.budget = usd_to_micro_usd_floor(self.budget_usd) if self.budget_usd is not None else None
        self.inventory = {g: n for g, n in prepared.inventory.items() if n is not None}
        self.instances = prepared.problem().instances
        self.headroom = s.min_headroom
        self.mixed_fleet = s.solver.mixed_fleet and method != "enumerate"
        self.method = method
        self.deadline = time.perf_counter() + time_limit_s

    def _left(self) -> float:
        return min(SOLVE_LIMIT_S, self.deadline - time.perf_counter())

    def _model(self, headroom: float | None = None, slack: frozenset[str] = frozenset()) -> _GroupModel:
        return _GroupModel(self.shapes, self.demand, self.budget, self.inventory,
                           self.headroom if headroom is None else headroom, self.mixed_fleet, slack, self.instances, self.capacity)

    def group(self, name: str) -> ConstraintGroup:
        s, ctx = self.prepared.scenario, self.prepared.context
        if name == "demand":
            return ConstraintGroup(name, demand_field(self.prepared), self.what)
        if name == "budget":
            return ConstraintGroup(name, "budget.max_usd_per_hour", f"the budget of ${format_usd(self.budget or 0)}/h")
        if name == "headroom":
            return ConstraintGroup(name, "min_headroom", f"the minimum headroom of {self.headroom:.1%}")
        if name == "homogeneous":
            where = "--method enumerate" if self.method == "enumerate" else "solver.mixed_fleet"
            return ConstraintGroup(name, where, f"a single replica shape ({where})")
        gpu = name.split(":", 1)[1]
        where = f"gpus.{gpu}.inventory" if s.gpu_override(gpu).inventory is not None else f"inventory.{gpu}"
        return ConstraintGroup(name, where, f"the {gpu} inventory of {self.inventory[gpu]} GPUs")

    def explain(self) -> Explanation:
        model = self._model()
        groups = sorted(model.literals, key=lambda g: (self.ORDER.index(g.split(":")[0]), g))
        status, solver = model.solve(groups, self._left())
        if status in ("optimal", "feasible"):
            return Explanation("no plan found: the limits can be met together, so the solver ran out of time", "undetermined",
                               extra=(Issue("raise --time-limit (solver.time_limit_s) or narrow the GPU list"),))
        if status != "infeasible":
            return self._budget_alone() or self._unnamed_conflict(groups)
        by_index = {model.literals[g].index: g for g in groups}
        core = [g for g in groups if g in {by_index.get(i) for i in solver.sufficient_assumptions_for_infeasibility()}] or groups
        for name in list(core):
            trial = [g for g in core if g != name]
            if trial and model.solve(trial, self._left())[0] == "infeasible":
                core = trial
        conflict = tuple(self.group(g) for g in core)
        limits = [g.description for g in conflict if g.name != "demand"]
        within = " and ".join(limits) + (" together" if len(limits) > 1 else "") if limits else "these limits"
        message = f"no plan serves {self.what} within {within}"
        relaxations = [r for r in (self._relax(name, core) for name in self._relaxation_order(core)) if r is not None]
        return Explanation(message, "conflicting_limits", conflict, tuple(relaxations))

    def _budget_alone(self) -> Explanation | None:
        """When the conflict search runs out of time: does the budget alone exclude every plan? The serving model
        without the budget (the fast one the solve used) gives the cheapest plan the other limits allow."""
        if self.budget is None:
            return None
        from dataclasses import replace

        from .cpsat import solve_cpsat

        settings = self.prepared.scenario.solver
        problem = replace(self.prepared.problem(mixed_fleet=self.mixed_fleet), budget_micro_usd_per_hour=None)
        outcome = solve_cpsat(problem, max(0.05, self._left()), settings.workers, settings.seed)
        if outcome.objective_micro_usd is None or outcome.objective_micro_usd <= self.budget:
            return None
        cost = outcome.objective_micro_usd
        enough = cents_ceil(cost) * 10**4
        cheapest = "the cheapest plan" if outcome.status == "optimal" else "a plan"
        relaxation = Relaxation("budget", "budget.max_usd_per_hour", micro_usd_to_usd(enough),
                                f"{cheapest} that serves {self.demand:,} sequences within the other limits costs "
                                f"${format_usd(cost)}/h, over the budget of ${format_usd(self.budget)}/h",
                                f"a budget of ${format_usd(enough)}/h would suffice")
        message = (f"no plan serves {self.demand:,} concurrent sequences of {self.prepared.context.context_tokens:,} tokens "
                   f"within {self.group('budget').description}")
        return Explanation(message, "conflicting_limits", (self.group("budget"), self.group("demand")), (relaxation,))

    def _unnamed_conflict(self, groups: list[str]) -> Explanation:
        """The solver proved no plan meets the limits together, but which of them conflict took too long to find."""
        limits = [self.group(g).description for g in groups if g != "demand"]
        within = " and ".join(limits) + " together" if limits else "these limits"
        return Explanation(f"no plan serves {self.demand:,} concurrent sequences of {self.prepared.context.context_tokens:,} "
                           f"tokens within {within} (proven by the solver)", "conflicting_limits",
                           tuple(self.group(g) for g in groups),
                           extra=(Issue("which of these limits conflict could not be narrowed down within the time limit; "
                                        "relax one of them, or raise --time-limit (solver.time_limit_s) for the nearest change"),))

    def _relaxation_order(self, core: list[str]) -> list[str]:
        names = [g for g in core if not g.startswith("inventory:") and g != "demand"]
        if any(g.startswith("inventory:") for g in core):
            names.append("inventory")
        return names + ["demand"]

    def _others(self, core: list[str], relaxed: str) -> str:
        rest = [self.group(g).description for g in core if g not in ("demand",) and not g.startswith(relaxed)]
        return " and ".join(rest) if rest else "the other limits"

    def _relax(self, name: str, core: list[str]) -> Relaxation | None:
        everything = list(self._model().literals)
        if name == "budget":
            return self._relax_budget(everything, core)
        if name == "demand":
            return self._relax_demand(everything)
        if name == "inventory":
            return self._relax_inventory(core)
        if name == "headroom":
            return self._relax_headroom(everything)
        if name == "homogeneous":
            return self._relax_homogeneous(everything)
        return None

    def _relax_budget(self, everything: list[str], core: list[str]) -> Relaxation:
        model = self._model()
        model.model.minimize(model.cost)
        status, solver = model.solve([g for g in everything if g != "budget"], self._left())
        field_path = "budget.max_usd_per_hour"
        if status not in ("optimal", "feasible"):
            return Relaxation("budget", field_path, None, f"raising the budget alone is not enough: {self._others(core, 'budget')} "
                                                          "also rule out every plan")
        cost = int(round(solver.objective_value))
        enough = cents_ceil(cost) * 10**4  # a round budget in cents that admits the plan
        cheapest = "the cheapest plan" if status == "optimal" else "a plan"
        return Relaxation("budget", field_path, micro_usd_to_usd(enough),
                          f"{cheapest} that serves {self.what} costs ${format_usd(cost)}/h, over the budget of "
                          f"${format_usd(self.budget or 0)}/h", f"a budget of ${format_usd(enough)}/h would suffice")

    def _relax_demand(self, everything: list[str]) -> Relaxation:
        model = self._model()
        model.model.maximize(model.served)
        status, solver = model.solve([g for g in everything if g != "demand"], self._left())
        fits = int(round(solver.objective_value)) if status in ("optimal", "feasible") else 0
        if self.capacity is not None:
            return relax_traffic_demand(self.prepared, fits, status == "optimal")
        tokens = f"{self.prepared.context.context_tokens:,} tokens"
        if fits == 0:
            return Relaxation("demand", "workload.concurrency", 0, f"with every other limit as given, not even one "
                                                                   f"sequence of {tokens} fits")
        bound = "at most" if status == "optimal" else "at least"
        return Relaxation("demand", "workload.concurrency", fits,
                          f"with every other limit as given, {bound} {fits:,} concurrent sequences of {tokens} fit",
                          f"concurrency: {fits}")

    def _relax_inventory(self, core: list[str]) -> Relaxation:
        short = frozenset(g.split(":", 1)[1] for g in core if g.startswith("inventory:"))
        model = self._model(slack=short)
        # fewest extra GPUs; among as few, the fewest GPU types to buy more of (one change beats two)
        touched = []
        for gpu, extra in model.slack.items():
            more = model.model.new_bool_var(f"more[{gpu}]")
            model.model.add(extra == 0).only_enforce_if(~more)
            touched.append(more)
        model.model.minimize(sum(model.slack.values()) * (len(touched) + 1) + sum(touched))
        status, solver = model.solve(list(model.literals), self._left())  # the short types carry slack, not literals
        field_path = "inventory" if len(short) > 1 else self.group(f"inventory:{next(iter(short))}").field_path
        if status not in ("optimal", "feasible"):
            return Relaxation("inventory", field_path, None,
                              f"more {' or '.join(sorted(short))} GPUs alone are not enough: {self._others(core, 'inventory')} "
                              "also rule out every plan")
        extra = {gpu: int(solver.value(var)) for gpu, var in sorted(model.slack.items()) if solver.value(var) > 0}
        needed = {gpu: self.inventory[gpu] + n for gpu, n in extra.items()}
        have = ", ".join(f"{self.inventory[g]} x {g}" for g in sorted(short))
        more = " and ".join(f"{n} more {gpu} ({needed[gpu]} in all)" for gpu, n in extra.items())
        return Relaxation("inventory", field_path, needed, f"the inventory ({have}) is too small; {more} would suffice",
                          ", ".join(f"inventory.{gpu}: {n}" for gpu, n in needed.items()))

    def _relax_headroom(self, everything: list[str]) -> Relaxation:
        def feasible(permille: int) -> bool:
            return self._model(headroom=permille / 1000).solve(everything, self._left())[0] in ("optimal", "feasible")

        top = math.ceil(self.headroom * 1000) - 1
        best = _largest(feasible, 0, 0 if self.capacity is not None else top)  # traffic: rates known at 0 and as given
        if best is None:
            return Relaxation("headroom", "min_headroom", None, "lowering the headroom alone is not enough: the other limits "
                                                                  "rule out every plan even with no headroom")
        return Relaxation("headroom", "min_headroom", best / 1000, f"at most {best / 10:.1f}% headroom fits with the other limits",
                          f"min_headroom: {best / 1000:g}")

    def _relax_homogeneous(self, everything: list[str]) -> Relaxation:
        model = self._model()
        model.model.minimize(model.cost)
        status, solver = model.solve([g for g in everything if g != "homogeneous"], self._left())
        where = self.group("homogeneous").field_path
        if status not in ("optimal", "feasible"):
            return Relaxation("homogeneous", where, None, "a mixed fleet alone is not enough: the other limits rule out every plan")
        fix = "--method cpsat" if self.method == "enumerate" else "solver.mixed_fleet: true"
        cost = int(round(solver.objective_value))
        return Relaxation("homogeneous", where, micro_usd_to_usd(cost),
                          f"a mixed fleet of replica shapes would serve it for ${format_usd(cost)}/h", fix)
