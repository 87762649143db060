"""Weight formats and KV-cache dtypes: the documented vocabulary, exact storage costs, and which layers stay 16-bit."""

import pytest

from planner.memory.parameters import count_parameters, embedding_tensors
from planner.memory.serving import ServingLayout, rotary_cache_bytes, weight_bytes_by_stage
from planner.model.formats import KV_CACHE_DTYPES, WEIGHT_FORMATS, QuantScope, canonical_weight_format, kv_cache_dtype, weight_format

GIB = 2**30


def weights(arch, fmt: str, **layout) -> int:
    return max(weight_bytes_by_stage(arch, ServingLayout(weight_format=weight_format(fmt), **layout)))


def test_the_issue_vocabulary_is_all_there():
    """fp32, bf16/fp16, fp8 (per-tensor / per-channel scales), int8, int4 AWQ/GPTQ, nf4, GGUF k-quants, MXFP4."""
    assert {"fp32", "bf16", "fp16", "fp8", "fp8-per-tensor", "fp8-block", "int8", "int4-awq", "int4-gptq", "nf4",
            "gguf-q8_0", "gguf-q6_k", "gguf-q5_k_m", "gguf-q4_k_m", "mxfp4"} <= set(WEIGHT_FORMATS)
    assert {"fp16", "bf16", "fp8-e4m3", "fp8-e5m2", "int8", "int4"} <= set(KV_CACHE_DTYPES)


def test_awq_costs_four_bits_plus_an_fp16_scale_and_4_bit_zero_per_group_of_128():
    """AWQ (arXiv:2306.00978) as AutoAWQ stores it: 4 + (16 + 4) / 128 bits per weight."""
    assert weight_format("int4-awq").matrix_bytes(4096, 4096) * 8 == 4096 * 4096 * 4 + 4096 * 32 * 20


def test_gptq_adds_an_int32_g_idx_per_input_channel():
    awq, gptq = weight_format("int4-awq"), weight_format("int4-gptq")
    assert gptq.matrix_bytes(4096, 11008) - awq.matrix_bytes(4096, 11008) == 11008 * 4


def test_nf4_double_quantization_costs_4_127_bits_per_weight():
    """QLoRA (arXiv:2305.14314) Sec. 3: 4 + 8/64 + 32/(64 x 256) = 4.127 bits."""
    assert weight_format("nf4").effective_bits_per_weight == pytest.approx(4 + 8 / 64 + 32 / (64 * 256), abs=1e-3)


def test_fp8_scale_granularities_cost_what_they_store():
    rows, cols = 4096, 14336
    base = rows * cols
    assert weight_format("fp8-per-tensor").matrix_bytes(rows, cols) == base + 4
    assert weight_format("fp8").matrix_bytes(rows, cols) == base + rows * 4
    assert weight_format("fp8-block").matrix_bytes(rows, cols) == base + (rows // 128) * (cols // 128) * 4


def test_gguf_block_layouts_give_their_bits_per_weight():
    """llama.cpp ggml-common.h: Q8_0 34 B / 32 weights, Q6_K 210 B / 256 weights."""
    assert weight_format("gguf-q8_0").bits_per_weight == 34 * 8 / 32
    assert weight_format("gguf-q6_k").bits_per_weight == 210 * 8 / 256


@pytest.mark.parametrize("fmt, published_gib", [("gguf-q8_0", 7.96), ("gguf-q6_k", 6.14), ("gguf-q5_k_m", 5.33),
                                                ("gguf-q4_k_m", 4.58)])
def test_gguf_llama3_8b_file_sizes_match_llama_cpp_quantize_table(catalog, fmt, published_gib):
    """llama.cpp tools/quantize/quantize.cpp QUANT_OPTIONS: '{ "Q4_K_M", ..., " 4.58G, +0.1754 ppl @ Llama-3-8B" }'."""
    arch = catalog.architecture("llama-3.1-8b")
    assert (weights(arch, fmt) - rotary_cache_bytes(arch)) / GIB == pytest.approx(published_gib, rel=0.015)


def test_awq_keeps_embeddings_lm_head_and_norms_in_16_bit(catalog):
    arch = catalog.architecture("llama-2-7b")
    params = count_parameters(arch)
    embed = sum(t.parameters for t in embedding_tensors(arch))
    awq = weights(arch, "int4-awq")
    assert awq > embed * 2  # embeddings at 2 bytes, not 0.5
    assert awq - rotary_cache_bytes(arch) == pytest.approx(embed * 2 + (params.total - embed) * 4.156 / 8, rel=0.002)


def test_gguf_quantizes_the_embedding_too(catalog):
    arch = catalog.architecture("llama-2-7b")
    q8 = weights(arch, "gguf-q8_0") - rotary_cache_bytes(arch)
    assert q8 == pytest.approx(count_parameters(arch).total * 8.5 / 8, rel=0.001)


def test_mxfp4_quantizes_only_the_experts_of_gpt_oss(catalog):
    """gpt-oss config: modules_to_not_convert = self_attn, router, embed_tokens, lm_head."""
    arch = catalog.architecture("gpt-oss-120b")
    assert weight_format("mxfp4").scope is QuantScope.EXPERTS
    mxfp4, bf16 = weights(arch, "mxfp4"), weights(arch, "bf16")
    assert 0.25 < mxfp4 / bf16 < 0.30  # experts hold ~97 % of the weights, at 4.25 bits instead of 16


def test_meta_fp8_leaves_attention_and_the_first_and_last_blocks_in_bf16(catalog):
    """Llama 3 paper (arXiv:2407.21783) Sec. 6.2: no FP8 in self-attention nor in the first and last layers."""
    arch = catalog.architecture("llama-3.1-405b")
    everything, mlp_only = weights(arch, "fp8", tp=8), weights(arch, "fp8-mlp", tp=8)
    attention_per_layer = (2 * 16384 * 16384 + 2 * 1024 * 16384) / 8  # q, o, k, v at TP=8
    mlp_per_layer = 3 * 16384 * 53248 / 8
    expected_extra = 126 * attention_per_layer + 2 * mlp_per_layer  # these stay bf16: 1 more byte each
    assert mlp_only - everything == pytest.approx(expected_extra, rel=0.01)


def test_every_catalog_weight_format_is_in_the_vocabulary(catalog):
    for entry in catalog.models:
        assert canonical_weight_format(entry.weight_format) in WEIGHT_FORMATS, entry.id


def test_kv_dtypes_cost_their_bits_and_per_head_scales():
    assert kv_cache_dtype("fp8-e5m2").bytes_per_element == 1
    assert kv_cache_dtype("q8_0").bits == 34 * 8 / 32
    assert kv_cache_dtype("int4").overhead_bits_per_head == 32


def test_each_kv_dtype_names_the_engines_that_support_it():
    assert "vllm" in kv_cache_dtype("fp8").engines and "vllm" in kv_cache_dtype("fp8-e5m2").engines
    assert "vllm" not in kv_cache_dtype("int4").engines  # LMDeploy only
    assert kv_cache_dtype("q4_0").engines == ("llama.cpp",)


def test_aliases_resolve_to_the_canonical_names():
    assert canonical_weight_format("AWQ") == "int4-awq"
    assert kv_cache_dtype("auto").name == "fp16" and kv_cache_dtype("fp8_e5m2").name == "fp8-e5m2"
