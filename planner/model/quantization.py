"""Which tensors a quantized checkpoint stores quantized, read from its ``quantization_config``.

A quantization method quantizes some kinds of linear layers by default and a config may list modules it
leaves in 16-bit. ``CheckpointQuantization`` keeps both, so the weights bill can say of every tensor whether
it is stored quantized (with its scales and zeros) or in 16-bit. Defaults per method, from the tools that
write the checkpoints:

- AutoAWQ / AutoGPTQ / GPTQModel quantize the linear layers of the decoder blocks only (attention, MLP,
  experts); embeddings, LM head (unless GPTQ ``lm_head: true``), routers and vision towers stay 16-bit.
  AWQ ``modules_to_not_convert`` and GPTQ ``modules_in_block_to_quantize`` / ``dynamic`` ``-:`` rules narrow it.
- FP8 (``fp8``: transformers ``FineGrainedFP8Config``, vLLM, DeepSeek-V3/Qwen3 releases; ``fbgemm_fp8``;
  ModelOpt): block linears, minus ``modules_to_not_convert`` / ``ignored_layers`` / ``exclude_modules``.
- compressed-tensors (llm-compressor): every module matching a ``config_groups`` target (``Linear`` = every
  linear layer, routers, LM head and vision tower included) that the ``ignore`` list does not name.
- bitsandbytes (transformers ``replace_with_bnb_linear``): every linear layer, vision tower and router
  included, except ``llm_int8_skip_modules`` (``["lm_head"]`` when the config gives none).
- MXFP4 (gpt-oss): the routed experts only.

Module names are matched the way the writing tools do, on dotted components: ``lm_head``, ``mlp.gate`` (the
router, not ``mlp.gate_proj``), ``model.layers.0``, globs (``model.layers.*.self_attn``) and ``re:`` regular
expressions (compressed-tensors). Family spellings are normalised first (Mixtral ``block_sparse_moe``/``w1``,
gpt-oss ``mlp.router``, Qwen ``shared_expert``, vision ``visual`` / ``vision_model``, multimodal prefixes).
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import Issue, ModelConfigError
from .formats import is_weight_format

BLOCK_LINEARS = ("linear", "expert", "shared_expert")
ALL_LINEARS = BLOCK_LINEARS + ("router", "lm_head", "vision")
SUPPORTED_QUANT_METHODS = ("fp8", "fbgemm_fp8", "awq", "gptq", "mxfp4", "bitsandbytes", "compressed-tensors", "modelopt")
_CONFIG_FILE = "config.json"

_COMPONENT_SYNONYMS = {"block_sparse_moe": "mlp", "feed_forward": "mlp", "shared_expert": "shared_experts", "w1": "gate_proj",
                       "w3": "up_proj", "w2": "down_proj", "router": "gate", "self_attention": "self_attn",
                       "visual": "vision_tower", "vision_model": "vision_tower"}
_PREFIX_SYNONYMS = (("model.language_model.", "model."), ("language_model.model.", "model."), ("language_model.", ""),
                    ("model.vision_tower.", "vision_tower."), ("model.visual.", "vision_tower."),
                    ("model.multi_modal_projector.", "multi_modal_projector."), ("transformer.h.", "model.layers."),
                    ("model.decoder.layers.", "model.layers."))


class CheckpointQuantization(BaseModel):
    """A checkpoint's quantization: its format and which modules it stores quantized."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    method: str
    weight_format: str
    roles: tuple[str, ...] = BLOCK_LINEARS
    targets: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def quantizes(self, module: str, role: str, synonyms: tuple[str, ...] = ()) -> bool:
        """Whether the checkpoint stores the tensor of ``module`` (canonical path) with ``role`` quantized."""
        if role not in self.roles:
            return False
        paths = (module,) + synonyms
        if self.targets and not any(_matches(pattern, path) for pattern in self.targets for path in paths):
            return False
        return not any(_matches(pattern, path) for pattern in self.skip for path in paths)


def _normalise(name: str) -> str:
    """One spelling for the module names of every family (the canonical paths of ``planner.memory.parameters``)."""
    for prefix, canonical in _PREFIX_SYNONYMS:
        if name.startswith(prefix):
            name = canonical + name[len(prefix):]
            break
    return ".".join(_COMPONENT_SYNONYMS.get(part, part) for part in name.split("."))


