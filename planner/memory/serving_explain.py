"""The formula behind each line of a serving bill, in words (``planner memory --explain``)."""

from __future__ import annotations

from functools import lru_cache

from ..model.architecture import ModelArchitecture
from ..model.formats import QuantScope, WeightFormat
from ..units import BYTES_PER_GIB
from .engine_budgets import WEIGHT_LOADING_SLACK, budget_formula
from .serving import (SAMPLER_FP32_LOGIT_COPIES, VOCAB_PADDING, EngineSettings, ServingLayout, ServingMemory,
                      device_stage_layers, forward_peak_bytes, kv_cache_bytes_per_token_per_layer, kv_heads_per_gpu,
                      mla_decode_copy_bytes, quantized_parameter_split, sampler_peak_bytes)

_SCOPE = {QuantScope.NONE: "every matrix", QuantScope.LINEAR: "block linears (embeddings, LM head, norms, router 16-bit)",
          QuantScope.MLP: "MLP only (attention, first/last block, embeddings 16-bit)",
          QuantScope.EXPERTS: "routed experts only (rest 16-bit)", QuantScope.ALL_MATRICES: "all matrices incl. embeddings"}


@lru_cache(maxsize=256)
def _where(arch: ModelArchitecture, fmt: WeightFormat) -> str:
    """Which tensors the format quantizes: the checkpoint's own list when serving it as shipped, else the scope;
    with the parameter split between quantized and 16-bit tensors (cached: every plan's bill explains it)."""
    quantized, full = quantized_parameter_split(arch, fmt)
    show = lambda part: ", ".join(f"{role} {n / 1e9:.3g}B" for role, n in sorted(part.items(), key=lambda kv: -kv[1]))  # noqa: E731
    split = f"quantized: {show(quantized) or 'none'}; 16-bit: {show(full) or 'none'}"
    if arch.quantization is not None and arch.quantization.weight_format == fmt.name:
        return f"the tensors the checkpoint's quantization_config quantizes ({split})"
    return _SCOPE[fmt.scope] + (f" ({split})" if fmt.quantized else "")


def _gib(num_bytes: float) -> str:
    return f"{num_bytes / BYTES_PER_GIB:.3f} GiB"


def _weights(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, memory: ServingMemory) -> str:
    layers = max(len(r) for r in device_stage_layers(arch, layout))
    fmt = layout.weight_format
    if layout.gguf is not None:
        text = (f"the .gguf file's own tensor sizes ({layout.gguf.bits_per_weight:.3f} bits/weight over the file); "
                f"{layers} blocks on this GPU")
    else:
        text = (f"{fmt.name} ({fmt.effective_bits_per_weight:.4g} bits/weight incl. scales) on {_where(arch, fmt)}; "
                f"TP={layout.tp} (column/row splits, vocab-parallel embeddings padded to {VOCAB_PADDING}), "
                f"PP={layout.pp} worst stage ({layers} layers), EP={layout.ep}")
    if layout.offload_layers is not None:
        text += f"; llama.cpp -ngl {layout.offload_layers}: token embedding and the other blocks in host RAM"
    slack = WEIGHT_LOADING_SLACK.get(engine.engine, 0.0) if engine.mode == "engine" else 0.0
    if slack:
        text += f"; + {slack:.1%} weight-loading slack SGLang counts as weights"
    copies = mla_decode_copy_bytes(arch, layout, engine)
    if copies:
        text += f"; + 16-bit MLA decode copies of W_UK/W_UV {_gib(copies)}"
    return f"{text}; = {_gib(memory.weights_bytes)}"


def _activations(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, memory: ServingMemory) -> str:
    if engine.mode == "formula":
        return "formula mode: 0.2 x weights (seeds' rule of thumb)"
    if engine.activation_peak_bytes is not None:
        return "given: the engine's logged activation peak"
    if engine.engine == "llamacpp":
        return f"llama.cpp compute buffer for n_ubatch={engine.max_num_batched_tokens} tokens (f32 logits / FFN / residual)"
    fwd = forward_peak_bytes(arch, layout, engine)
    if engine.engine == "sglang":
        return (f"forward over chunked_prefill_size={engine.max_num_batched_tokens}: {_gib(fwd)}; inside SGLang's reserved "
                f"1 - mem_fraction_static, not charged to the KV pool")
    if engine.engine == "trtllm":
        return f"forward over max_num_tokens={engine.max_num_batched_tokens}: {_gib(fwd)}"
    smp = sampler_peak_bytes(arch, engine)
    return (f"max(forward over max_num_batched_tokens={engine.max_num_batched_tokens}: {_gib(fwd)}, sampler "
            f"{SAMPLER_FP32_LOGIT_COPIES[engine.engine_version]:g} x {min(engine.max_num_seqs, engine.max_num_batched_tokens)}"
            f" seqs x {arch.vocab_size} vocab x 4 B: {_gib(smp)}); {engine.engine_version} profile")


