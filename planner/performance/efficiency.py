"""How close real engines get to a GPU's datasheet: efficiency factors per GPU family and per serving engine.

A roofline (Williams, Waterman and Patterson, "Roofline", CACM 52(4), 2009) bounds a kernel by the peak
FLOP rate and the peak memory bandwidth; real kernels reach a fraction of each. The fractions here were
fitted on the *calibration* cases of ``benchmarks/data/serving_performance_cases.json`` (listed by id in
``CALIBRATION_CASES``) by ``python3 -m benchmarks.calibrate_performance``; every other case there is a
validation case the constants never saw (``docs/performance.md`` has the table). Published micro-benchmarks
agree with the fitted values:

- dense 16-bit GEMMs of prefill size reach 65-75 % of peak on A100 and H100 (NVIDIA cuBLAS/CUTLASS
  profiler figures; Dao, "FlashAttention-2", arXiv:2307.08691, Sec. 4.1 reports 50-73 % of A100 peak for the
  attention kernel itself), FP8 GEMMs a smaller share of their doubled peak;
- bandwidth-bound decode GEMVs and paged attention read weights and KV at 70-85 % of HBM peak (Kwon et al.
  2023, vLLM, arXiv:2309.06180, Sec. 6; NVIDIA's "Mastering LLM Techniques: Inference Optimization" blog
  puts good kernels at ~80 % of peak bandwidth);
- every engine pays a fixed time per forward step outside the kernels: scheduling, input preparation,
  sampling and detokenisation on the CPU, kernel launches (reduced by CUDA graphs). vLLM's v0.6.0
  performance post (blog.vllm.ai, 2024-09-05) measured the API server and scheduler at 33 % and 29 % of
  Llama-3-8B's step time on one H100 before its optimisations, which is why the overheads differ by engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from ..catalog import GpuSpec

GpuFamily = Literal["turing", "ampere", "ada", "hopper", "blackwell", "cdna2", "cdna3", "cdna4"]
EngineName = Literal["vllm", "sglang", "trtllm", "llamacpp"]
ENGINE_NAMES: tuple[str, ...] = ("vllm", "sglang", "trtllm", "llamacpp")
ENGINE_ALIASES = {"tensorrt-llm": "trtllm", "tensorrt_llm": "trtllm", "trt-llm": "trtllm", "llama.cpp": "llamacpp",
                  "llama-cpp": "llamacpp"}

_FAMILY_BY_ID_PREFIX: tuple[tuple[str, GpuFamily], ...] = (
    ("t4", "turing"), ("a10", "ampere"), ("a100", "ampere"), ("rtx-3090", "ampere"), ("rtx-a6000", "ampere"),
    ("l4", "ada"), ("l40", "ada"), ("rtx-4090", "ada"), ("rtx-6000-ada", "ada"), ("h100", "hopper"),
    ("h200", "hopper"), ("h20", "hopper"), ("gh200", "hopper"), ("b200", "blackwell"), ("b300", "blackwell"),
    ("gb200", "blackwell"), ("gb300", "blackwell"), ("rtx-5090", "blackwell"), ("rtx-pro-6000", "blackwell"),
    ("mi250", "cdna2"), ("mi300", "cdna3"), ("mi325", "cdna3"), ("mi355", "cdna4"), ("mi350", "cdna4"),
)


_PREFIXES_LONGEST_FIRST = tuple(sorted(_FAMILY_BY_ID_PREFIX, key=lambda item: -len(item[0])))


@lru_cache(maxsize=1024)
def gpu_family(gpu: GpuSpec) -> GpuFamily:
    """The GPU's architecture family: by catalog id, else inferred from what the entry says it supports
    (a user catalog's own ids): AMD parts as CDNA 3; FP8 with > 6 TB/s Blackwell, with > 2 TB/s Hopper,
    otherwise Ada; BF16 Ampere; otherwise Turing."""
    for prefix, family in _PREFIXES_LONGEST_FIRST:
        if gpu.id.startswith(prefix):
            return family
    if gpu.vendor == "amd":
        return "cdna3"
    if gpu.supports_fp8:
        if gpu.memory_bandwidth_gbps > 6000:
            return "blackwell"
        return "hopper" if gpu.memory_bandwidth_gbps > 2000 else "ada"
    return "ampere" if gpu.supports_bf16 else "turing"


@dataclass(frozen=True)
class FamilyEfficiency:
    """Fractions of a family's datasheet peaks that tuned kernels reach."""

    compute: float  # dense 16-bit tensor-core GEMMs at prefill sizes
    fp8_compute: float  # FP8 GEMMs, as a fraction of the FP8 peak
    bandwidth: float  # HBM/GDDR reads of weights and KV cache in decode


FAMILY_EFFICIENCY: dict[str, FamilyEfficiency] = {
    "ampere": FamilyEfficiency(compute=0.77, fp8_compute=0.55, bandwidth=0.80),
    "ada": FamilyEfficiency(compute=0.66, fp8_compute=0.50, bandwidth=0.81),
    "hopper": FamilyEfficiency(compute=0.66, fp8_compute=0.56, bandwidth=0.81),
    "turing": FamilyEfficiency(compute=0.77, fp8_compute=0.55, bandwidth=0.80),
    "blackwell": FamilyEfficiency(compute=0.66, fp8_compute=0.56, bandwidth=0.81),
    "cdna2": FamilyEfficiency(compute=0.45, fp8_compute=0.35, bandwidth=0.62),
    "cdna3": FamilyEfficiency(compute=0.45, fp8_compute=0.35, bandwidth=0.62),
    "cdna4": FamilyEfficiency(compute=0.45, fp8_compute=0.35, bandwidth=0.62),
}
"""Per family, fitted (``benchmarks/calibrate_performance.py``) on the Ampere (A100), Ada (L40S) and Hopper
(H100) calibration cases: TensorRT-LLM 0.9 static batches and first-token latencies, TensorRT-LLM 0.13
offline throughput, vLLM 0.6 / SGLang 0.3 on ShareGPT and NIM 1.8 closed loops (two MI300X vLLM latency cases
fit xGMI's all-reduce latency and vLLM's overheads, not CDNA's efficiencies). Ada's 16-bit compute has no
calibration case (every L40S case is FP8) and takes Hopper's. Families without any case carry over the
nearest fitted family: Turing from Ampere, Blackwell from Hopper (its B200 cases are validation only); CDNA
from published kernel studies (MI300X reaches ~45 % of BF16 peak in hipBLASLt GEMMs and ~60-65 % of HBM
bandwidth in decode: SemiAnalysis, "MI300X vs H100 vs H200 Benchmark Part 1: Training", Dec. 2024; Chips and
Cheese, "Testing AMD's Giant MI300X", 2024). ``Efficiency.fitted`` says which."""

FITTED_FAMILIES = frozenset({"ampere", "ada", "hopper"})

MOE_GEMM_EFFICIENCY = 0.70
"""Routed-expert GEMMs run at this fraction of the dense GEMM efficiency: each expert sees only ``T k / E``
tokens, so the grouped GEMMs are smaller and less regular (Gale et al. 2023, MegaBlocks, arXiv:2211.15841,
Sec. 6; vLLM's fused-MoE Triton kernels are tuned per batch size for the same reason). Fitted on the two
TensorRT-LLM 0.13 Mixtral calibration cases; TensorRT-LLM 0.9's FP8 Mixtral rows on Hopper ran at about half of
that, which no documented engine-version rule reproduces (validation misses, see docs/performance.md)."""


@dataclass(frozen=True)
class EngineProfile:
    """What one engine adds on top of the kernels: efficiency multipliers and per-step CPU/launch time."""

    compute_scale: float  # multiplies the family's compute efficiency
    bandwidth_scale: float  # multiplies the family's bandwidth efficiency
    step_overhead_s: float  # scheduler, input preparation, sampling: once per forward step
    per_layer_overhead_s: float  # kernel launches and synchronisation per transformer layer of a stage
    per_sequence_overhead_s: float  # CPU work per running sequence per step (block tables, detokenisation)
    overlap: float  # 0 = perfect roofline (max of compute and memory time), 1 = no overlap (their sum)
    mixes_prefill: bool = True  # prefill chunks ride in the decode step (else prefill runs as its own forward pass)


ENGINE_PROFILES: dict[str, EngineProfile] = {
    "vllm": EngineProfile(compute_scale=1.0, bandwidth_scale=1.0, step_overhead_s=2.2e-3,
                          per_layer_overhead_s=15e-6, per_sequence_overhead_s=12e-6, overlap=0.78),
    "sglang": EngineProfile(compute_scale=1.0, bandwidth_scale=1.0, step_overhead_s=1.5e-3,
                            per_layer_overhead_s=15e-6, per_sequence_overhead_s=0.2e-6, overlap=0.78, mixes_prefill=False),
    "trtllm": EngineProfile(compute_scale=1.0, bandwidth_scale=1.0, step_overhead_s=1.4e-3,
                            per_layer_overhead_s=38e-6, per_sequence_overhead_s=2.3e-6, overlap=0.78),
    "llamacpp": EngineProfile(compute_scale=0.5, bandwidth_scale=0.9, step_overhead_s=2.2e-3,
                              per_layer_overhead_s=38e-6, per_sequence_overhead_s=12e-6, overlap=0.78),
}
"""Per engine. ``mixes_prefill``: TensorRT-LLM's in-flight batching and vLLM V1's always-on chunked prefill put
prompt chunks into the decode step; SGLang runs prefill ("extend") batches as separate forward passes unless
``--enable-mixed-chunk`` is given, and so does vLLM V0 without chunked prefill (``engine_version`` vllm-v0,
see ``mixes_prefill``). vLLM, SGLang and TensorRT-LLM fitted on their calibration cases; llama.cpp (no case) takes
vLLM's overheads with lower kernel efficiency (its CUDA backend's GEMMs are not tensor-core tuned for
batch prefill: llama.cpp ``llama-bench`` pp512 results reach roughly half of cuBLAS rates)."""


def canonical_engine(name: str) -> str:
    """Engine name in this module's vocabulary (vllm, sglang, trtllm, llamacpp); ValueError when unknown."""
    key = name.strip().lower()
    key = ENGINE_ALIASES.get(key, key)
    if key.startswith("vllm"):
        key = "vllm"
    if key not in ENGINE_PROFILES:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}")
    return key


