"""``planner perf``'s answer for people: the configuration, latencies with percentiles, the token step by part."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..configuration.performance import BREAKDOWN_LINES
from ..display import plain
from .tables import Column, left, prose, table

if TYPE_CHECKING:
    from rich.console import Console


def _ms(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:,.1f}"


def render_perf(data: dict[str, Any], explain: bool, console: Console, wide: bool = False) -> None:
    """``planner perf``'s table: throughput, latencies with percentiles, the step-time breakdown."""
    load = data["load"]
    kind = load["kind"]
    load_text = (f"static batch of {load['batch_size']} per replica" if kind == "batch_size" else
                 f"{load['clients']} concurrent clients" if kind == "concurrency" else
                 f"{load['requests_per_s']:g} requests/s" if kind == "request_rate" else
                 f"offline, {load['num_requests']} requests queued")
    console.print(f"{plain(data['model'])} on {data['replicas']} x {data['gpu']} replica(s) (TP={data['tp']} PP={data['pp']} "
                  f"EP={data['ep']}, {data['gpus']} GPUs) — {data['weight_format']} ({data['compute_precision']} compute), "
                  f"KV {data['kv_cache_dtype']}, {data['engine']} {data['engine_version']}; {data['input_tokens']:,} in / "
                  f"{data['output_tokens']:,} out tokens; {load_text}", markup=False)
    percentiles = ("mean", "p50", "p90", "p99")
    console.print(table("whole system", [left("metric"), *(Column(p) for p in percentiles)],
                        [(label, *(_ms(data[key][p]) for p in percentiles))
                         for key, label in (("ttft_ms", "TTFT ms"), ("tpot_ms", "TPOT ms"), ("e2e_latency_ms", "end-to-end ms"))], wide))
    console.print(f"output tokens/s {data['output_tokens_per_s']:,.1f} ({data['output_tokens_per_s_per_user']:,.1f} per user); "
                  f"requests/s {data['requests_per_s']:,.3f}; batch {data['batch_size']:,.1f} sequences per replica "
                  f"(KV cache holds {data['kv_cache_sequences_per_replica']:,}; limit {data['batch_limit']}); bound: {data['bound']}; "
                  f"a replica sustains at most {data['max_requests_per_s_per_replica']:,.3f} requests/s", markup=False)
    console.print(table("one token step (per replica)", [left("part"), Column("ms"), *([prose("formula")] if explain else [])],
                        [(key.removesuffix("_ms"), f"{data['breakdown'][key]:,.3f}", *([formula] if explain else []))
                         for key, formula in BREAKDOWN_LINES], wide))
    if explain:
        eff = data["efficiency"]
        console.print(f"efficiency ({data['gpu_family']}, {data['engine']}{'' if eff['fitted'] else ', carried over: no fitted case'}): "
                      f"compute {eff['compute']:g}, FP8/low-precision compute {eff['fp8_compute']:g}, bandwidth {eff['bandwidth']:g}; "
                      f"TP link {data['tp_link']}, PP link {data['pp_link']}", markup=False)
        console.print("queueing: Poisson arrivals; prefill queue M/G/1 (Pollaczek-Khinchine), slot queue M/G/c (Erlang C by "
                      "Halfin-Whitt, Allen-Cunneen); exponential tails for percentiles; closed loops by the arrival theorem "
                      "(Schweitzer). Sources: docs/performance.md", markup=False)
    for note in data["notes"]:
        console.print(f"note: {note}", markup=False)
