"""Hugging Face ``config.json`` -> ``ModelArchitecture``, through one mapping of the common config keys.

The mapping has three parts, all in this module:

1. ``KEY_ALIASES``: the names each common key goes by across families (``n_layer``, ``n_embd``, ``ffn_dim``...).
2. ``FAMILIES``: per ``model_type`` rules: norm kind and norms per block, gated or plain MLP, which linears carry
   biases, learned position tables, LM-head bias, q/k norms, sliding-window convention, and the defaults of
   that type's ``transformers`` configuration class, used when a key is absent.
3. Per-type adjustments for what a table cannot say: Falcon's three block layouts, GPT-BigCode/Falcon
   multi-query, MoE (experts, shared experts, leading dense layers), MLA, Mllama cross-attention, and the
   multimodal wrappers (``gemma3``, ``llava``, ``mllama``, ``qwen2_vl``, ``qwen2_5_vl``) whose vision towers are
   read by ``planner.model.hf_vision``.

Every value that is not read from the file is an assumption, recorded on the architecture
(``ModelArchitecture.assumptions``) and printed by ``planner memory --config FILE --explain``. Encoder-only and
encoder-decoder models, and fields that change memory in ways the model cannot express, are refused by name.
Module shapes follow each type's ``transformers`` modelling code (``GPT2Block``, ``OPTDecoderLayer``,
``GPTNeoXLayer``, ``FalconDecoderLayer``, ``PhiDecoderLayer``, ``CohereDecoderLayer``, ``OlmoDecoderLayer``,
``Olmo2DecoderLayer``, ``Gemma3DecoderLayer``, ``MllamaCrossAttentionDecoderLayer``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Issue, ModelConfigError
from . import hf_vision
from .architecture import ModelArchitecture, VisionTower
from .quantization import checkpoint_quantization

_CONFIG_FILE = "config.json"
_MISSING = object()

KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "hidden_size": ("hidden_size", "n_embd", "n_embed", "d_model"),
    "num_attention_heads": ("num_attention_heads", "n_head", "num_heads", "attention_heads"),
    "num_key_value_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv"),
    "intermediate_size": ("intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size"),
    "max_position_embeddings": ("max_position_embeddings", "n_positions"),
}

ENCODER_ONLY = ("bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2", "mpnet",
                "camembert", "modernbert", "nomic_bert", "xlm", "ernie", "esm", "clip", "siglip", "vit", "dinov2")
ENCODER_DECODER = ("t5", "mt5", "umt5", "longt5", "bart", "mbart", "pegasus", "marian", "whisper", "encoder-decoder",
                   "led", "blenderbot", "prophetnet", "fsmt", "m2m_100", "switch_transformers", "nllb-moe", "seamless_m4t")


@dataclass(frozen=True)
class Family:
    """How one ``model_type`` maps onto ``ModelArchitecture``. Bias fields: True/False, or the key that switches them."""

    config_class: str
    defaults: dict[str, Any] = field(default_factory=dict)
    norm: str = "rmsnorm"
    norms_per_layer: int = 2
    gated_mlp: bool = True
    qkv_bias: bool | str = "attention_bias"
    output_bias: bool | str = "attention_bias"
    mlp_bias: bool | str = "mlp_bias"
    lm_head_bias: bool = False
    position_offset: int | None = None  # learned position table of max_position_embeddings + offset rows
    mlp_width_from_hidden: int = 0  # a null MLP width means this many times hidden_size (GPT-2 n_inner, Falcon)
    qk_norm: bool | str = False
    qk_norm_scope: str = "head"
    sliding: str = "window"  # window | qwen | gemma2 | gemma3 | none (layer_types always wins)

    def describe(self, model_type: str) -> str:
        mlp = "gated MLP (3 matrices)" if self.gated_mlp else "plain MLP (2 matrices)"
        positions = "learned position table" if self.position_offset is not None else "no position table"
        return (f"rules for {model_type}: {self.norm}, {self.norms_per_layer} per block; {mlp}; {positions}"
                + ("; LM head with bias" if self.lm_head_bias else "") + (f"; q/k norm ({self.qk_norm_scope})" if self.qk_norm else ""))


_LLAMA = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
          "max_position_embeddings": 2048, "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False}
_NO_TIE = {"tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False}
_PLAIN: dict[str, Any] = {"norm": "layernorm", "gated_mlp": False}
_GPT2 = {"vocab_size": 50257, "max_position_embeddings": 1024, "hidden_size": 768, "num_hidden_layers": 12,
         "num_attention_heads": 12, "intermediate_size": None, "tie_word_embeddings": True}
_OLMO = {"vocab_size": 50304, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
         "max_position_embeddings": 2048, "tie_word_embeddings": False, "attention_bias": False}

FAMILIES: dict[str, Family] = {
    "llama": Family("LlamaConfig", _LLAMA),
    "mistral": Family("MistralConfig", {**_NO_TIE, "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
                                        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8},
                      qkv_bias=False, output_bias=False, mlp_bias=False),
    "mixtral": Family("MixtralConfig", {**_NO_TIE, "num_local_experts": 8, "num_experts_per_tok": 2}, qkv_bias=False,
                      output_bias=False, mlp_bias=False),
    "qwen2": Family("Qwen2Config", _NO_TIE, qkv_bias=True, output_bias=False, mlp_bias=False, sliding="qwen"),
    "qwen2_moe": Family("Qwen2MoeConfig", _NO_TIE, qkv_bias=True, output_bias=False, mlp_bias=False, sliding="qwen"),
    "qwen3": Family("Qwen3Config", _NO_TIE, mlp_bias=False, qk_norm=True, sliding="qwen"),
    "qwen3_moe": Family("Qwen3MoeConfig", _NO_TIE, mlp_bias=False, qk_norm=True, sliding="qwen"),
    "deepseek": Family("DeepseekConfig", _NO_TIE, output_bias=False, mlp_bias=False),
    "deepseek_v2": Family("DeepseekV2Config", _NO_TIE, output_bias=False, mlp_bias=False),
    "deepseek_v3": Family("DeepseekV3Config", _NO_TIE, output_bias=False, mlp_bias=False),
    "gemma": Family("GemmaConfig", {"vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28,
                                    "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 256, "max_position_embeddings": 8192,
                                    "tie_word_embeddings": True, "attention_bias": False}, mlp_bias=False),
    "gemma2": Family("Gemma2Config", {"tie_word_embeddings": True, "attention_bias": False, "head_dim": 256, "sliding_window": 4096},
                     norms_per_layer=4, mlp_bias=False, sliding="gemma2"),
    "gemma3_text": Family("Gemma3TextConfig", {"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
                                               "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                                               "head_dim": 256, "max_position_embeddings": 131072, "tie_word_embeddings": True,
                                               "attention_bias": False, "sliding_window": 4096, "sliding_window_pattern": 6},
                          norms_per_layer=4, mlp_bias=False, qk_norm=True, sliding="gemma3"),
    "phi3": Family("Phi3Config", _NO_TIE, qkv_bias=False, output_bias=False, mlp_bias=False, sliding="none"),
    "gpt_oss": Family("GptOssConfig", {"tie_word_embeddings": False, "attention_bias": True}, mlp_bias=True),
    "gpt2": Family("GPT2Config", _GPT2, **_PLAIN, qkv_bias=True, output_bias=True, mlp_bias=True, position_offset=0,
                   mlp_width_from_hidden=4, sliding="none"),
    "gpt_bigcode": Family("GPTBigCodeConfig", {**_GPT2, "multi_query": True}, **_PLAIN, qkv_bias=True, output_bias=True,
                          mlp_bias=True, position_offset=0, mlp_width_from_hidden=4, sliding="none"),
    "opt": Family("OPTConfig", {"vocab_size": 50272, "hidden_size": 768, "num_hidden_layers": 12, "intermediate_size": 3072,
                                "num_attention_heads": 12, "max_position_embeddings": 2048, "tie_word_embeddings": True,
                                "enable_bias": True, "layer_norm_elementwise_affine": True},
                  **_PLAIN, qkv_bias="enable_bias", output_bias="enable_bias", mlp_bias="enable_bias", position_offset=2,
                  sliding="none"),
    "gpt_neox": Family("GPTNeoXConfig", {"vocab_size": 50432, "hidden_size": 6144, "num_hidden_layers": 44, "num_attention_heads": 64,
                                         "intermediate_size": 24576, "max_position_embeddings": 2048, "tie_word_embeddings": False,
                                         "attention_bias": True, "rotary_pct": 0.25}, **_PLAIN, mlp_bias=True, sliding="none"),
    "falcon": Family("FalconConfig", {"vocab_size": 65024, "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
                                      "max_position_embeddings": 2048, "tie_word_embeddings": True, "bias": False, "alibi": False,
                                      "new_decoder_architecture": False, "multi_query": True, "parallel_attn": True,
                                      "intermediate_size": None}, **_PLAIN, qkv_bias="bias", output_bias="bias", mlp_bias="bias",
                     mlp_width_from_hidden=4, sliding="none"),
    "phi": Family("PhiConfig", {"vocab_size": 51200, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24,
                                "num_attention_heads": 32, "max_position_embeddings": 2048, "tie_word_embeddings": False,
                                "partial_rotary_factor": 0.5, "qk_layernorm": False}, **_PLAIN, norms_per_layer=1, qkv_bias=True,
                  output_bias=True, mlp_bias=True, lm_head_bias=True, qk_norm="qk_layernorm", sliding="none"),
    "phi-msft": Family("PhiConfig (microsoft/phi-2 remote code)", {"tie_word_embeddings": False, "intermediate_size": None,
                                                                   "max_position_embeddings": 2048},
                       **_PLAIN, norms_per_layer=1, qkv_bias=True, output_bias=True, mlp_bias=True, lm_head_bias=True,
                       mlp_width_from_hidden=4, sliding="none"),
    "cohere": Family("CohereConfig", {"vocab_size": 256000, "hidden_size": 8192, "intermediate_size": 22528, "num_hidden_layers": 40,
                                      "num_attention_heads": 64, "max_position_embeddings": 8192, "tie_word_embeddings": True,
                                      "attention_bias": False, "use_qk_norm": False},
                     norm="layernorm_no_bias", norms_per_layer=1, mlp_bias=False, qk_norm="use_qk_norm",
                     qk_norm_scope="projection", sliding="none"),
    "olmo": Family("OlmoConfig", _OLMO, norm="nonparametric", mlp_bias=False, sliding="none"),
    "olmo2": Family("Olmo2Config", _OLMO, mlp_bias=False, qk_norm=True, qk_norm_scope="projection", sliding="none"),
    "mllama_text_model": Family("MllamaTextConfig", {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
                                                     "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 8,
                                                     "max_position_embeddings": 131072, "tie_word_embeddings": False},
                                qkv_bias=False, output_bias=False, mlp_bias=False, sliding="none"),
}
TYPE_ALIASES = {"RefinedWeb": "falcon", "RefinedWebModel": "falcon"}
"""Falcon's original remote-code configs: ``RefinedWeb`` (40B, new decoder architecture) and ``RefinedWebModel`` (7B)."""

