"""Read a ``.gguf`` file's header: its metadata and every tensor's ggml type and shape, never the tensor data.

A GGUF file (llama.cpp ``gguf-py``, spec ``docs/gguf.md``) starts with the magic, a version, the tensor and
key-value counts, the key-values, then one info record per tensor (name, dimensions, ggml type, offset); the
data follows, aligned. The weights' real size is ``elements / block_size x type_size`` per tensor, with the
block sizes of ``gguf.GGML_QUANT_SIZES``: a Q5_K_M file mixes Q5_K, Q6_K and F32 tensors (5.5, 6.5625, 32 bits)
and comes out near 5.5 bits per weight over the file, not the 5.69 a fixed per-format figure assumes.

The reader uses the ``gguf`` package's constants (value types, ggml types, their block sizes) and walks the
header itself so that every read is bounded: the header may not exceed ``MAX_HEADER_BYTES``, nor its counts
the limits below, and the tensor data is never touched (``gguf.GGUFReader`` maps the whole file and has no
limits on a hostile header's counts).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from ..errors import InputError, Issue
from ..yaml_io import open_user_file
from .architecture import ModelArchitecture

MAX_HEADER_BYTES = 512 * 2**20
MAX_TENSORS = 1_000_000
MAX_KEY_VALUES = 100_000
MAX_ARRAY_ITEMS = 16_000_000
MAX_STRING_BYTES = 16 * 2**20
MAX_DIMENSIONS = 8


def _gguf() -> ModuleType:
    try:
        import gguf
    except ImportError as error:  # pragma: no cover - gguf is a dependency
        raise InputError("reading .gguf files needs the 'gguf' package", [Issue(str(error), suggestion="pip install gguf")]) from error
    return gguf


@dataclass(frozen=True)
class GgufTensor:
    name: str
    shape: tuple[int, ...]
    ggml_type: str
    nbytes: int

    @property
    def elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class GgufHeader:
    """What a GGUF header says: its metadata (arrays reduced to their length) and its tensor records."""

    path: str
    version: int
    metadata: dict[str, Any]
    tensors: tuple[GgufTensor, ...]

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))


class _Stream:
    """Little-endian reads from the header, each checked against the file's size and the header limit."""

    def __init__(self, handle: BinaryIO, path: str, size: int):
        self.handle, self.path, self.size, self.offset = handle, path, size, 0

    def fail(self, message: str) -> InputError:
        return InputError("unreadable .gguf file", [Issue(message, source=self.path, suggestion="is it a complete GGUF v2/v3 file?")])

    def take(self, count: int) -> bytes:
        if count < 0 or self.offset + count > min(self.size, MAX_HEADER_BYTES):
            where = "its header limit of 512 MiB" if self.offset + count > MAX_HEADER_BYTES else "the end of the file"
            raise self.fail(f"the header runs past {where} at byte {self.offset:,}")
        data = self.handle.read(count)
        if len(data) != count:
            raise self.fail(f"the file ends inside its header at byte {self.offset:,}")
        self.offset += count
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        length = self.unpack("Q")
        if length > MAX_STRING_BYTES:
            raise self.fail(f"a string of {length:,} bytes at byte {self.offset:,}")
        return self.take(length).decode("utf-8", errors="replace")


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def _value(stream: _Stream, value_type: int, depth: int = 0) -> Any:
    """One metadata value; arrays are read through (bounded) and kept as their length, or values when short."""
    if value_type in _SCALARS:
        return stream.unpack(_SCALARS[value_type])
    if value_type == 8:
        return stream.string()
    if value_type == 9 and depth == 0:
        item_type, count = stream.unpack("I"), stream.unpack("Q")
        if count > MAX_ARRAY_ITEMS:
            raise stream.fail(f"an array of {count:,} items at byte {stream.offset:,}")
        if item_type in _SCALARS:
            width = struct.calcsize("<" + _SCALARS[item_type])
            raw = stream.take(width * count)
            return list(struct.unpack(f"<{count}{_SCALARS[item_type]}", raw)) if count <= 4096 else count
        items = [_value(stream, item_type, depth + 1) for _ in range(count)]
        return items if count <= 4096 else count
    raise stream.fail(f"unknown metadata value type {value_type} at byte {stream.offset:,}")


