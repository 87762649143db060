"""Model architectures: the shape of a transformer, from a catalog entry, a Hugging Face ``config.json``
(``planner.model.hf_config``) or an inline mapping (scenario block or ``planner memory --architecture file``).

Only what decides memory and FLOPs is kept: the decoder's blocks, embeddings and LM head, the vision tower of
a vision-language model, and which tensors a quantized checkpoint keeps in 16-bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import Issue, ModelConfigError
from .quantization import CheckpointQuantization

AttentionKind = Literal["MHA", "GQA", "MQA", "MLA"]
"""How keys and values are kept: one per query head (MHA), shared by groups (GQA) or by all heads (MQA), or compressed
into a latent (MLA, DeepSeek-V2 section 2.1)."""
NormKind = Literal["rmsnorm", "layernorm", "layernorm_no_bias", "nonparametric"]
NORM_VECTORS = {"rmsnorm": 1, "layernorm": 2, "layernorm_no_bias": 1, "nonparametric": 0}
"""Parameter vectors of one norm: RMSNorm a weight, LayerNorm a weight and a bias (Cohere drops the bias, OLMo-1
has no affine parameters at all)."""


class VisionTower(BaseModel):
    """The image encoder of a vision-language model (ViT blocks) and the projector into the language model.

    Blocks are counted matrix by matrix like the decoder's; everything outside the blocks and the projector's
    linears (patch embedding, class token, position and tile tables, pre/post norms, gates) is
    ``embedding_parameters``, stored in 16-bit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    kind: str = Field("vit", description="Encoder family (clip, siglip, qwen2_vl, qwen2_5_vl, mllama)")
    num_layers: int = Field(..., ge=1, le=1000)
    hidden_size: int = Field(..., ge=1, le=1_000_000)
    intermediate_size: int = Field(..., ge=1, le=10_000_000)
    num_attention_heads: int = Field(..., ge=1, le=10_000)
    gated_mlp: bool = False
    attention_bias: bool = True
    mlp_bias: bool = True
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    gated_layers: int = Field(0, ge=0, description="Blocks with two learned scalar gates (Mllama's global layers)")
    embedding_parameters: int = Field(0, ge=0, description="Patch/position/tile embeddings, class token, pre/post norms, gates")
    projector: tuple[tuple[int, int], ...] = Field((), description="(out_features, in_features) of each projector linear")
    projector_bias: bool = True

    @model_validator(mode="after")
    def _check(self) -> VisionTower:
        if self.gated_layers > self.num_layers:
            raise ValueError("vision gated_layers cannot exceed its num_layers")
        return self


