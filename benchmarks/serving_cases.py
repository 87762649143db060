"""The published engine logs of the accuracy table: what each engine printed, where, and what it is used for.

Each case quotes its log lines verbatim (``tests/data/serving_engine_logs.json`` holds the same cases with their
context) and lists the settings the log shows; ``role`` separates the cases a constant was fitted on
(``calibration``) from the ones the model never saw (``validation``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from planner.model.architecture import ModelArchitecture

Role = Literal["calibration", "validation"]


def _hf(model_type: str, **fields: Any) -> dict[str, Any]:
    return {"model_type": model_type, **fields}


@dataclass(frozen=True)
class ServingCase:
    """One logged engine start: what was run, what the engine printed, where, and what it is used for.

    ``role`` is ``calibration`` when a constant of the model was fitted on the case (``calibrates`` says
    which), else ``validation``: the model never saw it.
    """

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
    role: Role = "validation"
    calibrates: str = ""
    knobs: dict[str, Any] = field(default_factory=dict)  # engine options the log shows (EngineChoice fields)
    kv_dtype: str = "fp16"


ARCHITECTURES: dict[str, dict[str, Any]] = {
    # Llama-3-8B: Llama-3.1-8B dimensions with 8,192 positions (huggingface.co/meta-llama/Meta-Llama-3-8B config.json)
    "llama-3-8b": _hf("llama", num_hidden_layers=32, hidden_size=4096, num_attention_heads=32, num_key_value_heads=8,
                      head_dim=128, intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False,
                      max_position_embeddings=8192),
    # Phi-4 (huggingface.co/microsoft/phi-4 config.json: Phi3ForCausalLM); max_position_embeddings not in the case
    "phi-4": _hf("phi3", num_hidden_layers=40, hidden_size=5120, num_attention_heads=40, num_key_value_heads=10,
                 intermediate_size=17920, vocab_size=100352, tie_word_embeddings=False),
    # Qwen2.5-3B (huggingface.co/Qwen/Qwen2.5-3B config.json)
    "qwen2.5-3b": _hf("qwen2", num_hidden_layers=36, hidden_size=2048, num_attention_heads=16, num_key_value_heads=2,
                      intermediate_size=11008, vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=32768),
}

INLINE_ARCHITECTURES: dict[str, ModelArchitecture] = {
    # Command-R v01 (huggingface.co/CohereForAI/c4ai-command-r-v01 config.json: CohereForCausalLM, LayerNorm, tied)
    "command-r-v01": ModelArchitecture(name="command-r-v01", num_layers=40, hidden_size=8192, num_attention_heads=64,
                                       num_kv_heads=64, intermediate_size=22528, vocab_size=256000,
                                       tie_word_embeddings=True, norm="layernorm", norms_per_layer=1),
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
        role="calibration", calibrates="vLLM forward-pass activation peak",
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
        assumptions="GPTQ 4-bit group 128 (AutoRound); V0 defaults 2,048 tokens, 256 sequences",
        role="calibration", calibrates="vLLM V0 sampler buffers and V0 CUDA-graph pool",
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
        ("Load weight begin. avail mem=21.63 GB",
         "Load weight end. type=Qwen2ForCausalLM, dtype=torch.bfloat16, avail mem=6.09 GB, mem usage=15.54 GB.",
         "KV Cache is allocated. #tokens: 46611, K size: 1.42 GB, V size: 1.42 GB"),
        model="qwen2.5-32b", tp=4, engine_version="sglang", gpu="l4", knobs={"version": "0.4.3"},
        measured={"weights_gib": 15.54, "k_cache_gib": 1.42, "kv_cache_gib": 2.84, "kv_tokens_logged": 46611,
                  "kv_tokens": 46611, "in_use_before_load_gib": 22.35 - 21.63},
        assumptions="QwQ-32B has the Qwen2.5-32B architecture; SGLang 'GB' = GiB; SGLang of March 2025 (0.4.3): "
                    "mem_fraction_static 0.85 at TP = 4",
        role="calibration", calibrates="SGLang weight-loading slack; context + NCCL over PCIe",
    ),
    ServingCase(
        "llamacpp-pr11446-mla", "ggml-org/llama.cpp#11446",
        ("llama_kv_cache_init: kv_size = 32768, offload = 1, type_k = 'f16', type_v = 'f16', n_layer = 61",
         "llama_init_from_model: KV self size  = 2196.00 MiB, K^R (f16):  244.00 MiB, c^KV (f16): 1952.00 MiB"),
        model="deepseek-v3", weight_format="fp8-block", max_model_len=32768, engine_version="llamacpp",
        measured={"kv_self_mib": 2196.0, "k_rope_mib": 244.0, "c_kv_mib": 1952.0},
        assumptions="DeepSeek-V3/R1 architecture (61 layers), MLA cache of 32,768 tokens in f16",
    ),
    ServingCase(
        "llamacpp-quantize-llama3-8b", "llama.cpp tools/quantize/quantize.cpp",
        ('{ "Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M, " 4.58G, +0.1754 ppl @ Llama-3-8B", }',
         '{ "Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M, " 5.33G, +0.0569 ppl @ Llama-3-8B", }',
         '{ "Q6_K",   LLAMA_FTYPE_MOSTLY_Q6_K,   " 6.14G, +0.0217 ppl @ Llama-3-8B", }',
         '{ "Q8_0",   LLAMA_FTYPE_MOSTLY_Q8_0,   " 7.96G, +0.0026 ppl @ Llama-3-8B", }'),
        model="llama-3-8b", engine_version="llamacpp",
        measured={"gguf_gib": {"gguf-q4_k_m": 4.58, "gguf-q5_k_m": 5.33, "gguf-q6_k": 6.14, "gguf-q8_0": 7.96}},
        assumptions="file sizes in GiB (Q8_0's 8.5 bits/weight over 8.03B parameters only fits GiB); a .gguf file's "
                    "header gives the exact sizes (planner memory --gguf)",
        role="calibration", calibrates="bits per weight of the Q4_K_M and Q5_K_M mixes (formats.py)",
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
                    "tokens, 256 sequences",
        role="calibration", calibrates="vLLM V1 CUDA-graph pool",
    ),
    ServingCase(
        "sglang-qwen3-235b-fp8-h100-tp4", "vllm-project/vllm#21348",
        ("KV Cache is allocated. #tokens: 367404, K size: 8.23 GB, V size: 8.23 GB",
         "--model /path/to/Qwen3-235B-A22B-FP8 --tp 4 --trust-remote-code --host 0.0.0.0 --port 8000 --mem-fraction-static 0.93"),
        model="qwen3-235b-a22b-fp8", weight_format="fp8-block", tp=4, engine_version="sglang", gpu="h100-sxm",
        knobs={"mem_fraction_static": 0.93, "version": "0.4.9"},
        measured={"kv_tokens": 367404, "kv_tokens_logged": 367404, "k_cache_gib": 8.23, "kv_cache_gib": 16.46},
        assumptions="4 x H100 80GB SXM (81,559 MiB each); SGLang of July 2025 (0.4.9); KV pool of page size 1",
    ),
    ServingCase(
        "sglang-init-h200-tp8", "sgl-project/sglang#11716",
        ("[2025-10-16 09:06:09 TP0] Init torch distributed ends. mem usage=1.96 GB",
         "[2025-10-16 09:06:10 TP0] Load weight begin. avail mem=137.34 GB"),
        model="qwen3-235b-a22b", tp=8, engine_version="sglang", gpu="h200",
        measured={"in_use_before_load_gib": 143771 / 1024 - 137.34},
        assumptions="8 x H200 (143,771 MiB each); only the memory in use before loading is checked (context + NCCL + "
                    "custom all-reduce at TP = 8 over NVSwitch)",
        role="calibration", calibrates="NCCL / all-reduce buffers per NVLink peer",
    ),
    ServingCase(
        "trtllm-224", "NVIDIA/TensorRT-LLM#224",
        ("--max_batch_size 25                 --max_output_len 4096                 --use_inflight_batching                 "
         "--tokens_per_block 16",
         "[TensorRT-LLM][INFO] Using 10718 tokens in paged KV cache."),
        model="llama-2-7b", weight_format="fp16", engine_version="trtllm", gpu="a10",
        knobs={"free_gpu_memory_fraction": 0.95, "max_num_tokens": 25 * 2048, "max_batch_size": 25, "block_size": 16,
               "version": "0.5"},
        measured={"kv_tokens": 10718},
        assumptions="A10 (23,028 MiB); kv_cache_free_gpu_mem_fraction 0.95; build.py 0.5 pads no input: max_num_tokens = "
                    "max_batch_size 25 x max_input_len 2048 (its default)",
        role="calibration", calibrates="TensorRT-LLM engine activations (two hidden states beside the MLP)",
    ),
    ServingCase(
        "trtllm-1400-llama2-7b-sq-a100", "NVIDIA/TensorRT-LLM#1400",
        ("--max_batch_size 1 --max_input_len 4096 --max_output_len 1024 --max_num_tokens 4096 --max_beam_width 5",
         "[TensorRT-LLM][INFO] Allocate 69524783104 bytes for k/v cache.",
         "[TensorRT-LLM][INFO] Using 132608 tokens in paged KV cache."),
        model="llama-2-7b", weight_format="int8", engine_version="trtllm", gpu="a100-80gb", capacity_gib=79.25,
        knobs={"max_num_tokens": 4096, "max_batch_size": 1, "version": "0.8"},
        measured={"kv_tokens": 132608, "kv_bytes": 69524783104},
        assumptions="A 7B Llama-2 (its 524,288 KV bytes per token) quantized with SmoothQuant (int8 weights, per-channel "
                    "scales); A100 80GB as CUDA reports it (79.25 GiB); default free_gpu_memory_fraction 0.9",
    ),
    ServingCase(
        "vllm-gptoss20b-a100-v019", "myoceane.fr vLLM A100 Gemma-4 post (vLLM 0.19 log)",
        ("Model loading took 13.72 GiB memory and 62.336108 seconds", "Available KV cache memory: 36.56 GiB",
         "'max_model_len': 131072, 'gpu_memory_utilization': 0.65"),
        model="gpt-oss-20b", weight_format="mxfp4", engine_version="vllm", gpu="a100-80gb", capacity_gib=79.25,
        gpu_memory_utilization=0.65, max_model_len=131072, knobs={"version": "0.19.0"},
        measured={"weights_gib": 13.72, "kv_budget_gib": 36.56},
        assumptions="A100 80GB as CUDA reports it (79.25 GiB); vLLM 0.19 defaults on an A100 (2,048 tokens, 256 sequences)",
    ),
    ServingCase(
        "llamacpp-command-r-2gpu", "ggml-org/llama.cpp#6122",
        ("llm_load_tensors:        CPU buffer size =  1640.62 MiB",
         "llama_kv_cache_init:      CUDA0 KV buffer size =  1536.00 MiB",
         "llama_kv_cache_init:      CUDA1 KV buffer size =  3584.00 MiB",
         "llama_new_context_with_model: KV self size  = 5120.00 MiB, K (f16): 2560.00 MiB, V (f16): 2560.00 MiB"),
        model="command-r-v01", weight_format="gguf-q6_k", engine_version="llamacpp", max_model_len=4096,
        measured={"kv_self_mib": 5120.0, "host_weights_mib": 1640.62, "kv_split_mib": {"CUDA0": 1536.0, "CUDA1": 3584.0}},
        assumptions="Command-R v01 (40 layers, MHA 64 x 128, vocab 256,000, tied embedding) on an RTX 4070 Ti + 3090 Ti; "
                    "n_ctx 4096 in f16; the token embedding (also the output layer) stored in Q6_K; llama.cpp split the "
                    "40 blocks 12 / 28 by free memory (the planner splits evenly over identical GPUs)",
    ),
    ServingCase(
        "llamacpp-qwen25-3b-4080s", "SciSharp/LLamaSharp#1099",
        ("[llama Info]: llama_kv_cache_init:      CUDA0 KV buffer size =   144.00 MiB",
         "[llama Info]: llama_init_from_model: KV self size  =  144.00 MiB, K (f16):   72.00 MiB, V (f16):   72.00 MiB",
         "[llama Info]: llama_init_from_model:      CUDA0 compute buffer size =   300.75 MiB"),
        model="qwen2.5-3b", weight_format="gguf-q4_k_m", engine_version="llamacpp", max_model_len=4096,
        measured={"kv_self_mib": 144.0, "compute_mib": 300.75},
        assumptions="36 layers with n_embd_k_gqa = 256 (logged) = Qwen2.5-3B; n_ctx 4096 (144 MiB / 36 KiB per cell); "
                    "n_ubatch 512; flash attention on",
        role="calibration", calibrates="llama.cpp compute buffer (logits + residual stream)",
    ),
)

