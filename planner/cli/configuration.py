"""``planner memory`` and ``planner perf``: one configuration explained, for serving or (``--training``) training.

Each mode's flags are one option group; a flag of the other mode is refused by name (``base.refuse``).
"""

from __future__ import annotations

from typing import Any

import click

from ..report.output import emit
from .base import JSON_OUTPUT, FiniteFloatRange, Options, check_plot, given, handle_errors, plot_option, refuse

MODEL = Options(
    click.option("--model", "model_id", help="Catalog model id."),
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Path to a Hugging Face config.json."),
    click.option("--architecture", "architecture_path", type=click.Path(dir_okay=False),
                 help="YAML/JSON file holding an architecture mapping (the fields of 'planner schema models' architecture)."),
    click.option("--gpu", "gpu_id", help="Catalog GPU id (its usable memory, bandwidth, FLOP rates and links)."),
    click.option("--precision", default=None, help="Weight format (see 'planner catalog formats'); default: the checkpoint's."),
    click.option("--tp", type=click.IntRange(1, 1024), default=1, show_default=True),
    click.option("--pp", type=click.IntRange(1, 1024), default=1, show_default=True),
)
"""The model, GPU and layout both commands and both modes share."""

ENGINE = Options(
    click.option("--engine", default=None, metavar="NAME",
                 help="vllm (default), sglang, trtllm, llamacpp; also vllm-v0, vllm-v1, tensorrt-llm, llama.cpp."),
    click.option("--engine-version", default=None, metavar="RELEASE", help="Release whose defaults apply, e.g. 0.6.3, 0.4.6, b4500."),
    click.option("--max-num-batched-tokens", type=click.IntRange(16, 1_048_576), default=None,
                 help="Token budget per step (vLLM name; perf maps it to SGLang chunked_prefill_size, TensorRT-LLM max_num_tokens)."),
    click.option("--max-num-seqs", type=click.IntRange(1, 65_536), default=None,
                 help="Largest batch (vLLM name; perf maps it to TensorRT-LLM max_batch_size)."),
)
"""The serving engine and its generic knobs (``memory`` and ``perf`` serving modes)."""

TRAINING = Options(
    click.option("--training", is_flag=True, help="Training instead: the options marked (--training)."),
    click.option("--zero", "zero_stage", type=click.IntRange(0, 3), default=None, help="(--training) ZeRO stage over --dp [0]."),
    click.option("--optimizer", default=None, help="(--training) adamw, adam8bit, sgd or adafactor [adamw]."),
    click.option("--micro-batch", type=click.IntRange(1, 65_536), default=None, help="(--training) sequences per micro-batch [1]."),
    click.option("--sequence-length", type=click.IntRange(1, 10_000_000), default=None, help="(--training) tokens per sequence [2048]."),
    click.option("--recompute", type=click.Choice(["none", "selective", "full"]), default=None,
                 help="(--training) activation recomputation [none]."),
    click.option("--sequence-parallel", is_flag=True, help="(--training) Megatron sequence parallelism over --tp."),
    click.option("--method", "training_method", type=click.Choice(["full", "lora", "qlora", "frozen"]), default=None,
                 help="(--training) full, lora, qlora or frozen (backbone frozen, --trainable-layers trained) [full]."),
    click.option("--convention", type=click.Choice(["zero-paper", "megatron", "deepspeed"]), default=None,
                 help="(--training) bytes per parameter: ZeRO paper 16, Megatron-LM 18, DeepSpeed estimator [zero-paper]."),
    click.option("--lora-rank", type=click.IntRange(1, 4096), default=None, help="(--training) LoRA rank on q_proj, v_proj [16]."),
    click.option("--offload", type=click.Choice(["none", "optimizer", "optimizer_and_parameters"]), default=None,
                 help="(--training) CPU offload [none]."),
    click.option("--attention", type=click.Choice(["flash", "eager"]), default=None,
                 help="(--training) flash: no s^2 activations [flash]."),
    click.option("--trainable-layers", type=click.IntRange(0, 10_000), default=None,
                 help="(--training --method frozen) last blocks trained with the output layer [0]."),
)
"""The training flags ``memory --training`` and ``perf --training`` share."""
TRAINING_KEYS = tuple(name for name in TRAINING.names if name != "training")

