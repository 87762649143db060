"""``planner memory`` and ``planner perf``: one configuration explained, for serving or (``--training``) training.

Their flags are the tables of ``planner.configuration.flags``, which also scope them: a flag of the other mode is
refused by name.
"""

from __future__ import annotations

from typing import Any

import click

from ..configuration import flags, requests
from ..report.output import check_plot, emit
from .base import JSON_OUTPUT, options, typed


@click.command()
@options(flags.MEMORY)
@JSON_OUTPUT
def memory(explain: bool, output_format: str, wide: bool, training: bool, plot_path: str | None, **values: Any) -> None:
    """Print the memory bill per GPU of one serving configuration (GiB), with vLLM's KV-cache capacity;
    with --training, the bill of one training configuration (worst pipeline stage).

    \b
    Example:
      planner memory --model llama-3.1-70b --gpu h100-sxm --precision bf16 --tp 4 --batch 32 --context 8192
      planner memory --config config.json --gpu-memory-gib 23.58 --max-model-len 20000 --engine vllm-v0 --json
      planner memory --model qwen2.5-32b --gpu l4 --tp 4 --engine sglang --explain
      planner memory --gguf model-Q4_K_M.gguf --gpu rtx-4090 --n-gpu-layers 20 --kv-cache-dtype q8_0
      planner memory --architecture my-model.yaml --gpu l40s --explain
      planner memory --training --model llama-3.1-8b --dp 8 --zero 3 --precision bf16-mixed --sequence-length 4096 --json
    """
    from ..catalog import default_catalog

    request = requests.request("memory", training, values, typed())
    if training:
        from ..configuration.training import training_memory_bill
        from ..report.training import render_training_bill

        data = training_memory_bill(request, default_catalog())
        emit(output_format, wide, lambda: data, lambda console: render_training_bill(data, explain, console, wide))
        return
    from ..configuration.memory import memory_bill
    from ..report.memory import render_memory_bill

    check_plot(plot_path)
    bill = memory_bill(request, default_catalog())
    data = bill.to_dict()
    if plot_path:
        from ..report.plots import plot_configuration_bill

        plot_configuration_bill(data, bill.memory, plot_path)
    emit(output_format, wide, lambda: data, lambda console: render_memory_bill(data, explain, console, wide))


@click.command()
@options(flags.PERF)
@JSON_OUTPUT
def perf(explain: bool, output_format: str, wide: bool, training: bool, **values: Any) -> None:
    """Predict the throughput and latencies of one serving configuration under a load; with --training, the
    step time of one training configuration split into compute, exposed DP / TP / PP / EP communication, bubble
    and optimizer, with tokens/s, TFLOP/s per GPU and MFU.

    \b
    Example:
      planner perf --model llama-3.1-70b --gpu h100-sxm --tp 4 --input-tokens 2000 --output-tokens 300 --request-rate 5
      planner perf --model llama-3.1-8b --gpu l40s --precision fp8 --engine trtllm --input-tokens 1000 --output-tokens 1000 --offline
      planner perf --model qwen2.5-32b --gpu a100-80gb --tp 2 --input-tokens 512 --output-tokens 256 --concurrency 64 --json
      planner perf --training --model llama-3.1-70b --gpu h100-sxm --tp 8 --dp 16 --zero 1 --sequence-parallel \\
                   --recompute selective --sequence-length 8192 --global-batch 512 --inter-node-bandwidth 12.5
    """
    from ..catalog import default_catalog

    request = requests.request("perf", training, values, typed())
    if training:
        from ..configuration.training import training_performance
        from ..report.training import render_training_performance

        data = training_performance(request, default_catalog())
        emit(output_format, wide, lambda: data, lambda console: render_training_performance(data, console, wide))
        return
    from ..configuration.performance import performance_report
    from ..report.performance import render_perf

    data = performance_report(request, default_catalog()).to_dict()
    emit(output_format, wide, lambda: data, lambda console: render_perf(data, explain, console, wide))
