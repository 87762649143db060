"""Serving engines and the defaults each picks: one place where ``--engine`` / ``engine.name`` becomes settings.

``planner memory``, ``planner solve`` (candidates, plans, verification) and the performance model all turn an
:class:`EngineChoice` (what the user asked: engine, version, explicit knobs) into the concrete
:class:`~planner.memory.serving.EngineSettings` of one replica shape with :func:`engine_settings`. Unset knobs
take the engine's own default for that release, GPU and layout, as the engine computes it at start-up:

- **vLLM** (``vllm/engine/arg_utils.py``, ``vllm/config.py`` ``SchedulerConfig``). V0 (releases before 0.8):
  ``max_num_seqs`` 256; ``max_num_batched_tokens = max(max_model_len, 2048)`` unless chunked prefill is on,
  which ``create_engine_config`` turns on by itself above 32k context (``use_long_context = max_model_len >
  32768``, no sliding window), and then 512 tokens (2048 from 0.6.5, PR #10544). V1 (0.8 on, always chunked):
  ``EngineArgs._set_default_args_v1`` / ``get_batch_defaults`` give the OpenAI server 8192 tokens and 1024
  sequences on GPUs with at least 70 GiB, else 2048 / 256 (the ``LLM`` class: 16384 / 8192 tokens); from 0.9
  (PR #17885) an A100 gets the small defaults whatever its memory; ``max_num_seqs`` is clipped to
  ``max_num_batched_tokens``, which is clipped to ``max_num_seqs x max_model_len``.
- **SGLang** (``python/sglang/srt/server_args.py``). ``mem_fraction_static`` before 0.4.7 by TP: 0.88, 0.87
  (TP >= 2), 0.85 (>= 4), 0.81 (>= 8), 0.79 (>= 16); 0.4.7 (PR #7054) by GPU memory: ``(gpu_mem -
  reserved) / gpu_mem`` with ``reserved`` (MiB) 2.8k + 102 x TP x PP below 35 GiB, 9.5k + 512 x TP x PP below
  90 GiB, 12k + 512 x TP x PP below 160 GiB, else 32k; 0.5.4 (PR #10975) ``reserved = 512 + 1.5 x
  max(chunked_prefill_size, 2048) + 2 x cuda_graph_max_bs + 1024 x TP x PP / 8``, at least 10 GiB on GPUs
  above 60 GiB; ``round(.., 3)``. ``chunked_prefill_size`` and ``cuda_graph_max_bs`` follow GPU memory.
- **TensorRT-LLM** (``KvCacheConfig.free_gpu_memory_fraction`` = 0.9; ``BuildConfig`` / LLM API
  ``max_num_tokens`` 8192, ``max_batch_size`` 2048; ``tokens_per_block`` 32).
- **llama.cpp** (``common/common.h`` ``common_params``): ``n_ubatch`` 512 (the compute graph's batch),
  ``n_gpu_layers`` every layer and the output layer when planning GPU serving (``-ngl 999``); the context
  ``n_ctx`` is the workload's sequences x tokens.

``gpu_mem`` above is the GPU's total memory in MiB as ``nvidia-smi`` reports it (SGLang's
``get_nvgpu_memory_capacity``), which is what the catalog records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Literal, TypeVar

from .errors import InputError, Issue, did_you_mean
from .memory.llamacpp import ALL_LAYERS
from .memory.serving import EngineSettings, ServingLayout
from .model.gguf import GgufWeights
from .units import BYTES_PER_GIB, BYTES_PER_MIB

EngineName = Literal["vllm", "sglang", "trtllm", "llamacpp"]
Entrypoint = Literal["server", "offline"]


@dataclass(frozen=True)
class EngineInfo:
    """One serving engine: its name, the release assumed when none is given, and where its rules come from."""

    name: EngineName
    label: str
    default_version: str
    budget: str
    source: str


ENGINES: dict[str, EngineInfo] = {
    "vllm": EngineInfo("vllm", "vLLM", "0.11.0",
                       "capacity x gpu_memory_utilization - weights - profiled activation peak - non-torch = KV cache",
                       "vllm/v1/worker/gpu_worker.py determine_available_memory; vllm/worker/worker.py (V0)"),
    "sglang": EngineInfo("sglang", "SGLang", "0.5.4",
                         "free memory before loading x mem_fraction_static - weights = KV pool; the rest holds activations "
                         "and CUDA graphs",
                         "python/sglang/srt/model_executor/model_runner.py profile_max_num_token"),
    "trtllm": EngineInfo("trtllm", "TensorRT-LLM", "1.0",
                         "free_gpu_memory_fraction x (memory free after weights, activations and runtime buffers) = KV cache",
                         "cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp; tensorrt_llm/_torch/pyexecutor/_util.py KvCacheCreator"),
    "llamacpp": EngineInfo("llamacpp", "llama.cpp", "b6000",
                           "no fraction: weights of the offloaded layers + KV of n_ctx cells + compute buffers must fit",
                           "src/llama-model.cpp (layer offload), src/llama-kv-cache.cpp, src/llama-context.cpp (graph reserve)"),
}

ALIASES: dict[str, tuple[str, str | None]] = {
    "vllm-v1": ("vllm", None),
    "vllm-v0": ("vllm", "0.7.3"),
    "tensorrt-llm": ("trtllm", None),
    "tensorrt_llm": ("trtllm", None),
    "trt-llm": ("trtllm", None),
    "llama.cpp": ("llamacpp", None),
    "llama-cpp": ("llamacpp", None),
}
"""Other spellings: ``vllm-v0`` is the last release whose default engine was V0 (0.7.3)."""

ENGINE_CHOICES: tuple[str, ...] = tuple(ENGINES) + tuple(ALIASES)


@lru_cache(maxsize=256)
def canonical_engine(name: str, version: str | None = None, field_path: str = "engine.name") -> tuple[EngineName, str]:
    """(engine, version) for a name or alias; an unknown name is bad input with the nearest names (cached: every
    candidate shape asks)."""
    key = name.strip().lower()
    if key in ALIASES:
        engine, alias_version = ALIASES[key]
        info = ENGINES[engine]
        return info.name, version or alias_version or info.default_version
    if key not in ENGINES:
        raise InputError("unknown serving engine", [Issue(f"{name!r} is not a serving engine", field_path=field_path,
                                                          suggestion=did_you_mean(key, ENGINE_CHOICES) or
                                                          f"known: {', '.join(ENGINES)}")])
    info = ENGINES[key]
    return info.name, version or info.default_version


def parse_version(text: str, field_path: str = "engine.version") -> tuple[int, ...]:
    """Release number as integers: ``0.6.3.post1`` -> (0, 6, 3); llama.cpp builds ``b4500`` -> (4500,)."""
    match = re.fullmatch(r"v?b?(\d+(?:\.\d+){0,3})(?:[.+-]?(?:post|rc|dev|a|b)?\d*)*", text.strip().lower())
    if not match:
        raise InputError("unreadable engine version", [Issue(f"{text!r} is not a release number", field_path=field_path,
                                                             suggestion="e.g. 0.6.3, 0.10.1, b4500")])
    return tuple(int(part) for part in match.group(1).split("."))


@dataclass(frozen=True)
class EngineChoice:
    """What a scenario's ``engine:`` block or ``planner memory``'s flags ask for; ``None`` = the engine's default.

    Knob names are the engines' own: vLLM ``gpu_memory_utilization``, ``max_num_batched_tokens``,
    ``max_num_seqs``, ``block_size``; SGLang ``mem_fraction_static``, ``chunked_prefill_size``,
    ``cuda_graph_max_bs``; TensorRT-LLM ``free_gpu_memory_fraction``, ``max_num_tokens``, ``max_batch_size``;
    llama.cpp ``n_gpu_layers`` and ``n_ubatch``.
    """

    name: str = "vllm"
    version: str | None = None
    entrypoint: Entrypoint = "server"
    gpu_memory_utilization: float | None = None
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    block_size: int | None = None
    mem_fraction_static: float | None = None
    chunked_prefill_size: int | None = None
    cuda_graph_max_bs: int | None = None
    free_gpu_memory_fraction: float | None = None
    max_num_tokens: int | None = None
    max_batch_size: int | None = None
    n_gpu_layers: int | None = None
    n_ubatch: int | None = None
    memory_mode: Literal["engine", "formula"] = "engine"
    cuda_graphs_in_budget: bool = False

    @property
    def engine(self) -> EngineName:
        return canonical_engine(self.name, self.version)[0]

    @property
    def resolved_version(self) -> str:
        return canonical_engine(self.name, self.version)[1]

    def check(self) -> EngineChoice:
        """Itself, or bad input naming the field: an unknown engine or version, a knob of another engine."""
        issues = engine_problems(self)
        if issues:
            raise InputError("invalid serving engine options", issues)
        return self


_KNOB_OWNERS = {"gpu_memory_utilization": "vllm", "max_num_batched_tokens": "vllm", "max_num_seqs": "vllm",
                "mem_fraction_static": "sglang", "chunked_prefill_size": "sglang", "cuda_graph_max_bs": "sglang",
                "free_gpu_memory_fraction": "trtllm", "max_num_tokens": "trtllm", "max_batch_size": "trtllm",
                "n_gpu_layers": "llamacpp", "n_ubatch": "llamacpp"}


def engine_problems(choice: EngineChoice) -> list[Issue]:
    """What is wrong with ``choice``: unknown engine, unreadable version, knobs that belong to another engine."""
    try:
        engine, version = canonical_engine(choice.name, choice.version)
        parse_version(version)
    except InputError as error:
        return list(error.issues)
    issues = [Issue(f"{knob} is a {ENGINES[owner].label} option and the engine is {ENGINES[engine].label}",
                    field_path=f"engine.{knob}", suggestion=f"set engine.name: {owner}, or drop {knob}")
              for knob, owner in _KNOB_OWNERS.items() if getattr(choice, knob) is not None and owner != engine]
    if engine != "vllm" and choice.entrypoint != "server":
        issues.append(Issue("entrypoint (server / offline) chooses between vLLM's defaults", field_path="engine.entrypoint"))
    return issues


def check_choice(choice: EngineChoice) -> EngineChoice:
    """``choice``, or ``ValueError`` (for schema validators) listing its problems."""
    issues = engine_problems(choice)
    if issues:
        raise ValueError("; ".join(i.message + (f" ({i.suggestion})" if i.suggestion else "") for i in issues))
    return choice


@dataclass(frozen=True)
class GpuFacts:
    """What the engines' defaults read from the GPU: its total memory and its name (vLLM's A100 rule)."""

    capacity_bytes: int
    name: str = ""
    scale_up_link: str = "none"  # nvswitch | nvlink-bridge | xgmi | none


def _vllm_batching(version: tuple[int, ...], entrypoint: str, max_model_len: int, gpu: GpuFacts,
                   chunked_prefill: bool) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) vLLM picks when neither is given (module docstring)."""
    if version < (0, 8):
        if chunked_prefill:
            return (2048 if version >= (0, 6, 5) else 512), 256
        return max(max_model_len, 2048), 256
    large = gpu.capacity_bytes >= 70 * BYTES_PER_GIB and not (version >= (0, 9) and "a100" in gpu.name.lower())
    if large:
        tokens, seqs = (16384 if entrypoint == "offline" else 8192), 1024
    else:
        tokens, seqs = (8192 if entrypoint == "offline" else 2048), 256
    tokens = min(tokens, seqs * max(max_model_len, 1))
    return tokens, min(seqs, tokens)