MULTIMODAL = {"gemma3": "Gemma3Config", "llava": "LlavaConfig", "mllama": "MllamaConfig", "qwen2_vl": "Qwen2VLConfig",
              "qwen2_5_vl": "Qwen2_5_VLConfig"}
SUPPORTED_MODEL_TYPES = tuple(FAMILIES) + tuple(TYPE_ALIASES) + tuple(MULTIMODAL)
_LAYER_KINDS = ("full_attention", "sliding_attention")
_SHAPE_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size", "intermediate_size")


def _error(title: str, message: str, source: str, field_path: str | None, suggestion: str | None = None) -> ModelConfigError:
    return ModelConfigError(title, [Issue(message, source=source, field_path=field_path, suggestion=suggestion)])


class _Reader:
    """Reads one config block through ``KEY_ALIASES``; a key it falls back on is recorded as an assumption."""

    def __init__(self, config: dict[str, Any], model_type: str, family: Family | None, source: str, prefix: str = "",
                 defaults: dict[str, Any] | None = None, config_class: str | None = None) -> None:
        self.config, self.type, self.source, self.prefix = config, model_type, source, prefix
        self.defaults = defaults if defaults is not None else (family.defaults if family else {})
        if not prefix:  # a top-level config.json always states its shape; only nested blocks lean on class defaults
            self.defaults = {k: v for k, v in self.defaults.items() if k not in _SHAPE_KEYS}
        self.config_class = config_class or (family.config_class if family else model_type)
        self.assumptions: list[str] = []

    def _lookup(self, key: str) -> tuple[bool, Any]:
        for alias in KEY_ALIASES.get(key, (key,)):
            if self.config.get(alias) is not None:
                return True, self.config[alias]
        return False, None

    def has(self, key: str) -> bool:
        return self._lookup(key)[0]

    def get(self, key: str, default: Any = _MISSING, why: str | None = None) -> Any:
        """The key's value; else ``default`` (or the family default) recorded as an assumption; else an error."""
        found, value = self._lookup(key)
        if found:
            return value
        if default is _MISSING:
            default = self.defaults.get(key, _MISSING)
            why = why or f"transformers {self.config_class} default"
        if default is _MISSING:
            raise _error("config.json is missing a required field", f"missing required field '{self.prefix}{key}'",
                         self.source, self.prefix + key)
        self.assume(key, default, why or "default")
        return default

    def assume(self, key: str, value: Any, why: str) -> None:
        self.assumptions.append(f"no `{self.prefix}{key}` key: assumed {value!r} for {self.type} ({why})")

    def count(self, key: str, default: Any = _MISSING, why: str | None = None) -> int:
        value = self.get(key, default, why)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            raise _error("config.json has a field of the wrong type", f"'{self.prefix}{key}' must be a whole number, got {value!r}",
                         self.source, self.prefix + key)
        return int(value)

    def optional(self, key: str) -> Any:
        return self._lookup(key)[1]

    def flag(self, rule: bool | str) -> bool:
        """A fixed family rule, or the key that switches it (absent: the family default, else off)."""
        if isinstance(rule, bool):
            return rule
        return bool(self.get(rule) if rule in self.defaults else self.get(rule, False, "absent means off"))


