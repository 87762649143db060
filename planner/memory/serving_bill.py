"""The memory bill of one GPU of a serving replica (``serving_memory``), each line with the formula that produced
its bytes (``planner memory --explain``).

``serving_memory`` hands over the terms it summed (the worst stage's weights, MLA decode copies, weight
loading slack); the KV line is written from the per-sequence bytes and concurrency it multiplied, the others from
the functions it called.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ..model.architecture import ModelArchitecture
from ..model.formats import QuantScope, WeightFormat
from ..units import ceil_div, fraction_of_bytes_floor
from .bill import BillLine, Term, gib_text, line_of_terms
from .engine_budgets import ACTIVATIONS_IN_BUDGET, WEIGHT_LOADING_SLACK, budget_bytes, budget_formula
from .serving import (
    VOCAB_PADDING,
    EngineSettings,
    ServingLayout,
    ServingMemory,
    activation_peak,
    cuda_graph_bytes,
    cuda_graph_term,
    device_stage_layers,
    host_bytes,
    kv_cache_bytes_per_sequence,
    kv_cache_bytes_per_token,
    kv_cache_bytes_per_token_per_layer,
    kv_heads_per_gpu,
    mla_decode_copy_bytes,
    quantized_parameter_split,
    runtime_overhead,
    weight_bytes_by_stage,
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


def serving_memory(
    arch: ModelArchitecture,
    layout: ServingLayout,
    engine: EngineSettings,
    capacity_bytes: int,
    concurrency: int,
    context_tokens: int,
    explain: bool = True,
) -> ServingMemory:
    """The per-GPU bill of a replica serving ``concurrency`` sequences of ``context_tokens`` tokens.

    ``explain=False`` leaves ``lines`` empty: candidate enumeration builds thousands of bills and never shows
    their formulas (the text was 20 % of enumeration time)."""
    stage_weights, mla_copies = max(weight_bytes_by_stage(arch, layout)), mla_decode_copy_bytes(arch, layout, engine)
    slack = int((stage_weights + mla_copies) * WEIGHT_LOADING_SLACK.get(engine.engine, 0.0)) if engine.mode == "engine" else 0
    weights = stage_weights + mla_copies + slack
    per_sequence = kv_cache_bytes_per_sequence(arch, layout, context_tokens, engine.block_size)
    activations, activation_words = activation_peak(arch, layout, engine, weights, explain)
    overhead, overhead_words = runtime_overhead(layout, engine)
    graphs = cuda_graph_bytes(arch, layout, engine)
    in_budget = engine.mode == "formula" or ACTIVATIONS_IN_BUDGET[engine.engine]
    graphs_in_budget = engine.mode == "engine" and (engine.cuda_graphs_in_budget or engine.engine == "trtllm")
    charged = weights + overhead + (activations if in_budget else 0) + (graphs if graphs_in_budget else 0)
    usable = (fraction_of_bytes_floor(capacity_bytes, engine.gpu_memory_utilization) if engine.mode == "formula" else
              budget_bytes(engine.engine, capacity_bytes, charged, overhead, engine.gpu_memory_utilization,
                           engine.mem_fraction_static, engine.free_gpu_memory_fraction))
    host_weights, host_kv = host_bytes(arch, layout, context_tokens, concurrency)
    memory = ServingMemory(
        weights_bytes=weights,
        kv_cache_bytes=per_sequence * ceil_div(concurrency, layout.dp),
        activations_bytes=activations,
        overhead_bytes=overhead,
        cuda_graph_bytes=graphs,
        capacity_bytes=capacity_bytes,
        usable_bytes=usable,
        kv_cache_bytes_per_token=kv_cache_bytes_per_token(arch, layout),
        kv_cache_bytes_per_sequence=per_sequence,
        concurrency=concurrency,
        context_tokens=context_tokens,
        block_size=engine.block_size,
        cuda_graphs_in_budget=graphs_in_budget,
        dp=layout.dp,
        activations_in_budget=in_budget,
        engine=engine.engine,
        host_weights_bytes=host_weights,
        host_kv_cache_bytes=host_kv,
    )
    if explain:
        lines = serving_lines(arch, layout, engine, memory, (stage_weights, mla_copies, slack), activation_words, overhead_words)
        memory = replace(memory, lines=lines, usable_formula=usable_formula(engine))
    return memory
