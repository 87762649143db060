"""Vision towers of vision-language ``config.json`` files: the image encoder and its projector, counted from
the ``vision_config`` block (a ``VisionTower``), with the defaults of ``transformers``' configuration classes
for the keys a config leaves out (each one recorded as an assumption).

Module shapes, per encoder (``transformers`` modelling code of each type):

- CLIP (``CLIPVisionModel``, LLaVA): class token, patch Conv2d without bias, (patches + 1) positions,
  pre- and post-LayerNorm; blocks: q/k/v/out with biases, two LayerNorms, fc1/fc2 with biases.
- SigLIP (``SiglipVisionModel``, Gemma 3): patch Conv2d with bias, one position per patch, post-LayerNorm,
  CLIP-style blocks, and the attention-pooling head only when ``vision_use_head``.
- Qwen2-VL (``Qwen2VisionTransformerPretrainedModel``): Conv3d patch embedding (temporal patch 2) without
  bias; blocks: fused qkv and proj with biases, LayerNorms, fc1/fc2 (``mlp_ratio``) with biases; merger:
  LayerNorm and two linears over ``spatial_merge_size**2`` patches.
- Qwen2.5-VL: as Qwen2-VL with RMSNorms and a gated (gate/up/down, with biases) MLP of ``intermediate_size``.
- Mllama (``MllamaVisionModel``, Llama 3.2 Vision): patch Conv2d without bias, class token, gated position
  embedding (positions + a tile table of ``(aspect ratios + 1) x tiles x positions x hidden``), gated pre- and
  post-tile tables, two LayerNorms; ``num_hidden_layers`` local plus ``num_global_layers`` gated blocks with
  bias-free attention; projector ``vision_output_dim -> text hidden``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .architecture import VisionTower

Reader = Callable[..., Any]
"""``read(key[, default, why])``: a key of ``vision_config``, else its default, recorded as an assumption."""

VISION_DEFAULTS: dict[str, dict[str, Any]] = {
    # transformers CLIPVisionConfig / SiglipVisionConfig / Qwen2VLVisionConfig / Qwen2_5_VLVisionConfig / MllamaVisionConfig
    "clip_vision_model": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                          "image_size": 224, "patch_size": 32, "num_channels": 3},
    "siglip_vision_model": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                            "image_size": 224, "patch_size": 16, "num_channels": 3, "vision_use_head": True},
    "qwen2_vl": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3, "hidden_size": 3584,
                 "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
    "qwen2_5_vl": {"depth": 32, "hidden_size": 3584, "intermediate_size": 3420, "num_heads": 16, "in_chans": 3,
                   "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
    "mllama_vision_model": {"hidden_size": 1280, "num_hidden_layers": 32, "num_global_layers": 8, "num_attention_heads": 16,
                            "num_channels": 3, "intermediate_size": 5120, "vision_output_dim": 7680, "image_size": 448,
                            "patch_size": 14, "max_num_tiles": 4,
                            "supported_aspect_ratios": [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]]},
}


def _vit_blocks(read: Reader) -> dict[str, int]:
    return {"num_layers": int(read("num_hidden_layers")), "hidden_size": int(read("hidden_size")),
            "intermediate_size": int(read("intermediate_size")), "num_attention_heads": int(read("num_attention_heads"))}


def clip_tower(read: Reader) -> dict[str, Any]:
    """CLIP ViT: class token + patches + positions + pre/post LayerNorm (``CLIPVisionEmbeddings``)."""
    blocks = _vit_blocks(read)
    hidden, patch, channels = blocks["hidden_size"], int(read("patch_size")), int(read("num_channels"))
    positions = (int(read("image_size")) // patch) ** 2 + 1
    embedding = hidden + channels * patch * patch * hidden + positions * hidden + 2 * 2 * hidden
    return {"kind": "clip", **blocks, "embedding_parameters": embedding}


def siglip_tower(read: Reader) -> dict[str, Any]:
    """SigLIP ViT: patch Conv2d with bias, a position per patch, post-LayerNorm, optional pooling head."""
    blocks = _vit_blocks(read)
    hidden, inner = blocks["hidden_size"], blocks["intermediate_size"]
    patch, channels = int(read("patch_size")), int(read("num_channels"))
    positions = (int(read("image_size")) // patch) ** 2
    embedding = channels * patch * patch * hidden + hidden + positions * hidden + 2 * hidden
    if read("vision_use_head"):
        # probe, nn.MultiheadAttention (in/out projections with biases), LayerNorm, fc1/fc2 with biases
        embedding += hidden + (3 * hidden * hidden + 3 * hidden) + (hidden * hidden + hidden) + 2 * hidden
        embedding += 2 * hidden * inner + inner + hidden
    return {"kind": "siglip", **blocks, "embedding_parameters": embedding}


def qwen2_vl_tower(read: Reader, text_hidden: int) -> VisionTower:
    embed, depth = int(read("embed_dim")), int(read("depth"))
    patch, temporal, channels = int(read("patch_size")), int(read("temporal_patch_size")), int(read("in_chans"))
    merged = embed * int(read("spatial_merge_size")) ** 2
    out = int(read("hidden_size", text_hidden, "= the language model's hidden_size"))
    return VisionTower(kind="qwen2_vl", num_layers=depth, hidden_size=embed, intermediate_size=embed * int(read("mlp_ratio")),
                       num_attention_heads=int(read("num_heads")),
                       embedding_parameters=channels * temporal * patch * patch * embed + 2 * embed,  # Conv3d, merger ln_q
                       projector=((merged, merged), (out, merged)))


def qwen2_5_vl_tower(read: Reader, text_hidden: int) -> VisionTower:
    hidden, depth = int(read("hidden_size")), int(read("depth"))
    patch, temporal, channels = int(read("patch_size")), int(read("temporal_patch_size")), int(read("in_chans"))
    merged = hidden * int(read("spatial_merge_size")) ** 2
    out = int(read("out_hidden_size", text_hidden, "= the language model's hidden_size"))
    return VisionTower(kind="qwen2_5_vl", num_layers=depth, hidden_size=hidden, intermediate_size=int(read("intermediate_size")),
                       num_attention_heads=int(read("num_heads")), gated_mlp=True, norm="rmsnorm",
                       embedding_parameters=channels * temporal * patch * patch * hidden + hidden,  # Conv3d, merger RMSNorm
                       projector=((merged, merged), (out, merged)))


def mllama_tower(read: Reader, text_hidden: int) -> VisionTower:
    """Llama 3.2 Vision (``MllamaVisionModel``); see the module docstring for the tables counted."""
    hidden, patch = int(read("hidden_size")), int(read("patch_size"))
    positions = (int(read("image_size")) // patch) ** 2 + 1
    tiles, ratios = int(read("max_num_tiles")), len(read("supported_aspect_ratios")) + 1
    local, global_ = int(read("num_hidden_layers")), int(read("num_global_layers"))
    embedding = (int(read("num_channels")) * patch * patch * hidden + hidden      # patch Conv2d, class token
                 + 1 + positions * hidden + ratios * tiles * positions * hidden           # gated position + tile embedding
                 + 2 * (ratios * tiles * hidden + 1)                                      # gated pre/post tile tables
                 + 2 * 2 * hidden)                                                        # layernorm_pre, layernorm_post
    return VisionTower(kind="mllama", num_layers=local + global_, hidden_size=hidden, intermediate_size=int(read("intermediate_size")),
                       num_attention_heads=int(read("num_attention_heads")), attention_bias=False, gated_layers=global_,
                       embedding_parameters=embedding, projector=((text_hidden, int(read("vision_output_dim"))),))


def mllama_image_tokens(read: Reader) -> int:
    """Tokens one image leaves for the cross-attention layers to cache: tiles x (patches + class token)."""
    return int(read("max_num_tiles")) * ((int(read("image_size")) // int(read("patch_size"))) ** 2 + 1)