# --- refusals ----------------------------------------------------------------------------------------------

def _refuse_encoders(config: dict[str, Any], model_type: Any, source: str) -> None:
    kind = "encoder-decoder" if model_type in ENCODER_DECODER or config.get("is_encoder_decoder") else (
        "encoder-only" if model_type in ENCODER_ONLY else None)
    if kind:
        raise _error(f"{kind} model in config.json", f"model_type {model_type!r} is an {kind} model; the planner sizes "
                     "decoder-only language models and vision-language models with a decoder", source, "model_type",
                     "serve a decoder-only model, or describe one as an architecture mapping (--architecture)")


def _refuse_unmodelled_moe_layouts(config: dict[str, Any], source: str) -> None:
    """Dense layers interleaved with MoE layers change the weight count; refuse them by name."""
    if config.get("mlp_only_layers"):
        raise _error("unsupported field in config.json", "mlp_only_layers (dense layers interleaved with MoE layers) "
                     "is not supported", source, "mlp_only_layers")
    for key in ("decoder_sparse_step", "moe_layer_freq"):
        if int(config.get(key, 1) or 1) != 1:
            raise _error("unsupported field in config.json", f"{key}={config[key]} (MoE only every few layers) is not "
                         "supported; only every layer after first_k_dense_replace", source, key)


