"""Why a scenario has no plan, in the user's terms, and the nearest change that would give one.

Three situations, told apart in this order:

1. **The options allow no replica shape at all** (a TP list that divides no head count, a precision no chosen GPU
   supports, ...). That is bad input, not infeasibility: ``check_options`` raises ``InputError`` (exit 2).
2. **No replica shape holds even one sequence.** ``_nothing_fits`` names the smallest thing that does not fit
   (the weights alone, then weights + activations + overhead, then one sequence's KV cache) on the closest shape,
   and which single change to the scenario's options would make one fit — each change checked by re-running the
   memory model over the changed options, never guessed.
3. **Shapes fit, but the limits together exclude every fleet.** The serving model is built with one enforcement
   literal per constraint group (demand, budget, inventory per GPU type, headroom, homogeneity); CP-SAT solves it
   under those literals as assumptions and ``sufficient_assumptions_for_infeasibility`` returns a conflicting set
   of groups, shrunk to a minimal one by deletion (OR-Tools ``troubleshooting.md``, "Infeasible models"; the CP-SAT
   primer on assumptions). For each group in the set one more solve finds the nearest relaxation: the budget that
   would suffice (min cost), the concurrency that fits (max sequences), the inventory needed (min extra GPUs), the
   headroom that fits (largest, by bisection) or the cost of a mixed fleet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..candidates.serving import Candidate
from ..limits import TimeLimitReached
from ..memory.serving import ServingLayout, ServingMemory, weight_bytes_by_stage
from ..memory.serving_bill import serving_memory
from ..model.formats import WEIGHT_FORMATS
from ..pipeline.serving import _largest_tp_group
from ..rules import pipeline_breach, valid_tp_degrees
from .explain_limits import _LimitConflict
from .explain_traffic import slo_unreachable, traffic_shapes
from .explanation import Explanation, Relaxation, _describe, _enumerate, _gib, _largest, _rentable

if TYPE_CHECKING:
    from ..catalog import GpuSpec
    from ..pipeline.serving import PreparedScenario

ROOMY_MIB = 2**30  # 1 PiB: a GPU no shape outgrows, to enumerate every structurally valid shape with its bill
COMMON_FORMATS = ("bf16", "fp16", "fp8", "int8", "int4-awq", "int4-gptq", "mxfp4")  # suggested first, at equal bits


# --- 1. options that allow no shape at all: bad input -------------------------------------------------------------


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


# --- 2. nothing fits ------------------------------------------------------------------------------------------------


def _nothing_fits(prepared: PreparedScenario) -> Explanation:
    """The smallest thing that does not fit on the closest shape, and the single option changes that make one fit."""
    ctx = prepared.context
    real = {g.id: g for g in prepared.gpus}
    roomy = [g.model_copy(update={"memory_usable_mib": ROOMY_MIB}) for g in prepared.gpus]
    bills: list[tuple[Candidate, GpuSpec, ServingMemory]] = []
    for c in _enumerate(prepared, gpus=roomy, headroom=0.0).candidates:
        gpu = real[c.gpu.id]
        bills.append((c, gpu, serving_memory(ctx.arch, c.layout, ctx.engine_for(gpu, c.layout), gpu.capacity_bytes, 0,
                                             ctx.context_tokens, explain=False)))
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
    tp_options = [x for x in (2, 4, 8, 16, 32, 64, 72) if max(p.tp) < x and x in valid_tp_degrees(arch, domain)]
    pp_options = [x for x in (2, 4, 8, 16, 32, 64, 128) if max(p.pp) < x and pipeline_breach(arch, x) is None]
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
        fitting_tokens = _largest(lambda tokens: bool(_enumerate(prepared, context_tokens=tokens).candidates), 1,
                                  prepared.context.context_tokens - 1)
        if fitting_tokens:
            found.append(Relaxation("context", "workload.context_tokens", fitting_tokens,
                                    f"at most {fitting_tokens:,} tokens per sequence fit with these options",
                                    f"context_tokens: {fitting_tokens}"))
    return found


def _degree_that_fits(prepared: PreparedScenario, name: str, degree: int) -> str | None:
    """The scenario change (as YAML) that adds one TP or PP degree, with a larger max_gpus_per_replica if that is needed."""
    p = prepared.scenario.parallelism
    values = (p.tp if name == "tp" else p.pp) + [degree]
    change = f"{name}: [{', '.join(map(str, values))}]"
    tp, pp = ([degree], None) if name == "tp" else (None, [degree])
    if _enumerate(prepared, tp=tp, pp=pp).candidates:
        return change
    needed = degree * (max(p.pp) if name == "tp" else max(p.tp))
    if needed > p.max_gpus_per_replica and _enumerate(prepared, tp=tp, pp=pp, max_gpus=needed).candidates:
        return f"{change} and max_gpus_per_replica: {needed}"
    return None


# --- 3. the limits conflict -----------------------------------------------------------------------------------------