def _v0_chunks_long_context(version: tuple[int, ...], max_model_len: int, sliding_window: bool) -> bool:
    """V0 turns chunked prefill on by itself above 32k context, except with sliding windows (from 0.5.4)."""
    return version >= (0, 5, 4) and max_model_len > 32768 and not sliding_window


def sglang_memory_defaults(version: tuple[int, ...], gpu_mem_mib: int, tp: int, pp: int) -> tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) SGLang picks from the GPU's memory and TP."""
    gib = 1024
    if version >= (0, 5, 4):
        bands = ((20 * gib, 2048, 8, 8), (35 * gib, 2048, 24, 80), (60 * gib, 4096, 32, 160), (90 * gib, 8192, 256, 512),
                 (160 * gib, 8192, 256, 512))
        for limit, chunk, small_tp, large_tp in bands:
            if gpu_mem_mib < limit:
                return chunk, small_tp if tp < 4 else large_tp
        return 16384, 512
    if version >= (0, 4, 7):
        chunk = 2048 if gpu_mem_mib < 35 * gib else 8192 if gpu_mem_mib < 160 * gib else 16384
        graphs = (8 if tp < 4 else 80) if gpu_mem_mib < 35 * gib else 160
        return chunk, graphs
    chunk = 2048 if gpu_mem_mib < 25_000 else 8192
    graphs = (8 if tp < 4 else 80) if gpu_mem_mib < 25_000 else 160
    return chunk, graphs


