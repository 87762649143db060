"""``planner memory``'s serving bill for people: the heading, one line per memory use, the KV-cache capacity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..configuration.memory import bill_rows
from ..display import plain
from .tables import Column, left, prose, table

if TYPE_CHECKING:
    from rich.console import Console


def render_memory_bill(data: dict[str, Any], explain: bool, console: Console, wide: bool = False) -> None:
    """The bill per GPU in GiB (with ``explain``, the formula of each line) and what the KV cache holds."""
    heading = (f"{data['model']} ({data['attention']}, {data['parameter_count'] / 1e9:.2f}B params) — {data['weight_format']}, "
               f"KV {data['kv_cache_dtype']}, TP={data['tp']} PP={data['pp']} EP={data['ep']} DP={data['dp']}, "
               f"{data['batch']} × {data['context_tokens']:,} tokens, per GPU ({data['engine']} {data['engine_version']}, "
               f"{data['memory_mode']} mode)")
    columns = [left("line"), Column("GiB"), *([prose("formula")] if explain else [])]
    rows = [(line, f"{gib:.3f} GiB", *([formula] if explain else [])) for line, gib, formula in bill_rows(data)]
    console.print(plain(heading), markup=False)
    console.print(table(None, columns, rows, wide))
    if explain and data["architecture_assumptions"]:
        console.print("Architecture read from the config (assumptions where it was silent):", markup=False)
        for line in data["architecture_assumptions"]:
            console.print(f"  - {line}", markup=False)
    console.print(f"KV cache: {data['kv_cache_bytes_per_token']:,} bytes/token per GPU; kv_cache_capacity_tokens "
                  f"{data['kv_cache_capacity_tokens']:,} ({data['memory_per_gpu_gib']['kv_cache_budget']:.2f} GiB budget, blocks of "
                  f"{data['kv_cache_block_size']}); maximum concurrency for {data['max_model_len']:,} tokens per request: "
                  f"{data['max_concurrency_at_max_model_len']:.2f}x; fits: {'yes' if data['fits'] else 'NO'}", markup=False)
