"""Serving rows of the accuracy table: the memory model against serving engines' own log lines.

Each case quotes the engine's log lines (public issue threads and documents; the shared reference file
``serving_engine_logs.json`` holds the same cases with their full context) and recomputes them from the
architecture, layout and engine settings the log states. Where a setting is not logged, the case says what
is assumed. KV-cache capacity depends on the profiled activation peak; where that peak was logged, the
capacity is shown twice: fully predicted, and given the engine's logged activation and non-torch memory.

    python3 -m benchmarks.accuracy            # the whole table (serving + training rows)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from planner.architecture import ModelArchitecture, architecture_from_hf_config
from planner.catalog import default_catalog
from planner.formats import kv_cache_dtype, weight_format
from planner.engines import EngineChoice, GpuFacts, engine_settings
from planner.memory.serving import (
    EngineSettings,
    ServingLayout,
    activation_peak_bytes,
    kv_cache_bytes_per_sequence,
    rotary_cache_bytes,
    serving_memory,
    weight_bytes_by_stage,
)
from planner.units import BYTES_PER_GIB, BYTES_PER_MIB

WEIGHTS_GOAL_PCT = 3.0
KV_CAPACITY_GOAL_PCT = 5.0
KV_BYTES_GOAL_PCT = 0.5
"""KV bytes per token are exact; the logs print GiB with two decimals, so 0.5 % covers their rounding."""


@dataclass(frozen=True)
class ServingCase:
    """One logged engine start: what was run, what the engine printed, and where."""

    case: str
    source: str
    log: tuple[str, ...]
    model: str  # catalog id, or a key of ARCHITECTURES
    weight_format: str = "bf16"
    tp: int = 1
    engine_version: str = "vllm-v0"  # engine name or alias (vllm-v0 / vllm-v1 / sglang / trtllm / llamacpp)
    capacity_gib: float | None = None  # total the engine logged; None = catalog GPU's usable memory
    gpu: str | None = None
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    measured: dict[str, Any] = field(default_factory=dict)
    assumptions: str = ""


def _hf(model_type: str, **fields: Any) -> dict[str, Any]:
    return {"model_type": model_type, **fields}


ARCHITECTURES: dict[str, dict[str, Any]] = {
    # Llama-3-8B: Llama-3.1-8B dimensions with 8,192 positions (huggingface.co/meta-llama/Meta-Llama-3-8B config.json)
    "llama-3-8b": _hf("llama", num_hidden_layers=32, hidden_size=4096, num_attention_heads=32, num_key_value_heads=8,
                      head_dim=128, intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False,
                      max_position_embeddings=8192),
    # Phi-4 (huggingface.co/microsoft/phi-4 config.json: Phi3ForCausalLM); max_position_embeddings not in the case
    "phi-4": _hf("phi3", num_hidden_layers=40, hidden_size=5120, num_attention_heads=40, num_key_value_heads=10,
                 intermediate_size=17920, vocab_size=100352, tie_word_embeddings=False),
}

CASES: tuple[ServingCase, ...] = (
    ServingCase(
        "vllm-10517-a", "vllm-project/vllm#10517",
        ("Loading model weights took 14.9888 GB",
         "Memory profiling results: total_gpu_memory=23.58GiB initial_memory_usage=15.34GiB peak_torch_memory=17.06GiB "
         "memory_usage_post_profile=15.35GiB non_torch_memory=0.35GiB kv_cache_size=3.81GiB gpu_memory_utilization=0.90",
         "GPU blocks: 1952, # CPU blocks: 2048", "Maximum concurrency for 20000 tokens per request: 1.56x"),
        model="llama-3.1-8b", capacity_gib=23.58, max_model_len=20000,
        measured={"weights_gib": 14.9888, "activation_gib": 17.06 - 14.9888, "non_torch_gib": 0.35, "kv_cache_gib": 3.81,
                  "kv_tokens": 1952 * 16, "max_concurrency": 1.56},
        assumptions="RTX 3090; V0 defaults: max_num_batched_tokens = max_model_len 20000, 256 sequences",
    ),
    ServingCase(
        "vllm-12330", "vllm-project/vllm#12330",
        ("Loading model weights took 14.9595 GB",
         "the current vLLM instance can use total_gpu_memory (39.50GiB) x gpu_memory_utilization (0.90) = 35.55GiB",
         "model weights take 14.96GiB; non_torch_memory takes 0.10GiB; PyTorch activation peak memory takes 9.37GiB; "
         "the rest of the memory reserved for KV Cache is 11.12GiB.",
         "# GPU blocks: 5691, # CPU blocks: 2048", "Maximum concurrency for 8192 tokens per request: 11.12x"),
        model="llama-3-8b", capacity_gib=39.50, max_model_len=8192,
        measured={"weights_gib": 14.9595, "activation_gib": 9.37, "non_torch_gib": 0.10, "kv_cache_gib": 11.12,
                  "kv_tokens": 5691 * 16, "max_concurrency": 11.12},
        assumptions="A100 40GB; the 9.37 GiB activation peak needs ~10x vLLM's default profiling batch "
                    "(8,192 tokens, 256 sequences); the settings behind it are not in the issue",
    ),
    ServingCase(
        "vllm-phi4-gptq-80gb", "xinyuwei-david/david-share Phi4",
        ("Loading model weights took 8.5107 GB",
         "the current vLLM instance can use total_gpu_memory (79.25GiB) x gpu_memory_utilization (0.15) = 11.89GiB",
         "model weights take 8.51GiB; non_torch_memory takes 0.26GiB; PyTorch activation peak memory takes 0.94GiB; "
         "the rest of the memory reserved for KV Cache is 2.18GiB.",
         "# GPU blocks: 715, # CPU blocks: 1310", "Maximum concurrency for 2048 tokens per request: 5.59x",
         "Graph capturing finished in 13 secs, took 0.27 GiB"),
        model="phi-4", weight_format="int4-gptq", capacity_gib=79.25, gpu_memory_utilization=0.15, max_model_len=2048,
        measured={"weights_gib": 8.5107, "activation_gib": 0.94, "non_torch_gib": 0.26, "kv_cache_gib": 2.18,
                  "kv_tokens": 715 * 16, "max_concurrency": 5.59, "cuda_graph_gib": 0.27},
        assumptions="GPTQ 4-bit group 128 (AutoRound); V0 defaults 2,048 tokens, 256 sequences; this case calibrated "
                    "the V0 sampler and CUDA-graph constants",
    ),
    ServingCase(
        "vllm-pr2031-llama2-7b", "vllm-project/vllm#2031",
        ("### Llama2-7B with TP=1 and 1xA100-80GB", "- This PR: # GPU blocks: 7351"),
        model="llama-2-7b", weight_format="fp16", capacity_gib=79.25, max_model_len=4096,
        measured={"kv_tokens": 7351 * 16},
        assumptions="vLLM 0.2.4; total not logged: 79.25 GiB, what CUDA reports for an A100 80GB (levihsu/OOTDiffusion#235 "
                    "'79.25 GiB total capacity'; case vllm-phi4-gptq-80gb); V0 defaults 4,096 tokens, 256 sequences",
    ),
    ServingCase(
        "vllm-6746", "vllm-project/vllm#6746",
        ("Loading model weights took 57.7520 GB",),
        model="llama-3.1-405b-fp8", weight_format="fp8-mlp", tp=8, gpu="h100-sxm",
        measured={"weights_gib": 57.752},
        assumptions="Meta's FP8 checkpoint: MLP of blocks 1-124 in FP8, the rest bf16 (format fp8-mlp)",
    ),
    ServingCase(
        "sglang-qwq32b-l4", "didier-durand/llms-in-clouds docs/sglang.md",
        ("Load weight end. type=Qwen2ForCausalLM, dtype=torch.bfloat16, avail mem=6.09 GB, mem usage=15.54 GB.",
         "KV Cache is allocated. #tokens: 46611, K size: 1.42 GB, V size: 1.42 GB"),
        model="qwen2.5-32b", tp=4, engine_version="sglang", gpu="l4",
        measured={"weights_gib": 15.54, "k_cache_gib": 1.42, "kv_cache_gib": 2.84, "kv_tokens_logged": 46611},
        assumptions="QwQ-32B has the Qwen2.5-32B architecture; SGLang 'GB' = GiB",
    ),
    ServingCase(
        "llamacpp-pr11446-mla", "ggml-org/llama.cpp#11446",
        ("llama_kv_cache_init: kv_size = 32768, offload = 1, type_k = 'f16', type_v = 'f16', n_layer = 61",
         "llama_init_from_model: KV self size  = 2196.00 MiB, K^R (f16):  244.00 MiB, c^KV (f16): 1952.00 MiB"),
        model="deepseek-v3", weight_format="fp8-block", max_model_len=32768,
        measured={"kv_self_mib": 2196.0, "k_rope_mib": 244.0, "c_kv_mib": 1952.0},
        assumptions="DeepSeek-V3/R1 architecture (61 layers), MLA cache of 32,768 tokens in f16",
    ),
    ServingCase(
        "llamacpp-quantize-llama3-8b", "llama.cpp tools/quantize/quantize.cpp",
        ('{ "Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M, " 4.58G, +0.1754 ppl @ Llama-3-8B", }',
         '{ "Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M, " 5.33G, +0.0569 ppl @ Llama-3-8B", }',
         '{ "Q6_K",   LLAMA_FTYPE_MOSTLY_Q6_K,   " 6.14G, +0.0217 ppl @ Llama-3-8B", }',
         '{ "Q8_0",   LLAMA_FTYPE_MOSTLY_Q8_0,   " 7.96G, +0.0026 ppl @ Llama-3-8B", }'),
        model="llama-3-8b",
        measured={"gguf_gib": {"gguf-q4_k_m": 4.58, "gguf-q5_k_m": 5.33, "gguf-q6_k": 6.14, "gguf-q8_0": 7.96}},
        assumptions="file sizes in GiB (Q8_0's 8.5 bits/weight over 8.03B parameters only fits GiB)",
    ),
    ServingCase(
        "vllm-qwen25-72b-tp4-l40s", "EKS tutorial (vLLM 0.19 log)",
        ("Model loading took 33.98 GiB memory", "Estimated CUDA graph memory: 2.73 GiB total",
         "Available KV cache memory: 5.11 GiB", "GPU KV cache size: 67,024 tokens",
         "Maximum concurrency for 8,192 tokens per request: 8.18x",
         "CUDA graph pool memory: 2.62 GiB (actual), 2.73 GiB (estimated)"),
        model="qwen2.5-72b-instruct", tp=4, engine_version="vllm-v1", capacity_gib=44.42, max_model_len=8192,
        measured={"weights_gib": 33.98, "kv_cache_gib": 5.11, "kv_tokens": 67024, "max_concurrency": 8.18,
                  "cuda_graph_gib": 2.62},
        assumptions="L40S total not logged: 44.42 GiB, what CUDA reports for an L40S (stepfun-ai/Step-Video-T2V#8 'total "
                    "capacity of 44.42 GiB'; nvidia-smi says 46,068 MiB = 44.99 GiB); V1 defaults for <70 GiB GPUs: 2,048 "
                    "tokens, 256 sequences; this case calibrated the V1 CUDA-graph constant",
    ),
)


def case_architecture(case: ServingCase) -> ModelArchitecture:
    if case.model in ARCHITECTURES:
        return architecture_from_hf_config(ARCHITECTURES[case.model], name=case.model, source=f"case {case.case}")
    return default_catalog().architecture(case.model)


def _capacity_bytes(case: ServingCase) -> int:
    if case.capacity_gib is not None:
        return int(case.capacity_gib * BYTES_PER_GIB)
    return default_catalog().gpu(case.gpu).capacity_bytes if case.gpu else 0


def _row(case: ServingCase, quantity: str, measured: float, predicted: float, unit: str, goal: float | None,
         note: str = "") -> dict[str, Any]:
    return {"case": case.case, "source": case.source, "quantity": quantity, "measured": measured, "predicted": predicted,
            "unit": unit, "goal_pct": goal, "note": note}


def case_rows(case: ServingCase) -> list[dict[str, Any]]:
    """Every quantity a case logged, predicted by the memory model."""
    arch, m = case_architecture(case), case.measured
    layout = ServingLayout(tp=case.tp, weight_format=weight_format(case.weight_format), kv_cache_dtype=kv_cache_dtype("fp16"))
    capacity = _capacity_bytes(case)
    max_len = case.max_model_len or arch.max_position_embeddings or 4096
    vllm = case.engine_version.startswith("vllm")
    choice = EngineChoice(name=case.engine_version, gpu_memory_utilization=case.gpu_memory_utilization if vllm else None)
    engine = engine_settings(choice, GpuFacts(capacity), case.tp, 1, max_len)
    bill = serving_memory(arch, layout, engine, capacity, 0, max_len)
    gib = lambda b: b / BYTES_PER_GIB  # noqa: E731
    rows = []
    if "weights_gib" in m:
        rows.append(_row(case, "weights per GPU", m["weights_gib"], gib(bill.weights_bytes), "GiB", WEIGHTS_GOAL_PCT))
    if "activation_gib" in m:
        rows.append(_row(case, "activation peak", m["activation_gib"], gib(activation_peak_bytes(arch, layout, engine)), "GiB", None))
    if "non_torch_gib" in m:
        rows.append(_row(case, "non-torch memory", m["non_torch_gib"], gib(bill.overhead_bytes), "GiB", None))
    if "cuda_graph_gib" in m:
        rows.append(_row(case, "CUDA graphs (outside budget)", m["cuda_graph_gib"], gib(bill.cuda_graph_bytes), "GiB", None,
                         "calibration case"))
    for name, size_gib in m.get("gguf_gib", {}).items():
        gguf = max(weight_bytes_by_stage(arch, ServingLayout(weight_format=weight_format(name))))
        rows.append(_row(case, f"{name} weights", size_gib, gib(gguf - rotary_cache_bytes(arch)), "GiB", WEIGHTS_GOAL_PCT))
    rows += _kv_rows(case, arch, layout, engine, capacity, bill)
    return rows


def _kv_rows(case: ServingCase, arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, capacity: int,
             bill: Any) -> list[dict[str, Any]]:
    m, gib, rows = case.measured, (lambda b: b / BYTES_PER_GIB), []
    per_token = bill.kv_cache_bytes_per_token
    if "kv_tokens" in m and "kv_cache_gib" in m:
        rows.append(_row(case, f"KV cache for the logged {int(m['kv_tokens']):,} tokens", m["kv_cache_gib"],
                         gib(m["kv_tokens"] * per_token), "GiB", KV_BYTES_GOAL_PCT, f"{per_token:,} B/token/GPU"))
    if "kv_tokens_logged" in m:
        tokens = m["kv_tokens_logged"]
        rows.append(_row(case, f"K cache for the logged {int(tokens):,} tokens", m["k_cache_gib"], gib(tokens * per_token / 2),
                         "GiB", KV_BYTES_GOAL_PCT, f"{per_token:,} B/token/GPU (K+V)"))
    if "kv_self_mib" in m:
        context = case.max_model_len or 0
        latent = arch.num_layers * context * 2 / BYTES_PER_MIB
        rows.append(_row(case, "KV self size (MLA)", m["kv_self_mib"], kv_cache_bytes_per_sequence(arch, layout, context) / BYTES_PER_MIB,
                         "MiB", KV_BYTES_GOAL_PCT, "(kv_lora_rank + qk_rope_head_dim) x 61 layers x 2 B"))
        rows.append(_row(case, "c^KV (latent)", m["c_kv_mib"], latent * (arch.kv_lora_rank or 0), "MiB", KV_BYTES_GOAL_PCT))
        rows.append(_row(case, "K^R (decoupled RoPE key)", m["k_rope_mib"], latent * (arch.qk_rope_head_dim or 0), "MiB", KV_BYTES_GOAL_PCT))
    if "kv_tokens" in m:
        max_len = case.max_model_len or 1
        rows.append(_row(case, "KV capacity (fully predicted)", m["kv_tokens"], bill.kv_cache_capacity_tokens, "tokens",
                         KV_CAPACITY_GOAL_PCT, case.assumptions))
        if "activation_gib" in m:
            logged = replace(engine, activation_peak_bytes=int(m["activation_gib"] * BYTES_PER_GIB),
                             non_torch_bytes=int(m["non_torch_gib"] * BYTES_PER_GIB))
            given = serving_memory(arch, layout, logged, capacity, 0, max_len)
            rows.append(_row(case, "KV capacity (given logged activation + non-torch)", m["kv_tokens"],
                             given.kv_cache_capacity_tokens, "tokens", KV_CAPACITY_GOAL_PCT))
        if "max_concurrency" in m:
            rows.append(_row(case, f"max concurrency at {max_len:,} tokens", m["max_concurrency"],
                             bill.max_concurrency_at(max_len), "x", None, "fully predicted"))
    return rows


def serving_rows() -> list[dict[str, Any]]:
    """Rows of the accuracy table for every serving case: case, source, quantity, measured, predicted, unit."""
    return [row for case in CASES for row in case_rows(case)]
