"""Serving memory formulas against hand computations and engines' published log lines."""

import pytest

from planner.memory.parameters import layer_tensors
from planner.memory.serving import (
    EngineSettings,
    ServingLayout,
    activation_peak_bytes,
    kv_cache_bytes_per_sequence,
    kv_cache_bytes_per_token,
    stage_layer_ranges,
    weight_bytes_by_stage,
)
from planner.memory.serving_bill import serving_memory
from planner.model.formats import kv_cache_dtype, weight_format

GIB = 2**30


def weights(catalog, model_id, **layout):
    return max(weight_bytes_by_stage(catalog.architecture(model_id), ServingLayout(**layout)))


def test_70b_bf16_weights_are_about_140_gb(catalog):
    """Seeds' worked example: 70B x 2 bytes = 140 GB."""
    assert weights(catalog, "llama-2-70b") / 1e9 == pytest.approx(140, rel=0.02)


def test_70b_int4_weights_are_about_35_gb_plus_scales_and_16_bit_embeddings(catalog):
    """Seeds' example: int4 = 0.5 byte/param = 35 GB; AWQ scales (+4 %) and fp16 embeddings add the rest."""
    int4 = weights(catalog, "llama-2-70b", weight_format=weight_format("int4-awq")) / 1e9
    assert 35 < int4 < 35 * 1.08


def test_llama2_7b_kv_cache_for_2048_tokens_is_one_gib(catalog):
    """2 x 32 layers x 32 heads x 128 x 2 bytes = 512 KiB/token; x 2048 = 1 GiB (seeds' example)."""
    arch = catalog.architecture("llama-2-7b")
    assert kv_cache_bytes_per_token(arch, ServingLayout()) == 512 * 1024
    assert kv_cache_bytes_per_sequence(arch, ServingLayout(), 2048) == GIB


def test_70b_gqa_kv_cache_for_4k_tokens_is_about_1_3_gb(catalog):
    """Llama-2-70B: 2 x 80 x 8 KV heads x 128 x 2 bytes x 4096 = 1.34 GB (seeds' example)."""
    per_seq = kv_cache_bytes_per_sequence(catalog.architecture("llama-2-70b"), ServingLayout(), 4096)
    assert per_seq == 2 * 80 * 8 * 128 * 2 * 4096
    assert per_seq / 1e9 == pytest.approx(1.34, abs=0.01)


def test_kv_heads_are_replicated_not_split_when_tp_exceeds_them(catalog):
    """Llama 3.1 8B has 8 KV heads: at TP=16 every GPU still holds one whole KV head."""
    arch = catalog.architecture("llama-3.1-8b")
    per_layer_tp8 = kv_cache_bytes_per_token(arch, ServingLayout(tp=8)) // 32
    per_layer_tp16 = kv_cache_bytes_per_token(arch, ServingLayout(tp=16)) // 32
    assert per_layer_tp8 == per_layer_tp16 == 2 * 1 * 128 * 2


def test_fp8_kv_cache_halves_the_bytes(catalog):
    arch = catalog.architecture("llama-3.1-70b")
    fp16 = kv_cache_bytes_per_token(arch, ServingLayout(kv_cache_dtype=kv_cache_dtype("fp16")))
    fp8 = kv_cache_bytes_per_token(arch, ServingLayout(kv_cache_dtype=kv_cache_dtype("fp8")))
    assert fp8 * 2 == fp16


def test_sglang_qwq32b_k_size_matches_log(catalog):
    """SGLang on 4x L4, TP=4: '#tokens: 46611, K size: 1.42 GB' (GB meaning GiB). 64 layers x 2 KV heads x 128 x 2 B."""
    arch = catalog.architecture("qwen2.5-32b")  # QwQ-32B shares the Qwen2.5-32B architecture
    per_token = kv_cache_bytes_per_token(arch, ServingLayout(tp=4))
    assert per_token // 2 * 46611 / GIB == pytest.approx(1.42, abs=0.005)


