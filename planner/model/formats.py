"""The vocabulary of weight formats and KV-cache dtypes, with their exact storage cost.

Each weight format states the bits one quantized weight costs, its scales and zeros (per group, per output
channel, per block or per tensor), and which parameters it applies to (its scope). Parameters a format
leaves alone stay in 16-bit: embeddings, LM head, norms, router and biases for GPTQ/AWQ/FP8/INT8
checkpoints; attention and the first and last blocks as well for Meta's FP8 release.

Sources:
- GPTQ (Frantar et al. 2022, arXiv:2210.17323) and AWQ (Lin et al. 2023, arXiv:2306.00978) checkpoints as
  AutoGPTQ/AutoAWQ write them: 4-bit weights packed in int32, per group of 128 input channels one fp16 scale
  and one packed zero point of the same width; GPTQ also stores ``g_idx`` (one int32 per input channel).
- compressed-tensors W4A16 (``pack-quantized``, vLLM/Marlin): symmetric, fp16 scale per group, no zeros.
- bitsandbytes NF4 (Dettmers et al. 2023, QLoRA, arXiv:2305.14314, Sec. 3): blocks of 64 with an 8-bit
  absmax under double quantization, plus one fp32 constant per 256 blocks: 4 + 8/64 + 32/(64*256) bits;
  without double quantization (the ``BitsAndBytesConfig`` default) an fp32 absmax per 64: 4 + 32/64 bits.
- FP8 (Micikevicius et al. 2022, arXiv:2209.05433; vLLM ``fp8``/``fbgemm_fp8``, compressed-tensors): one
  byte per weight and an fp32 scale per tensor (vLLM serialized FP8), per output channel (fbgemm,
  FP8-Dynamic) or per 128 x 128 block (DeepSeek-V3 and Qwen3 ``weight_block_size``).
- Meta's Llama 3.1 405B FP8 (arXiv:2407.21783, Sec. 6.2, and the ``modules_to_not_convert`` list that
  transformers' conversion script writes): FP8 only on the MLP of blocks 1..124; attention, blocks 0 and
  125, embeddings and LM head stay bf16.
- MXFP4 (OCP Microscaling spec v1.0): E2M1 elements, one E8M0 scale per 32. NVFP4 (NVIDIA TensorRT Model
  Optimizer): E2M1 elements, one FP8 E4M3 scale per 16, plus one fp32 scale per tensor.
- GGUF k-quants (llama.cpp ``ggml-common.h`` block layouts): Q8_0 34 bytes / 32 weights = 8.5 bpw,
  Q6_K 210 / 256 = 6.5625 bpw, Q5_K 176 / 256 = 5.5 bpw, Q4_K 144 / 256 = 4.5 bpw. The ``_M`` mixes keep
  ``attn_v`` and half of ``ffn_down`` in Q6_K; the file sizes in llama.cpp ``tools/quantize/quantize.cpp``
  (``QUANT_OPTIONS``: LLaMA-v1-7B Q4_K_M 3.80 GiB, Q5_K_M 4.45 GiB; Llama-3-8B 4.58 / 5.33 GiB) give about
  4.85 (Q4_K_M) and 5.69 (Q5_K_M) bits per weight over a whole model. GGUF also quantizes the embedding.
- KV caches: vLLM ``--kv-cache-dtype`` (auto, fp8 = fp8_e4m3, fp8_e5m2); SGLang (fp8_e4m3, fp8_e5m2);
  TensorRT-LLM (fp8, int8 with a per-tensor scale); LMDeploy ``quant_policy`` 8/4 (int8/int4 with an fp16
  scale and zero per token and head, Sec. "KV cache quantization" of its docs); llama.cpp ``--cache-type-k/v``
  q8_0 (34 bytes / 32) and q4_0 (18 bytes / 32).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum


class QuantScope(str, Enum):
    """Which parameters a weight format quantizes."""

    NONE = "none"  # full-precision formats: every matrix at the format's width
    LINEAR = "linear"  # every transformer-block linear layer; embeddings, LM head, norms, router stay 16-bit
    MLP = "mlp"  # only MLP and expert matrices; attention stays 16-bit (Meta's Llama 3.1 FP8)
    EXPERTS = "experts"  # only routed-expert matrices (gpt-oss MXFP4 checkpoints)
    ALL_MATRICES = "all_matrices"  # every 2-D weight incl. embeddings and LM head (GGUF)


@dataclass(frozen=True)
class WeightFormat:
    """A weight storage format: bits per quantized weight plus its scale and zero overheads."""

    name: str
    bits_per_weight: float
    scope: QuantScope
    description: str
    group_size: int = 0
    group_overhead_bits: float = 0.0  # bits per group of ``group_size`` input channels, per output row
    per_output_channel_bits: float = 0.0  # bits per output row (per-channel scales)
    per_input_channel_bits: float = 0.0  # bits per input column (GPTQ g_idx)
    block_shape: tuple[int, int] | None = None  # (rows, cols) of one scale block (FP8 block-wise)
    block_overhead_bits: float = 0.0
    per_tensor_bits: float = 0.0  # one scale per (sharded) tensor
    unquantized_edge_blocks: int = 0  # this many first and last transformer blocks stay 16-bit
    needs_fp8_hardware: bool = False
    needs_bf16_hardware: bool = False
    engines: tuple[str, ...] = ("vllm", "sglang", "tensorrt-llm")

    def matrix_bytes(self, rows: int, cols: int, fused: int = 1) -> int:
        """Bytes of one ``rows x cols`` weight matrix (rows = output features) in this format; ``fused``
        checkpoint tensors stacked in it (gate and up projections) each keep their own per-tensor scale and
        their own per-input-channel ``g_idx`` (AutoGPTQ stores ``gate_proj.g_idx`` and ``up_proj.g_idx``)."""
        bits = rows * cols * self.bits_per_weight
        if self.group_size:
            bits += rows * -(-cols // self.group_size) * self.group_overhead_bits
        if self.block_shape:
            block_rows, block_cols = self.block_shape
            bits += -(-rows // block_rows) * -(-cols // block_cols) * self.block_overhead_bits
        bits += rows * self.per_output_channel_bits + (cols * self.per_input_channel_bits + self.per_tensor_bits) * fused
        return int(-(-bits // 8))

    @property
    def effective_bits_per_weight(self) -> float:
        """Average bits per quantized weight of a large (8192 x 8192) matrix, scales included, for reports."""
        side = 8192
        return self.matrix_bytes(side, side) * 8 / (side * side) if self.scope is not QuantScope.NONE else self.bits_per_weight

    @property
    def quantized(self) -> bool:
        return self.scope is not QuantScope.NONE

    @property
    def unquantized_bytes_per_parameter(self) -> int:
        """Width of parameters outside the scope: fp32 checkpoints stay fp32, everything else 16-bit."""
        return 4 if self.name == "fp32" else 2


@dataclass(frozen=True)
class KvCacheDtype:
    """A KV-cache element type; ``overhead_bits_per_head`` adds per-token scales (LMDeploy int8/int4)."""

    name: str
    bits: float
    description: str
    overhead_bits_per_head: int = 0
    engines: tuple[str, ...] = ("vllm", "sglang", "tensorrt-llm", "llama.cpp")

    @property
    def bytes_per_element(self) -> float:
        return self.bits / 8


_16 = 16.0
_FP8_ENGINES = ("vllm", "sglang", "tensorrt-llm")
WEIGHT_FORMATS: dict[str, WeightFormat] = {
    f.name: f
    for f in (
        WeightFormat("fp32", 32.0, QuantScope.NONE, "IEEE float32, 4 bytes per parameter", engines=("vllm", "transformers")),
        WeightFormat("bf16", _16, QuantScope.NONE, "bfloat16, 2 bytes per parameter", needs_bf16_hardware=True),
        WeightFormat("fp16", _16, QuantScope.NONE, "float16, 2 bytes per parameter"),
        WeightFormat(
            "fp8", 8.0, QuantScope.LINEAR, "FP8 e4m3 linear layers, fp32 scale per output channel (fbgemm, FP8-Dynamic)",
            per_output_channel_bits=32, needs_fp8_hardware=True, engines=_FP8_ENGINES,
        ),
        WeightFormat(
            "fp8-per-tensor", 8.0, QuantScope.LINEAR, "FP8 e4m3 linear layers, one fp32 scale per tensor (vLLM --quantization fp8)",
            per_tensor_bits=32, needs_fp8_hardware=True, engines=_FP8_ENGINES,
        ),
        WeightFormat(
            "fp8-block", 8.0, QuantScope.LINEAR, "FP8 e4m3 linear layers, fp32 scale per 128x128 block (DeepSeek-V3, Qwen3-FP8)",
            block_shape=(128, 128), block_overhead_bits=32, needs_fp8_hardware=True, engines=_FP8_ENGINES,
        ),
        WeightFormat(
            "fp8-mlp", 8.0, QuantScope.MLP, "Meta Llama 3.1 FP8: MLP of all but the first/last block in FP8 (per-row fp32 "
            "scale); attention, first/last blocks, embeddings in bf16", per_output_channel_bits=32,
            unquantized_edge_blocks=1, needs_fp8_hardware=True, engines=_FP8_ENGINES,
        ),
        WeightFormat(
            "int8", 8.0, QuantScope.LINEAR, "INT8 W8A8 (SmoothQuant / compressed-tensors / bitsandbytes 8-bit), fp32 per-channel scale",
            per_output_channel_bits=32,
        ),
        WeightFormat(
            "int8-gptq", 8.0, QuantScope.LINEAR, "GPTQ 8-bit, group 128, fp16 scale + 8-bit zero, int32 g_idx",
            group_size=128, group_overhead_bits=24, per_input_channel_bits=32, engines=("vllm", "sglang"),
        ),
        WeightFormat(
            "int4-awq", 4.0, QuantScope.LINEAR, "AWQ 4-bit, group 128, fp16 scale + 4-bit zero per group",
            group_size=128, group_overhead_bits=20,
        ),
        WeightFormat(
            "int4-gptq", 4.0, QuantScope.LINEAR, "GPTQ 4-bit, group 128, fp16 scale + 4-bit zero, int32 g_idx",
            group_size=128, group_overhead_bits=20, per_input_channel_bits=32,
        ),
        WeightFormat(
            "int4-w4a16", 4.0, QuantScope.LINEAR, "compressed-tensors W4A16 (Marlin), group 128, fp16 scale, symmetric",
            group_size=128, group_overhead_bits=16, engines=("vllm", "sglang"),
        ),
        WeightFormat(
            "nf4", 4.0, QuantScope.LINEAR, "bitsandbytes NF4, block 64, double-quantized absmax",
            group_size=64, group_overhead_bits=8 + 32 / 256, engines=("vllm", "transformers"),
        ),
        WeightFormat(
            "nf4-fp32-absmax", 4.0, QuantScope.LINEAR, "bitsandbytes 4-bit (NF4/FP4), block 64, fp32 absmax (no double quant)",
            group_size=64, group_overhead_bits=32, engines=("vllm", "transformers"),
        ),
        WeightFormat(
            "mxfp4", 4.0, QuantScope.EXPERTS, "OCP MXFP4 on MoE experts (gpt-oss), E8M0 scale per 32",
            group_size=32, group_overhead_bits=8, engines=("vllm", "sglang", "tensorrt-llm", "llama.cpp"),
        ),
        WeightFormat(
            "nvfp4", 4.0, QuantScope.LINEAR, "NVIDIA NVFP4 (ModelOpt): E2M1, FP8 scale per 16, fp32 scale per tensor",
            group_size=16, group_overhead_bits=8, per_tensor_bits=32, engines=("vllm", "sglang", "tensorrt-llm"),
        ),
        WeightFormat("gguf-q8_0", 8.5, QuantScope.ALL_MATRICES, "llama.cpp Q8_0 (8.5 bits/weight)", engines=("llama.cpp",)),
        WeightFormat("gguf-q6_k", 6.5625, QuantScope.ALL_MATRICES, "llama.cpp Q6_K (6.5625 bits/weight)", engines=("llama.cpp",)),
        WeightFormat("gguf-q5_k_m", 5.69, QuantScope.ALL_MATRICES, "llama.cpp Q5_K_M mix (~5.69 bits/weight)", engines=("llama.cpp",)),
        WeightFormat("gguf-q4_k_m", 4.85, QuantScope.ALL_MATRICES, "llama.cpp Q4_K_M mix (~4.85 bits/weight)", engines=("llama.cpp",)),
    )
}

WEIGHT_FORMAT_ALIASES = {"int4": "int4-awq", "awq": "int4-awq", "gptq": "int4-gptq", "float16": "fp16",
                         "bfloat16": "bf16", "float32": "fp32", "fp8-e4m3": "fp8", "fbgemm_fp8": "fp8",
                         "w4a16": "int4-w4a16", "bnb-nf4": "nf4", "q4_k_m": "gguf-q4_k_m", "q5_k_m": "gguf-q5_k_m",
                         "q6_k": "gguf-q6_k", "q8_0": "gguf-q8_0"}

_LLAMA_CPP = ("llama.cpp",)
KV_CACHE_DTYPES: dict[str, KvCacheDtype] = {
    d.name: d
    for d in (
        KvCacheDtype("fp16", 16, "16-bit KV cache (the model's dtype: vLLM 'auto')"),
        KvCacheDtype("bf16", 16, "16-bit KV cache (bfloat16)", engines=("vllm", "sglang", "tensorrt-llm")),
        KvCacheDtype("fp8", 8, "FP8 KV cache (vLLM/SGLang/TensorRT-LLM 'fp8' = e4m3)", engines=_FP8_ENGINES),
        KvCacheDtype("fp8-e4m3", 8, "FP8 e4m3 KV cache", engines=_FP8_ENGINES),
        KvCacheDtype("fp8-e5m2", 8, "FP8 e5m2 KV cache", engines=("vllm", "sglang")),
        KvCacheDtype("int8", 8, "INT8 KV cache, per-tensor scale (TensorRT-LLM)", engines=("tensorrt-llm",)),
        KvCacheDtype("int8-per-head", 8, "INT8 KV cache with fp16 scale+zero per token and head (LMDeploy quant_policy=8)",
                     overhead_bits_per_head=32, engines=("lmdeploy",)),
        KvCacheDtype("int4", 4, "INT4 KV cache with fp16 scale+zero per token and head (LMDeploy quant_policy=4)",
                     overhead_bits_per_head=32, engines=("lmdeploy",)),
        KvCacheDtype("q8_0", 8.5, "llama.cpp q8_0 KV cache (34 bytes per 32 values)", engines=_LLAMA_CPP),
        KvCacheDtype("q4_0", 4.5, "llama.cpp q4_0 KV cache (18 bytes per 32 values)", engines=_LLAMA_CPP),
    )
}

KV_CACHE_DTYPE_ALIASES = {"auto": "fp16", "16bit": "fp16", "float16": "fp16", "f16": "fp16", "bfloat16": "bf16",
                          "e4m3": "fp8-e4m3", "fp8_e4m3": "fp8-e4m3", "e5m2": "fp8-e5m2", "fp8_e5m2": "fp8-e5m2"}

SIXTEEN_BIT = WEIGHT_FORMATS["bf16"]


def canonical_weight_format(name: str) -> str:
    key = name.strip().lower()
    return WEIGHT_FORMAT_ALIASES.get(key, key)


def canonical_kv_dtype(name: str) -> str:
    key = name.strip().lower()
    return KV_CACHE_DTYPE_ALIASES.get(key, key)


_GROUP_VARIANT = re.compile(r"^(?P<base>int[2348]-(?:gptq|awq)|int4-w4a16)(?:-g(?P<group>\d+)|-(?P<channel>channel))$")
_GPTQ_BITS = re.compile(r"^int(?P<bits>[23])-gptq$")
WEIGHT_FORMAT_VARIANT_PATTERN = f"{_GROUP_VARIANT.pattern}|{_GPTQ_BITS.pattern}"
"""Names of the group-size and bit-width variants (``int4-gptq-g32``, ``int3-gptq``), as a regular expression."""


def _variant(name: str) -> WeightFormat | None:
    """Group-size and bit-width variants of the group formats, named ``<base>-g<N>`` or ``<base>-channel``.

    AutoGPTQ/AutoAWQ and compressed-tensors store per group of ``N`` input channels one fp16 scale plus a zero
    point of the weight's width (none for symmetric W4A16); ``-channel`` is ``group_size: -1`` (one group per
    row). GPTQ also packs 2- and 3-bit weights (``int2-gptq``, ``int3-gptq``) with zeros of the same width.
    """
    bits_match = _GPTQ_BITS.match(name)
    if bits_match:
        bits = int(bits_match["bits"])
        return replace(WEIGHT_FORMATS["int4-gptq"], name=name, bits_per_weight=float(bits), group_overhead_bits=16 + bits,
                       description=f"GPTQ {bits}-bit, group 128, fp16 scale + {bits}-bit zero, int32 g_idx")
    match = _GROUP_VARIANT.match(name)
    if not match:
        return None
    base_name = match["base"]
    bits = int(base_name[3])
    base = WEIGHT_FORMATS.get(base_name) or replace(_variant(base_name) or WEIGHT_FORMATS["int4-gptq"], name=base_name)
    if base_name.endswith("awq") and bits != 4:
        return None
    if match["channel"]:
        return replace(base, name=name, group_size=0, group_overhead_bits=0.0, per_output_channel_bits=base.group_overhead_bits,
                       description=f"{base.description.split(',')[0]}, one group per output channel")
    group = int(match["group"])
    if group < 16 or group > 8192 or group & (group - 1):
        return None
    return replace(base, name=name, group_size=group, description=base.description.replace("group 128", f"group {group}"))


def is_weight_format(name: str) -> bool:
    """Whether ``name`` (after aliases) is a catalogued weight format or a group-size/bit-width variant of one."""
    key = canonical_weight_format(name)
    return key in WEIGHT_FORMATS or _variant(key) is not None


def weight_format(name: str) -> WeightFormat:
    """Look a weight format up by name, alias or variant (``int4-gptq-g32``); KeyError for an unknown one."""
    key = canonical_weight_format(name)
    if key in WEIGHT_FORMATS:
        return WEIGHT_FORMATS[key]
    variant = _variant(key)
    if variant is None:
        raise KeyError(name)
    return variant


def kv_cache_dtype(name: str) -> KvCacheDtype:
    return KV_CACHE_DTYPES[canonical_kv_dtype(name)]


def fidelity_penalty(weights: WeightFormat, kv: KvCacheDtype | None) -> int:
    """How far a layout's numbers are from 16 bits, as an integer for the solver's tie-break: 10 per weight bit
    below 16 plus 1 per KV-cache bit below 16 (bf16 + fp16 KV: 0; fp8 KV: 8; fp8 weights: 80; int4 weights with an
    fp8 KV cache: 128). At equal cost the planner keeps the smaller penalty, so a cheaper-looking quantisation is
    chosen only when it saves money; weights weigh more because they touch every token's computation."""
    kv_bits = kv.bits if kv is not None else 16.0
    return round(10 * max(0.0, 16.0 - weights.bits_per_weight) + max(0.0, 16.0 - kv_bits))