def read_gguf_header(path: str | Path) -> GgufHeader:
    """The header of the ``.gguf`` file at ``path``; bad input (naming the file) when it is not one."""
    gguf = _gguf()
    name = str(path)
    file = Path(path)
    with open_user_file(file, "model file", InputError) as handle:  # a FIFO or device is refused, never read
        stream = _Stream(handle, name, file.stat().st_size)
        if stream.unpack("I") != gguf.GGUF_MAGIC:
            raise stream.fail("it does not start with the GGUF magic")
        version = stream.unpack("I")
        if version not in (2, 3):
            raise stream.fail(f"GGUF version {version} (this reader knows 2 and 3)")
        tensor_count, kv_count = stream.unpack("Q"), stream.unpack("Q")
        if tensor_count > MAX_TENSORS or kv_count > MAX_KEY_VALUES:
            raise stream.fail(f"it claims {tensor_count:,} tensors and {kv_count:,} key-values")
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = stream.string()
            metadata[key] = _value(stream, stream.unpack("I"))
        tensors = [_tensor(stream, gguf) for _ in range(tensor_count)]
    return GgufHeader(name, version, metadata, tuple(tensors))


def _tensor(stream: _Stream, gguf: Any) -> GgufTensor:
    name = stream.string()
    dimensions = stream.unpack("I")
    if not 1 <= dimensions <= MAX_DIMENSIONS:
        raise stream.fail(f"tensor {name!r} has {dimensions} dimensions")
    shape = tuple(stream.unpack("Q") for _ in range(dimensions))
    raw_type = stream.unpack("I")
    stream.unpack("Q")  # offset of the data: not read
    try:
        ggml_type = gguf.GGMLQuantizationType(raw_type)
        block, type_size = gguf.GGML_QUANT_SIZES[ggml_type]
    except (ValueError, KeyError):
        raise stream.fail(f"tensor {name!r} has unknown ggml type {raw_type}") from None
    elements = 1
    for dim in shape:
        elements *= dim
    if shape[0] % block:
        raise stream.fail(f"tensor {name!r}: rows of {shape[0]} are not whole {ggml_type.name} blocks of {block}")
    return GgufTensor(name, shape, ggml_type.name, elements // block * type_size)


def gguf_weights(header: GgufHeader, num_layers: int) -> GgufWeights:
    """Bytes per block (``blk.N.*``), token embedding, output layer and the rest, from the tensor records."""
    layers = [0] * num_layers
    named = {"token_embd.weight": 0, "output.weight": 0, "output_norm.weight": 0, "output_norm.bias": 0}
    other = 0
    for tensor in header.tensors:
        if tensor.name.startswith("blk."):
            index = tensor.name.split(".")[1]
            if index.isdigit() and int(index) < num_layers:
                layers[int(index)] += tensor.nbytes
                continue
        if tensor.name in named:
            named[tensor.name] += tensor.nbytes
        else:
            other += tensor.nbytes
    types = Counter(t.ggml_type for t in header.tensors)
    return GgufWeights(tuple(layers), named["token_embd.weight"], named["output.weight"],
                       named["output_norm.weight"] + named["output_norm.bias"], other,
                       sum(t.elements for t in header.tensors), tuple(sorted(types.items())))


def _number(metadata: dict[str, Any], key: str, default: Any = None) -> Any:
    value = metadata.get(key, default)
    if isinstance(value, list):  # per-layer values (e.g. head_count_kv): the largest
        value = max(value) if value else default
    return value


def architecture_from_gguf(header: GgufHeader) -> ModelArchitecture:
    """The model's shape from the header's ``{arch}.*`` keys, with the vocabulary from ``token_embd``."""
    arch, meta, source = header.architecture, header.metadata, header.path
    if not arch:
        raise InputError("unreadable .gguf file", [Issue("no general.architecture key", source=source)])

    def need(key: str) -> int:
        value = _number(meta, f"{arch}.{key}")
        if not isinstance(value, (int, float)) or value < 1:
            raise InputError("incomplete .gguf header", [Issue(f"{arch}.{key} is missing or not a positive number", source=source)])
        return int(value)

    tensors = {t.name: t for t in header.tensors}
    embed = tensors.get("token_embd.weight")
    vocab = embed.shape[1] if embed is not None and len(embed.shape) > 1 else _number(meta, f"{arch}.vocab_size")
    heads = need("attention.head_count")
    kv_heads = int(_number(meta, f"{arch}.attention.head_count_kv", heads) or heads)
    hidden = need("embedding_length")
    head_dim = _number(meta, f"{arch}.attention.key_length")
    experts = int(_number(meta, f"{arch}.expert_count", 0) or 0)
    mla = _number(meta, f"{arch}.attention.kv_lora_rank")
    fields: dict[str, Any] = dict(
        name=str(meta.get("general.name") or Path(source).stem), family=arch, num_layers=need("block_count"),
        hidden_size=hidden, num_attention_heads=heads, num_kv_heads=kv_heads if not mla else heads,
        head_dim=int(head_dim) if head_dim and not mla and head_dim != hidden // heads else None,
        intermediate_size=int(_number(meta, f"{arch}.feed_forward_length", 0) or _number(meta, f"{arch}.expert_feed_forward_length", 1)),
        vocab_size=int(vocab or 1), tie_word_embeddings="output.weight" not in tensors,
        gated_mlp="blk.0.ffn_gate.weight" in tensors or experts > 0,
        max_position_embeddings=_number(meta, f"{arch}.context_length"),
        sliding_window=_number(meta, f"{arch}.attention.sliding_window"),
    )
    if experts:
        fields |= dict(num_experts=experts, experts_per_token=int(_number(meta, f"{arch}.expert_used_count", 1)),
                       moe_intermediate_size=_number(meta, f"{arch}.expert_feed_forward_length"),
                       num_shared_experts=int(_number(meta, f"{arch}.expert_shared_count", 0) or 0),
                       first_k_dense_layers=int(_number(meta, f"{arch}.leading_dense_block_count", 0) or 0))
    if mla:
        rope = _number(meta, f"{arch}.rope.dimension_count", 64)
        fields |= dict(kv_lora_rank=int(mla), qk_rope_head_dim=int(rope),
                       q_lora_rank=_number(meta, f"{arch}.attention.q_lora_rank"),
                       qk_nope_head_dim=int(_number(meta, f"{arch}.attention.key_length", 192)) - int(rope),
                       v_head_dim=_number(meta, f"{arch}.attention.value_length"))
    try:
        return ModelArchitecture(**fields)
    except ValueError as error:
        raise InputError("unusable .gguf header", [Issue(str(error).splitlines()[0], source=source)]) from None


@dataclass(frozen=True)
class GgufModel:
    """A ``.gguf`` model: its architecture, its tensors' real bytes and the header they come from."""

    architecture: ModelArchitecture
    weights: GgufWeights
    header: GgufHeader


def load_gguf(path: str | Path) -> GgufModel:
    """Architecture and per-tensor weight bytes of a ``.gguf`` file, from its header alone (cached per file
    version: one command asks for the architecture and the weights of the same file)."""
    file = Path(path)
    stat = file.stat() if file.is_file() else None
    return _load(str(path), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> GgufModel:
    header = read_gguf_header(path)
    arch = architecture_from_gguf(header)
    return GgufModel(arch, gguf_weights(header, arch.num_layers), header)


@dataclass(frozen=True)
class GgufWeights:
    """Bytes of a ``.gguf`` file's tensors, as its header states them (per-tensor ggml types, no guessing).

    ``layer_bytes[i]`` sums the tensors named ``blk.i.*``; ``output_bytes`` is 0 when the file has no
    ``output.weight`` (tied embeddings: llama.cpp reuses ``token_embd``).
    """

    layer_bytes: tuple[int, ...]
    token_embd_bytes: int
    output_bytes: int
    output_norm_bytes: int
    other_bytes: int = 0
    parameter_count: int = 0
    type_counts: tuple[tuple[str, int], ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(self.layer_bytes) + self.token_embd_bytes + self.output_bytes + self.output_norm_bytes + self.other_bytes

    @property
    def bits_per_weight(self) -> float:
        return self.total_bytes * 8 / self.parameter_count if self.parameter_count else 0.0

    @property
    def gpu_output_bytes(self) -> int:
        """The output layer on a GPU: ``output.weight``, or a copy of ``token_embd`` when tied."""
        return (self.output_bytes or self.token_embd_bytes) + self.output_norm_bytes