@dataclass(frozen=True)
class Efficiency:
    """The factors one (GPU, engine) pair runs at, and whether they were fitted or carried over."""

    compute: float
    fp8_compute: float
    bandwidth: float
    moe: float
    profile: EngineProfile
    family: str
    fitted: bool


def mixes_prefill(engine: str, engine_version: str | None = None) -> bool:
    """Whether the engine batches prefill chunks with decode tokens in one step (vLLM V0 did not by default)."""
    name = canonical_engine(engine)
    if name == "vllm" and engine_version == "vllm-v0":
        return False
    return ENGINE_PROFILES[name].mixes_prefill


def efficiency_for(gpu: GpuSpec, engine: str) -> Efficiency:
    """The efficiency factors of ``engine`` on ``gpu``."""
    return _efficiency_for(gpu, engine, FAMILY_EFFICIENCY[gpu_family(gpu)], ENGINE_PROFILES[canonical_engine(engine)],
                           MOE_GEMM_EFFICIENCY)


@lru_cache(maxsize=1024)
def _efficiency_for(gpu: GpuSpec, engine: str, base: FamilyEfficiency, profile: EngineProfile, moe: float) -> Efficiency:
    family = gpu_family(gpu)
    return Efficiency(
        compute=base.compute * profile.compute_scale,
        fp8_compute=base.fp8_compute * profile.compute_scale,
        bandwidth=min(0.95, base.bandwidth * profile.bandwidth_scale),
        moe=moe,
        profile=profile,
        family=family,
        fitted=family in FITTED_FAMILIES and canonical_engine(engine) != "llamacpp",
    )
