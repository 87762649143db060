"""The per-GPU memory bill of one configuration, as ``planner memory`` shows it (no solver involved).

Every memory figure a person reads is in GiB (2^30 bytes) and says so: JSON keys end in ``_gib`` or sit
under ``memory_per_gpu_gib``; KV-cache sizes per token and per sequence stay in exact bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..catalog import Catalog
from ..engines import EngineChoice, GpuFacts, engine_layout, engine_problems, engine_settings, unsupported_by_engine
from ..errors import InputError, Issue, did_you_mean
from ..memory.parameters import count_parameters
from ..memory.serving import EngineSettings, ServingLayout, ServingMemory
from ..memory.serving_bill import serving_memory
from ..model.architecture import ModelArchitecture, architecture_from_mapping_file
from ..model.formats import (
    KV_CACHE_DTYPES,
    WEIGHT_FORMATS,
    canonical_kv_dtype,
    canonical_weight_format,
    is_weight_format,
    kv_cache_dtype,
    weight_format,
)
from ..model.gguf import GgufWeights
from ..model.hf_config import architecture_from_config_file, checkpoint_weight_format, load_checkpoint_config
from ..rules import format_breach, pipeline_breach, tensor_parallel_breach, valid_tp_degrees
from ..schema.outputs_configuration import ServingMemoryOutput
from ..units import BYTES_PER_GIB
from .flags import check

DEFAULT_CAPACITY_GIB = 80

BILL_LINES = ("weights", "kv_cache", "activations", "overhead")


@dataclass(frozen=True)
class ServingBill:
    model_name: str
    arch: ModelArchitecture
    layout: ServingLayout
    gpu_id: str | None
    memory: ServingMemory
    max_model_len: int
    engine: EngineSettings = field(default_factory=EngineSettings)

    def to_dict(self) -> dict[str, Any]:
        """What ``planner memory --json`` writes (``ServingMemoryOutput``)."""
        return self.output().model_dump()

    def output(self) -> ServingMemoryOutput:
        mem, params = self.memory, count_parameters(self.arch)

        def gib(size_bytes: int) -> float:
            return round(size_bytes / BYTES_PER_GIB, 4)

        capacity_tokens = mem.kv_cache_capacity_tokens
        return ServingMemoryOutput(
            model=self.model_name,
            gpu=self.gpu_id,
            attention=self.arch.attention_kind,
            moe=self.arch.is_moe,
            parameter_count=params.total,
            active_parameter_count=params.active,
            tp=self.layout.tp,
            pp=self.layout.pp,
            ep=self.layout.ep,
            dp=self.layout.dp,
            weight_format=_format_label(self.layout),
            gpu_layers=self.layout.offload_layers,
            kv_cache_dtype=self.layout.kv_cache_dtype.name if self.layout.kv_cache_dtype else "fp16",
            memory_mode=self.engine.mode,
            engine=self.engine.engine,
            engine_version=self.engine.version,
            engine_settings=engine_knobs(self.engine),
            max_num_batched_tokens=self.engine.max_num_batched_tokens,
            max_num_seqs=self.engine.max_num_seqs,
            gpu_memory_utilization=self.engine.gpu_memory_utilization,
            batch=mem.concurrency,
            context_tokens=mem.context_tokens,
            kv_cache_bytes_per_token=mem.kv_cache_bytes_per_token,
            kv_cache_bytes_per_sequence=mem.kv_cache_bytes_per_sequence,
            kv_cache_block_size=mem.block_size,
            kv_cache_capacity_tokens=capacity_tokens,
            kv_cache_capacity_blocks=capacity_tokens // mem.block_size,
            max_concurrency=mem.max_concurrency(),
            max_concurrency_at_max_model_len=round(mem.max_concurrency_at(self.max_model_len), 2),
            max_model_len=self.max_model_len,
            fits=mem.total_bytes <= mem.usable_bytes,
            memory_per_gpu_gib={
                **mem.per_gpu_gib(4),
                "kv_cache_budget": gib(max(0, mem.kv_budget_bytes)),
                "cuda_graphs": gib(mem.cuda_graph_bytes),
                "cuda_graphs_outside_budget": gib(0 if mem.cuda_graphs_in_budget else mem.cuda_graph_bytes),
                "outside_budget": gib(mem.outside_budget_bytes),
            },
            explain=dict(mem.explanations),
            vision_parameter_count=params.vision,
            architecture_assumptions=list(self.arch.assumptions),
        )


def serving_bill(model_name: str, arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings,
                 capacity_bytes: int, batch: int, context_tokens: int, gpu_id: str | None = None,
                 max_model_len: int | None = None) -> ServingBill:
    memory = serving_memory(arch, layout, engine, capacity_bytes, batch, context_tokens)
    return ServingBill(model_name, arch, layout, gpu_id, memory, max_model_len or context_tokens, engine)


def _format_label(layout: ServingLayout) -> str:
    """The weight format, or a .gguf file's ggml types with their tensor counts."""
    if layout.gguf is None:
        return layout.weight_format.name
    types = ", ".join(f"{name} x{count}" for name, count in layout.gguf.type_counts)
    return f"gguf file ({layout.gguf.bits_per_weight:.3f} bits/weight: {types})"


