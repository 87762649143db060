"""The flags of ``planner memory`` and ``planner perf``, declared once as data: names, bounds, defaults, help and
the mode each belongs to (serving, ``--training`` or both).

The command line builds its options from these tables and nothing else (``requests.request`` turns the parsed
values into the request the configuration functions take), and ``check`` holds a request made in Python to the same
bounds and choices, so the library refuses what the command line refuses. No click here: the tables are plain data.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

from ..errors import InputError, Issue

Kind = Literal["text", "path", "int", "float", "choice", "switch"]
Mode = Literal["both", "serving", "training"]

DEFAULT_OFFLINE_REQUESTS = 1000
"""Requests queued by ``perf --offline`` when ``--num-requests`` is not given."""


class Flag(NamedTuple):
    """One command-line flag: its spellings (the first is the one messages name), the request field it fills, its
    kind with bounds (inclusive) or choices, its default, its help, and the mode it belongs to. (A named tuple, not a
    dataclass: the table is built at every start of the command line, and this is the cheaper of the two.)"""

    names: tuple[str, ...]
    field: str
    kind: Kind = "text"
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    show_default: bool = False
    help: str | None = None
    metavar: str | None = None
    mode: Mode = "both"


def flag(*names: str, field: str | None = None, kind: Kind = "text", bounds: tuple[float, float] | None = None,
         **details: Any) -> Flag:
    """A flag; its field is its first name without dashes (``--max-model-len``: ``max_model_len``) unless given."""
    low, high = bounds or (None, None)
    default = False if kind == "switch" else details.pop("default", None)
    return Flag(names, field or names[0].lstrip("-").replace("-", "_"), kind, low, high, default=default, **details)


def number(name: str, low: float, high: float, default: Any = None, help: str | None = None, **details: Any) -> Flag:
    """An integer (bounds given as ints) or a finite float flag, both ends inclusive."""
    kind: Kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    return flag(name, kind=kind, bounds=(low, high), default=default, show_default=default is not None, help=help, **details)


def in_mode(mode: Mode, *group: Flag) -> tuple[Flag, ...]:
    return tuple(item._replace(mode=mode) for item in group)


MODEL = (
    flag("--model", field="model_id", help="Catalog model id."),
    flag("--config", field="config_path", kind="path", help="Path to a Hugging Face config.json."),
    flag("--architecture", field="architecture_path", kind="path",
         help="YAML/JSON file holding an architecture mapping (the fields of 'planner schema models' architecture)."),
    flag("--gpu", field="gpu_id", help="Catalog GPU id (its usable memory, bandwidth, FLOP rates and links)."),
    flag("--precision", help="Weight format (see 'planner catalog formats'); default: the checkpoint's."),
    number("--tp", 1, 1024, 1),
    number("--pp", 1, 1024, 1),
)
"""The model, GPU and layout both commands and both modes share."""

ENGINE = in_mode(
    "serving",
    flag("--engine", metavar="NAME", help="vllm (default), sglang, trtllm, llamacpp; also vllm-v0, vllm-v1, tensorrt-llm, llama.cpp."),
    flag("--engine-version", metavar="RELEASE", help="Release whose defaults apply, e.g. 0.6.3, 0.4.6, b4500."),
    number("--max-num-batched-tokens", 16, 1_048_576,
           help="Token budget per step (vLLM name; perf maps it to SGLang chunked_prefill_size, TensorRT-LLM max_num_tokens)."),
    number("--max-num-seqs", 1, 65_536, help="Largest batch (vLLM name; perf maps it to TensorRT-LLM max_batch_size)."),
)
"""The serving engine and its generic knobs (``memory`` and ``perf`` serving modes)."""

TRAINING_DEFAULTS: dict[str, Any] = {
    "zero_stage": 0, "optimizer": "adamw", "micro_batch": 1, "sequence_length": 2048, "recompute": "none",
    "training_method": "full", "convention": "zero-paper", "lora_rank": 16, "offload": "none", "attention": "flash",
    "trainable_layers": 0, "precision": "bf16-mixed",
}
"""What a training request left at None means (``configuration.training.resolve_configuration`` reads these, the
help text quotes them in brackets): one home for each default."""
_D = TRAINING_DEFAULTS

TRAINING = (
    flag("--training", kind="switch", help="Training instead: the options marked (--training)."),
    *in_mode(
        "training",
        number("--zero", 0, 3, field="zero_stage", help=f"(--training) ZeRO stage over --dp [{_D['zero_stage']}]."),
        flag("--optimizer", help=f"(--training) adamw, adam8bit, sgd or adafactor [{_D['optimizer']}]."),
        number("--micro-batch", 1, 65_536, help=f"(--training) sequences per micro-batch [{_D['micro_batch']}]."),
        number("--sequence-length", 1, 10_000_000, help=f"(--training) tokens per sequence [{_D['sequence_length']}]."),
        flag("--recompute", kind="choice", choices=("none", "selective", "full"),
             help=f"(--training) activation recomputation [{_D['recompute']}]."),
        flag("--sequence-parallel", kind="switch", help="(--training) Megatron sequence parallelism over --tp."),
        flag("--method", field="training_method", kind="choice", choices=("full", "lora", "qlora", "frozen"),
             help=f"(--training) full, lora, qlora or frozen (backbone frozen, --trainable-layers trained) [{_D['training_method']}]."),
        flag("--convention", kind="choice", choices=("zero-paper", "megatron", "deepspeed"),
             help=f"(--training) bytes per parameter: ZeRO paper 16, Megatron-LM 18, DeepSpeed estimator [{_D['convention']}]."),
        number("--lora-rank", 1, 4096, help=f"(--training) LoRA rank on q_proj, v_proj [{_D['lora_rank']}]."),
        flag("--offload", kind="choice", choices=("none", "optimizer", "optimizer_and_parameters"),
             help=f"(--training) CPU offload [{_D['offload']}]."),
        flag("--attention", kind="choice", choices=("flash", "eager"),
             help=f"(--training) flash: no s^2 activations [{_D['attention']}]."),
        number("--trainable-layers", 0, 10_000,
               help=f"(--training --method frozen) last blocks trained with the output layer [{_D['trainable_layers']}]."),
    ),
)
"""The training flags ``memory --training`` and ``perf --training`` share (``--training`` itself switches mode)."""

MEMORY = (
    *MODEL,
    number("--gpu-memory-gib", 0.1, 100_000, help="Total GPU memory as the engine reports it, GiB."),
    number("--dp", 1, 1024, 1, help="Data-parallel attention ranks per replica (--training: data-parallel replicas)."),
    *in_mode(
        "serving",
        number("--gpu-memory-utilization", 0.05, 1.0, help="vLLM [0.9]."),
        flag("--kv-cache-dtype", default="fp16", show_default=True),
        number("--ep", 1, 65_536, 1, help="Expert parallel: 1, --tp or --tp x --dp."),
        number("--batch", 0, 10_000_000, 1, help="Concurrent sequences."),
        number("--context", 1, 10_000_000, 4096, help="Tokens per sequence."),
        number("--max-model-len", 1, 10_000_000, help="For vLLM's max-concurrency figure (default: --context)."),
        *ENGINE,
        number("--mem-fraction-static", 0.05, 0.99, help="SGLang; default: its own rule."),
        number("--chunked-prefill-size", 16, 1_048_576, help="SGLang."),
        number("--free-gpu-memory-fraction", 0.01, 1.0, help="TensorRT-LLM [0.9]."),
        number("--max-num-tokens", 16, 1_048_576, help="TensorRT-LLM [8192]."),
        number("--max-batch-size", 1, 65_536, help="TensorRT-LLM [2048]."),
        number("--n-gpu-layers", 0, 100_000, help="llama.cpp -ngl: blocks on the GPU, the rest in host RAM [all].")._replace(
            names=("--n-gpu-layers", "--ngl")),
        number("--n-ubatch", 1, 1_048_576, help="llama.cpp physical batch [512]."),
        flag("--gguf", field="gguf_path", kind="path",
             help="A .gguf model file: its header's tensor types give the weights (engine: llamacpp)."),
        flag("--cuda-graphs-in-budget", kind="switch", help="vLLM: charge CUDA graphs to the KV budget (newer vLLM estimates them)."),
        flag("--memory-mode", kind="choice", choices=("engine", "formula"), default="engine", show_default=True),
        flag("--plot", field="plot_path", kind="path", help="Also write the bill as a stacked bar (.png or .svg)."),
    ),
    *TRAINING,
    flag("--explain", kind="switch", help="Show the formula behind each line."),
)
"""``planner memory``: the model and layout, the serving load with the engines' own memory knobs, GGUF files and
the plot, or the training recipe."""

PERF = (
    *MODEL,
    number("--ep", 1, 65_536, 1, help="Expert parallel: 1 or --tp (--training: a multiple of --tp dividing --tp x --dp)."),
    *in_mode(
        "serving",
        number("--replicas", 1, 100_000, 1, help="Identical replicas; the load and the reported throughput are for all of them."),
        flag("--kv-cache-dtype", default="auto", show_default=True, help="auto (the model's 16 bits), fp8, ..."),
        *ENGINE,
        number("--input-tokens", 1, 10_000_000, help="Prompt tokens per request."),
        number("--output-tokens", 1, 10_000_000, help="Generated tokens per request."),
        number("--prefix-cache-hit-rate", 0.0, 0.99, 0.0,
               help="Share of prompt tokens found in the prefix cache (their prefill is skipped)."),
        number("--batch-size", 1, 1_000_000, help="Load: one static batch per replica."),
        number("--concurrency", 1, 10_000_000, help="Load: a closed loop of clients."),
        number("--request-rate", 1e-6, 1_000_000, help="Load: Poisson arrivals, requests/s."),
        flag("--offline", kind="switch", help="Load: every request queued at once."),
        number("--num-requests", 1, 100_000_000, help=f"(--offline) requests queued [{DEFAULT_OFFLINE_REQUESTS}]."),
        flag("--explain", kind="switch", help="Show the formula behind each part of the step and the efficiencies used."),
    ),
    *TRAINING,
    *in_mode(
        "training",
        number("--dp", 1, 1_000_000, 1, help="(--training) data-parallel replicas."),
        number("--virtual-stages", 1, 1024, 1, help="(--training) interleaved 1F1B model chunks per pipeline rank."),
        number("--global-batch", 1, 100_000_000, help="(--training) sequences per optimizer step [dp x micro-batch x pp]."),
        number("--gpus-per-node", 1, 1024, help="(--training) GPUs per node of your cluster [catalog]."),
        number("--scale-up-bandwidth", 0.01, 100_000, field="scale_up_bandwidth_gb_per_s",
               help="(--training) NVLink / Infinity Fabric GB/s per GPU, one direction [catalog]."),
        number("--inter-node-bandwidth", 0.001, 100_000, field="inter_node_bandwidth_gb_per_s",
               help="(--training) network GB/s per GPU between nodes, one direction [catalog]."),
        number("--mfu", 0.001, 1.0, help="(--training) assume this MFU instead of the model."),
    ),
)
"""``planner perf``: the model and layout, the serving engine, request lengths and one load, or the training
recipe with the batch and the cluster."""

TRAINING_HINTS = {"memory": "training takes --micro-batch and --sequence-length instead of --batch and --context",
                  "perf": "training takes --dp, --micro-batch, --sequence-length and --global-batch"}
"""What each command's training mode takes instead of the serving flags it refuses."""