# --- sliding windows ---------------------------------------------------------------------------------------

def _sliding(read: _Reader, family: Family, num_layers: int) -> dict[str, Any]:
    """``sliding_window`` and its layers. ``layer_types`` wins where the config has it (gpt-oss, recent Gemma
    and Qwen); otherwise the model code: Gemma 2 makes even layers local (``not bool(layer_idx % 2)``), Gemma 3
    every layer but each ``sliding_window_pattern``-th, Qwen the layers from ``max_window_layers`` on (only with
    ``use_sliding_window``), Mistral every layer. Phi-3's ``sliding_window`` is a flash-attention hint that
    vLLM ignores (it caches the full context)."""
    config, source = read.config, read.source
    kinds = config.get("layer_types")
    window = config.get("sliding_window")
    if window is None and family.sliding in ("gemma2", "gemma3") and "sliding_window" in family.defaults:
        window = read.get("sliding_window")
    if window is None or family.sliding == "none" or config.get("use_sliding_window", family.sliding != "qwen") is False:
        return {}
    if isinstance(kinds, list):
        unknown = sorted({str(kind) for kind in kinds} - set(_LAYER_KINDS))
        if unknown:
            raise _error("unsupported field in config.json", f"layer_types holds {', '.join(unknown)}; supported kinds: "
                         f"{', '.join(_LAYER_KINDS)}", source, "layer_types")
        if len(kinds) != num_layers:
            raise _error("config.json describes an impossible model", f"layer_types lists {len(kinds)} layers, "
                         f"num_hidden_layers is {num_layers}", source, "layer_types")
        layers: tuple[int, ...] | None = tuple(i for i, kind in enumerate(kinds) if kind == "sliding_attention")
    elif family.sliding == "gemma2":
        layers = tuple(i for i in range(num_layers) if i % 2 == 0)
    elif family.sliding == "gemma3":
        pattern = read.count("sliding_window_pattern")
        layers = tuple(i for i in range(num_layers) if (i + 1) % pattern != 0)
    elif family.sliding == "qwen":
        layers = tuple(range(int(config.get("max_window_layers", 0) or 0), num_layers))
    else:
        layers = None
    return {"sliding_window": int(window), "sliding_window_layers": layers}


# --- mixture of experts and latent attention ---------------------------------------------------------------