def sglang_mem_fraction_static(version: tuple[int, ...], gpu_mem_mib: int, tp: int, pp: int, chunked_prefill_size: int,
                               cuda_graph_max_bs: int) -> float:
    """SGLang's default ``mem_fraction_static`` for a release, GPU and layout (module docstring)."""
    parallel = tp * pp
    if version >= (0, 5, 4):
        reserved = 512 + max(chunked_prefill_size, 2048) * 1.5 + cuda_graph_max_bs * 2 + parallel / 8 * 1024
        if gpu_mem_mib > 60 * 1024:
            reserved = max(reserved, 10 * 1024)
        return round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)
    if version >= (0, 4, 7):
        if gpu_mem_mib < 35 * 1024:
            reserved = (2.8 + parallel / 10) * 1024
        elif gpu_mem_mib < 90 * 1024:
            reserved = (9.5 + parallel / 2) * 1024
        elif gpu_mem_mib < 160 * 1024:
            reserved = (12 + parallel / 2) * 1024
        else:
            reserved = 32 * 1024
        return round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)
    for minimum_tp, fraction in ((16, 0.79), (8, 0.81), (4, 0.85), (2, 0.87)):
        if tp >= minimum_tp:
            return fraction
    return 0.88


_T = TypeVar("_T")

TRTLLM_DEFAULTS = {"free_gpu_memory_fraction": 0.9, "max_num_tokens": 8192, "max_batch_size": 2048, "tokens_per_block": 32}
LLAMACPP_DEFAULTS = {"n_ubatch": 512, "n_gpu_layers": ALL_LAYERS}


