"""Parameter inventory of a transformer: every weight matrix and vector with how tensor parallelism splits it.

Counting matrix by matrix (rather than ``12 * layers * hidden**2``) is what makes GQA, MoE, MLA, tied
embeddings, vision towers and quantization scales come out right. Each tensor carries its module path in the
Llama spelling of Hugging Face checkpoints (``model.layers.3.self_attn.q_proj``), so a checkpoint's
``quantization_config`` can say whether it is stored quantized (``planner.model.quantization``).

Source: the module shapes of Hugging Face ``transformers`` and vLLM's model files (``LlamaForCausalLM``,
``MixtralForCausalLM``, ``DeepseekV2ForCausalLM``, ``Gemma2ForCausalLM``, ``GptOssForCausalLM``,
``GPT2LMHeadModel``, ``FalconForCausalLM``, ``MllamaForConditionalGeneration``, ...), and Megatron-LM's
tensor-parallel layout (Shoeybi et al. 2019, arXiv:1909.08053, Sec. 3): column-parallel q/k/v and up/gate
projections, row-parallel output and down projections, vocab-parallel embeddings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache

from ..model.architecture import NORM_VECTORS, ModelArchitecture


class Split(str, Enum):
    """How tensor parallelism divides a tensor across the TP group."""

    COLUMN = "column"  # output features split (q/k/v, gate/up)
    ROW = "row"  # input features split (o, down)
    VOCAB = "vocab"  # embedding / LM head rows split over the vocabulary
    REPLICATED = "replicated"  # every rank holds a full copy (norms, router, MLA down-projections)
    KV_HEADS = "kv_heads"  # k/v projections: split by KV heads, replicated once TP exceeds them


class Role(str, Enum):
    """What a tensor is, for deciding which formats quantize it."""

    EMBEDDING = "embedding"
    LM_HEAD = "lm_head"
    LINEAR = "linear"  # attention and dense-MLP matrices of a block
    EXPERT = "expert"  # routed expert matrices
    SHARED_EXPERT = "shared_expert"
    ROUTER = "router"
    VISION = "vision"  # linear layers of the vision tower and its projector
    VECTOR = "vector"  # norms, biases, sinks, gates, vision embedding tables: always 16-bit


@dataclass(frozen=True)
class Tensor:
    """One weight tensor of shape ``rows x cols`` (rows = output features), repeated ``copies`` times."""

    name: str
    rows: int
    cols: int
    role: Role
    split: Split
    copies: int = 1  # e.g. routed experts in one layer
    in_attention: bool = False  # part of the attention block (formats that quantize only the MLP skip it)
    module: str = ""  # module path, Llama spelling (model.layers.3.mlp.gate_up_proj)
    quantized: bool | None = None  # what the checkpoint stores: None = no checkpoint quantization says
    fused: int = 1  # checkpoint tensors stacked in this one (gate and up projections)

    @property
    def parameters(self) -> int:
        return self.rows * self.cols * self.copies


def _attention_tensors(arch: ModelArchitecture, prefix: str, cross: bool) -> Iterator[Tensor]:
    for tensor in _attention_shapes(arch, cross):
        yield replace(tensor, in_attention=True, module=f"{prefix}.{'cross_attn' if cross else 'self_attn'}.{tensor.name}")


def _qk_norm(arch: ModelArchitecture, head_dim: int, cross: bool) -> Iterator[Tensor]:
    """q/k norms: one ``head_dim`` weight shared by the heads (Qwen3, Gemma 3, Mllama cross-attention) or one per
    head over the whole projection (OLMo 2, Cohere ``use_qk_norm``); LayerNorms add a bias (Phi)."""
    vectors = max(1, NORM_VECTORS[arch.norm])
    if cross or (arch.qk_norm and arch.qk_norm_scope == "head"):
        yield Tensor("qk_norm", 2 * vectors, head_dim, Role.VECTOR, Split.REPLICATED)
    elif arch.qk_norm:
        yield Tensor("qk_norm", vectors, (arch.num_attention_heads + arch.kv_heads) * head_dim, Role.VECTOR, Split.REPLICATED)


def _attention_shapes(arch: ModelArchitecture, cross: bool = False) -> Iterator[Tensor]:
    hidden, heads = arch.hidden_size, arch.num_attention_heads
    if arch.uses_mla:
        rope, nope = arch.qk_rope_head_dim or 0, arch.qk_nope_head_dim or 0
        v_dim = arch.v_head_dim or arch.attention_head_dim
        if arch.q_lora_rank:
            yield Tensor("q_a_proj", arch.q_lora_rank, hidden, Role.LINEAR, Split.REPLICATED)
            yield Tensor("q_a_layernorm", 1, arch.q_lora_rank, Role.VECTOR, Split.REPLICATED)
            yield Tensor("q_b_proj", heads * (nope + rope), arch.q_lora_rank, Role.LINEAR, Split.COLUMN)
        else:
            yield Tensor("q_proj", heads * (nope + rope), hidden, Role.LINEAR, Split.COLUMN)
        yield Tensor("kv_a_proj_with_mqa", (arch.kv_lora_rank or 0) + rope, hidden, Role.LINEAR, Split.REPLICATED)
        yield Tensor("kv_a_layernorm", 1, arch.kv_lora_rank or 0, Role.VECTOR, Split.REPLICATED)
        yield Tensor("kv_b_proj", heads * (nope + v_dim), arch.kv_lora_rank or 0, Role.LINEAR, Split.COLUMN)
        yield Tensor("o_proj", hidden, heads * v_dim, Role.LINEAR, Split.ROW)
        return
    head_dim, kv = arch.attention_head_dim, arch.kv_heads
    yield Tensor("q_proj", heads * head_dim, hidden, Role.LINEAR, Split.COLUMN)
    yield Tensor("k_proj", kv * head_dim, hidden, Role.LINEAR, Split.KV_HEADS)
    yield Tensor("v_proj", kv * head_dim, hidden, Role.LINEAR, Split.KV_HEADS)
    yield Tensor("o_proj", hidden, heads * head_dim, Role.LINEAR, Split.ROW)
    if arch.attention_bias and not cross:
        yield Tensor("q_bias", 1, heads * head_dim, Role.VECTOR, Split.COLUMN)
        yield Tensor("kv_bias", 2, kv * head_dim, Role.VECTOR, Split.KV_HEADS)
    if arch.attention_output_bias and not cross:
        yield Tensor("o_bias", 1, hidden, Role.VECTOR, Split.REPLICATED)
    yield from _qk_norm(arch, head_dim, cross)
    if cross:  # cross_attn_attn_gate and cross_attn_mlp_gate: one learned scalar each
        yield Tensor("cross_attn_gates", 1, 2, Role.VECTOR, Split.REPLICATED)
    if arch.attention_sinks:
        yield Tensor("sinks", 1, heads, Role.VECTOR, Split.COLUMN)


def _mlp_tensors(arch: ModelArchitecture, width: int, role: Role, copies: int = 1, prefix: str = "") -> Iterator[Tensor]:
    hidden = arch.hidden_size
    up_rows = 2 * width if arch.gated_mlp else width
    up = "gate_up_proj" if arch.gated_mlp else "up_proj"
    yield Tensor(f"{prefix}{up}", up_rows, hidden, role, Split.COLUMN, copies, fused=2 if arch.gated_mlp else 1)
    yield Tensor(f"{prefix}down_proj", hidden, width, role, Split.ROW, copies)
    if arch.mlp_bias:
        yield Tensor(f"{prefix}mlp_bias", 1, up_rows + hidden, Role.VECTOR, Split.REPLICATED, copies)


def _block_tensors(arch: ModelArchitecture, layer_index: int) -> list[Tensor]:
    prefix = f"model.layers.{layer_index}"
    tensors = list(_attention_tensors(arch, prefix, arch.is_cross_attention_layer(layer_index)))
    mlp: list[Tensor] = []
    if arch.is_moe_layer(layer_index):
        mlp.append(Tensor("router", arch.num_experts, arch.hidden_size, Role.ROUTER, Split.REPLICATED, module="gate"))
        if arch.router_bias:
            mlp.append(Tensor("router_bias", 1, arch.num_experts, Role.VECTOR, Split.REPLICATED, module="gate"))
        mlp += _mlp_tensors(arch, arch.expert_intermediate_size, Role.EXPERT, arch.num_experts, "experts.")
        if arch.num_shared_experts:
            width = arch.shared_expert_intermediate_size or arch.expert_intermediate_size
            mlp += _mlp_tensors(arch, width * arch.num_shared_experts, Role.SHARED_EXPERT, 1, "shared_experts.")
        if arch.shared_expert_gate:
            mlp.append(Tensor("shared_expert_gate", 1, arch.hidden_size, Role.ROUTER, Split.REPLICATED))
    else:
        mlp += _mlp_tensors(arch, arch.intermediate_size, Role.LINEAR)
    tensors += [replace(t, module=f"{prefix}.mlp.{t.module or t.name}") for t in mlp]
    norm_rows = arch.norms_per_layer * NORM_VECTORS[arch.norm]
    if norm_rows:
        tensors.append(Tensor("norms", norm_rows, arch.hidden_size, Role.VECTOR, Split.REPLICATED, module=f"{prefix}.norms"))
    return tensors


def module_synonyms(module: str) -> tuple[str, ...]:
    """Other spellings of a module path: the halves of a fused gate/up projection, and one expert of a fused
    expert tensor (``mlp.experts.0.gate_proj``), so that ignore lists naming either match."""
    names = []
    parts = module.rsplit(".", 1)
    if len(parts) == 2 and parts[1] == "gate_up_proj":
        names += [f"{parts[0]}.gate_proj", f"{parts[0]}.up_proj"]
    if ".experts." in module:
        names += [n.replace(".experts.", ".experts.0.") for n in [module, *names]]
    return tuple(names)


def _with_checkpoint_quantization(arch: ModelArchitecture, tensors: list[Tensor]) -> tuple[Tensor, ...]:
    quant = arch.quantization
    if quant is None:
        return tuple(tensors)
    return tuple(t if t.role is Role.VECTOR else replace(t, quantized=quant.quantizes(t.module, t.role.value, module_synonyms(t.module)))
                 for t in tensors)


@lru_cache(maxsize=8192)
def layer_tensors(arch: ModelArchitecture, layer_index: int) -> tuple[Tensor, ...]:
    """Every tensor of transformer block ``layer_index``, marked with what the checkpoint stores quantized."""
    return _with_checkpoint_quantization(arch, _block_tensors(arch, layer_index))


@lru_cache(maxsize=1024)
def layer_signatures(arch: ModelArchitecture) -> tuple[int, ...]:
    """For each block, the index of the first block with identical tensors (same kind, same quantization), so
    per-block byte counts can be computed once per distinct block."""
    seen: dict[tuple[object, ...], int] = {}
    out = []
    for index in range(arch.num_layers):
        key = tuple((t.name, t.rows, t.cols, t.copies, t.quantized) for t in layer_tensors(arch, index))
        out.append(seen.setdefault(key, index))
    return tuple(out)


@lru_cache(maxsize=1024)
def embedding_tensors(arch: ModelArchitecture) -> tuple[Tensor, ...]:
    """Input embedding (and a learned position table), final norm and (unless tied) the LM head."""
    tensors = [Tensor("embed_tokens", arch.embedding_rows or arch.vocab_size, arch.hidden_size, Role.EMBEDDING, Split.VOCAB,
                      module="model.embed_tokens")]
    if arch.position_embeddings:
        tensors.append(Tensor("embed_positions", arch.position_embeddings, arch.hidden_size, Role.EMBEDDING, Split.REPLICATED,
                              module="model.embed_positions"))
    if NORM_VECTORS[arch.norm]:
        tensors.append(Tensor("final_norm", NORM_VECTORS[arch.norm], arch.hidden_size, Role.VECTOR, Split.REPLICATED, module="model.norm"))
    if not arch.tie_word_embeddings:
        tensors.append(Tensor("lm_head", arch.vocab_size, arch.hidden_size, Role.LM_HEAD, Split.VOCAB, module="lm_head"))
    if arch.lm_head_bias:
        tensors.append(Tensor("lm_head_bias", 1, arch.vocab_size, Role.VECTOR, Split.VOCAB, module="lm_head"))
    return _with_checkpoint_quantization(arch, tensors)


@lru_cache(maxsize=1024)
def vision_tensors(arch: ModelArchitecture) -> tuple[Tensor, ...]:
    """The vision tower's blocks, embedding tables and projector (none for a text-only model)."""
    tower = arch.vision
    if tower is None:
        return ()
    hidden, inner = tower.hidden_size, tower.intermediate_size
    up_rows = 2 * inner if tower.gated_mlp else inner
    per_block = [Tensor("attn.qkv", 3 * hidden, hidden, Role.VISION, Split.COLUMN),
                 Tensor("attn.proj", hidden, hidden, Role.VISION, Split.ROW),
                 Tensor("mlp.gate_up_proj" if tower.gated_mlp else "mlp.fc1", up_rows, hidden, Role.VISION, Split.COLUMN,
                        fused=2 if tower.gated_mlp else 1),
                 Tensor("mlp.down_proj" if tower.gated_mlp else "mlp.fc2", hidden, inner, Role.VISION, Split.ROW)]
    vectors = 2 * (2 if tower.norm == "layernorm" else 1) * hidden
    vectors += (4 * hidden if tower.attention_bias else 0) + ((up_rows + hidden) if tower.mlp_bias else 0)
    tensors = []
    for index in range(tower.num_layers):
        prefix = f"vision_tower.blocks.{index}"
        tensors += [replace(t, module=f"{prefix}.{t.name}") for t in per_block]
        tensors.append(Tensor("block_vectors", 1, vectors + (2 if index >= tower.num_layers - tower.gated_layers else 0),
                              Role.VECTOR, Split.REPLICATED, module=f"{prefix}.norms"))
    if tower.embedding_parameters:
        tensors.append(Tensor("vision_embeddings", 1, tower.embedding_parameters, Role.VECTOR, Split.REPLICATED,
                              module="vision_tower.embeddings"))
    projector = "vision_tower.merger.mlp" if tower.kind.startswith("qwen") else "multi_modal_projector"
    for k, (rows, cols) in enumerate(tower.projector):
        tensors.append(Tensor(f"projector.{k}", rows, cols, Role.VISION, Split.REPLICATED, module=f"{projector}.linear_{k + 1}"))
        if tower.projector_bias:
            tensors.append(Tensor(f"projector.{k}.bias", 1, rows, Role.VECTOR, Split.REPLICATED, module=f"{projector}.linear_{k + 1}"))
    return _with_checkpoint_quantization(arch, tensors)