MEMORY_SHARED = Options(
    click.option("--gpu-memory-gib", type=FiniteFloatRange(0.1, 100_000), help="Total GPU memory as the engine reports it, GiB."),
    click.option("--dp", type=click.IntRange(1, 1024), default=1, show_default=True,
                 help="Data-parallel attention ranks per replica (--training: data-parallel replicas)."),
)
MEMORY_SERVING = Options(
    click.option("--gpu-memory-utilization", type=FiniteFloatRange(0.05, 1.0), default=None, help="vLLM [0.9]."),
    click.option("--kv-cache-dtype", default="fp16", show_default=True),
    click.option("--ep", type=click.IntRange(1, 65_536), default=1, show_default=True, help="Expert parallel: 1, --tp or --tp x --dp."),
    click.option("--batch", type=click.IntRange(0, 10_000_000), default=1, show_default=True, help="Concurrent sequences."),
    click.option("--context", type=click.IntRange(1, 10_000_000), default=4096, show_default=True, help="Tokens per sequence."),
    click.option("--max-model-len", type=click.IntRange(1, 10_000_000), default=None,
                 help="For vLLM's max-concurrency figure (default: --context)."),
    ENGINE,
    click.option("--mem-fraction-static", type=FiniteFloatRange(0.05, 0.99), default=None, help="SGLang; default: its own rule."),
    click.option("--chunked-prefill-size", type=click.IntRange(16, 1_048_576), default=None, help="SGLang."),
    click.option("--free-gpu-memory-fraction", type=FiniteFloatRange(0.01, 1.0), default=None, help="TensorRT-LLM [0.9]."),
    click.option("--max-num-tokens", type=click.IntRange(16, 1_048_576), default=None, help="TensorRT-LLM [8192]."),
    click.option("--max-batch-size", type=click.IntRange(1, 65_536), default=None, help="TensorRT-LLM [2048]."),
    click.option("--n-gpu-layers", "--ngl", "n_gpu_layers", type=click.IntRange(0, 100_000), default=None,
                 help="llama.cpp -ngl: blocks on the GPU, the rest in host RAM [all]."),
    click.option("--n-ubatch", type=click.IntRange(1, 1_048_576), default=None, help="llama.cpp physical batch [512]."),
    click.option("--gguf", "gguf_path", type=click.Path(dir_okay=False), default=None,
                 help="A .gguf model file: its header's tensor types give the weights (engine: llamacpp)."),
    click.option("--cuda-graphs-in-budget", is_flag=True, help="vLLM: charge CUDA graphs to the KV budget (newer vLLM estimates them)."),
    click.option("--memory-mode", type=click.Choice(["engine", "formula"]), default="engine", show_default=True),
    plot_option("Also write the bill as a stacked bar (.png or .svg)."),
)
"""``memory``'s serving flags: the load, the engines' own memory knobs, GGUF files and the plot."""


@click.command()
@MODEL
@MEMORY_SHARED
@MEMORY_SERVING
@TRAINING
@click.option("--explain", is_flag=True, help="Show the formula behind each line.")
@JSON_OUTPUT
@handle_errors
def memory(explain: bool, as_json: bool, wide: bool, training: bool, **options: Any) -> None:
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

    output = "json" if as_json else "table"
    if training:
        refuse(given(MEMORY_SERVING.names), "serving options do not apply with --training",
               "training takes --micro-batch and --sequence-length instead of --batch and --context")
        from ..configuration.training import TrainingMemoryRequest, training_memory_bill
        from ..report.training import render_training_bill

        keys = (*MODEL.names, *MEMORY_SHARED.names, *TRAINING_KEYS)
        data = training_memory_bill(TrainingMemoryRequest(**{key: options[key] for key in keys}), default_catalog())
        emit(output, wide, lambda: data, lambda console: render_training_bill(data, explain, console, wide))
        return
    refuse(given(TRAINING_KEYS), "training options need --training")
    from ..configuration.memory import MemoryRequest, memory_bill
    from ..report.memory import render_memory_bill

    plot_path = options.pop("plot_path")
    check_plot(plot_path)
    bill = memory_bill(MemoryRequest(**{key: value for key, value in options.items() if key not in TRAINING_KEYS}), default_catalog())
    data = bill.to_dict()
    if plot_path:
        from ..report.plots import plot_memory_bill

        plot_memory_bill([(f"{data['weight_format']}, TP={data['tp']} PP={data['pp']}\n{data['batch']} x {data['context_tokens']:,} tokens",
                           bill.memory)], plot_path, f"{data['model']}: memory bill per GPU")
    emit(output, wide, lambda: data, lambda console: render_memory_bill(data, explain, console, wide))