def engine_knobs(engine: EngineSettings) -> dict[str, Any]:
    """The resolved knobs of the engine, in its own names (what it would run with)."""
    tokens, seqs = engine.max_num_batched_tokens, engine.max_num_seqs
    knobs: dict[str, dict[str, Any]] = {
        "vllm": {"gpu_memory_utilization": engine.gpu_memory_utilization, "max_num_batched_tokens": tokens,
                 "max_num_seqs": seqs, "block_size": engine.block_size, "profile": engine.engine_version},
        "sglang": {"mem_fraction_static": engine.mem_fraction_static, "chunked_prefill_size": tokens,
                   "cuda_graph_max_bs": seqs, "page_size": engine.block_size},
        "trtllm": {"free_gpu_memory_fraction": engine.free_gpu_memory_fraction, "max_num_tokens": tokens,
                   "max_batch_size": seqs, "tokens_per_block": engine.block_size},
        "llamacpp": {"n_ubatch": tokens},
    }
    return knobs[engine.engine]


@dataclass(frozen=True)
class MemoryRequest:
    """One ``planner memory`` question: a model in one of three forms, a layout, an engine and a GPU size."""

    model_id: str | None = None
    config_path: str | None = None
    architecture_path: str | None = None
    gpu_id: str | None = None
    gpu_memory_gib: float | None = None
    gpu_memory_utilization: float | None = None
    precision: str | None = None
    kv_cache_dtype: str = "fp16"
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1
    batch: int = 1
    context: int = 4096
    max_model_len: int | None = None
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    memory_mode: Literal["engine", "formula"] = "engine"
    engine: str | None = None  # default vllm; llamacpp with --gguf
    engine_version: str | None = None
    cuda_graphs_in_budget: bool = False
    mem_fraction_static: float | None = None
    chunked_prefill_size: int | None = None
    free_gpu_memory_fraction: float | None = None
    max_num_tokens: int | None = None
    max_batch_size: int | None = None
    n_gpu_layers: int | None = None
    n_ubatch: int | None = None
    gguf_path: str | None = None

    def engine_choice(self) -> EngineChoice:
        """The engine these flags ask for (bad input, naming the flag, when a flag belongs to another engine)."""
        choice = EngineChoice(name=self.engine or "vllm", version=self.engine_version, gpu_memory_utilization=self.gpu_memory_utilization,
                              max_num_batched_tokens=self.max_num_batched_tokens, max_num_seqs=self.max_num_seqs,
                              mem_fraction_static=self.mem_fraction_static, chunked_prefill_size=self.chunked_prefill_size,
                              free_gpu_memory_fraction=self.free_gpu_memory_fraction, max_num_tokens=self.max_num_tokens,
                              max_batch_size=self.max_batch_size, n_gpu_layers=self.n_gpu_layers, n_ubatch=self.n_ubatch,
                              memory_mode=self.memory_mode, cuda_graphs_in_budget=self.cuda_graphs_in_budget)
        issues = engine_problems(choice)
        if issues:
            flags = {"engine.name": "--engine", "engine.version": "--engine-version"}
            raise InputError("invalid serving engine options", [replace(i, field_path=flags.get(
                i.field_path or "", "--" + (i.field_path or "").removeprefix("engine.").replace("_", "-"))) for i in issues])
        return choice