def non_layer_tensors(arch: ModelArchitecture) -> tuple[Tensor, ...]:
    """Everything outside the decoder blocks: embeddings, final norm, LM head and the vision tower."""
    return embedding_tensors(arch) + vision_tensors(arch)


def held_by_stage(tensor: Tensor, arch: ModelArchitecture, first: bool, last: bool) -> bool:
    """Whether a pipeline stage holds a non-block tensor: the input embeddings, position table and vision tower
    sit on the first stage, the final norm and LM head on the last; tied embeddings are needed on both."""
    if tensor.role is Role.EMBEDDING:
        return first or (last and arch.tie_word_embeddings and tensor.name == "embed_tokens")
    if tensor.module.startswith(("vision_tower", "multi_modal_projector")):
        return first
    return last


@dataclass(frozen=True)
class ParameterCount:
    """Total and active (per-token) parameter counts, with the embedding and vision-tower shares.

    ``total`` is the whole checkpoint (language model and vision tower); ``active`` counts the language model's
    parameters one token uses (``experts_per_token`` routed experts per MoE layer), without the vision tower.
    """

    total: int
    active: int
    embedding: int  # input embedding (+ position table) + LM head (once when tied)
    vision: int = 0  # vision tower and projector

    @property
    def non_embedding(self) -> int:
        return self.total - self.embedding - self.vision