def _overhead(layout: ServingLayout, engine: EngineSettings) -> str:
    if engine.mode == "formula":
        return "formula mode: flat 1 GiB margin"
    if engine.non_torch_bytes is not None:
        return "given: the engine's logged non-torch memory"
    group = " + NCCL/all-reduce buffers" if layout.gpus_per_replica > 1 else ""
    if engine.engine == "vllm":
        return "non-torch increase while profiling: cuBLAS workspaces, allocator slack" + group
    if engine.engine == "llamacpp":
        return "CUDA context"
    return "CUDA context" + group + ("" if engine.engine == "sglang" else " + runtime buffers")


def explain_bill(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, memory: ServingMemory) -> dict[str, str]:
    """Line -> formula, for every line of ``memory``."""
    kv_note = (
        f"MLA latent ({arch.kv_lora_rank} + {arch.qk_rope_head_dim} rope) x {layout.kv_bytes_per_element:g} B, replicated over TP"
        if arch.uses_mla else f"2 (K,V) x {kv_heads_per_gpu(arch, layout.tp)} KV heads/GPU x {arch.attention_head_dim} "
        f"head_dim x {layout.kv_bytes_per_element:g} B"
    )
    per_layer = kv_cache_bytes_per_token_per_layer(arch, layout)
    layers = max(sum(not arch.is_cross_attention_layer(i) for i in r) for r in device_stage_layers(arch, layout))
    cross = (f"; {len(arch.cross_attention_layers)} cross-attention layers hold the image's {arch.cross_attention_tokens} "
             "tokens instead") if arch.cross_attention_layers else ""
    window = cross + (f"; {len(arch.sliding_window_layers or range(arch.num_layers))} local layers capped at "
              f"{arch.sliding_window} tokens" if arch.sliding_window else "")
    if memory.cuda_graphs_in_budget:
        graphs = "charged to the budget" + (" (cuda_graphs_in_budget)" if engine.engine == "vllm" else "")
    else:
        graphs = "captured after the budget, in the engine's reserve; not charged (counted in free)"
    charged = ["weights", "overhead"] + (["activations"] if memory.activations_in_budget else []) + (
        ["cuda graphs"] if memory.cuda_graphs_in_budget else [])
    usable = (f"capacity x gpu_memory_utilization {engine.gpu_memory_utilization:g}" if engine.mode == "formula" else
              budget_formula(engine.engine).replace("gpu_memory_utilization", f"gpu_memory_utilization {engine.gpu_memory_utilization:g}")
              .replace("mem_fraction_static", f"mem_fraction_static {engine.mem_fraction_static:g}")
              .replace("free_gpu_memory_fraction", f"free_gpu_memory_fraction {engine.free_gpu_memory_fraction:g}"))
    explanations = {
        "weights": _weights(arch, layout, engine, memory),
        "kv_cache": f"ceil({memory.concurrency} seq / DP={layout.dp}) x {memory.kv_cache_bytes_per_sequence:,} B/seq; per token "
                    f"per layer {kv_note} = {per_layer:g} B x {layers} layers; blocks of {engine.block_size} tokens{window}",
        "activations": _activations(arch, layout, engine, memory),
        "overhead": _overhead(layout, engine),
        "cuda_graphs": graphs,
        "usable": f"{engine.engine} {engine.version}: {usable}".replace("  ", " "),
        "kv_cache_budget": "usable - " + " - ".join(charged),
    }
    if memory.host_bytes:
        explanations["host"] = "host RAM: token embedding, blocks beyond -ngl and their KV cells" + (
            "" if layout.offload_layers is None or layout.offload_layers > arch.num_layers else ", the output layer")
    return explanations
