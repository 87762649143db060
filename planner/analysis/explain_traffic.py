"""Why a traffic scenario has no plan: no replica shape meets the SLO at any load, or the limits conflict with
the request rate. Companion of ``explain`` (which handles memory and the limits); every suggested change is
checked by re-running the performance model over the changed options, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..candidates.capacity import CapacityTable, best_latency
from ..candidates.serving import Candidate
from ..errors import InputError
from ..rules import valid_tp_degrees

if TYPE_CHECKING:
    from ..catalog import GpuSpec
    from ..pipeline.serving import PreparedScenario
    from .explanation import Explanation, Relaxation

Capacities = Mapping[str, tuple[int, int]]
"""Per shape key: the request rate (milli-requests/s) one replica sustains within the SLO with no headroom and
with the scenario's headroom."""

SUGGESTED_FORMATS = ("fp8", "int8", "int4-awq", "mxfp4")
"""Formats tried, in this order, when no shape meets the SLO: fewer weight bytes per decode step."""


def demand_phrase(prepared: PreparedScenario) -> str:
    """The demand as explanations name it."""
    workload = prepared.scenario.workload
    if workload.concurrency is not None:
        return f"{workload.concurrency:,} concurrent sequences of {prepared.context.context_tokens:,} tokens"
    return workload.describe()


def demand_field(prepared: PreparedScenario) -> str:
    workload = prepared.scenario.workload
    return {"concurrency": "workload.concurrency", "request_rate": "workload.request_rate",
            "offline": "workload.offline.deadline_hours"}[workload.kind]


def _at_headroom_zero(prepared: PreparedScenario) -> tuple[list[Candidate], CapacityTable]:
    """Shapes that fit one sequence with no headroom, and a capacity table for them."""
    from .explanation import _enumerate

    table = prepared.capacities
    assert table is not None
    if prepared.scenario.min_headroom == 0:
        return list(prepared.enumeration.candidates) + list(table.unreachable), table
    shapes = _enumerate(prepared, headroom=0.0).candidates
    ctx = prepared.context
    return shapes, CapacityTable(replace(ctx, min_headroom=0.0), table.traffic)


def traffic_shapes(prepared: PreparedScenario) -> tuple[list[Candidate], dict[str, tuple[int, int]], list[Candidate]]:
    """(shapes that sustain some rate within the SLO without headroom, their rates without and with the
    scenario's headroom, the shapes that fit but meet the SLO at no load)."""
    table = prepared.capacities
    assert table is not None
    shapes, zero = _at_headroom_zero(prepared)
    with_headroom = {c.key: table.unit(c) for c in prepared.enumeration.candidates}
    reachable = [c for c in shapes if zero.unit(c) >= 1]
    capacity = {c.key: (zero.unit(c), with_headroom.get(c.key, 0)) for c in reachable}
    return reachable, capacity, [c for c in shapes if zero.unit(c) < 1]


def _describe(c: Candidate) -> str:
    lay = c.layout
    kv = f", {lay.kv_cache_dtype.name} KV cache" if lay.kv_cache_dtype is not None and lay.kv_cache_dtype.name != "fp16" else ""
    return f"TP={lay.tp} x PP={lay.pp} in {lay.weight_format.name}{kv} on {c.gpu.id}"


def slo_unreachable(prepared: PreparedScenario, shapes: list[Candidate]) -> Explanation:
    """No shape meets the SLO even with one request at a time: the best each term reaches, and the single changes
    to the options (formats, KV dtype, TP degree, GPUs) after which some shape meets it."""
    from .explanation import Explanation, Relaxation

    table = prepared.capacities
    assert table is not None
    traffic, ctx = table.traffic, prepared.context
    slo = traffic.slo
    best = {c.key: best_latency(c, ctx, traffic) for c in shapes}
    misses = []
    if slo is not None and slo.tpot_bound_ms is not None:
        fastest = min(shapes, key=lambda c: (best[c.key].tpot_ms.mean, c.rank))
        value = best[fastest.key].tpot_ms.mean
        if value > slo.tpot_bound_ms:
            misses.append(("tpot_ms", "TPOT", fastest, value, slo.tpot_bound_ms, "at batch 1"))
    if slo is not None and slo.ttft_ms is not None:
        fastest = min(shapes, key=lambda c: (best[c.key].ttft_ms.mean, c.rank))
        value = best[fastest.key].ttft_ms.mean
        if value > slo.ttft_ms:
            misses.append(("ttft_ms", "TTFT", fastest, value, slo.ttft_ms, "on an idle replica"))
    if misses:
        parts = [f"the fastest shape, {_describe(c)}, reaches {name} {value:,.1f} ms {where}; the SLO asks {target:g} ms"
                 for _, name, c, value, target, where in misses]
        headline = "no replica shape meets the SLO at any load: " + "; ".join(parts)
    else:
        reasons = sorted({table(c).limit for c in shapes})[:2]
        headline = "no replica shape meets the SLO at any load together: " + "; ".join(reasons)
    changes = _slo_changes(prepared)
    relaxations = [Relaxation(group, field_path, value, message, suggestion) for group, field_path, value, message, suggestion in changes]
    for term, name, _, value, _, _ in misses:
        needed = math.ceil(value * 1.25)
        relaxations.append(Relaxation("slo", f"workload.slo.{term}", needed,
                                      f"{name} targets from {value:,.1f} ms up are reachable with these options (at low load)",
                                      f"{term}: {needed} leaves room for some load"))
    if changes:
        headline += ": " + " or ".join(message.removesuffix(" would meet it") for _, _, _, message, _ in changes[:2]) + " would meet it"
    return Explanation(headline, "slo_unreachable", relaxations=tuple(relaxations))