def resolve_bill_model(request: MemoryRequest, catalog: Catalog) -> tuple[ModelArchitecture, str, str]:
    """(architecture, name, default weight format) from a catalog id, a config.json, an architecture file or
    a .gguf file's header.

    The default format is the checkpoint's; fp32 checkpoints are served in bf16, as vLLM's ``dtype=auto``
    does (``_get_and_verify_dtype`` casts float32 to 16-bit).
    """
    given = [flag for flag, value in (("--model", request.model_id), ("--config", request.config_path),
                                      ("--architecture", request.architecture_path), ("--gguf", request.gguf_path))
             if value is not None]
    if len(given) != 1:
        raise InputError("give exactly one of --model, --config, --architecture or --gguf",
                         [Issue(f"given: {', '.join(given) or 'none'}", field_path="--model", suggestion="e.g. --model llama-3.1-8b")])
    if request.model_id is not None:
        entry = catalog.model(request.model_id)
        arch, name, checkpoint = catalog.architecture(entry.id), entry.id, entry.weight_format
    elif request.config_path is not None:
        arch = architecture_from_config_file(request.config_path)
        name, checkpoint = arch.name, checkpoint_weight_format(load_checkpoint_config(request.config_path), request.config_path) or "bf16"
    elif request.gguf_path is not None:
        from ..model.gguf import load_gguf

        arch = load_gguf(request.gguf_path).architecture  # cached: memory_bill reads the weights from the same header
        name, checkpoint = arch.name, "bf16"
    else:
        arch = architecture_from_mapping_file(str(request.architecture_path))
        name, checkpoint = arch.name, "bf16"
    return arch, name, "bf16" if checkpoint == "fp32" else checkpoint


def _layout(request: MemoryRequest, arch: ModelArchitecture, default_format: str) -> ServingLayout:
    fmt_name = canonical_weight_format(request.precision or default_format)
    if not is_weight_format(fmt_name):
        raise InputError("unknown weight format", [Issue(f"{request.precision!r} is not a weight format", field_path="--precision",
                                                         suggestion=did_you_mean(fmt_name, WEIGHT_FORMATS)
                                                         or "see 'planner catalog formats'")])
    kv_name = canonical_kv_dtype(request.kv_cache_dtype)
    if kv_name not in KV_CACHE_DTYPES:
        raise InputError("unknown KV-cache dtype", [Issue(f"{request.kv_cache_dtype!r} is not a KV-cache dtype",
                                                          field_path="--kv-cache-dtype",
                                                          suggestion=did_you_mean(kv_name, KV_CACHE_DTYPES))])
    tp, dp = request.tp, request.dp
    if tensor_parallel_breach(arch, tp) is not None:
        raise InputError("invalid tensor-parallel degree", [Issue(
            f"--tp {tp} does not divide the model's {arch.num_attention_heads} attention heads and {arch.kv_heads} KV heads",
            field_path="--tp", suggestion="valid: " + ", ".join(map(str, valid_tp_degrees(arch, 64))))])
    if request.ep not in {1, tp, tp * dp}:
        raise InputError("invalid expert parallelism",
                         [Issue(f"--ep must be 1, --tp ({tp}) or --tp x --dp ({tp * dp})", field_path="--ep")])
    if pipeline_breach(arch, request.pp) is not None:
        raise InputError("invalid pipeline degree",
                         [Issue(f"--pp {request.pp} exceeds the model's {arch.num_layers} layers", field_path="--pp")])
    return ServingLayout(tp=tp, pp=request.pp, ep=request.ep, dp=dp, weight_format=weight_format(fmt_name),
                         kv_cache_dtype=kv_cache_dtype(kv_name))