def test_vllm_llama31_8b_weights_match_the_logged_14_9888_gib(catalog):
    """vLLM issue #10517: 'Loading model weights took 14.9888 GB' (GiB), Llama-3.1-8B bf16 on one RTX 3090."""
    assert weights(catalog, "llama-3.1-8b") / GIB == pytest.approx(14.9888, rel=0.005)


def test_vllm_qwen25_72b_tp4_weights_match_the_logged_33_98_gib(catalog):
    """vLLM 0.19 on 4x L40S: 'Model loading took 33.98 GiB memory' per GPU."""
    assert weights(catalog, "qwen2.5-72b-instruct", tp=4) / GIB == pytest.approx(33.98, rel=0.03)


def test_pipeline_stages_split_layers_evenly():
    assert [len(r) for r in stage_layer_ranges(80, 3)] == [26, 27, 27]
    assert sum(len(r) for r in stage_layer_ranges(61, 4)) == 61


def test_pipeline_parallelism_roughly_halves_weights_per_gpu(catalog):
    one = weights(catalog, "llama-3.1-70b")
    two = weights(catalog, "llama-3.1-70b", pp=2)
    assert 0.49 < two / one < 0.53


def test_mla_caches_the_latent_not_full_keys_and_values(catalog):
    """DeepSeek-V3: (512 + 64) x 2 bytes per layer per token, 61 layers, whatever the TP."""
    arch = catalog.architecture("deepseek-v3")
    assert kv_cache_bytes_per_token(arch, ServingLayout()) == 61 * 576 * 2
    assert kv_cache_bytes_per_token(arch, ServingLayout(tp=8)) == 61 * 576 * 2


def test_sliding_window_caps_the_cache_on_local_layers(catalog):
    """Gemma 2 9B: half of its 42 layers attend to a 4096-token window."""
    arch = catalog.architecture("gemma-2-9b")
    long = kv_cache_bytes_per_sequence(arch, ServingLayout(), 32768)
    per_layer_token = kv_cache_bytes_per_token(arch, ServingLayout()) // 42
    assert long == 21 * 32768 * per_layer_token + 21 * (4096 + 16) * per_layer_token