def _normalise_regex(regex: str) -> str:
    """The same spellings inside a regular expression (``.*block_sparse_moe.gate$`` -> ``.*mlp.gate$``)."""
    for prefix, canonical in _PREFIX_SYNONYMS:
        if regex.startswith(prefix):
            regex = canonical + regex[len(prefix):]
            break
    for word, canonical in _COMPONENT_SYNONYMS.items():
        regex = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", canonical, regex)
    return regex


def _matches(pattern: str, path: str) -> bool:
    """``re:`` regular expressions match from the start; globs match the path or a dotted prefix of it; plain
    names match a contiguous run of dotted components (``mlp.gate`` is the router, not ``mlp.gate_proj``)."""
    if pattern.startswith("re:"):
        try:
            return re.match(pattern[3:], path) is not None
        except re.error:
            return False
    parts = path.split(".")
    if any(ch in pattern for ch in "*?["):
        return any(fnmatch.fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))
    wanted = pattern.split(".")
    return any(parts[i:i + len(wanted)] == wanted for i in range(len(parts) - len(wanted) + 1))


def _patterns(values: Any, source: str, field_path: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _error("config.json has a field of the wrong type", f"{field_path} must be a list of module names", source, field_path)
    return tuple(_normalise(v) if not v.startswith("re:") else "re:" + _normalise_regex(v[3:]) for v in values)


def _error(title: str, message: str, source: str, field_path: str, suggestion: str | None = None) -> ModelConfigError:
    return ModelConfigError(title, [Issue(message, source=source, field_path=field_path, suggestion=suggestion)])


def _unsupported(message: str, source: str, field_path: str, suggestion: str | None = None) -> ModelConfigError:
    return _error("unsupported quantization in config.json", message, source, field_path, suggestion)


# --- one reader per method ---------------------------------------------------------------------------------

def _group_format(base: str, group: int, source: str, field_path: str) -> str:
    """``base`` with its group size: ``int4-gptq`` (128), ``int4-gptq-g32``, ``int4-gptq-channel`` (-1)."""
    if group == 128:
        return base
    name = f"{base}-channel" if group == -1 else f"{base}-g{group}"
    if not is_weight_format(name):
        raise _unsupported(f"group_size {group} is not modelled (powers of two from 16 to 8192, or -1)", source, field_path)
    return name


def _awq(quant: dict[str, Any], source: str) -> CheckpointQuantization:
    bits = int(quant.get("bits", quant.get("w_bit", 4)))
    if bits != 4:
        raise _unsupported(f"awq with bits={bits} is not supported (4-bit only)", source, "quantization_config.bits")
    version = str(quant.get("version", "gemm")).lower()
    if version not in ("gemm", "gemv", "gemv_fast", "marlin", "exllama", "ipex"):
        raise _unsupported(f"AWQ version {version!r} is not modelled", source, "quantization_config.version")
    group = int(quant.get("group_size", quant.get("q_group_size", 128)))
    fmt = _group_format("int4-awq", group, source, "quantization_config.group_size")
    notes = [f"AWQ 4-bit, group {group}, {'zero points' if quant.get('zero_point', True) else 'no zero points'} (version {version})"]
    if quant.get("zero_point", True) is False:
        fmt = _group_format("int4-w4a16", group, source, "quantization_config.group_size")
    skip = _patterns(quant.get("modules_to_not_convert"), source, "quantization_config.modules_to_not_convert")
    return CheckpointQuantization(method="awq", weight_format=fmt, skip=skip, notes=tuple(notes))


def _gptq(quant: dict[str, Any], source: str) -> CheckpointQuantization:
    bits = int(quant.get("bits", 4))
    if bits not in (2, 3, 4, 8):
        raise _unsupported(f"gptq with bits={bits} is not supported (2, 3, 4 or 8)", source, "quantization_config.bits")
    group = int(quant.get("group_size", 128))
    fmt = _group_format(f"int{bits}-gptq", group, source, "quantization_config.group_size")
    roles = BLOCK_LINEARS + (("lm_head",) if quant.get("lm_head") else ())
    desc_act = bool(quant.get("desc_act", False))
    notes = [f"GPTQ {bits}-bit, group {group}, desc_act={desc_act} (g_idx is stored either way), "
             f"{'symmetric' if quant.get('sym', True) else 'asymmetric'}"]
    targets: tuple[str, ...] = ()
    blocks = quant.get("modules_in_block_to_quantize")
    if blocks:
        flat = [m for group_ in blocks for m in (group_ if isinstance(group_, list) else [group_])]
        targets = _patterns(flat, source, "quantization_config.modules_in_block_to_quantize")
        notes.append(f"only {', '.join(targets)} quantized in each block")
    skip: list[str] = []
    for key, override in (quant.get("dynamic") or {}).items():
        if str(key).startswith("-:"):
            skip.append("re:" + _normalise(str(key)[2:]))
        elif isinstance(override, dict) and any(override.get(k, quant.get(k)) != quant.get(k) for k in ("bits", "group_size")):
            raise _unsupported(f"GPTQ dynamic override {key!r} changes bits or group size per module (mixed precision)",
                               source, "quantization_config.dynamic")
    return CheckpointQuantization(method="gptq", weight_format=fmt, roles=roles, targets=targets, skip=tuple(skip), notes=tuple(notes))


def _fp8(quant: dict[str, Any], config: dict[str, Any], source: str) -> CheckpointQuantization:
    block = quant.get("weight_block_size")
    if block is not None and list(block) != [128, 128]:
        raise _unsupported(f"FP8 weight_block_size {block} is not modelled (128 x 128 only)", source,
                           "quantization_config.weight_block_size")
    fmt = "fp8-block" if block else "fp8-per-tensor"
    key = "ignored_layers" if "ignored_layers" in quant else "modules_to_not_convert"
    skip = _patterns(quant.get(key), source, f"quantization_config.{key}")
    notes = [f"FP8 e4m3, {'fp32 scale per 128x128 block' if block else 'one fp32 scale per tensor'}; activation scheme "
             f"{quant.get('activation_scheme', 'dynamic')}"]
    return CheckpointQuantization(method="fp8", weight_format=fmt, skip=skip, notes=tuple(notes))


def _fbgemm(quant: dict[str, Any], config: dict[str, Any], source: str) -> CheckpointQuantization:
    """fbgemm_fp8: per-row FP8; Meta's Llama 3.1 release skips attention and the first and last blocks."""
    skip = _patterns(quant.get("modules_to_not_convert"), source, "quantization_config.modules_to_not_convert")
    fmt = "fp8"
    last = int(config.get("num_hidden_layers", 1)) - 1
    probe = CheckpointQuantization(method="fbgemm_fp8", weight_format=fmt, skip=skip)
    if any(s.startswith("model.layers.") for s in skip) and last > 1:
        middle_attention = not any(probe.quantizes(f"model.layers.{i}.self_attn.q_proj", "linear") for i in range(1, last))
        middle_mlp = all(probe.quantizes(f"model.layers.{i}.mlp.down_proj", "linear") for i in range(1, last))
        edges = not any(probe.quantizes(f"model.layers.{i}.mlp.down_proj", "linear") for i in (0, last))
        if middle_attention and middle_mlp and edges:
            fmt = "fp8-mlp"
    return CheckpointQuantization(method="fbgemm_fp8", weight_format=fmt, skip=skip,
                                  notes=("FP8 e4m3 with an fp32 scale per output row (fbgemm)",))


def _compressed_tensors(quant: dict[str, Any], source: str) -> CheckpointQuantization:
    field_path = "quantization_config.config_groups"
    groups = [g or {} for g in (quant.get("config_groups") or {}).values()]
    schemes = {json.dumps(g.get("weights") or {}, sort_keys=True) for g in groups}
    if len(schemes) != 1:
        raise _unsupported(f"{len(schemes)} different weight schemes in config_groups; one scheme for all quantized layers "
                           "is supported", source, field_path)
    weights = json.loads(schemes.pop())
    kind, bits = weights.get("type"), int(weights.get("num_bits", 0))
    strategy, group = weights.get("strategy"), weights.get("group_size")
    if kind == "float" and bits == 8:
        fmt = {"tensor": "fp8-per-tensor", "channel": "fp8", "block": "fp8-block"}.get(strategy)
        if strategy == "block" and list(weights.get("block_structure") or [128, 128]) != [128, 128]:
            fmt = None
    elif kind == "int" and bits == 8 and strategy in ("channel", "tensor"):
        fmt = "int8"
    elif kind == "int" and bits == 4 and strategy in ("group", "channel"):
        base = "int4-w4a16" if weights.get("symmetric", True) else "int4-awq"
        fmt = _group_format(base, int(group) if strategy == "group" else -1, source, field_path)
    elif kind == "float" and bits == 4 and group == 16:
        fmt = "nvfp4"
    else:
        fmt = None
    if fmt is None:
        raise _unsupported(f"compressed-tensors weight scheme {weights} is not in the format vocabulary", source, field_path,
                           "see 'planner catalog formats'")
    raw_targets = [t for g in groups for t in (g.get("targets") or ["Linear"])]
    targets = () if "Linear" in raw_targets else _patterns(raw_targets, source, f"{field_path}.targets")
    skip = _patterns(quant.get("ignore"), source, "quantization_config.ignore")
    return CheckpointQuantization(method="compressed-tensors", weight_format=fmt, roles=ALL_LINEARS, targets=targets, skip=skip,
                                  notes=(f"compressed-tensors {kind} {bits}-bit, strategy {strategy}"
                                         + (f", group {group}" if strategy == "group" else ""),))


def _bitsandbytes(quant: dict[str, Any], source: str) -> CheckpointQuantization:
    skip_key = "llm_int8_skip_modules"
    given = quant.get(skip_key)
    skip = _patterns(given, source, f"quantization_config.{skip_key}") if given else ("lm_head",)
    note = f"{skip_key} {'as given' if given else 'absent: transformers keeps lm_head in 16-bit'}"
    if quant.get("load_in_8bit"):
        return CheckpointQuantization(method="bitsandbytes", weight_format="int8", roles=ALL_LINEARS, skip=skip,
                                      notes=("bitsandbytes LLM.int8: int8 weights, fp32 scale per row", note))
    double = quant.get("bnb_4bit_use_double_quant", False)
    fmt = "nf4" if double else "nf4-fp32-absmax"
    kind = quant.get("bnb_4bit_quant_type", "fp4")
    return CheckpointQuantization(method="bitsandbytes", weight_format=fmt, roles=ALL_LINEARS, skip=skip,
                                  notes=(f"bitsandbytes 4-bit {kind}, blocks of 64, "
                                         f"{'double-quantized 8-bit absmax' if double else 'fp32 absmax'}", note))


def _modelopt(quant: dict[str, Any], source: str) -> CheckpointQuantization:
    algo = str(quant.get("quant_algo", "")).upper()
    if algo not in ("FP8", "NVFP4"):
        raise _unsupported(f"modelopt quant_algo {algo!r} is not supported (FP8, NVFP4)", source, "quantization_config.quant_algo")
    key = "exclude_modules" if "exclude_modules" in quant else "ignore"
    skip = _patterns(quant.get(key), source, f"quantization_config.{key}")
    return CheckpointQuantization(method="modelopt", weight_format="fp8-per-tensor" if algo == "FP8" else "nvfp4", skip=skip,
                                  notes=(f"ModelOpt {algo}",))


def _mxfp4(quant: dict[str, Any], source: str) -> CheckpointQuantization:
    skip = _patterns(quant.get("modules_to_not_convert"), source, "quantization_config.modules_to_not_convert")
    return CheckpointQuantization(method="mxfp4", weight_format="mxfp4", roles=("expert",), skip=skip,
                                  notes=("MXFP4 on the routed experts, E8M0 scale per 32",))


def checkpoint_quantization(config: dict[str, Any], source: str = _CONFIG_FILE) -> CheckpointQuantization | None:
    """The quantization a config's ``quantization_config`` describes, or None for a 16/32-bit checkpoint."""
    quant = config.get("quantization_config")
    if quant is None:
        return None
    if not isinstance(quant, dict):
        raise _error("config.json has a field of the wrong type", "quantization_config must be a mapping", source,
                     "quantization_config")
    method = quant.get("quant_method") or ("modelopt" if "quant_algo" in quant else None)  # ModelOpt exports may omit it
    if method not in SUPPORTED_QUANT_METHODS:
        raise _unsupported(f"quant_method {method!r} is not supported; supported: {', '.join(SUPPORTED_QUANT_METHODS)}",
                           source, "quantization_config.quant_method")
    if method == "awq":
        return _awq(quant, source)
    if method == "gptq":
        return _gptq(quant, source)
    if method == "fp8":
        return _fp8(quant, config, source)
    if method == "fbgemm_fp8":
        return _fbgemm(quant, config, source)
    if method == "bitsandbytes":
        return _bitsandbytes(quant, source)
    if method == "modelopt":
        return _modelopt(quant, source)
    if method == "mxfp4":
        return _mxfp4(quant, source)
    return _compressed_tensors(quant, source)