def _capacity_and_gpu(request: MemoryRequest, layout: ServingLayout, catalog: Catalog) -> GpuFacts:
    """Capacity, name and links of the GPU: ``--gpu-memory-gib`` (the total an engine logs), else the catalog
    GPU's memory, else 80 GiB."""
    if request.gpu_memory_gib is not None:
        gpu = catalog.gpu(request.gpu_id) if request.gpu_id is not None else None
        return GpuFacts(int(request.gpu_memory_gib * BYTES_PER_GIB), gpu.name if gpu else "",
                        (gpu.scale_up_link or "none") if gpu else "none")
    if request.gpu_id is not None:
        gpu = catalog.gpu(request.gpu_id)
        fmt = layout.weight_format
        breach = format_breach(gpu, fmt)
        if breach is not None:
            raise InputError("weight format not supported by the GPU", [Issue(
                f"{fmt.name} weights on {gpu.id}: {breach.detail}", field_path="--precision",
                suggestion=None if fmt.needs_bf16_hardware else "use int8 or int4-awq")])
        return GpuFacts(gpu.capacity_bytes, gpu.name, gpu.scale_up_link or "none")
    return GpuFacts(DEFAULT_CAPACITY_GIB * BYTES_PER_GIB)


def memory_bill(request: MemoryRequest, catalog: Catalog) -> ServingBill:
    """The bill ``planner memory`` prints: the model, the GPU's capacity and the engine's settings for them,
    resolved by ``planner.engines.engine_settings`` exactly as ``planner solve`` resolves them. The request is held
    to the command line's bounds first (``flags.check``)."""
    check("memory", False, request)
    return unchecked_memory_bill(request, catalog)


def unchecked_memory_bill(request: MemoryRequest, catalog: Catalog) -> ServingBill:
    """``memory_bill`` of a request already checked (``planner perf`` derives one from its own checked request)."""
    if request.gguf_path is not None and request.engine is None:
        request = replace(request, engine="llamacpp")
    choice = request.engine_choice()
    arch, name, default_format = resolve_bill_model(request, catalog)
    gguf: GgufWeights | None = None
    if request.gguf_path is not None:
        if choice.engine != "llamacpp":
            raise InputError("a .gguf file is served by llama.cpp", [Issue(f"--engine {request.engine} with --gguf",
                                                                            field_path="--engine", suggestion="--engine llamacpp")])
        from ..model.gguf import load_gguf

        gguf = load_gguf(request.gguf_path).weights
    layout = engine_layout(choice, _layout(request, arch, default_format), gguf)
    refusal = unsupported_by_engine(choice, layout)
    if refusal:
        raise InputError("the engine cannot run this configuration", [Issue(refusal, field_path="--engine")])
    gpu = _capacity_and_gpu(request, layout, catalog)
    max_model_len = request.max_model_len or request.context
    engine = engine_settings(choice, gpu, layout.tp, layout.pp, max_model_len, arch.sliding_window is not None)
    return serving_bill(name, arch, layout, engine, gpu.capacity_bytes, request.batch, request.context, request.gpu_id, max_model_len)


def bill_rows(data: dict[str, Any]) -> list[tuple[str, float, str]]:
    """(line, GiB, formula) rows of a bill's ``to_dict()``, in the order ``planner memory`` prints them."""
    mem, explain = data["memory_per_gpu_gib"], data["explain"]
    rows = [(line, mem[line], explain[line]) for line in BILL_LINES]
    rows += [
        ("total", mem["total"], explain["total"]),
        ("usable", mem["usable"], explain["usable"]),
        ("free", mem["free"], explain["free"]),
        ("kv_cache_budget", mem["kv_cache_budget"], explain["kv_cache_budget"]),
        ("cuda_graphs", mem["cuda_graphs"], explain["cuda_graphs"]),
    ]
    if "host" in mem:
        rows.append(("host RAM", mem["host"], explain["host"]))
    return rows