def test_kv_cache_grows_linearly_with_concurrency(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    one = serving_memory(arch, ServingLayout(), EngineSettings(), 80 * GIB, 1, 4096)
    ten = serving_memory(arch, ServingLayout(), EngineSettings(), 80 * GIB, 10, 4096)
    assert ten.kv_cache_bytes == 10 * one.kv_cache_bytes
    assert ten.weights_bytes == one.weights_bytes


def test_vllm_kv_capacity_for_llama31_8b_on_rtx3090_is_within_5_percent(catalog):
    """vLLM #10517: 23.58 GiB x 0.90, max_model_len 20000 -> 1952 blocks = 31,232 tokens."""
    arch = catalog.architecture("llama-3.1-8b")
    engine = EngineSettings(gpu_memory_utilization=0.9, max_num_batched_tokens=20000)
    bill = serving_memory(arch, ServingLayout(), engine, int(23.58 * GIB), 0, 20000)
    assert bill.kv_cache_capacity_tokens == pytest.approx(31232, rel=0.05)


def test_formula_mode_uses_the_rule_of_thumb(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    bill = serving_memory(arch, ServingLayout(), EngineSettings(mode="formula"), 80 * GIB, 0, 4096)
    assert bill.activations_bytes == bill.weights_bytes // 5
    assert bill.overhead_bytes == GIB


# --- Engine log lines, reproduced --------------------------------------------------------------------------------

def llama3_8b():
    """Llama-3-8B as in vLLM issue #12330: Llama-3.1-8B dimensions, 8,192 positions."""
    from planner.model.hf_config import architecture_from_hf_config

    return architecture_from_hf_config({"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096,
                                        "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
                                        "vocab_size": 128256, "max_position_embeddings": 8192})


def phi4():
    """Phi-4 (Phi3ForCausalLM): 40 layers, hidden 5120, 40 heads, 10 KV heads, FFN 17920, vocab 100352."""
    from planner.model.hf_config import architecture_from_hf_config

    return architecture_from_hf_config({"model_type": "phi3", "num_hidden_layers": 40, "hidden_size": 5120,
                                        "num_attention_heads": 40, "num_key_value_heads": 10, "intermediate_size": 17920,
                                        "vocab_size": 100352})


V0 = dict(engine_version="vllm-v0", max_num_seqs=256)


def test_vllm_gpu_blocks_of_llama31_8b_hold_the_logged_kv_gib(catalog):
    """vLLM #10517: 'GPU blocks: 1952' and 'kv_cache_size=3.81GiB' (16-token blocks)."""
    per_token = kv_cache_bytes_per_token(catalog.architecture("llama-3.1-8b"), ServingLayout())
    assert per_token == 131072
    assert 1952 * 16 * per_token / GIB == pytest.approx(3.81, abs=0.005)


def test_vllm_gpu_blocks_of_phi4_gptq_hold_the_logged_kv_gib():
    """vLLM (Phi-4 GPTQ): '# GPU blocks: 715' and 'the rest of the memory reserved for KV Cache is 2.18GiB'."""
    per_token = kv_cache_bytes_per_token(phi4(), ServingLayout())
    assert per_token == 40 * 2 * 10 * 128 * 2
    assert 715 * 16 * per_token / GIB == pytest.approx(2.18, abs=0.005)


def test_vllm_v1_kv_cache_size_of_qwen25_72b_tp4_matches_the_logged_gib(catalog):
    """vLLM 0.19, 4x L40S: 'Available KV cache memory: 5.11 GiB' and 'GPU KV cache size: 67,024 tokens'."""
    per_token = kv_cache_bytes_per_token(catalog.architecture("qwen2.5-72b-instruct"), ServingLayout(tp=4))
    assert 67024 * per_token / GIB == pytest.approx(5.11, abs=0.005)


def test_llama_cpp_mla_kv_self_size_is_reproduced_exactly(catalog):
    """llama.cpp PR #11446 (DeepSeek-V3, 61 layers, kv_size 32768, f16):
    'KV self size  = 2196.00 MiB, K^R (f16):  244.00 MiB, c^KV (f16): 1952.00 MiB'."""
    arch = catalog.architecture("deepseek-v3")
    assert kv_cache_bytes_per_sequence(arch, ServingLayout(), 32768) == 2196 * 2**20
    assert 61 * 32768 * 512 * 2 == 1952 * 2**20 and 61 * 32768 * 64 * 2 == 244 * 2**20


def test_phi4_gptq_weights_match_the_logged_8_51_gib():
    """vLLM: 'Loading model weights took 8.5107 GB' (GiB) for kaitchup/Phi-4-AutoRound-GPTQ-4bit."""
    w = max(weight_bytes_by_stage(phi4(), ServingLayout(weight_format=weight_format("int4-gptq"))))
    assert w / GIB == pytest.approx(8.5107, rel=0.03)


def test_llama31_405b_meta_fp8_weights_match_the_logged_57_75_gib_at_tp8(catalog):
    """vLLM #6746: 'Loading model weights took 57.7520 GB' per GPU, TP=8, Meta's FP8 checkpoint."""
    entry = catalog.model("llama-3.1-405b-fp8")
    layout = ServingLayout(tp=8, weight_format=weight_format(entry.weight_format))
    assert max(weight_bytes_by_stage(catalog.architecture(entry.id), layout)) / GIB == pytest.approx(57.752, rel=0.03)


def test_qwq_32b_tp4_weights_match_sglangs_logged_15_54_gib(catalog):
    """SGLang on 4x L4: 'Load weight end. type=Qwen2ForCausalLM ... mem usage=15.54 GB' (GiB)."""
    assert weights(catalog, "qwen2.5-32b", tp=4) / GIB == pytest.approx(15.54, rel=0.03)


def test_v0_profiling_peak_of_llama31_8b_at_20000_tokens_matches_the_log(catalog):
    """vLLM #10517: peak_torch_memory 17.06 GiB - weights 14.99 GiB = 2.07 GiB at max_num_batched_tokens 20000."""
    arch = catalog.architecture("llama-3.1-8b")
    peak = activation_peak_bytes(arch, ServingLayout(), EngineSettings(max_num_batched_tokens=20000, **V0))
    assert peak / GIB == pytest.approx(17.06 - 14.9888, rel=0.03)


def test_v0_sampler_peak_of_phi4_matches_the_logged_0_94_gib():
    """vLLM (Phi-4, max_model_len 2048): 'PyTorch activation peak memory takes 0.94GiB' (sampler-bound)."""
    peak = activation_peak_bytes(phi4(), ServingLayout(), EngineSettings(max_num_batched_tokens=2048, **V0))
    assert peak / GIB == pytest.approx(0.94, rel=0.05)


def test_activation_peak_grows_with_max_num_batched_tokens(catalog):
    arch = catalog.architecture("llama-3.1-70b")
    peaks = [activation_peak_bytes(arch, ServingLayout(tp=4), EngineSettings(max_num_batched_tokens=t)) for t in (8192, 16384, 32768)]
    assert peaks[0] < peaks[1] < peaks[2]


@pytest.mark.parametrize("capacity_gib, utilization, max_len, tokens, arch_of", [
    (23.58, 0.90, 20000, 31232, lambda c: c.architecture("llama-3.1-8b")),  # vLLM #10517: 'GPU blocks: 1952'
    (79.25, 0.15, 2048, 11440, lambda c: phi4()),  # Phi-4 GPTQ: '# GPU blocks: 715'
])
def test_vllm_v0_kv_capacity_is_within_5_percent_of_the_logged_blocks(catalog, capacity_gib, utilization, max_len, tokens, arch_of):
    arch = arch_of(catalog)
    fmt = weight_format("int4-gptq" if arch.family == "phi3" else "bf16")
    engine = EngineSettings(gpu_memory_utilization=utilization, max_num_batched_tokens=max(max_len, 2048), **V0)
    bill = serving_memory(arch, ServingLayout(weight_format=fmt), engine, int(capacity_gib * GIB), 0, max_len)
    assert bill.kv_cache_capacity_tokens == pytest.approx(tokens, rel=0.05)
    assert bill.kv_cache_capacity_tokens % 16 == 0


def test_vllm_v1_kv_capacity_of_qwen25_72b_on_l40s_is_within_5_percent(catalog):
    """vLLM 0.19, TP=4 on L40S (CUDA total 44.42 GiB): 'GPU KV cache size: 67,024 tokens', '... 8,192 tokens per
    request: 8.18x'; V1 defaults on a <70 GiB GPU: 2,048 batched tokens, 256 sequences."""
    engine = EngineSettings(max_num_batched_tokens=2048, max_num_seqs=256)
    bill = serving_memory(catalog.architecture("qwen2.5-72b-instruct"), ServingLayout(tp=4), engine, int(44.42 * GIB), 0, 8192)
    assert bill.kv_cache_capacity_tokens == pytest.approx(67024, rel=0.05)
    assert bill.max_concurrency_at(8192) == pytest.approx(8.18, rel=0.05)


def test_given_the_logged_activation_the_kv_capacity_of_vllm_12330_is_reproduced():
    """vLLM #12330: 39.50 GiB x 0.90; weights 14.96, non-torch 0.10, activation 9.37 GiB -> '# GPU blocks: 5691'.
    The 9.37 GiB peak itself is not reproducible from the default settings (see the README's memory-accuracy section)."""
    engine = EngineSettings(activation_peak_bytes=int(9.37 * GIB), non_torch_bytes=int(0.10 * GIB), **V0)
    bill = serving_memory(llama3_8b(), ServingLayout(), engine, int(39.50 * GIB), 0, 8192)
    assert bill.kv_cache_capacity_tokens == pytest.approx(5691 * 16, rel=0.005)
    assert bill.weights_bytes / GIB == pytest.approx(14.9595, rel=0.001)


# --- Parallel sharding --------------------------------------------------------------------------------------------

def test_embeddings_are_vocab_parallel_with_padding_to_64(catalog):
    from planner.memory.parameters import embedding_tensors
    from planner.memory.serving import tensor_bytes_per_gpu

    arch = catalog.architecture("qwen2.5-7b")  # vocab 152064 = 64 x 2376
    embed = next(t for t in embedding_tensors(arch) if t.name == "embed_tokens")
    assert tensor_bytes_per_gpu(embed, arch, ServingLayout(tp=8)) == 152064 // 8 * 3584 * 2


def test_expert_parallelism_keeps_experts_whole_and_spreads_them(catalog):
    """Qwen3-235B-A22B, 128 experts: EP=8 puts 16 whole experts on each GPU; TP=8 splits every expert in 8."""
    from planner.memory.serving import _shard_shape

    arch = catalog.architecture("qwen3-235b-a22b")
    experts = next(t for t in layer_tensors(arch, 5) if t.name == "experts.gate_up_proj")
    assert _shard_shape(experts, arch, ServingLayout(tp=8, ep=8)) == (experts.rows, experts.cols, 16)
    assert _shard_shape(experts, arch, ServingLayout(tp=8)) == (experts.rows // 8, experts.cols, 128)
    assert weights(catalog, "qwen3-235b-a22b", tp=8, ep=8) == pytest.approx(weights(catalog, "qwen3-235b-a22b", tp=8), rel=0.001)


def test_data_parallel_attention_spreads_experts_and_sequences(catalog):
    """DeepSeek-V3 with DP=8 attention ranks x TP=1 and EP=8: experts split 8 ways, attention replicated."""
    arch = catalog.architecture("deepseek-v3")
    dp = ServingLayout(tp=1, dp=8, ep=8, weight_format=weight_format("fp8-block"))
    tp = ServingLayout(tp=8, ep=8, weight_format=weight_format("fp8-block"))
    assert dp.gpus_per_replica == 8
    assert max(weight_bytes_by_stage(arch, dp)) > max(weight_bytes_by_stage(arch, tp))  # attention not TP-split
    bill = serving_memory(arch, dp, EngineSettings(), 141 * GIB, 16, 4096)
    assert bill.kv_cache_bytes == 2 * bill.kv_cache_bytes_per_sequence  # 16 sequences over 8 ranks


def test_pipeline_first_stage_holds_the_embedding_and_last_the_lm_head(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    first, last = weight_bytes_by_stage(arch, ServingLayout(pp=2))
    assert last - first == 4096 * 2  # 16 + 16 layers; embedding and LM head alike; the final norm is on the last stage
    assert kv_cache_bytes_per_token(arch, ServingLayout(pp=3)) == 11 * 2 * 8 * 128 * 2  # worst stage: 11 of 32 layers


def test_mla_cache_is_replicated_not_split_over_tp(catalog):
    arch = catalog.architecture("deepseek-v2-lite")
    assert kv_cache_bytes_per_token(arch, ServingLayout(tp=8)) == kv_cache_bytes_per_token(arch, ServingLayout()) == 27 * 576 * 2


def test_lmdeploy_int4_kv_adds_a_scale_and_zero_per_head():
    arch_layout = ServingLayout(kv_cache_dtype=kv_cache_dtype("int4"))
    from planner.memory.serving import kv_cache_bytes_per_token_per_layer

    arch = llama3_8b()
    assert kv_cache_bytes_per_token_per_layer(arch, arch_layout) == 2 * 8 * (128 * 4 + 32) / 8


# --- Engine budget --------------------------------------------------------------------------------------------------

def test_cuda_graphs_charged_to_the_budget_shrink_the_kv_cache_by_their_size(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    free = serving_memory(arch, ServingLayout(), EngineSettings(), 80 * GIB, 0, 4096)
    charged = serving_memory(arch, ServingLayout(), EngineSettings(cuda_graphs_in_budget=True), 80 * GIB, 0, 4096)
    assert free.kv_budget_bytes - charged.kv_budget_bytes == free.cuda_graph_bytes > 0


def test_every_bill_line_explains_its_formula(catalog):
    bill = serving_memory(catalog.architecture("mixtral-8x7b"), ServingLayout(tp=2), EngineSettings(), 80 * GIB, 4, 4096)
    assert {"weights", "kv_cache", "activations", "overhead", "cuda_graphs"} <= set(bill.explanations)
    assert "2 KV heads/GPU" in bill.explanations["kv_cache"] or "4 KV heads/GPU" in bill.explanations["kv_cache"]


# --- planner memory -------------------------------------------------------------------------------------------------

def run_memory(*args: str):
    from click.testing import CliRunner

    from planner.cli import cli

    return CliRunner().invoke(cli, ["memory", *args])


def test_memory_command_reproduces_vllm_capacity_and_concurrency_for_the_10517_case():
    """vLLM #10517: 'GPU blocks: 1952' (31,232 tokens), 'Maximum concurrency for 20000 tokens per request: 1.56x'."""
    import json

    result = run_memory("--model", "llama-3.1-8b", "--gpu-memory-gib", "23.58", "--gpu-memory-utilization", "0.9",
                        "--max-model-len", "20000", "--context", "20000", "--engine", "vllm-v0", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kv_cache_capacity_tokens"] == pytest.approx(31232, rel=0.05)
    assert data["max_concurrency_at_max_model_len"] == pytest.approx(1.56, rel=0.05)


def test_memory_command_takes_an_architecture_file_and_explains_each_line(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("num_layers: 4\nhidden_size: 512\nnum_attention_heads: 8\nnum_kv_heads: 2\nintermediate_size: 1024\n"
                    "vocab_size: 32000\n")
    result = run_memory("--architecture", str(path), "--gpu", "l4", "--explain")
    assert result.exit_code == 0, result.output
    assert "GiB" in result.output and "2 (K,V) x 2 KV heads/GPU" in result.output and "kv_cache_capacity_tokens" in result.output


def test_memory_command_refuses_two_model_forms():
    result = run_memory("--model", "llama-3.1-8b", "--architecture", "x.yaml")
    assert result.exit_code == 2 and "exactly one of" in result.stderr


def test_memory_command_serves_fp32_checkpoints_in_16_bit():
    """vLLM dtype=auto serves float32 checkpoints (gemma-2-9b ships fp32) in 16-bit."""
    import json

    data = json.loads(run_memory("--model", "gemma-2-9b", "--json").output)
    assert data["weight_format"] == "bf16"


@pytest.mark.parametrize("model_id, fmt", [("qwen2.5-72b-instruct-awq", "int4-awq"), ("llama-2-7b-gptq", "int4-gptq"),
                                           ("llama-3.1-405b-fp8", "fp8-mlp"), ("deepseek-v3", "fp8-block")])
def test_quantized_catalog_checkpoints_are_planned_in_their_own_format(model_id, fmt):
    """A scenario naming a quantized checkpoint and no precisions sizes its replicas in the checkpoint's format."""
    from planner.pipeline.serving import prepare
    from planner.schema import validate_scenario

    prepared = prepare(validate_scenario({"model": model_id, "workload": {"concurrency": 1, "context_tokens": 1024},
                                          "gpus": ["h200"], "parallelism": {"tp": [8], "pp": [1]}}))
    assert {c.layout.weight_format.name for c in prepared.enumeration.candidates} == {fmt}


def test_catalog_formats_lists_every_weight_format_and_kv_dtype():
    from click.testing import CliRunner

    from planner.cli import cli
    from planner.model.formats import KV_CACHE_DTYPES, WEIGHT_FORMATS

    output = CliRunner().invoke(cli, ["catalog", "formats"]).output
    for name in list(WEIGHT_FORMATS) + list(KV_CACHE_DTYPES):
        assert name in output
