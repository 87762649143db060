"""Training activations per layer, Korthikanti et al. 2022 (arXiv:2205.05198, Sec. 4, Table 2).

Counted tensor by tensor so that the paper's closed forms come out exactly for its GPT models (MHA, 4h GeLU MLP,
dropout), while GQA, SwiGLU, MLA and MoE layers are counted as they are. Bytes are 16-bit activations and 1-byte
dropout masks; results are exact ``Fraction``s so the solver's linear-in-micro-batch terms round only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from ..model.architecture import ModelArchitecture


@dataclass(frozen=True)
class ActivationTerms:
    """Bytes one layer stores for one micro-batch, grouped as Korthikanti Sec. 4.2 splits them under TP.

    ``replicated``: layer-norm inputs, QKV and MLP inputs, dropout masks (the paper's 10sbh, split only by SP);
    ``split``: Q/K/V, attention output, MLP intermediates (24sbh, split by TP); ``quadratic``: softmax, its
    dropout mask and output (5as^2b, not stored by FlashAttention); ``layer_input``: what full recomputation keeps.
    """

    replicated: int
    split: int
    quadratic: int
    layer_input: int


def layer_activation_terms(arch: ModelArchitecture, layer_index: int, sequence_length: int, micro_batch: int,
                           flash_attention: bool = True, dropout: bool = True) -> ActivationTerms:
    """Per-layer activation bytes (16-bit activations, 1-byte dropout masks), Korthikanti Sec. 4.1.

    Attention block 11sbh + 5as^2b: QKV input 2sbh, Q and K 4sbh, softmax 2as^2b, its dropout mask as^2b and
    output 2as^2b, V 2sbh, output-projection input 2sbh, dropout mask sbh. MLP 19sbh: input 2sbh, GeLU input and
    output 2 x 2·s·b·4h, dropout mask sbh; a gated MLP keeps the gate/up output (2·s·b·2f) and their product
    (2·s·b·f). Layer norms 4sbh. GQA narrows K and V to the KV heads. FlashAttention (Dao et al. 2022,
    arXiv:2205.14135, Sec. 3.1) keeps the fp32 log-sum-exp (4·a·s·b) instead of the s x s matrices. An MoE layer
    (Fedus et al. 2021) keeps each token's ``k`` routed copies, their expert intermediates and fp32 router logits.
    """
    tokens = sequence_length * micro_batch
    h, heads = arch.hidden_size, arch.num_attention_heads
    if arch.uses_mla:
        qk_dim = (arch.qk_nope_head_dim or 0) + (arch.qk_rope_head_dim or 0)
        q_width = k_width = heads * qk_dim
        v_width = output_width = heads * (arch.v_head_dim or arch.attention_head_dim)
    else:
        q_width = output_width = heads * arch.attention_head_dim
        k_width = v_width = arch.kv_heads * arch.attention_head_dim
    masks = 2 * tokens * h if dropout else 0
    replicated = 2 * tokens * h + 2 * tokens * h + 4 * tokens * h + masks
    split = 2 * tokens * (q_width + k_width + v_width) + 2 * tokens * output_width
    quadratic = 0
    if flash_attention:
        split += 4 * heads * tokens
    else:
        quadratic = heads * sequence_length * sequence_length * micro_batch * (5 if dropout else 2)
    per_width = 6 if arch.gated_mlp else 4
    if arch.is_moe_layer(layer_index):
        k = arch.experts_per_token
        shared = (arch.shared_expert_intermediate_size or arch.expert_intermediate_size) * arch.num_shared_experts
        split += per_width * tokens * (k * arch.expert_intermediate_size + shared)
        replicated += 2 * tokens * h * k + 4 * tokens * arch.num_experts
    else:
        split += per_width * tokens * arch.intermediate_size
    return ActivationTerms(replicated, split, quadratic, 2 * tokens * h)


def stored_layer_bytes(terms: ActivationTerms, tp: int, sequence_parallel: bool, recompute: str) -> Fraction:
    """What one layer keeps until its backward pass, Korthikanti Table 2.

    none: sbh(10 + 24/t + 5as/(ht)); +SP: sbh(34/t + 5as/(ht)); selective recomputation drops the 5as^2b
    attention-core terms; full recomputation keeps the layer input, 2sbh (2sbh/t with SP, whose inter-layer
    tensors are already sequence-sharded: Megatron-LM ``CheckpointFunction``).
    """
    if recompute == "full":
        return Fraction(terms.layer_input, tp if sequence_parallel else 1)
    quadratic = 0 if recompute == "selective" else terms.quadratic
    if sequence_parallel:
        return Fraction(terms.replicated + terms.split + quadratic, tp)
    return terms.replicated + Fraction(terms.split + quadratic, tp)


def loss_activation_bytes(arch: ModelArchitecture, tokens: int, tp: int, sequence_parallel: bool) -> Fraction:
    """Output layer and cross-entropy: 4sbh/t (1 + v/h), Korthikanti Sec. 4.3 (fp32 logits over the vocabulary
    split by TP, which dominates for large vocabularies); the final-norm part is split only with SP."""
    return Fraction(4 * tokens * arch.hidden_size, tp if sequence_parallel else 1) + Fraction(4 * tokens * arch.vocab_size, tp)


@lru_cache(maxsize=4096)
def cached_layer_terms(arch: ModelArchitecture, moe_layer: bool, sequence_length: int, micro_batch: int, flash: bool,
                       dropout: bool) -> ActivationTerms:
    """``layer_activation_terms`` of a dense or an MoE layer, cached: every dense (MoE) layer stores the same."""
    index = arch.num_layers - 1 if moe_layer else 0
    return layer_activation_terms(arch, index, sequence_length, micro_batch, flash, dropout)