def check(command: Literal["memory", "perf"], training: bool, request: Any) -> None:
    """A request built in Python held to its flags' bounds and choices: a field outside them is bad input naming the
    field and the flag (the command line refuses the same values while it parses; without this a ``tp=0`` from
    Python would end in a division by zero)."""
    table = MEMORY if command == "memory" else PERF
    other = "serving" if training else "training"
    issues = []
    for item in table:
        value = getattr(request, item.field, None)
        if item.mode == other or value is None or item.kind not in ("int", "float", "choice"):
            continue
        if item.kind == "choice":
            if value not in item.choices:
                issues.append(Issue(f"{value!r}: expected one of {', '.join(item.choices)}", field_path=item.field,
                                    suggestion=f"the command line's {item.names[0]} takes the same choices"))
            continue
        number = not isinstance(value, bool) and isinstance(value, (int, float)) and (item.kind == "float" or isinstance(value, int))
        if not number or not math.isfinite(value) or not (item.low or 0) <= value <= (item.high if item.high is not None else math.inf):
            expected = "a whole number" if item.kind == "int" else "a finite number"
            issues.append(Issue(f"{value!r}: expected {expected} from {_plain(item.low)} to {_plain(item.high)}", field_path=item.field,
                                suggestion=f"the command line's {item.names[0]} takes the same range"))
    if issues:
        raise InputError(f"{command} request: a value out of range", issues)


def _plain(bound: float | None) -> str:
    """A bound as the help text would write it: 10,000,000 rather than 1e+07, 0.05 as itself."""
    if bound is None:
        return "any"
    return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:g}"