class ModelArchitecture(BaseModel):
    """A decoder-only transformer, dense or mixture-of-experts, with MHA/GQA/MQA or MLA attention."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field("custom", max_length=200, description="Display name")
    family: str | None = Field(None, max_length=200, description="Model family (llama, qwen, mixtral, deepseek, gemma, ...)")
    num_layers: int = Field(..., ge=1, le=1000, description="Transformer blocks (num_hidden_layers)")
    hidden_size: int = Field(..., ge=1, le=1_000_000)
    num_attention_heads: int = Field(..., ge=1, le=10_000)
    num_kv_heads: int | None = Field(None, ge=1, le=10_000, description="Key/value heads; = attention heads for MHA, 1 for MQA")
    head_dim: int | None = Field(None, ge=1, le=10_000, description="Per-head dimension when not hidden/heads (Gemma, Qwen3)")
    intermediate_size: int = Field(..., ge=1, le=10_000_000, description="FFN width of dense layers")
    vocab_size: int = Field(..., ge=1, le=100_000_000)
    tie_word_embeddings: bool = Field(False, description="LM head shares the embedding matrix")
    gated_mlp: bool = Field(True, description="SwiGLU/GeGLU (3 matrices) rather than a 2-matrix MLP")
    attention_bias: bool = Field(False, description="Biases on the q/k/v projections")
    attention_output_bias: bool = Field(False, description="Bias on the attention output projection")
    mlp_bias: bool = False
    lm_head_bias: bool = Field(False, description="Bias on the LM head (Phi-2)")
    norm: NormKind = "rmsnorm"
    norms_per_layer: int = Field(2, ge=0, le=8, description="Norms per block (Gemma 2 has 4, Falcon-7B and Phi-2 1)")
    qk_norm: bool = Field(False, description="RMSNorm on q and k (Qwen3, Gemma 3, OLMo 2)")
    qk_norm_scope: Literal["head", "projection"] = Field(
        "head", description="head: one head_dim weight shared by the heads (Qwen3); projection: one per head (OLMo 2, Cohere)")
    attention_sinks: bool = Field(False, description="One learned sink logit per head (gpt-oss)")
    max_position_embeddings: int | None = Field(None, ge=1, le=10**9)
    position_embeddings: int = Field(0, ge=0, description="Rows of a learned absolute position table (GPT-2, OPT); 0 = none")
    rotary_dim: int | None = Field(None, ge=0, description="Rotary dimensions per head when not head_dim (GPT-NeoX, Phi); 0 = no RoPE")
    embedding_rows: int | None = Field(None, ge=1, description="Input-embedding rows when not vocab_size (Mllama adds 8)")
    # Mixture of experts
    num_experts: int = Field(0, ge=0, le=100_000, description="Routed experts per MoE layer (0 = dense)")
    experts_per_token: int = Field(0, ge=0, le=1_000)
    moe_intermediate_size: int | None = Field(None, ge=1, le=10_000_000, description="FFN width of one routed expert")
    num_shared_experts: int = Field(0, ge=0, le=64)
    shared_expert_intermediate_size: int | None = Field(None, ge=1, le=10_000_000, description="FFN width of one shared expert")
    first_k_dense_layers: int = Field(0, ge=0, description="Leading dense layers before MoE layers start")
    router_bias: bool = False
    shared_expert_gate: bool = Field(False, description="A sigmoid gate (1 x hidden) on the shared expert (Qwen2-MoE)")
    # Multi-head latent attention (DeepSeek-V2/V3)
    kv_lora_rank: int | None = Field(None, ge=1, le=1_000_000)
    q_lora_rank: int | None = Field(None, ge=1, le=1_000_000)
    qk_rope_head_dim: int | None = Field(None, ge=1, le=1_000_000)
    qk_nope_head_dim: int | None = Field(None, ge=1, le=1_000_000)
    v_head_dim: int | None = Field(None, ge=1, le=1_000_000)
    # Local attention
    sliding_window: int | None = Field(None, ge=1, le=10**9, description="Window of local-attention layers, in tokens")
    sliding_window_layers: tuple[int, ...] | None = Field(
        None, description="Indices of local-attention layers; all layers when sliding_window is set and this is empty"
    )
    # Cross-attention to image tokens (Mllama)
    cross_attention_layers: tuple[int, ...] = Field((), description="Indices of blocks that cross-attend to the image")
    cross_attention_tokens: int = Field(0, ge=0, description="Image tokens each cross-attention layer caches per sequence")
    # Vision tower, checkpoint quantization and provenance
    vision: VisionTower | None = None
    quantization: CheckpointQuantization | None = Field(None, description="Which tensors the checkpoint stores quantized")
    assumptions: tuple[str, ...] = Field((), description="What the config.json did not say and was assumed")

    @model_validator(mode="after")
    def _check_shape(self) -> ModelArchitecture:
        kv = self.kv_heads
        if self.num_attention_heads % kv != 0:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be a multiple of num_kv_heads ({kv})"
            )
        if self.num_experts and not self.experts_per_token:
            raise ValueError("experts_per_token is required when num_experts > 0")
        if self.experts_per_token > self.num_experts:
            raise ValueError("experts_per_token cannot exceed num_experts")
        if self.kv_lora_rank is not None and self.qk_rope_head_dim is None:
            raise ValueError("MLA needs qk_rope_head_dim with kv_lora_rank")
        if self.first_k_dense_layers > self.num_layers:
            raise ValueError("first_k_dense_layers cannot exceed num_layers")
        if self.sliding_window_layers and max(self.sliding_window_layers) >= self.num_layers:
            raise ValueError("sliding_window_layers has an index beyond num_layers")
        if self.sliding_window_layers and self.sliding_window is None:
            raise ValueError("sliding_window_layers needs sliding_window (the window, in tokens)")
        if self.cross_attention_layers and max(self.cross_attention_layers) >= self.num_layers:
            raise ValueError("cross_attention_layers has an index beyond num_layers")
        return self

    @property
    def kv_heads(self) -> int:
        return self.num_kv_heads or self.num_attention_heads

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def uses_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def expert_intermediate_size(self) -> int:
        return self.moe_intermediate_size or self.intermediate_size

    def is_moe_layer(self, layer_index: int) -> bool:
        return self.is_moe and layer_index >= self.first_k_dense_layers

    def is_cross_attention_layer(self, layer_index: int) -> bool:
        return layer_index in self.cross_attention_layers

    @property
    def rope_dim(self) -> int:
        """Rotary dimensions per head (0 without RoPE)."""
        if self.uses_mla:
            return self.qk_rope_head_dim or 0
        return self.attention_head_dim if self.rotary_dim is None else self.rotary_dim

    def is_sliding_layer(self, layer_index: int) -> bool:
        if self.sliding_window is None:
            return False
        if not self.sliding_window_layers:
            return True
        return layer_index in self.sliding_window_layers

    def tp_is_valid(self, tp: int) -> bool:
        """TP splits the attention heads; KV heads are split, or replicated when TP is a multiple of them."""
        if self.num_attention_heads % tp:
            return False
        return self.uses_mla or self.kv_heads % tp == 0 or tp % self.kv_heads == 0

    @property
    def attention_kind(self) -> AttentionKind:
        if self.uses_mla:
            return "MLA"
        if self.kv_heads == self.num_attention_heads:
            return "MHA"
        if self.kv_heads == 1:
            return "MQA"
        return "GQA"


def architecture_from_mapping_file(path: str | Path) -> ModelArchitecture:
    """Read a ``ModelArchitecture`` mapping (the scenario's ``model: {architecture: ...}`` block) from YAML or JSON."""
    from pydantic import ValidationError

    from ..yaml_io import load_yaml_file

    path = Path(path)
    data, locator = load_yaml_file(path, "architecture", ModelConfigError)
    nested = isinstance(data, dict) and isinstance(data.get("architecture"), dict)
    if nested:
        data = data["architecture"]
    if not isinstance(data, dict):
        raise ModelConfigError("architecture file must hold a mapping", [Issue("not a mapping of architecture fields", source=str(path))])
    if "model_type" in data:
        raise ModelConfigError("this looks like a Hugging Face config.json", [Issue(
            "it has model_type", source=str(path), field_path="model_type", suggestion="pass it with --config")])
    try:
        return ModelArchitecture.model_validate({"name": path.stem[:200], **data})
    except ValidationError as exc:
        from ..schema.translate import validation_issues

        issues = validation_issues(exc, data, source=str(path), locator=None if nested else locator, root=ModelArchitecture)
        raise ModelConfigError("invalid model architecture", issues) from None
