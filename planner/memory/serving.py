"""Serving memory per GPU: weights, KV cache, activations and runtime overhead, in bytes.

The bill follows how vLLM sizes its KV cache (``Worker.determine_num_available_blocks`` in V0,
``gpu_worker.determine_available_memory`` in V1): the engine may use ``capacity x gpu_memory_utilization``;
what the weights, the profiled activation peak and non-torch memory leave is the KV cache, allocated in
blocks of ``block_size`` tokens. CUDA graphs are captured *after* that budget, in the reserve
``capacity x (1 - gpu_memory_utilization)``, so they are reported but not charged, as in V0 and V1 up to
the releases that log "CUDA graph memory ... estimated" (``cuda_graphs_in_budget`` charges them, as
vLLM's ``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS`` does).

With pipeline parallelism every component is taken at its worst stage (most layers, embedding on the first
stage, LM head and sampler on the last), so the bill bounds every GPU of the replica for any number of
sequences, which is what the solver's linear constraint needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from ..model.architecture import ModelArchitecture
from ..model.formats import SIXTEEN_BIT, KvCacheDtype, QuantScope, WeightFormat
from ..model.gguf import GgufWeights
from ..units import BYTES_PER_GIB, BYTES_PER_MIB, ceil_div
from .bill import BillLine, Term, formulas, gib_text, sum_formula
from .engine_budgets import non_torch_bytes
from .llamacpp import compute_buffer_bytes, offloaded_layers, output_on_gpu
from .parameters import Role, Split, Tensor, embedding_tensors, held_by_stage, layer_signatures, layer_tensors, non_layer_tensors

EngineVersion = Literal["vllm-v1", "vllm-v0"]
EngineName = Literal["vllm", "sglang", "trtllm", "llamacpp"]

VOCAB_PADDING = 64
"""vLLM pads the vocabulary to a multiple of 64 before splitting it (``DEFAULT_VOCAB_PADDING_SIZE``)."""

CUDA_GRAPH_BYTES_PER_LAYER = {"vllm-v0": 7 * BYTES_PER_MIB, "vllm-v1": 34 * BYTES_PER_MIB, "sglang": 15 * BYTES_PER_MIB}
"""CUDA-graph pool per layer on a stage: V0 case vllm-phi4-gptq logs 0.27 GiB for 40 layers (6.9 MiB/layer);
V1's piecewise graphs (capture sizes up to 512) log 2.62 GiB for 80 layers (vllm-qwen25-72b-tp4-l40s); SGLang
case sglang-qwq32b-l4 logs 0.93 GiB for 64 layers (cuda_graph_max_bs 80). TensorRT-LLM counts its graphs in the
profiled peak and llama.cpp keeps none worth a line: 0."""

SAMPLER_FP32_LOGIT_COPIES = {"vllm-v0": 9.5, "vllm-v1": 3.5}
"""Logit-sized fp32 buffers alive at the sampler's peak during profiling, per ``max_num_seqs x vocab``.

