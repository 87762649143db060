""".gguf files: the header's per-tensor ggml types give the weights, read without touching the tensor data."""

import json
import struct

import gguf
import numpy as np
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.errors import InputError
from planner.model.gguf import MAX_TENSORS, load_gguf, read_gguf_header

Q = gguf.GGMLQuantizationType
HIDDEN, FFN, VOCAB, LAYERS, HEADS, KV_HEADS = 256, 512, 64, 2, 4, 2


def row_bytes(cols: int, kind: Q) -> int:
    block, size = gguf.GGML_QUANT_SIZES[kind]
    return cols // block * size


def tensors() -> dict[str, tuple[int, int, Q]]:
    """(rows, cols, type) of a tiny Llama in a Q4_K_M-like mix: attn_v and ffn_down in Q6_K, norms in F32."""
    head = HIDDEN // HEADS
    layout = {"token_embd.weight": (VOCAB, HIDDEN, Q.Q4_K), "output.weight": (VOCAB, HIDDEN, Q.Q6_K),
              "output_norm.weight": (1, HIDDEN, Q.F32)}
    for i in range(LAYERS):
        layout |= {f"blk.{i}.attn_q.weight": (HIDDEN, HIDDEN, Q.Q4_K), f"blk.{i}.attn_k.weight": (KV_HEADS * head, HIDDEN, Q.Q4_K),
                   f"blk.{i}.attn_v.weight": (KV_HEADS * head, HIDDEN, Q.Q6_K), f"blk.{i}.attn_output.weight": (HIDDEN, HIDDEN, Q.Q4_K),
                   f"blk.{i}.ffn_gate.weight": (FFN, HIDDEN, Q.Q4_K), f"blk.{i}.ffn_up.weight": (FFN, HIDDEN, Q.Q4_K),
                   f"blk.{i}.ffn_down.weight": (HIDDEN, FFN, Q.Q6_K), f"blk.{i}.attn_norm.weight": (1, HIDDEN, Q.F32),
                   f"blk.{i}.ffn_norm.weight": (1, HIDDEN, Q.F32)}
    return layout


def expected_bytes(name: str) -> int:
    rows, cols, kind = tensors()[name]
    return rows * row_bytes(cols, kind)


@pytest.fixture()
def tiny_gguf(tmp_path):
    path = tmp_path / "tiny-llama-Q4_K_M.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_block_count(LAYERS)
    writer.add_context_length(4096)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(VOCAB)])
    for name, (rows, cols, kind) in tensors().items():
        if kind is Q.F32:
            writer.add_tensor(name, np.zeros(cols, dtype=np.float32))
        else:
            writer.add_tensor(name, np.zeros((rows, row_bytes(cols, kind)), dtype=np.uint8), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_header_gives_every_tensor_its_own_ggml_type_and_size(tiny_gguf):
    header = read_gguf_header(tiny_gguf)
    assert {t.name: t.nbytes for t in header.tensors} == {name: expected_bytes(name) for name in tensors()}
    assert {t.name: t.ggml_type for t in header.tensors}["blk.0.attn_v.weight"] == "Q6_K"


def test_weights_per_block_embedding_and_output_come_from_the_file(tiny_gguf):
    model = load_gguf(tiny_gguf)
    block = sum(expected_bytes(n) for n in tensors() if n.startswith("blk.0."))
    assert model.weights.layer_bytes == (block, block)
    assert model.weights.token_embd_bytes == expected_bytes("token_embd.weight")
    assert model.weights.gpu_output_bytes == expected_bytes("output.weight") + expected_bytes("output_norm.weight")
    assert model.weights.total_bytes == sum(expected_bytes(n) for n in tensors())
    assert 4.5 < model.weights.bits_per_weight < 6.6  # a mix, not one format's figure


def test_the_architecture_is_read_from_the_header_keys(tiny_gguf):
    arch = load_gguf(tiny_gguf).architecture
    assert (arch.num_layers, arch.hidden_size, arch.num_attention_heads, arch.kv_heads) == (LAYERS, HIDDEN, HEADS, KV_HEADS)
    assert (arch.intermediate_size, arch.vocab_size, arch.tie_word_embeddings) == (FFN, VOCAB, False)


def test_planner_memory_bills_a_gguf_file_with_partial_offload_on_gpu_and_host(tiny_gguf):
    result = CliRunner().invoke(cli, ["memory", "--gguf", str(tiny_gguf), "--gpu-memory-gib", "8", "--n-gpu-layers", "1",
                                      "--kv-cache-dtype", "q8_0", "--context", "4096", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["engine"] == "llamacpp" and data["gpu_layers"] == 1
    block = sum(expected_bytes(n) for n in tensors() if n.startswith("blk.1."))
    assert data["memory_per_gpu_gib"]["weights"] == round(block / 2**30, 4)  # the last block only
    host = expected_bytes("token_embd.weight") + sum(expected_bytes(n) for n in tensors() if n.startswith("blk.0.")) \
        + expected_bytes("output.weight") + expected_bytes("output_norm.weight")
    assert data["memory_per_gpu_gib"]["host_weights"] == round(host / 2**30, 4)
    kv_cells_per_block = 4096 * 2 * KV_HEADS * (HIDDEN // HEADS) // 32 * 34
    assert data["memory_per_gpu_gib"]["kv_cache"] == round(kv_cells_per_block / 2**30, 4)
    assert data["memory_per_gpu_gib"]["host_kv_cache"] == round(kv_cells_per_block / 2**30, 4)


def test_a_gguf_file_under_another_engine_is_refused(tiny_gguf):
    result = CliRunner().invoke(cli, ["memory", "--gguf", str(tiny_gguf), "--engine", "vllm"])
    assert result.exit_code == 2 and "llama.cpp" in result.output


def test_a_truncated_or_foreign_file_is_bad_input_not_a_traceback(tiny_gguf, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[:200])
    with pytest.raises(InputError, match="unreadable"):
        read_gguf_header(cut)
    other = tmp_path / "model.gguf"
    other.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    with pytest.raises(InputError) as foreign:
        read_gguf_header(other)
    assert "magic" in foreign.value.render() and str(other) in foreign.value.render()


def test_a_header_claiming_absurd_counts_is_refused_before_reading_them(tmp_path):
    hostile = tmp_path / "hostile.gguf"
    hostile.write_bytes(struct.pack("<IIQQ", gguf.GGUF_MAGIC, 3, MAX_TENSORS + 1, 0))
    with pytest.raises(InputError) as counts:
        read_gguf_header(hostile)
    assert "claims" in counts.value.render()
    huge_string = tmp_path / "huge-string.gguf"
    huge_string.write_bytes(struct.pack("<IIQQQ", gguf.GGUF_MAGIC, 3, 0, 1, 2**62))
    with pytest.raises(InputError) as string:
        read_gguf_header(huge_string)
    assert "string of" in string.value.render()