def _moe(read: _Reader, model_type: str, fields: dict[str, Any]) -> None:
    config = read.config
    experts = config.get("num_local_experts") or config.get("num_experts") or config.get("n_routed_experts") or 0
    if not experts:
        return
    _refuse_unmodelled_moe_layouts(config, read.source)
    width = config.get("moe_intermediate_size") or fields["intermediate_size"] or read.count("intermediate_size")
    fields.update(
        num_experts=int(experts),
        experts_per_token=int(config.get("num_experts_per_tok") or config.get("experts_per_token") or 0),
        moe_intermediate_size=int(width),
        first_k_dense_layers=int(config.get("first_k_dense_replace", 0) or 0),
        router_bias=model_type == "gpt_oss" or config.get("topk_method") == "noaux_tc",
    )
    if model_type in ("deepseek_v2", "deepseek_v3", "deepseek"):
        fields["num_shared_experts"] = int(config.get("n_shared_experts") or 0)
    if model_type == "qwen2_moe" and config.get("shared_expert_intermediate_size"):
        fields.update(num_shared_experts=1, shared_expert_intermediate_size=int(config["shared_expert_intermediate_size"]),
                      shared_expert_gate=True)


def _mla(read: _Reader, fields: dict[str, Any]) -> None:
    config = read.config
    if not config.get("kv_lora_rank"):
        return
    fields.update(
        kv_lora_rank=int(config["kv_lora_rank"]),
        q_lora_rank=int(config["q_lora_rank"]) if config.get("q_lora_rank") else None,
        qk_rope_head_dim=read.count("qk_rope_head_dim"),
        qk_nope_head_dim=read.count("qk_nope_head_dim"),
        v_head_dim=read.count("v_head_dim"),
    )


# --- the decoder -------------------------------------------------------------------------------------------

def _kv_heads(read: _Reader, model_type: str, heads: int) -> int:
    """KV heads: GPT-BigCode ``multi_query`` means one; Falcon has three layouts (``FalconAttention``)."""
    if model_type == "gpt_bigcode":
        return 1 if read.get("multi_query") else heads
    if model_type == "falcon":
        if read.get("new_decoder_architecture"):
            return read.count("num_key_value_heads", heads, "= num_attention_heads, FalconConfig num_kv_heads=None")
        return 1 if read.get("multi_query") else heads
    if read.has("num_key_value_heads") or "num_key_value_heads" in read.defaults:
        return read.count("num_key_value_heads")
    return read.count("num_key_value_heads", heads, "= num_attention_heads: multi-head attention")


def _norms_per_layer(read: _Reader, model_type: str, family: Family) -> int:
    """Falcon: ``ln_attn`` + ``ln_mlp`` (new architecture), one shared norm (parallel), or two (sequential)."""
    if model_type != "falcon":
        return family.norms_per_layer
    if read.get("new_decoder_architecture"):
        return 2 if int(read.config.get("num_ln_in_parallel_attn") or 2) == 2 else 1
    return 1 if read.get("parallel_attn") else 2


def _rotary_dim(read: _Reader, model_type: str, head_dim: int, learned_positions: bool) -> int | None:
    if learned_positions or (model_type == "falcon" and read.get("alibi")):
        return 0
    if read.has("rotary_dim"):
        return read.count("rotary_dim")
    for key in ("rotary_pct", "partial_rotary_factor"):
        if read.has(key) or key in read.defaults:
            return int(head_dim * float(read.get(key)))
    return None


def _intermediate(read: _Reader, family: Family, hidden: int) -> int | None:
    """MLP width; a null width means ``mlp_width_from_hidden x hidden`` (GPT-2 ``n_inner``, Falcon ``ffn_hidden_size``).
    None for MoE configs without a dense width (every layer routed)."""
    if read.has("intermediate_size"):
        return read.count("intermediate_size")
    if family.mlp_width_from_hidden:
        width = family.mlp_width_from_hidden * hidden
        read.assume("intermediate_size", width, f"{family.mlp_width_from_hidden} x hidden_size, as {family.config_class} does for null")
        return width
    if "intermediate_size" in family.defaults and family.defaults["intermediate_size"] is not None:
        return read.count("intermediate_size")
    return None