PERF_SERVING = Options(
    click.option("--ep", type=click.IntRange(1, 65_536), default=1, show_default=True,
                 help="Expert parallel: 1 or --tp (--training: a multiple of --tp dividing --tp x --dp)."),
    click.option("--replicas", type=click.IntRange(1, 100_000), default=1, show_default=True,
                 help="Identical replicas; the load and the reported throughput are for all of them."),
    click.option("--kv-cache-dtype", default="auto", show_default=True, help="auto (the model's 16 bits), fp8, ..."),
    ENGINE,
    click.option("--input-tokens", type=click.IntRange(1, 10_000_000), default=None, help="Prompt tokens per request."),
    click.option("--output-tokens", type=click.IntRange(1, 10_000_000), default=None, help="Generated tokens per request."),
    click.option("--prefix-cache-hit-rate", type=click.FloatRange(0.0, 0.99), default=0.0, show_default=True,
                 help="Share of prompt tokens found in the prefix cache (their prefill is skipped)."),
    click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=None, help="Load: one static batch per replica."),
    click.option("--concurrency", type=click.IntRange(1, 10_000_000), default=None, help="Load: a closed loop of clients."),
    click.option("--request-rate", type=click.FloatRange(1e-6, 1_000_000, min_open=False), default=None,
                 help="Load: Poisson arrivals, requests/s."),
    click.option("--offline", is_flag=True, help="Load: every request queued at once."),
    click.option("--num-requests", type=click.IntRange(1, 100_000_000), default=None, help=f"(--offline) requests queued [{1000}]."),
    click.option("--explain", is_flag=True, help="Show the formula behind each part of the step and the efficiencies used."),
)
"""``perf``'s serving flags: replicas, engine, request lengths and one load."""

PERF_TRAINING = Options(
    click.option("--dp", type=click.IntRange(1, 1_000_000), default=1, show_default=True, help="(--training) data-parallel replicas."),
    click.option("--virtual-stages", type=click.IntRange(1, 1024), default=1, show_default=True,
                 help="(--training) interleaved 1F1B model chunks per pipeline rank."),
    click.option("--global-batch", type=click.IntRange(1, 100_000_000), default=None,
                 help="(--training) sequences per optimizer step [dp x micro-batch x pp]."),
    click.option("--gpus-per-node", type=click.IntRange(1, 1024), default=None,
                 help="(--training) GPUs per node of your cluster [catalog]."),
    click.option("--scale-up-bandwidth", "scale_up_bandwidth_gb_per_s", type=click.FloatRange(0.01, 100_000), default=None,
                 help="(--training) NVLink / Infinity Fabric GB/s per GPU, one direction [catalog]."),
    click.option("--inter-node-bandwidth", "inter_node_bandwidth_gb_per_s", type=click.FloatRange(0.001, 100_000), default=None,
                 help="(--training) network GB/s per GPU between nodes, one direction [catalog]."),
    click.option("--mfu", type=click.FloatRange(0.001, 1.0), default=None, help="(--training) assume this MFU instead of the model."),
)
"""``perf --training``'s own flags (with the shared training group)."""


@click.command()
@MODEL
@PERF_SERVING
@TRAINING
@PERF_TRAINING
@JSON_OUTPUT
@handle_errors
def perf(as_json: bool, wide: bool, training: bool, **options: Any) -> None:
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

    output = "json" if as_json else "table"
    training_keys = (*TRAINING_KEYS, *PERF_TRAINING.names)
    if training:
        refuse([flag for flag in given(PERF_SERVING.names) if flag != "--ep"], "serving options do not apply with --training",
               "training takes --dp, --micro-batch, --sequence-length and --global-batch")
        from ..configuration.training import TrainingPerfRequest, training_performance
        from ..report.training import render_training_performance

        request = TrainingPerfRequest(**{key: options[key] for key in (*MODEL.names, "ep", *training_keys)})
        data = training_performance(request, default_catalog())
        emit(output, wide, lambda: data, lambda console: render_training_performance(data, console, wide))
        return
    refuse(given(training_keys), "training options need --training")
    from ..configuration.performance import PerfRequest, performance_report
    from ..report.performance import render_perf

    explain = options.pop("explain")
    data = performance_report(PerfRequest(**{key: value for key, value in options.items() if key not in training_keys}),
                              default_catalog()).to_dict()
    emit(output, wide, lambda: data, lambda console: render_perf(data, explain, console, wide))