V0 profiles with ``top_p=0.99, top_k=vocab-1`` (``ModelRunner.profile_run``), so ``_apply_top_k_top_p``
sorts the logits: bf16 logits (0.5) + fp32 logits (1) + sorted values (1) + int64 indices (2) + the int64
index input (2) + the radix sort's double buffer (3) = 9.5 (vllm-phi4-gptq implies 9.8). Current V1
releases profile the sampler without top-k/top-p ("the sampler may skip top_k, top_p, and logprobs",
``profile_run``): bf16 logits + fp32 logits + probabilities + exponential noise = 3.5.
"""


@dataclass(frozen=True)
class ServingLayout:
    """How one replica is laid out: parallel degrees and storage formats.

    ``dp`` data-parallel attention ranks inside the replica (DeepSeek-style DP attention); experts are then
    spread over ``ep = tp x dp`` GPUs. Independent replicas are counted by the solver, not here.
    """

    tp: int = 1
    pp: int = 1
    ep: int = 1  # expert-parallel degree: 1 (experts TP-split), tp, or tp x dp (experts spread, not split)
    weight_format: WeightFormat = SIXTEEN_BIT
    kv_cache_dtype: KvCacheDtype | None = None
    dp: int = 1
    offload_layers: int | None = None  # llama.cpp -ngl: token embedding in host RAM, the last blocks on the GPUs
    gguf: GgufWeights | None = None  # a .gguf file's own tensor sizes, in place of the weight format's

    def __post_init__(self) -> None:
        if min(self.tp, self.pp, self.ep, self.dp) < 1:
            raise ValueError("parallel degrees must be >= 1")
        if self.ep not in (1, self.tp, self.tp * self.dp):
            raise ValueError("ep must be 1, tp or tp x dp")

    @property
    def gpus_per_replica(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def kv_bytes_per_element(self) -> float:
        return self.kv_cache_dtype.bytes_per_element if self.kv_cache_dtype else 2.0


@dataclass(frozen=True)
class EngineSettings:
    """The concrete memory knobs of one engine for one replica shape (``planner.engines.engine_settings`` fills
    them with the engine's defaults).

    ``max_num_batched_tokens`` is the tokens of one forward pass the engine sizes its activations for (vLLM
    ``max_num_batched_tokens``, SGLang ``chunked_prefill_size``, TensorRT-LLM ``max_num_tokens``, llama.cpp
    ``n_ubatch``); ``max_num_seqs`` the sequences of one decode batch (vLLM ``max_num_seqs``, SGLang
    ``cuda_graph_max_bs``, TensorRT-LLM ``max_batch_size``). ``engine_version`` is vLLM's profiling generation.
    ``activation_peak_bytes`` / ``non_torch_bytes`` replace the modelled values with ones an engine logged.
    """

    gpu_memory_utilization: float = 0.9
    max_num_batched_tokens: int = 8192
    max_num_seqs: int = 256
    block_size: int = 16
    activation_bytes: int = 2
    mode: Literal["engine", "formula"] = "engine"
    engine_version: EngineVersion = "vllm-v1"
    cuda_graphs_in_budget: bool = False
    activation_peak_bytes: int | None = None
    non_torch_bytes: int | None = None
    engine: EngineName = "vllm"
    version: str = ""
    mem_fraction_static: float = 0.88
    free_gpu_memory_fraction: float = 0.9
    scale_up_link: str = "none"  # the GPU's NVLink / NVSwitch / xGMI or none (PCIe): sizes NCCL's buffers


def stage_layer_ranges(num_layers: int, pp: int) -> list[range]:
    """Layers held by each pipeline stage, split as evenly as possible (vLLM ``get_pp_indices``)."""
    if pp > num_layers:
        raise ValueError(f"pipeline degree {pp} exceeds the {num_layers} layers")
    base, extra = divmod(num_layers, pp)
    ranges, start = [], 0
    for stage in range(pp):
        size = base + (1 if stage >= pp - extra else 0)
        ranges.append(range(start, start + size))
        start += size
    return ranges


def device_stage_layers(arch: ModelArchitecture, layout: ServingLayout) -> list[range]:
    """Blocks on each GPU stage: all of them split over PP, or with llama.cpp's ``-ngl`` only the offloaded ones."""
    if layout.offload_layers is None:
        return stage_layer_ranges(arch.num_layers, layout.pp)
    on_gpu = offloaded_layers(arch.num_layers, layout.offload_layers)
    if len(on_gpu) < layout.pp:
        return [on_gpu] + [range(0)] * (layout.pp - 1)
    return [range(on_gpu.start + r.start, on_gpu.start + r.stop) for r in stage_layer_ranges(len(on_gpu), layout.pp)]


def _worst_stage_layers(arch: ModelArchitecture, layout: ServingLayout) -> int:
    return max(len(r) for r in device_stage_layers(arch, layout))


def _quantizes(fmt: WeightFormat, tensor: Tensor, edge_block: bool, arch: ModelArchitecture | None = None) -> bool:
    """Whether ``fmt`` stores ``tensor`` quantized. Serving a quantized checkpoint in its own format, the
    checkpoint's ``quantization_config`` decides tensor by tensor; otherwise the format's scope does (vectors and
    vision towers never)."""
    if arch is not None and arch.quantization is not None and tensor.quantized is not None and fmt.name == arch.quantization.weight_format:
        return tensor.quantized
    role = tensor.role
    if role in (Role.VECTOR, Role.VISION):
        return False
    if fmt.scope in (QuantScope.NONE, QuantScope.ALL_MATRICES):
        return True
    if edge_block:
        return False
    if fmt.scope is QuantScope.LINEAR:
        return role in (Role.LINEAR, Role.EXPERT, Role.SHARED_EXPERT)
    if fmt.scope is QuantScope.MLP:
        return role in (Role.EXPERT, Role.SHARED_EXPERT) or (role is Role.LINEAR and not tensor.in_attention)
    return role is Role.EXPERT


def quantized_parameter_split(arch: ModelArchitecture, fmt: WeightFormat) -> tuple[dict[str, int], dict[str, int]]:
    """Parameters stored quantized and in 16-bit, by tensor role, over the whole model (for the weights line)."""
    quantized: dict[str, int] = {}
    full: dict[str, int] = {}
    edges = [_is_edge_block(arch, fmt, i) for i in range(arch.num_layers)]
    tensors = [(t, edges[i]) for i in range(arch.num_layers) for t in layer_tensors(arch, i)]
    for tensor, edge in tensors + [(t, False) for t in non_layer_tensors(arch)]:
        side = quantized if _quantizes(fmt, tensor, edge, arch) else full
        side[tensor.role.value] = side.get(tensor.role.value, 0) + tensor.parameters
    return quantized, full


def _expert_tp(layout: ServingLayout) -> int:
    """Expert matrices are TP-split only without expert parallelism; with EP each GPU holds whole experts."""
    return layout.tp if layout.ep == 1 else 1


def kv_heads_per_gpu(arch: ModelArchitecture, tp: int) -> int:
    """KV heads one GPU holds: split over TP, and one whole head per GPU once TP exceeds them (replicated)."""
    return ceil_div(arch.kv_heads, tp) if tp <= arch.kv_heads else 1


def _shard_shape(tensor: Tensor, arch: ModelArchitecture, layout: ServingLayout) -> tuple[int, int, int]:
    """(rows, cols, copies) of ``tensor`` held by one GPU: Megatron column/row splits, vocab-parallel embeddings."""
    rows, cols, copies, tp = tensor.rows, tensor.cols, tensor.copies, layout.tp
    if tensor.role is Role.EXPERT:
        copies, tp = ceil_div(copies, layout.ep), _expert_tp(layout)
    if tensor.split is Split.COLUMN:
        rows = ceil_div(rows, tp)
    elif tensor.split is Split.ROW:
        cols = ceil_div(cols, tp)
    elif tensor.split is Split.VOCAB:
        rows = ceil_div(ceil_div(rows, VOCAB_PADDING) * VOCAB_PADDING, tp)
    elif tensor.split is Split.KV_HEADS:
        rows = rows // arch.kv_heads * kv_heads_per_gpu(arch, tp)
    return rows, cols, copies


def tensor_bytes_per_gpu(tensor: Tensor, arch: ModelArchitecture, layout: ServingLayout, edge_block: bool = False) -> int:
    """Bytes of ``tensor`` on one GPU in the layout's format (scales included); 16-bit outside its scope."""
    rows, cols, copies = _shard_shape(tensor, arch, layout)
    fmt = layout.weight_format
    if _quantizes(fmt, tensor, edge_block, arch):
        return fmt.matrix_bytes(rows, cols, tensor.fused) * copies
    return rows * cols * copies * fmt.unquantized_bytes_per_parameter


def rotary_cache_bytes(arch: ModelArchitecture) -> int:
    """vLLM's cos/sin cache: max positions x rotary dim in the model dtype, counted in 'weights' memory.

    Case vllm-12330: Llama-3 8B (8,192 positions) loads 0.03 GiB less than Llama-3.1 8B (131,072 positions).
    """
    return (arch.max_position_embeddings or 0) * arch.rope_dim * 2


@lru_cache(maxsize=4096)
def _layer_bytes(arch: ModelArchitecture, layout: ServingLayout, index: int, edge_block: bool) -> int:
    return sum(tensor_bytes_per_gpu(t, arch, layout, edge_block) for t in layer_tensors(arch, index))


def _is_edge_block(arch: ModelArchitecture, fmt: WeightFormat, index: int) -> bool:
    edges = fmt.unquantized_edge_blocks
    return edges > 0 and (index < edges or index >= arch.num_layers - edges)


def weight_bytes_by_stage(arch: ModelArchitecture, layout: ServingLayout) -> list[int]:
    """Weight bytes on one GPU of each pipeline stage."""
    return list(_weight_bytes_by_stage(arch, layout))


@lru_cache(maxsize=4096)
def _weight_bytes_by_stage(arch: ModelArchitecture, layout: ServingLayout) -> tuple[int, ...]:
    per_stage = []
    ranges = device_stage_layers(arch, layout)
    fmt, gguf, llama, same_as = layout.weight_format, layout.gguf, layout.offload_layers is not None, layer_signatures(arch)
    for stage, layers in enumerate(ranges):
        if gguf is not None:
            total = sum(gguf.layer_bytes[i] for i in layers)
        else:
            total = sum(_layer_bytes(arch, layout, same_as[i], _is_edge_block(arch, fmt, i)) for i in layers)
        first, last = stage == 0, stage == len(ranges) - 1
        if llama:  # token embedding in host RAM; the output layer on the last GPU once offloaded
            if last and output_on_gpu(arch.num_layers, layout.offload_layers or 0):
                total += gguf.gpu_output_bytes if gguf is not None else sum(
                    tensor_bytes_per_gpu(t, arch, layout) for t in _output_layer(arch))
            per_stage.append(total)
            continue
        total += sum(tensor_bytes_per_gpu(t, arch, layout) for t in non_layer_tensors(arch) if held_by_stage(t, arch, first, last))
        per_stage.append(total + rotary_cache_bytes(arch))
    return tuple(per_stage)


def _output_layer(arch: ModelArchitecture) -> list[Tensor]:
    """Final norm and LM head (the embedding matrix again when tied), as llama.cpp offloads them."""
    tensors = embedding_tensors(arch)
    head = [t for t in tensors if t.role is Role.LM_HEAD] or [t for t in tensors if t.role is Role.EMBEDDING]
    return [t for t in tensors if t.role is Role.VECTOR] + head


def host_bytes(arch: ModelArchitecture, layout: ServingLayout, context_tokens: int, concurrency: int) -> tuple[int, int]:
    """(weights, KV cache) llama.cpp keeps in host RAM: the token embedding, blocks not offloaded and their KV
    cells, and the output layer while ``-ngl`` does not reach it."""
    if layout.offload_layers is None:
        return 0, 0
    gguf, ngl = layout.gguf, layout.offload_layers
    host_layers = range(offloaded_layers(arch.num_layers, ngl).start)
    host_only = ServingLayout(weight_format=layout.weight_format, kv_cache_dtype=layout.kv_cache_dtype)
    if gguf is not None:
        weights = gguf.token_embd_bytes + sum(gguf.layer_bytes[i] for i in host_layers)
        if not output_on_gpu(arch.num_layers, ngl):
            weights += gguf.output_bytes + gguf.output_norm_bytes
    else:
        embed = [t for t in embedding_tensors(arch) if t.role is Role.EMBEDDING]
        tensors = embed + (_output_layer(arch) if not output_on_gpu(arch.num_layers, ngl) else [])
        weights = sum(tensor_bytes_per_gpu(t, arch, host_only) for t in tensors)
        weights += sum(_layer_bytes(arch, host_only, layer_signatures(arch)[i], False) for i in host_layers)
    kv = round(len(host_layers) * kv_cache_bytes_per_token_per_layer(arch, host_only) * context_tokens * concurrency)
    return weights, kv


def mla_decode_copy_bytes(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings) -> int:
    """16-bit copies of MLA's absorbed up-projections ``W_UK`` / ``W_UV`` kept for decode, on the worst stage.

    vLLM's ``MLACommonImpl.process_weights_after_loading`` splits ``kv_b_proj`` into ``W_UK_T`` and ``W_UV``:
    views of a 16-bit checkpoint's weight, but a dequantized bf16 copy when ``kv_b_proj`` is quantized ("we
    just store fp16/bf16 copies"). SGLang's ``DeepseekV2ForCausalLM.post_load_weights`` makes contiguous
    ``w_kc`` / ``w_vc`` copies in every case. Per layer: ``heads / TP x kv_lora_rank x (qk_nope + v_head) x 2``
    bytes (4 MiB for DeepSeek-V3 at TP = 8).
    """
    if not arch.uses_mla or engine.engine not in ("vllm", "sglang"):
        return 0
    kv_b = next(t for t in layer_tensors(arch, 0) if t.name == "kv_b_proj")
    if engine.engine == "vllm" and not (layout.weight_format.quantized and _quantizes(layout.weight_format, kv_b, False, arch)):
        return 0
    per_layer = ceil_div(kv_b.rows, layout.tp) * kv_b.cols * 2
    return _worst_stage_layers(arch, layout) * per_layer


def kv_cache_bytes_per_token_per_layer(arch: ModelArchitecture, layout: ServingLayout) -> float:
    """KV bytes one token costs in one layer on one GPU.

    Standard attention: ``2 x kv_heads_per_gpu x head_dim x bytes`` (K and V); with TP > kv_heads each GPU keeps
    one whole KV head (replicated, not split). MLA (DeepSeek-V2 paper, arXiv:2405.04434, Sec. 2.1.2): the
    compressed latent ``kv_lora_rank`` plus the decoupled RoPE key ``qk_rope_head_dim``, replicated on every
    TP rank as vLLM's MLA backend does. Per-head scales (LMDeploy int8/int4) add their bits per head.
    """
    dtype = layout.kv_cache_dtype
    bits = dtype.bits if dtype else 16
    overhead = dtype.overhead_bits_per_head if dtype else 0
    if arch.uses_mla:
        return (((arch.kv_lora_rank or 0) + (arch.qk_rope_head_dim or 0)) * bits + overhead) / 8
    return 2 * kv_heads_per_gpu(arch, layout.tp) * (arch.attention_head_dim * bits + overhead) / 8


@lru_cache(maxsize=4096)  # asked once per candidate shape; the per-layer scan is the costly part
def kv_cache_bytes_per_token(arch: ModelArchitecture, layout: ServingLayout) -> int:
    """KV bytes per token on one GPU of the worst stage, every self-attention layer of the stage caching the
    token (cross-attention layers cache the image's tokens instead, see ``kv_cache_bytes_per_sequence``)."""
    layers = max(sum(not arch.is_cross_attention_layer(i) for i in r) for r in device_stage_layers(arch, layout))
    return round(layers * kv_cache_bytes_per_token_per_layer(arch, layout))


@lru_cache(maxsize=4096)  # GPU-independent: candidate enumeration asks the same question for every GPU type
def kv_cache_bytes_per_sequence(arch: ModelArchitecture, layout: ServingLayout, context_tokens: int, block_size: int = 16) -> int:
    """KV bytes one sequence of ``context_tokens`` holds on one GPU of the worst stage.

    Paged KV (Kwon et al. 2023, vLLM, arXiv:2309.06180, Sec. 4.2) allocates whole blocks of ``block_size``
    tokens. Local-attention layers (Mistral ``sliding_window``, Gemma 2/3 and gpt-oss alternating layers) keep
    at most the window plus one block of tokens; cross-attention layers (Mllama) keep the image's
    ``cross_attention_tokens``, whatever the context (vLLM's encoder-decoder cross-attention cache).
    """
    per_layer = kv_cache_bytes_per_token_per_layer(arch, layout)
    full_tokens = ceil_div(context_tokens, block_size) * block_size
    worst = 0.0
    for layers in device_stage_layers(arch, layout):
        stage_bytes = 0.0
        for index in layers:
            tokens = full_tokens
            if arch.is_cross_attention_layer(index):
                tokens = ceil_div(arch.cross_attention_tokens, block_size) * block_size
            elif arch.is_sliding_layer(index) and arch.sliding_window is not None:
                tokens = min(full_tokens, (ceil_div(arch.sliding_window, block_size) + 1) * block_size)
            stage_bytes += tokens * per_layer
        worst = max(worst, stage_bytes)
    return round(worst)


def forward_peak_bytes(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings) -> int:
    """Peak of the profiling forward pass over ``max_num_batched_tokens`` tokens on one GPU.

    The peak sits in the MLP, where the residual, normed and output hidden states (3 x T x h), the fused
    gate/up output (T x 2f/tp) and the activation output (T x f/tp) are alive together, or, for MoE layers,
    in the fused-MoE caches (T x top_k x (2f + f)/tp and T x top_k x h, vLLM ``fused_moe`` intermediate
    caches). Calibrated on case vllm-10517-a (2.06 GiB predicted, 2.07 GiB logged at 20,000 tokens).
    A TensorRT engine plans its activation memory and keeps two hidden states (input and normed) next to the
    MLP intermediates: calibrated on case trtllm-224 (3.93 GiB for 51,200 tokens of Llama-2-7B).
    """
    tokens, width, hidden = engine.max_num_batched_tokens, engine.activation_bytes, arch.hidden_size
    matrices = 3 if arch.gated_mlp else 2
    states = 2 if engine.engine == "trtllm" else 3
    dense = tokens * (states * hidden + matrices * ceil_div(arch.intermediate_size, layout.tp)) * width
    if not arch.is_moe:
        return dense
    expert_width = ceil_div(arch.expert_intermediate_size, _expert_tp(layout))
    moe = tokens * (states * hidden + arch.experts_per_token * (matrices * expert_width + hidden)) * width
    return moe if arch.first_k_dense_layers == 0 else max(dense, moe)


def sampler_peak(arch: ModelArchitecture, engine: EngineSettings, explain: bool = False) -> tuple[int, str]:
    """Peak of the profiling sampler on the last stage: ``copies x max_num_seqs x vocab x 4`` bytes, and its formula
    (``explain``).

    Logits are gathered to the full vocabulary on the driver rank, so TP does not divide them; the copies
    per engine version are in ``SAMPLER_FP32_LOGIT_COPIES``. The forward's output hidden states stay alive.
    """
    rows = min(engine.max_num_seqs, engine.max_num_batched_tokens)
    vocab = ceil_div(arch.vocab_size, VOCAB_PADDING) * VOCAB_PADDING
    copies = SAMPLER_FP32_LOGIT_COPIES[engine.engine_version]
    logits = int(copies * rows * vocab * 4)
    hidden = engine.max_num_batched_tokens * arch.hidden_size * engine.activation_bytes
    words = f"sampler {copies:g} x {rows} seqs x {vocab} padded vocab x 4 B + hidden states: {gib_text(logits + hidden)}" if explain else ""
    return logits + hidden, words


def activation_peak(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, weight_bytes: int = 0,
                    explain: bool = False) -> tuple[int, str]:
    """Peak activation memory on one GPU, or the engine's own logged figure when given, and its formula (``explain``).

    vLLM: its profiling run's forward pass or sampler, whichever is larger (they run one after the other).
    SGLang (``chunked_prefill_size``) and TensorRT-LLM (``max_num_tokens``): the forward pass. llama.cpp: its
    compute buffer (``llamacpp.compute_buffer_bytes``). In ``formula`` mode the seeds' rule of thumb is used
    instead: activations = 20 % of the weights.
    """
    tokens = engine.max_num_batched_tokens
    if engine.mode == "formula":
        return weight_bytes // 5, "formula mode: weights / 5 (seeds' rule of thumb)"
    if engine.activation_peak_bytes is not None:
        return engine.activation_peak_bytes, "given: the engine's logged activation peak"
    if engine.engine == "llamacpp":
        holds_output = layout.offload_layers is None or output_on_gpu(arch.num_layers, layout.offload_layers)
        width = arch.expert_intermediate_size * arch.experts_per_token if arch.is_moe else arch.intermediate_size
        return (compute_buffer_bytes(tokens, arch.hidden_size, width, arch.vocab_size, holds_output),
                f"llama.cpp compute buffer for n_ubatch={tokens} tokens (f32 logits / FFN / residual)")
    forward = forward_peak_bytes(arch, layout, engine)
    if engine.engine == "sglang":
        return forward, (f"forward over chunked_prefill_size={tokens}: {gib_text(forward)}; inside SGLang's reserved "
                         "1 - mem_fraction_static, not charged to the KV pool" if explain else "")
    if engine.engine != "vllm":
        return forward, f"forward over max_num_tokens={tokens}: {gib_text(forward)}" if explain else ""
    sampler, words = sampler_peak(arch, engine, explain)
    return max(forward, sampler), (f"max(forward over max_num_batched_tokens={tokens}: {gib_text(forward)}, {words}); "
                                   f"{engine.engine_version} profile" if explain else "")


def activation_peak_bytes(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings, weight_bytes: int = 0) -> int:
    """Bytes of ``activation_peak``."""
    return activation_peak(arch, layout, engine, weight_bytes)[0]


def runtime_overhead(layout: ServingLayout, engine: EngineSettings) -> tuple[int, str]:
    """Non-torch memory charged to the budget (``engine_budgets.non_torch_bytes``; ``formula`` mode: 1 GiB), and
    what it holds."""
    if engine.mode == "formula":
        return BYTES_PER_GIB, "formula mode: a flat margin"
    if engine.non_torch_bytes is not None:
        return engine.non_torch_bytes, "given: the engine's logged non-torch memory"
    group = " + NCCL/all-reduce buffers" if layout.gpus_per_replica > 1 else ""
    words = {"vllm": "non-torch increase while profiling: cuBLAS workspaces, allocator slack" + group,
             "llamacpp": "CUDA context", "sglang": "CUDA context" + group}.get(engine.engine, "CUDA context" + group + " + runtime buffers")
    return non_torch_bytes(engine.engine, layout.gpus_per_replica, layout.tp, engine.scale_up_link), words


def cuda_graph_term(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings | None = None) -> Term:
    """CUDA-graph pool of the stage with the most layers (per-layer constant per engine)."""
    engine = engine or EngineSettings()
    key = engine.engine_version if engine.engine == "vllm" else engine.engine
    return Term(f"{key} graph pool", _worst_stage_layers(arch, layout), CUDA_GRAPH_BYTES_PER_LAYER.get(key, 0), "layers")


def cuda_graph_bytes(arch: ModelArchitecture, layout: ServingLayout, engine: EngineSettings | None = None) -> int:
    """Bytes of ``cuda_graph_term``."""
    return cuda_graph_term(arch, layout, engine).bytes


@dataclass(frozen=True)
class ServingMemory:
    """The memory bill of one GPU of a serving replica, in bytes, with the formulas behind each line."""

    weights_bytes: int
    kv_cache_bytes: int
    activations_bytes: int
    overhead_bytes: int
    cuda_graph_bytes: int
    capacity_bytes: int
    usable_bytes: int
    kv_cache_bytes_per_token: int
    kv_cache_bytes_per_sequence: int
    concurrency: int
    context_tokens: int
    lines: tuple[BillLine, ...] = field(default=(), compare=False)  # with their formulas (``explain=True``)
    block_size: int = 16
    cuda_graphs_in_budget: bool = False
    dp: int = 1
    activations_in_budget: bool = True
    engine: str = "vllm"
    host_weights_bytes: int = 0
    host_kv_cache_bytes: int = 0
    usable_formula: str = ""

    @property
    def explanations(self) -> dict[str, str]:
        """Line -> formula; the budget, the total and what is free written from the lines themselves."""
        if not self.lines:
            return {}
        fixed = [line for line in self.lines if line.name != "kv_cache"]
        outside = [line.name for line in self.lines if not line.in_total and line.name != "host"]
        return formulas(self.lines) | {
            "usable": self.usable_formula, "kv_cache_budget": "usable - " + sum_formula(fixed).replace(" + ", " - "),
            "total": "what the engine charges: " + sum_formula(self.lines),
            "free": "capacity - total" + "".join(f" - {name} (outside the budget)" for name in outside)}

    @property
    def fixed_bytes(self) -> int:
        """Memory the engine charges to its budget that does not grow with the number of sequences."""
        graphs = self.cuda_graph_bytes if self.cuda_graphs_in_budget else 0
        activations = self.activations_bytes if self.activations_in_budget else 0
        return self.weights_bytes + activations + self.overhead_bytes + graphs

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + self.kv_cache_bytes

    @property
    def graphs_outside_budget_bytes(self) -> int:
        """CUDA graphs captured after the engine's budget: they still occupy the card."""
        return 0 if self.cuda_graphs_in_budget else self.cuda_graph_bytes

    @property
    def outside_budget_bytes(self) -> int:
        """What occupies the card outside the engine's budget: CUDA graphs, and SGLang's activations."""
        return self.graphs_outside_budget_bytes + (0 if self.activations_in_budget else self.activations_bytes)

    @property
    def free_bytes(self) -> int:
        """What is really left on the card: capacity minus the bill and what the engine keeps outside its budget."""
        return self.capacity_bytes - self.total_bytes - self.outside_budget_bytes

    @property
    def host_bytes(self) -> int:
        """Host RAM the replica needs per GPU: llama.cpp's layers (and their KV cells) not offloaded to the GPU."""
        return self.host_weights_bytes + self.host_kv_cache_bytes

    @property
    def headroom_fraction(self) -> float:
        return self.free_bytes / self.capacity_bytes if self.capacity_bytes else 0.0

    @property
    def kv_budget_bytes(self) -> int:
        """What the engine leaves for the KV cache at its utilisation setting."""
        return self.usable_bytes - self.fixed_bytes

    @property
    def kv_cache_capacity_tokens(self) -> int:
        """Tokens the KV budget holds in whole blocks, as vLLM logs 'GPU KV cache size' (blocks x block_size)."""
        if self.kv_cache_bytes_per_token <= 0 or self.kv_budget_bytes <= 0:
            return 0
        blocks = self.kv_budget_bytes // (self.kv_cache_bytes_per_token * self.block_size)
        return int(blocks * self.block_size)

    def max_concurrency_at(self, max_model_len: int) -> float:
        """vLLM's 'Maximum concurrency for L tokens per request': KV capacity in tokens / L."""
        return self.kv_cache_capacity_tokens / max_model_len if max_model_len > 0 else 0.0

    def per_gpu_gib(self, digits: int = 3) -> dict[str, float]:
        """The bill's lines in GiB (2^30 bytes), as reports and JSON show them: weights + KV cache + activations +
        overhead + CUDA graphs + free = capacity (graphs are inside ``total`` only when charged to the budget)."""
        lines = {"weights": self.weights_bytes, "kv_cache": self.kv_cache_bytes, "activations": self.activations_bytes,
                 "overhead": self.overhead_bytes, "cuda_graphs": self.cuda_graph_bytes, "total": self.total_bytes,
                 "free": self.free_bytes, "capacity": self.capacity_bytes, "usable": self.usable_bytes}
        if self.host_bytes:
            lines |= {"host_weights": self.host_weights_bytes, "host_kv_cache": self.host_kv_cache_bytes, "host": self.host_bytes}
        return {name: round(value / BYTES_PER_GIB, digits) for name, value in lines.items()}

    def max_concurrency(self, limit_bytes: int | None = None) -> int:
        """Sequences of ``context_tokens`` one replica holds within ``limit_bytes`` per GPU (default: usable)."""
        limit = self.usable_bytes if limit_bytes is None else limit_bytes
        return sequences_within(limit, self.fixed_bytes, self.kv_cache_bytes_per_sequence) * self.dp


def sequences_within(limit_bytes: int, fixed_bytes: int, kv_bytes_per_sequence: int) -> int:
    """Whole sequences of ``kv_bytes_per_sequence`` bytes that fit beside ``fixed_bytes`` within ``limit_bytes``:
    the one capacity rule the candidates, the solver's rows and the reports share (exact, in bytes)."""
    room = limit_bytes - fixed_bytes
    if room < 0 or kv_bytes_per_sequence <= 0:
        return 0
    return room // kv_bytes_per_sequence