@lru_cache(maxsize=4096)
def engine_settings(choice: EngineChoice, gpu: GpuFacts, tp: int = 1, pp: int = 1, max_model_len: int = 4096,
                    sliding_window: bool = False) -> EngineSettings:
    """The concrete settings one replica shape runs with: the user's knobs, else the engine's defaults (cached: every
    shape of a search, and every level of a Pareto sweep, asks)."""
    engine, version_text = canonical_engine(choice.name, choice.version)
    version = parse_version(version_text)
    settings = partial(EngineSettings, mode=choice.memory_mode, cuda_graphs_in_budget=choice.cuda_graphs_in_budget, engine=engine,
                       version=version_text, scale_up_link=gpu.scale_up_link)
    if engine == "vllm":
        chunked = version < (0, 8) and _v0_chunks_long_context(version, max_model_len, sliding_window)
        tokens, seqs = _vllm_batching(version, choice.entrypoint, max_model_len, gpu, chunked)
        if choice.max_num_batched_tokens is not None:
            tokens = choice.max_num_batched_tokens
            if choice.max_num_seqs is None:
                seqs = min(seqs, tokens)
        return settings(gpu_memory_utilization=_or(choice.gpu_memory_utilization, 0.9),
                        max_num_batched_tokens=tokens, max_num_seqs=_or(choice.max_num_seqs, seqs),
                        block_size=_or(choice.block_size, 16),
                        engine_version="vllm-v0" if version < (0, 8) else "vllm-v1")
    if engine == "sglang":
        gpu_mem = gpu.capacity_bytes // BYTES_PER_MIB
        chunk, graphs = sglang_memory_defaults(version, gpu_mem, tp, pp)
        chunk, graphs = _or(choice.chunked_prefill_size, chunk), _or(choice.cuda_graph_max_bs, graphs)
        fraction = choice.mem_fraction_static
        if fraction is None:
            fraction = sglang_mem_fraction_static(version, gpu_mem, tp, pp, chunk, graphs)
        return settings(mem_fraction_static=fraction, max_num_batched_tokens=chunk, max_num_seqs=graphs,
                        block_size=_or(choice.block_size, 1))
    if engine == "trtllm":
        return settings(free_gpu_memory_fraction=_or(choice.free_gpu_memory_fraction, TRTLLM_DEFAULTS["free_gpu_memory_fraction"]),
                        max_num_batched_tokens=_or(choice.max_num_tokens, int(TRTLLM_DEFAULTS["max_num_tokens"])),
                        max_num_seqs=_or(choice.max_batch_size, int(TRTLLM_DEFAULTS["max_batch_size"])),
                        block_size=_or(choice.block_size, int(TRTLLM_DEFAULTS["tokens_per_block"])))
    return settings(max_num_batched_tokens=_or(choice.n_ubatch, LLAMACPP_DEFAULTS["n_ubatch"]),
                    max_num_seqs=1, block_size=_or(choice.block_size, 1))


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


