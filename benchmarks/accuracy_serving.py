"""Serving rows of the accuracy table: the memory model against serving engines' own log lines.

Each case of ``benchmarks/serving_cases.py`` quotes an engine's log lines and is recomputed from the
architecture, layout and engine settings the log states, through the same ``planner.engines`` resolution that
``planner solve`` and ``planner memory`` use. Where a setting is not logged, the case says what is assumed.
KV-cache capacity depends on the profiled activation peak; where vLLM logged that peak, the capacity is shown
twice: fully predicted, and given the engine's logged activation and non-torch memory.

    python3 -m benchmarks.accuracy            # the whole table (serving + training rows)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from planner.catalog import default_catalog
from planner.engines import EngineChoice, GpuFacts, engine_layout, engine_settings
from planner.memory.serving import (
    EngineSettings,
    ServingLayout,
    ServingMemory,
    activation_peak_bytes,
    kv_cache_bytes_per_sequence,
    kv_cache_bytes_per_token_per_layer,
    rotary_cache_bytes,
    weight_bytes_by_stage,
)
from planner.memory.serving_bill import serving_memory
from planner.model.architecture import ModelArchitecture
from planner.model.formats import kv_cache_dtype, weight_format
from planner.model.hf_config import architecture_from_hf_config
from planner.units import BYTES_PER_GIB, BYTES_PER_MIB

from .serving_cases import ARCHITECTURES, CASES, INLINE_ARCHITECTURES, ServingCase

WEIGHTS_GOAL_PCT = 3.0
KV_CAPACITY_GOAL_PCT = 5.0
KV_BYTES_GOAL_PCT = 0.5
"""KV bytes per token are exact; the logs print GiB with two decimals, so 0.5 % covers their rounding."""
GIB = float(BYTES_PER_GIB)
MIB = float(BYTES_PER_MIB)

__all__ = ["CASES", "case_rows", "engine_of", "serving_rows"]


def case_architecture(case: ServingCase) -> ModelArchitecture:
    if case.model in INLINE_ARCHITECTURES:
        return INLINE_ARCHITECTURES[case.model]
    if case.model in ARCHITECTURES:
        return architecture_from_hf_config(ARCHITECTURES[case.model], name=case.model, source=f"case {case.case}")
    return default_catalog().architecture(case.model)


def _gpu(case: ServingCase) -> GpuFacts:
    """The GPU as the engine saw it: the total it logged (else the catalog's), its name and links."""
    spec = default_catalog().gpu(case.gpu) if case.gpu else None
    capacity = int(case.capacity_gib * GIB) if case.capacity_gib is not None else (spec.capacity_bytes if spec else 0)
    return GpuFacts(capacity, spec.name if spec else "", (spec.scale_up_link or "none") if spec else "none")


def engine_of(case: ServingCase) -> str:
    return EngineChoice(name=case.engine_version).engine


def case_choice(case: ServingCase) -> EngineChoice:
    knobs = dict(case.knobs)
    if engine_of(case) == "vllm":
        knobs.setdefault("gpu_memory_utilization", case.gpu_memory_utilization)
    return EngineChoice(name=case.engine_version, **knobs)


def _row(case: ServingCase, quantity: str, measured: float, predicted: float, unit: str, goal: float | None,
         note: str = "") -> dict[str, Any]:
    return {"case": case.case, "source": case.source, "quantity": quantity, "measured": measured, "predicted": predicted,
            "unit": unit, "goal_pct": goal, "note": note, "engine": engine_of(case), "role": case.role}


def _setup(case: ServingCase) -> tuple[ModelArchitecture, ServingLayout, EngineChoice, EngineSettings, GpuFacts, int]:
    arch, choice, gpu = case_architecture(case), case_choice(case), _gpu(case)
    base = ServingLayout(tp=case.tp, weight_format=weight_format(case.weight_format), kv_cache_dtype=kv_cache_dtype(case.kv_dtype))
    layout = engine_layout(choice, base)
    max_len = case.max_model_len or arch.max_position_embeddings or 4096
    return arch, layout, choice, engine_settings(choice, gpu, layout.tp, layout.pp, max_len, arch.sliding_window is not None), gpu, max_len


def case_rows(case: ServingCase) -> list[dict[str, Any]]:
    """Every quantity a case logged, predicted by the memory model."""
    arch, layout, _, engine, gpu, max_len = _setup(case)
    bill = serving_memory(arch, layout, engine, gpu.capacity_bytes, 0, max_len)
    m, rows = case.measured, []
    if "weights_gib" in m:
        rows.append(_row(case, "weights per GPU", m["weights_gib"], bill.weights_bytes / GIB, "GiB", WEIGHTS_GOAL_PCT))
    if "activation_gib" in m:
        rows.append(_row(case, "activation peak", m["activation_gib"], activation_peak_bytes(arch, layout, engine) / GIB, "GiB", None))
    if "non_torch_gib" in m:
        rows.append(_row(case, "non-torch memory", m["non_torch_gib"], bill.overhead_bytes / GIB, "GiB", None))
    if "in_use_before_load_gib" in m:
        rows.append(_row(case, "in use before loading (context + NCCL)", m["in_use_before_load_gib"], bill.overhead_bytes / GIB,
                         "GiB", None))
    if "cuda_graph_gib" in m:
        rows.append(_row(case, "CUDA graphs (outside budget)", m["cuda_graph_gib"], bill.cuda_graph_bytes / GIB, "GiB", None))
    for name, size_gib in m.get("gguf_gib", {}).items():
        gguf = max(weight_bytes_by_stage(arch, ServingLayout(weight_format=weight_format(name))))
        rows.append(_row(case, f"{name} weights", size_gib, (gguf - rotary_cache_bytes(arch)) / GIB, "GiB", WEIGHTS_GOAL_PCT))
    return rows + _kv_rows(case, arch, layout, engine, gpu, bill, max_len) + _llamacpp_rows(case, arch, layout, engine)


def _kv_rows(case: ServingCase, arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, gpu: GpuFacts,
             bill: ServingMemory, max_len: int) -> list[dict[str, Any]]:
    m, rows = case.measured, []
    per_token = bill.kv_cache_bytes_per_token
    if "kv_tokens" in m and "kv_cache_gib" in m and "kv_tokens_logged" not in m:
        rows.append(_row(case, f"KV cache for the logged {int(m['kv_tokens']):,} tokens", m["kv_cache_gib"],
                         m["kv_tokens"] * per_token / GIB, "GiB", KV_BYTES_GOAL_PCT, f"{per_token:,} B/token/GPU"))
    if "kv_bytes" in m:
        rows.append(_row(case, f"KV cache bytes for the logged {int(m['kv_tokens']):,} tokens", m["kv_bytes"],
                         m["kv_tokens"] * per_token, "B", KV_BYTES_GOAL_PCT, f"{per_token:,} B/token/GPU"))
    if "kv_tokens_logged" in m:
        tokens = m["kv_tokens_logged"]
        rows.append(_row(case, f"K cache for the logged {int(tokens):,} tokens", m["k_cache_gib"], tokens * per_token / 2 / GIB,
                         "GiB", KV_BYTES_GOAL_PCT, f"{per_token:,} B/token/GPU (K+V)"))
    if "kv_budget_gib" in m:
        rows.append(_row(case, "KV cache budget (fully predicted)", m["kv_budget_gib"], bill.kv_budget_bytes / GIB, "GiB",
                         KV_CAPACITY_GOAL_PCT, case.assumptions))
    if "kv_tokens" in m:
        rows.append(_row(case, "KV capacity (fully predicted)", m["kv_tokens"], bill.kv_cache_capacity_tokens, "tokens",
                         KV_CAPACITY_GOAL_PCT, case.assumptions))
        if "activation_gib" in m:
            logged = replace(engine, activation_peak_bytes=int(m["activation_gib"] * GIB),
                             non_torch_bytes=int(m["non_torch_gib"] * GIB))
            given = serving_memory(arch, layout, logged, gpu.capacity_bytes, 0, max_len)
            rows.append(_row(case, "KV capacity (given logged activation + non-torch)", m["kv_tokens"],
                             given.kv_cache_capacity_tokens, "tokens", KV_CAPACITY_GOAL_PCT))
        if "max_concurrency" in m:
            rows.append(_row(case, f"max concurrency at {max_len:,} tokens", m["max_concurrency"],
                             bill.max_concurrency_at(max_len), "x", None, "fully predicted"))
    return rows


def _llamacpp_rows(case: ServingCase, arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings) -> list[dict[str, Any]]:
    """llama.cpp's own lines: the KV cells of ``n_ctx``, their split over GPUs, host buffers, compute buffer."""
    m, rows, cells = case.measured, [], case.max_model_len or 0
    if "kv_self_mib" in m:
        quantity = "KV self size (MLA)" if arch.uses_mla else f"KV self size for n_ctx {cells:,}"
        rows.append(_row(case, quantity, m["kv_self_mib"], kv_cache_bytes_per_sequence(arch, layout, cells, 1) / MIB, "MiB",
                         KV_BYTES_GOAL_PCT, "every layer's K and V cells in f16"))
    if "c_kv_mib" in m:
        latent = arch.num_layers * cells * 2 / MIB
        rows.append(_row(case, "c^KV (latent)", m["c_kv_mib"], latent * (arch.kv_lora_rank or 0), "MiB", KV_BYTES_GOAL_PCT))
        rows.append(_row(case, "K^R (decoupled RoPE key)", m["k_rope_mib"], latent * (arch.qk_rope_head_dim or 0), "MiB",
                         KV_BYTES_GOAL_PCT))
    per_layer = kv_cache_bytes_per_token_per_layer(arch, layout) * cells
    split = dict(m.get("kv_split_mib", {}))
    for device, logged in split.items():
        layers = round(logged * MIB / per_layer)
        rows.append(_row(case, f"{device} KV buffer ({layers} blocks)", logged, layers * per_layer / MIB, "MiB", KV_BYTES_GOAL_PCT,
                         "blocks on the device x cells x K+V per block"))
    if "host_weights_mib" in m:
        host = serving_memory(arch, layout, engine, 0, 1, cells).host_weights_bytes
        rows.append(_row(case, "host buffer (token embedding)", m["host_weights_mib"], host / MIB, "MiB", WEIGHTS_GOAL_PCT))
    if "compute_mib" in m:
        rows.append(_row(case, f"compute buffer (n_ubatch {engine.max_num_batched_tokens})", m["compute_mib"],
                         activation_peak_bytes(arch, layout, engine) / MIB, "MiB", None, "calibration case"))
    return rows


def serving_rows() -> list[dict[str, Any]]:
    """Rows of the accuracy table for every serving case: case, source, quantity, measured, predicted, unit."""
    return [row for case in CASES for row in case_rows(case)]