def _decoder_fields(read: _Reader, model_type: str, name: str) -> dict[str, Any]:
    family = FAMILIES[model_type]
    read.assumptions.append(family.describe(model_type))
    num_layers = read.count("num_hidden_layers")
    hidden = read.count("hidden_size")
    heads = read.count("num_attention_heads")
    vocab = read.count("vocab_size")
    head_dim = read.count("head_dim") if read.has("head_dim") or "head_dim" in family.defaults else hidden // heads
    intermediate = _intermediate(read, family, hidden)
    learned = family.position_offset is not None
    if family.position_offset is not None:  # learned position embeddings: their table has max positions (+ offset) rows
        rows = read.count("max_position_embeddings")
        max_positions: int | None = rows
        position_embeddings = rows + family.position_offset
    else:
        max_positions, position_embeddings = read.optional("max_position_embeddings"), 0
    qkv_bias, output_bias, mlp_bias = read.flag(family.qkv_bias), read.flag(family.output_bias), read.flag(family.mlp_bias)
    if model_type == "opt":
        _check_opt(read, hidden)
    norm = family.norm
    if model_type == "opt" and not read.get("layer_norm_elementwise_affine"):
        norm = "nonparametric"
    fields: dict[str, Any] = dict(
        name=name, family=model_type, num_layers=num_layers, hidden_size=hidden, num_attention_heads=heads,
        num_kv_heads=_kv_heads(read, model_type, heads), head_dim=head_dim if head_dim != hidden // heads else None,
        intermediate_size=intermediate, vocab_size=vocab, tie_word_embeddings=bool(read.get("tie_word_embeddings")),
        gated_mlp=family.gated_mlp, attention_bias=qkv_bias, attention_output_bias=output_bias, mlp_bias=mlp_bias,
        lm_head_bias=family.lm_head_bias, norm=norm, norms_per_layer=_norms_per_layer(read, model_type, family),
        qk_norm=read.flag(family.qk_norm), qk_norm_scope=family.qk_norm_scope, attention_sinks=model_type == "gpt_oss",
        max_position_embeddings=max_positions,
        position_embeddings=position_embeddings,
        rotary_dim=_rotary_dim(read, model_type, head_dim, learned),
        **_sliding(read, family, num_layers),
    )
    _moe(read, model_type, fields)
    _mla(read, fields)
    if fields["intermediate_size"] is None:
        if not fields.get("num_experts") or fields.get("first_k_dense_layers"):
            read.count("intermediate_size")  # raises: a dense layer needs its width
        fields["intermediate_size"] = fields["moe_intermediate_size"]
        read.assume("intermediate_size", fields["intermediate_size"], "every layer is MoE: no dense MLP, width of one expert")
    if model_type == "mllama_text_model":
        fields.update(cross_attention_layers=tuple(int(i) for i in read.get("cross_attention_layers")), embedding_rows=vocab + 8)
    return fields


def _check_opt(read: _Reader, hidden: int) -> None:
    proj = read.config.get("word_embed_proj_dim")
    if proj is not None and int(proj) != hidden:
        raise _error("unsupported field in config.json", f"word_embed_proj_dim {proj} differs from hidden_size {hidden} "
                     "(OPT-350m's project_in/project_out) and is not modelled", read.source, "word_embed_proj_dim")


# --- multimodal wrappers -----------------------------------------------------------------------------------

def _vision_reader(config: dict[str, Any], vision_type: str, wrapper: str, source: str) -> tuple[dict[str, Any], _Reader]:
    vision = config.get("vision_config") or {}
    if not isinstance(vision, dict):
        raise _error("config.json has a field of the wrong type", "vision_config must be a mapping", source, "vision_config")
    defaults = hf_vision.VISION_DEFAULTS[vision_type]
    if wrapper == "llava" and not vision:  # LlavaConfig builds CLIP ViT-L/14-336 when vision_config is absent
        defaults = {**defaults, "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
                    "image_size": 336, "patch_size": 14}
    return vision, _Reader(vision, vision_type, None, source, "vision_config.", defaults, f"{MULTIMODAL[wrapper]} vision default")