FORMAT_ENGINE_LABELS = {"vllm": "vllm", "sglang": "sglang", "trtllm": "tensorrt-llm", "llamacpp": "llama.cpp"}
"""How ``planner.model.formats`` names each engine in its formats' ``engines`` lists."""


def engine_layout(choice: EngineChoice, layout: ServingLayout, gguf: GgufWeights | None = None) -> ServingLayout:
    """``layout`` as the engine places it: llama.cpp keeps the token embedding in host RAM and offloads
    ``n_gpu_layers`` blocks (every one by default); a ``.gguf`` model brings its own tensor sizes."""
    if choice.engine != "llamacpp":
        return layout
    ngl = LLAMACPP_DEFAULTS["n_gpu_layers"] if choice.n_gpu_layers is None else choice.n_gpu_layers
    return replace(layout, offload_layers=ngl, gguf=gguf)


def unsupported_by_engine(choice: EngineChoice, layout: ServingLayout) -> str | None:
    """Why the engine cannot run ``layout`` (None when it can): formats and KV dtypes it lacks, and llama.cpp's
    lack of tensor / expert / data parallelism (it splits layers over GPUs: PP)."""
    engine = choice.engine
    label, fmt, kv = FORMAT_ENGINE_LABELS[engine], layout.weight_format, layout.kv_cache_dtype
    if fmt.quantized and label not in fmt.engines:
        return f"{fmt.name} weights are not a {ENGINES[engine].label} format (engines: {', '.join(fmt.engines)})"
    if kv is not None and label not in kv.engines:
        return f"KV-cache dtype {kv.name} is not offered by {ENGINES[engine].label} (engines: {', '.join(kv.engines)})"
    if engine == "llamacpp" and max(layout.tp, layout.ep, layout.dp) > 1:
        return "llama.cpp splits layers over GPUs (pipeline stages), not tensors or experts: use TP = EP = 1"
    return None