@lru_cache(maxsize=1024)
def count_parameters(arch: ModelArchitecture) -> ParameterCount:
    """Parameters of the model; ``active`` counts only ``experts_per_token`` routed experts per MoE layer.

    Multi-token-prediction modules (DeepSeek-V3's extra layer) are not counted, as in the published 671B.
    """
    embedding = sum(t.parameters for t in embedding_tensors(arch) if t.role in (Role.EMBEDDING, Role.LM_HEAD))
    vision = sum(t.parameters for t in vision_tensors(arch))
    total = sum(t.parameters for t in embedding_tensors(arch))
    active = total
    for index in range(arch.num_layers):
        for tensor in layer_tensors(arch, index):
            total += tensor.parameters
            if tensor.role is Role.EXPERT:
                active += tensor.parameters // arch.num_experts * arch.experts_per_token
            else:
                active += tensor.parameters
    return ParameterCount(total=total + vision, active=active, embedding=embedding, vision=vision)


def largest_layer_parameters(arch: ModelArchitecture) -> int:
    """Parameters of the biggest single module group (a block or the embedding), for ZeRO-3 gathers."""
    blocks = max(sum(t.parameters for t in layer_tensors(arch, i)) for i in range(arch.num_layers))
    embed = max(t.parameters for t in embedding_tensors(arch))
    return max(blocks, embed)