def _multimodal(config: dict[str, Any], wrapper: str, source: str) -> tuple[dict[str, Any], str, VisionTower, _Reader, int]:
    """(language-model config, its model_type, vision tower, vision reader, image tokens cached by cross-attention)."""
    text = config.get("text_config")
    if text is not None and not isinstance(text, dict):
        raise _error("config.json has a field of the wrong type", "text_config must be a mapping", source, "text_config")
    if wrapper in ("qwen2_vl", "qwen2_5_vl"):
        text_cfg = {**config, **(text or {})} if "num_hidden_layers" not in config else config
        text_type = "qwen2"
    else:
        text_cfg = text or {}
        text_type = text_cfg.get("model_type") or {"gemma3": "gemma3_text", "llava": "llama", "mllama": "mllama_text_model"}[wrapper]
    if text_type not in FAMILIES:
        raise _error("unsupported model architecture in config.json", f"the language model of this {wrapper} config is "
                     f"model_type {text_type!r}, which is not supported", source, "text_config.model_type")
    text_hidden = int(text_cfg.get("hidden_size") or FAMILIES[text_type].defaults.get("hidden_size") or 0)
    if wrapper in ("qwen2_vl", "qwen2_5_vl"):
        _, read = _vision_reader(config, wrapper, wrapper, source)
        tower = (hf_vision.qwen2_vl_tower if wrapper == "qwen2_vl" else hf_vision.qwen2_5_vl_tower)(read.get, text_hidden)
        return text_cfg, text_type, tower, read, 0
    if wrapper == "mllama":
        _, read = _vision_reader(config, "mllama_vision_model", wrapper, source)
        return text_cfg, text_type, hf_vision.mllama_tower(read.get, text_hidden), read, hf_vision.mllama_image_tokens(read.get)
    default_vision = "siglip_vision_model" if wrapper == "gemma3" else "clip_vision_model"
    vision_type = (config.get("vision_config") or {}).get("model_type") or default_vision
    if vision_type not in ("clip_vision_model", "siglip_vision_model"):
        raise _error("unsupported model architecture in config.json", f"vision tower model_type {vision_type!r} is not "
                     "modelled (clip_vision_model, siglip_vision_model)", source, "vision_config.model_type")
    _, read = _vision_reader(config, vision_type, wrapper, source)
    parts = (hf_vision.clip_tower if vision_type == "clip_vision_model" else hf_vision.siglip_tower)(read.get)
    if wrapper == "gemma3":  # Gemma3MultiModalProjector: soft-embedding RMSNorm + projection matrix, no bias
        parts.update(embedding_parameters=parts["embedding_parameters"] + parts["hidden_size"],
                     projector=((text_hidden, parts["hidden_size"]),), projector_bias=False)
    else:  # LlavaMultiModalProjector: linear_1 over the selected feature layers, linear_2, both with bias
        layers = config.get("vision_feature_layer", -2)
        count = len(layers) if isinstance(layers, list) else 1
        parts.update(projector=((text_hidden, parts["hidden_size"] * count), (text_hidden, text_hidden)),
                     projector_bias=bool(config.get("multimodal_projector_bias", True)))
    return text_cfg, text_type, VisionTower(**parts), read, 0


# --- entry points ------------------------------------------------------------------------------------------

def _model_type(config: dict[str, Any], source: str) -> str:
    raw = config.get("model_type")
    model_type = TYPE_ALIASES.get(raw, raw) if isinstance(raw, str) else ""  # a list or mapping is no model type
    _refuse_encoders(config, raw if isinstance(raw, str) else None, source)
    if model_type not in FAMILIES and model_type not in MULTIMODAL:
        vision = " (a vision-language model whose vision tower is not modelled)" if isinstance(config.get("vision_config"), dict) else ""
        raise _error("unsupported model architecture in config.json",
                     f"model_type {config.get('model_type')!r}{vision} is not supported; supported: {', '.join(SUPPORTED_MODEL_TYPES)}",
                     source, "model_type", "describe the model as an architecture mapping (scenario model: {architecture: "
                     "...} or planner memory --architecture file.yaml)")
    if model_type in FAMILIES and isinstance(config.get("vision_config"), dict):
        raise _error("unsupported model architecture in config.json", f"this {model_type} config has a vision_config; its "
                     "vision tower is not modelled", source, "vision_config")
    return model_type


def _falcon_remote_code(config: dict[str, Any]) -> dict[str, Any]:
    """``RefinedWeb`` configs are the 40B layout (new decoder architecture, ``n_head_kv`` KV groups)."""
    if config.get("model_type") == "RefinedWeb" and "new_decoder_architecture" not in config:
        return {**config, "new_decoder_architecture": True}
    return config