def _meets(prepared: PreparedScenario, **changes: Any) -> bool:
    """Whether some shape meets the SLO at some load with the scenario's options so changed."""
    from .explanation import _enumerate

    table = prepared.capacities
    assert table is not None
    shapes = _enumerate(prepared, **changes).candidates
    if not shapes:
        return False
    probe = CapacityTable(prepared.context, table.traffic)
    return any(probe.unit(c) >= 1 for c in shapes)


def _slo_changes(prepared: PreparedScenario) -> list[tuple[str, str, int | str, str, str]]:
    """(group, field, value, message, suggestion) of each single option change that lets a shape meet the SLO."""
    from ..pipeline.serving import _largest_tp_group
    from .explanation import _rentable

    s, arch, p = prepared.scenario, prepared.context.arch, prepared.scenario.parallelism
    found: list[tuple[str, str, int | str, str, str]] = []
    for fmt in (f for f in SUGGESTED_FORMATS if f not in prepared.weight_formats):
        if _supported_somewhere(prepared.gpus, fmt) and _meets(prepared, formats=[fmt]):
            found.append(("precisions", "precisions", fmt, f"{fmt} weights would meet it",
                          f"precisions: [{', '.join(prepared.weight_formats + [fmt])}]"))
            break
    domain = _largest_tp_group(prepared)
    for degree in (x for x in (2, 4, 8, 16, 32, 64, 72) if max(p.tp) < x and x in valid_tp_degrees(arch, domain)):
        if _meets(prepared, tp=[degree], max_gpus=max(p.max_gpus_per_replica, degree * min(p.pp))):
            found.append(("tp", "parallelism.tp", degree, f"TP={degree} would meet it", f"tp: [{', '.join(map(str, p.tp + [degree]))}]"))
            break
    if "fp8" not in s.kv_cache_dtypes and _meets(prepared, kv_dtypes=["fp8"]):
        found.append(("kv_cache_dtypes", "kv_cache_dtypes", "fp8", "an fp8 KV cache would meet it",
                      f"kv_cache_dtypes: [{', '.join(s.kv_cache_dtypes + ['fp8'])}]"))
    if s.gpu_ids is not None:
        try:
            others = _rentable(prepared, [g for g in prepared.catalog.gpus if g.id not in s.gpu_ids])
        except InputError:
            others = []
        fastest_first = sorted(others, key=lambda g: (-g.memory_bandwidth_gbps, g.price_usd_per_gpu_hour, g.id))
        for gpu in fastest_first[:6]:
            if _meets(prepared, gpus=[gpu]):
                found.append(("gpus", "gpus", gpu.id, f"{gpu.id} GPUs would meet it", f"add {gpu.id} to gpus"))
                break
    return found


def _supported_somewhere(gpus: list[GpuSpec], fmt: str) -> bool:
    from ..pipeline.serving import _supports

    return any(_supports(g, fmt) for g in gpus)


def relax_traffic_demand(prepared: PreparedScenario, fits_milli_rps: int, proven: bool) -> Relaxation:
    """The largest request rate the other limits allow, as a rate (live traffic) or a deadline (offline job)."""
    from .explanation import Relaxation

    workload = prepared.scenario.workload
    field_path = demand_field(prepared)
    if fits_milli_rps <= 0:
        return Relaxation("demand", field_path, 0, "with every other limit as given, no replica can be afforded or stocked")
    rate = fits_milli_rps / 1000
    bound = "at most" if proven else "at least"
    if workload.offline is not None:
        hours = math.ceil((workload.offline_requests or 0) / rate / 3600 * 100) / 100
        return Relaxation("demand", field_path, hours, f"with every other limit as given, {bound} {rate:,.3f} requests/s are "
                                                       f"served: the job needs {hours:,.2f} h", f"deadline_hours: {hours:g}")
    return Relaxation("demand", field_path, rate, f"with every other limit as given, {bound} {rate:,.3f} requests/s are served "
                                                  "within the SLO", f"request_rate: {math.floor(rate * 1000) / 1000:g}")

