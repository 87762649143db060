"""The lines of a serving bill, each with the formula that produced its bytes (``planner memory --explain``).

``serving.serving_memory`` hands over the terms it summed (the worst stage's weights, MLA decode copies, weight
loading slack); the KV line is written from the per-sequence bytes and concurrency it multiplied, the others from
the functions it called.
"""

from __future__ import annotations

from functools import lru_cache

from ..model.architecture import ModelArchitecture
from ..model.formats import QuantScope, WeightFormat
from ..units import ceil_div
from .bill import BillLine, Term, gib_text, line_of_terms
from .engine_budgets import WEIGHT_LOADING_SLACK, budget_formula
from .serving import (
    VOCAB_PADDING,
    EngineSettings,
    ServingLayout,
    ServingMemory,
    cuda_graph_term,
    device_stage_layers,
    kv_cache_bytes_per_token_per_layer,
    kv_heads_per_gpu,
    quantized_parameter_split,
)

SOURCES = {
    "weights": "Megatron-LM tensor splits (Shoeybi et al. 2019, arXiv:1909.08053, Sec. 3); formats' bits incl. scales "
               "(planner.model.formats)",
    "kv_cache": "PagedAttention, Kwon et al. 2023, arXiv:2309.06180, Sec. 4.2; MLA, arXiv:2405.04434, Sec. 2.1.2",
    "activations": "vLLM profile_run (forward over max_num_batched_tokens, then the sampler); calibrated on case vllm-10517-a",
    "overhead": "planner.memory.engine_budgets.non_torch_bytes (non-torch memory per engine)",
    "cuda_graphs": "planner.memory.serving.CUDA_GRAPH_BYTES_PER_LAYER (from engine logs)",
    "host": "llama.cpp -ngl: layers not offloaded stay in host RAM",
}

_SCOPE = {QuantScope.NONE: "every matrix", QuantScope.LINEAR: "block linears (embeddings, LM head, norms, router 16-bit)",
          QuantScope.MLP: "MLP only (attention, first/last block, embeddings 16-bit)",
          QuantScope.EXPERTS: "routed experts only (rest 16-bit)", QuantScope.ALL_MATRICES: "all matrices incl. embeddings"}


@lru_cache(maxsize=256)
def _where(arch: ModelArchitecture, fmt: WeightFormat) -> str:
    """Which tensors the format quantizes: the checkpoint's own list when serving it as shipped, else the scope;
    with the parameter split between quantized and 16-bit tensors (cached: every plan's bill explains it)."""
    quantized, full = quantized_parameter_split(arch, fmt)

    def show(part: dict[str, int]) -> str:
        return ", ".join(f"{role} {n / 1e9:.3g}B" for role, n in sorted(part.items(), key=lambda kv: -kv[1]))

    split = f"quantized: {show(quantized) or 'none'}; 16-bit: {show(full) or 'none'}"
    if arch.quantization is not None and arch.quantization.weight_format == fmt.name:
        return f"the tensors the checkpoint's quantization_config quantizes ({split})"
    return _SCOPE[fmt.scope] + (f" ({split})" if fmt.quantized else "")


def _weights(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, stage_weights: int, mla_copies: int,
             slack: int) -> BillLine:
    layers = max(len(r) for r in device_stage_layers(arch, layout))
    fmt = layout.weight_format
    if layout.gguf is not None:
        note = (f"the .gguf file's own tensor sizes ({layout.gguf.bits_per_weight:.3f} bits/weight over the file); "
                f"{layers} blocks on this GPU")
    else:
        note = (f"{fmt.name} ({fmt.effective_bits_per_weight:.4g} bits/weight incl. scales) on {_where(arch, fmt)}; "
                f"TP={layout.tp} (column/row splits, vocab-parallel embeddings padded to {VOCAB_PADDING}), "
                f"PP={layout.pp} worst stage ({layers} layers), EP={layout.ep}")
    if layout.offload_layers is not None:
        note += f"; llama.cpp -ngl {layout.offload_layers}: token embedding and the other blocks in host RAM"
    rate = WEIGHT_LOADING_SLACK.get(engine.engine, 0.0)
    terms = (Term("worst stage", stage_weights), Term("16-bit MLA decode copies of W_UK/W_UV", mla_copies),
             Term(f"{rate:.1%} weight-loading slack {engine.engine} counts as weights", slack))
    return line_of_terms("weights", terms, SOURCES["weights"], note)


def _kv_cache(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, memory: ServingMemory) -> BillLine:
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
    sequences = Term(f"ceil({memory.concurrency} seq / DP={layout.dp})", ceil_div(memory.concurrency, layout.dp),
                     memory.kv_cache_bytes_per_sequence, "sequences")
    note = (f"per token per layer {kv_note} = {per_layer:g} B x {layers} layers, {memory.context_tokens:,} tokens "
            f"in blocks of {engine.block_size}{window}")
    return line_of_terms("kv_cache", (sequences,), SOURCES["kv_cache"], note)


def usable_formula(engine: EngineSettings) -> str:
    """The engine's budget rule with its setting."""
    if engine.mode == "formula":
        return f"capacity x gpu_memory_utilization {engine.gpu_memory_utilization:g}"
    usable = (budget_formula(engine.engine).replace("gpu_memory_utilization", f"gpu_memory_utilization {engine.gpu_memory_utilization:g}")
              .replace("mem_fraction_static", f"mem_fraction_static {engine.mem_fraction_static:g}")
              .replace("free_gpu_memory_fraction", f"free_gpu_memory_fraction {engine.free_gpu_memory_fraction:g}"))
    return f"{engine.engine} {engine.version}: {usable}".replace("  ", " ")


def serving_lines(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, memory: ServingMemory,
                  weight_terms: tuple[int, int, int], activation_words: str, overhead_words: str) -> tuple[BillLine, ...]:
    """The lines of ``memory`` (``in_total``: charged to the engine's budget), from the terms ``serving_memory``
    summed into its weights (worst stage, MLA decode copies, loading slack) and the words its activation and
    overhead functions gave beside their bytes."""
    graphs = cuda_graph_term(arch, layout, engine)
    where = ("charged to the budget" + (" (cuda_graphs_in_budget)" if engine.engine == "vllm" else "")
             if memory.cuda_graphs_in_budget else "captured after the budget, in the engine's reserve; not charged (counted in free)")
    lines = [
        _weights(arch, layout, engine, *weight_terms),
        _kv_cache(arch, layout, engine, memory),
        BillLine("activations", memory.activations_bytes, activation_words, SOURCES["activations"], memory.activations_in_budget),
        BillLine("overhead", memory.overhead_bytes, f"{overhead_words}: {gib_text(memory.overhead_bytes)}", SOURCES["overhead"]),
        line_of_terms("cuda_graphs", (graphs,), SOURCES["cuda_graphs"], where, memory.cuda_graphs_in_budget),
    ]
    if memory.host_bytes:
        beyond = "" if layout.offload_layers is None or layout.offload_layers > arch.num_layers else ", the output layer"
        lines.append(line_of_terms("host", (Term("host weights", memory.host_weights_bytes),
                                            Term("host KV cells", memory.host_kv_cache_bytes)), SOURCES["host"],
                                   f"host RAM: token embedding, blocks beyond -ngl and their KV cells{beyond}", in_total=False))
    return tuple(lines)