def architecture_from_hf_config(config: dict[str, Any], name: str = "custom", source: str = _CONFIG_FILE) -> ModelArchitecture:
    """Translate a Hugging Face ``config.json`` dict into a ``ModelArchitecture`` (assumptions recorded on it).

    Multi-token-prediction layers (DeepSeek-V3 ``num_nextn_predict_layers``) are not part of the model that
    serves tokens; vLLM loads them only for speculative decoding, so they are left out, as in the published 671B.
    """
    if not isinstance(config, dict):
        raise ModelConfigError("config.json must hold a JSON object", [Issue("not a JSON object", source=source)])
    model_type = _model_type(config, source)
    quantization = checkpoint_quantization(config, source)
    vision = vision_read = None
    image_tokens = 0
    if model_type in MULTIMODAL:
        text_cfg, text_type, vision, vision_read, image_tokens = _multimodal(config, model_type, source)
        prefix = "" if text_cfg is config or model_type in ("qwen2_vl", "qwen2_5_vl") else "text_config."
    else:
        text_cfg, text_type, prefix = _falcon_remote_code(config), model_type, ""
    read = _Reader(text_cfg, text_type, FAMILIES[text_type], source, prefix)
    fields = _decoder_fields(read, text_type, name)
    assumptions = read.assumptions + (vision_read.assumptions if vision_read else [])
    if vision is not None:
        fields.update(family=model_type, vision=vision, cross_attention_tokens=image_tokens if fields.get("cross_attention_layers") else 0)
        assumptions.append(f"vision tower ({vision.kind}) counted from vision_config; it stays 16-bit unless the checkpoint's "
                           "quantization_config quantizes it")
        if image_tokens:
            assumptions.append(f"each sequence carries one image: the cross-attention layers cache its {image_tokens} tokens")
    if quantization is not None:
        fields["quantization"] = quantization
        assumptions += [f"checkpoint quantization: {note}" for note in quantization.notes]
    fields["assumptions"] = tuple(dict.fromkeys(assumptions))
    try:
        return ModelArchitecture(**fields)
    except ValidationError as exc:
        from ..schema.translate import validation_issues

        issues = validation_issues(exc, fields, source=source, root=ModelArchitecture)
    except ValueError as exc:
        issues = [Issue(str(exc), source=source)]
    raise ModelConfigError("config.json describes an impossible model", issues)


def checkpoint_weight_format(config: dict[str, Any], source: str = _CONFIG_FILE) -> str | None:
    """The weight format a config's ``quantization_config`` implies, in our vocabulary.

    None means an unquantized 16/32-bit checkpoint (engines serve fp32 checkpoints in 16-bit); ``fp16`` when
    the config says ``torch_dtype: float16``. An unknown or unmodelled scheme is a ``ModelConfigError``.
    """
    if not isinstance(config, dict):
        return None
    quantization = checkpoint_quantization(config, source)
    if quantization is not None:
        return quantization.weight_format
    text = config.get("text_config")
    dtype = config.get("torch_dtype") or config.get("dtype") or (text.get("torch_dtype") if isinstance(text, dict) else None)
    return "fp16" if dtype == "float16" else None


def load_hf_config(path: str | Path) -> dict[str, Any]:
    """Read a ``config.json`` from disk (bounded, see ``yaml_io``) with errors that name the file."""
    from ..yaml_io import parse_json, read_text_file

    path = Path(path)
    text = read_text_file(path, "model config", ModelConfigError)
    try:
        config = parse_json(text, str(path), ModelConfigError)
    except ModelConfigError as exc:
        raise ModelConfigError(f"model config {exc.message.removeprefix('the file ')}", exc.issues) from None
    if not isinstance(config, dict):
        raise ModelConfigError(f"{path.name} must hold a JSON object", [Issue("not a JSON object", source=str(path))])
    return config


def _with_modelopt_sidecar(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """ModelOpt/TensorRT-LLM checkpoints keep their quantization in ``hf_quant_config.json`` beside
    ``config.json`` (vLLM reads it from there too); fold its ``quantization`` block in as a modelopt config."""
    sidecar = path.with_name("hf_quant_config.json")
    if config.get("quantization_config") is not None or not sidecar.is_file():
        return config
    quant = load_hf_config(sidecar).get("quantization")
    if not isinstance(quant, dict):
        raise ModelConfigError("hf_quant_config.json has no quantization block", [Issue("expected a 'quantization' mapping",
                                                                                       source=str(sidecar), field_path="quantization")])
    return {**config, "quantization_config": {"quant_method": "modelopt", **quant}}


def load_checkpoint_config(path: str | Path) -> dict[str, Any]:
    """A checkpoint's ``config.json`` with its ``hf_quant_config.json`` sidecar folded in when there is one."""
    path = Path(path)
    return _with_modelopt_sidecar(load_hf_config(path), path)


def architecture_from_config_file(path: str | Path, name: str | None = None) -> ModelArchitecture:
    path = Path(path)
    try:
        return architecture_from_hf_config(load_checkpoint_config(path), name=name or (path.parent.name if path.name == _CONFIG_FILE
                                                                                       else path.stem)[:200], source=str(path))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # an optional field of the wrong type or shape
        raise ModelConfigError("config.json has a field of the wrong type",
                               [Issue(f"{type(exc).__name__}: {exc}", source=str(path))]) from None
