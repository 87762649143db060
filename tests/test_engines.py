"""Each serving engine's budget rule and defaults, as its source states them (planner.engines, docs/engines.md)."""

import pytest

from planner.engines import EngineChoice, GpuFacts, engine_layout, engine_settings, unsupported_by_engine
from planner.errors import InputError
from planner.memory.engine_budgets import COLLECTIVE_BYTES_PER_NVLINK_PEER, NON_TORCH_BYTES_SINGLE_GPU
from planner.memory.serving import EngineSettings, ServingLayout, host_bytes, mla_decode_copy_bytes
from planner.memory.serving_bill import serving_memory
from planner.model.formats import kv_cache_dtype, weight_format

GIB = 2**30
MIB = 2**20
H100 = GpuFacts(81559 * MIB, "NVIDIA H100 80GB HBM3", "nvswitch")
A100 = GpuFacts(81920 * MIB, "NVIDIA A100-SXM4-80GB", "nvswitch")
L40S = GpuFacts(46068 * MIB, "NVIDIA L40S", "none")


def vllm(version: str, gpu: GpuFacts = H100, max_model_len: int = 8192, **knobs) -> EngineSettings:
    return engine_settings(EngineChoice("vllm", version, **knobs), gpu, max_model_len=max_model_len)


# --- vLLM -----------------------------------------------------------------------------------------------------------

def test_vllm_v0_profiles_max_model_len_tokens_and_256_sequences():
    engine = vllm("0.6.3", max_model_len=20000)
    assert (engine.engine_version, engine.max_num_batched_tokens, engine.max_num_seqs) == ("vllm-v0", 20000, 256)
    assert vllm("0.6.3", max_model_len=1024).max_num_batched_tokens == 2048


def test_vllm_v0_turns_chunked_prefill_on_above_32k_context_so_the_profile_is_not_max_model_len():
    assert vllm("0.6.3", max_model_len=131072).max_num_batched_tokens == 512
    assert vllm("0.6.6", max_model_len=131072).max_num_batched_tokens == 2048  # PR #10544, 0.6.5
    assert vllm("0.5.3", max_model_len=131072).max_num_batched_tokens == 131072  # before PR #6666
    sliding = engine_settings(EngineChoice("vllm", "0.6.6"), H100, max_model_len=131072, sliding_window=True)
    assert sliding.max_num_batched_tokens == 131072


def test_vllm_v1_defaults_follow_gpu_memory_and_entrypoint():
    assert (vllm("0.8.5").max_num_batched_tokens, vllm("0.8.5").max_num_seqs) == (8192, 1024)
    small = vllm("0.8.5", gpu=L40S)
    assert (small.engine_version, small.max_num_batched_tokens, small.max_num_seqs) == ("vllm-v1", 2048, 256)
    assert engine_settings(EngineChoice("vllm", "0.8.5", entrypoint="offline"), H100).max_num_batched_tokens == 16384


def test_vllm_from_0_9_gives_an_a100_the_small_defaults_whatever_its_memory():
    assert vllm("0.8.5", gpu=A100).max_num_batched_tokens == 8192
    assert (vllm("0.9.0", gpu=A100).max_num_batched_tokens, vllm("0.9.0", gpu=A100).max_num_seqs) == (2048, 256)
    assert vllm("0.9.0", gpu=H100).max_num_seqs == 1024


def test_vllm_clips_default_sequences_to_the_tokens_a_user_sets():
    assert vllm("0.10.0", max_num_batched_tokens=512).max_num_seqs == 512
    assert vllm("0.10.0", max_num_batched_tokens=512, max_num_seqs=2048).max_num_seqs == 2048


def test_vllm_aliases_keep_their_meaning():
    assert engine_settings(EngineChoice("vllm-v0"), H100).engine_version == "vllm-v0"
    assert engine_settings(EngineChoice("vllm-v1"), H100).engine_version == "vllm-v1"


def test_vllm_non_torch_memory_grows_with_tp_over_nvlink_and_stays_flat_over_pcie(catalog):
    arch = catalog.architecture("llama-3.1-70b")
    nvlink = vllm("0.10.0")
    pcie = vllm("0.10.0", gpu=L40S)
    overhead = {tp: serving_memory(arch, ServingLayout(tp=tp), nvlink, H100.capacity_bytes, 0, 4096).overhead_bytes for tp in (1, 2, 8)}
    assert overhead[1] == NON_TORCH_BYTES_SINGLE_GPU
    assert overhead[8] - overhead[2] == 6 * COLLECTIVE_BYTES_PER_NVLINK_PEER
    flat = [serving_memory(arch, ServingLayout(tp=tp), pcie, L40S.capacity_bytes, 0, 4096).overhead_bytes for tp in (2, 4)]
    assert flat[0] == flat[1] == overhead[1] + int(0.25 * GIB)


def test_vllm_keeps_16_bit_decode_copies_of_a_quantized_mla_kv_b_proj(catalog):
    arch = catalog.architecture("deepseek-v3")
    fp8 = ServingLayout(tp=8, ep=8, weight_format=weight_format("fp8-block"))
    copies = mla_decode_copy_bytes(arch, fp8, vllm("0.10.0"))
    assert copies == arch.num_layers * (128 // 8) * 512 * (128 + 128) * 2  # 4 MiB per layer at TP = 8
    assert mla_decode_copy_bytes(arch, ServingLayout(tp=8, ep=8), vllm("0.10.0")) == 0  # views of a bf16 weight
    sglang = engine_settings(EngineChoice("sglang"), H100, tp=8)
    assert mla_decode_copy_bytes(arch, ServingLayout(tp=8, ep=8), sglang) == copies  # SGLang copies w_kc / w_vc


# --- SGLang ---------------------------------------------------------------------------------------------------------

def test_sglang_mem_fraction_static_defaults_by_release():
    def fraction(version: str, gpu: GpuFacts, tp: int) -> float:
        return engine_settings(EngineChoice("sglang", version), gpu, tp=tp).mem_fraction_static

    assert [fraction("0.4.6", H100, tp) for tp in (1, 2, 4, 8, 16)] == [0.88, 0.87, 0.85, 0.81, 0.79]
    assert fraction("0.4.7", H100, 8) == round((81559 - (9.5 + 8 / 2) * 1024) / 81559, 3)
    reserved = 512 + 8192 * 1.5 + 512 * 2 + 8 / 8 * 1024  # chunked prefill 8192, CUDA graphs up to 512 at TP 8
    assert fraction("0.5.4", H100, 8) == round((81559 - reserved) / 81559, 3)
    l4 = GpuFacts(22888 * MIB, "NVIDIA L4", "none")
    assert fraction("0.5.4", l4, 1) == round((22888 - (512 + 2048 * 1.5 + 24 * 2 + 1024 / 8)) / 22888, 3)


def test_sglang_kv_pool_is_free_memory_before_loading_times_the_fraction_less_the_weights(catalog):
    arch = catalog.architecture("qwen2.5-32b")
    engine = engine_settings(EngineChoice("sglang", mem_fraction_static=0.85, version="0.4.3"), GpuFacts(22888 * MIB), tp=4)
    bill = serving_memory(arch, ServingLayout(tp=4), engine, 22888 * MIB, 0, 8192)
    free_before = bill.capacity_bytes - bill.overhead_bytes
    assert bill.kv_budget_bytes == int(free_before * 0.85) - bill.weights_bytes


def test_sglang_keeps_activations_and_cuda_graphs_in_its_reserve(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    engine = engine_settings(EngineChoice("sglang"), H100)
    bill = serving_memory(arch, ServingLayout(), engine, H100.capacity_bytes, 1, 4096)
    assert bill.activations_bytes > 0 and bill.fixed_bytes == bill.weights_bytes + bill.overhead_bytes
    assert bill.free_bytes == bill.capacity_bytes - bill.total_bytes - bill.activations_bytes - bill.cuda_graph_bytes


# --- TensorRT-LLM ---------------------------------------------------------------------------------------------------

def test_trtllm_kv_cache_is_a_fraction_of_the_memory_left_after_weights_activations_and_runtime(catalog):
    arch = catalog.architecture("llama-2-7b")
    engine = engine_settings(EngineChoice("trtllm", free_gpu_memory_fraction=0.9, max_num_tokens=4096), A100)
    bill = serving_memory(arch, ServingLayout(weight_format=weight_format("int8")), engine, A100.capacity_bytes, 0, 4096)
    charged = bill.weights_bytes + bill.activations_bytes + bill.overhead_bytes
    assert bill.kv_budget_bytes == int((bill.capacity_bytes - charged) * 0.9)
    assert (engine.max_num_batched_tokens, engine.max_num_seqs, engine.block_size) == (4096, 2048, 32)


# --- llama.cpp ------------------------------------------------------------------------------------------------------

def llama_layout(ngl: int, fmt: str = "gguf-q4_k_m", kv: str = "fp16") -> ServingLayout:
    return engine_layout(EngineChoice("llamacpp", n_gpu_layers=ngl),
                         ServingLayout(weight_format=weight_format(fmt), kv_cache_dtype=kv_cache_dtype(kv)))


def test_llamacpp_offloads_the_last_ngl_blocks_and_keeps_the_rest_and_the_embedding_in_host_ram(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    engine = engine_settings(EngineChoice("llamacpp"), H100)
    full, partial = llama_layout(999), llama_layout(20)
    whole = serving_memory(arch, full, engine, 24 * GIB, 1, 8192)
    part = serving_memory(arch, partial, engine, 24 * GIB, 1, 8192)
    per_block_kv = 8192 * 2 * 8 * 128 * 2
    assert part.kv_cache_bytes == 20 * per_block_kv and part.host_kv_cache_bytes == 12 * per_block_kv
    assert whole.host_kv_cache_bytes == 0 and whole.host_weights_bytes > 0  # token embedding only
    assert part.weights_bytes < whole.weights_bytes and part.host_weights_bytes > whole.host_weights_bytes
    embedding = host_bytes(arch, full, 8192, 1)[0]
    assert embedding == pytest.approx(128256 * 4096 * 4.85 / 8, rel=1e-3)


def test_llamacpp_offloads_the_output_layer_only_beyond_the_blocks(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    engine = engine_settings(EngineChoice("llamacpp"), H100)
    blocks_only = serving_memory(arch, llama_layout(32), engine, 24 * GIB, 0, 4096)
    with_output = serving_memory(arch, llama_layout(33), engine, 24 * GIB, 0, 4096)
    assert with_output.weights_bytes > blocks_only.weights_bytes
    assert blocks_only.host_weights_bytes > with_output.host_weights_bytes


def test_llamacpp_quantized_kv_cells_cost_34_and_18_bytes_per_32_values(catalog):
    arch = catalog.architecture("llama-3.1-8b")
    engine = engine_settings(EngineChoice("llamacpp"), H100)
    sizes = {kv: serving_memory(arch, llama_layout(999, kv=kv), engine, 24 * GIB, 1, 4096).kv_cache_bytes
             for kv in ("fp16", "q8_0", "q4_0")}
    values = 4096 * 32 * 2 * 8 * 128
    assert sizes == {"fp16": values * 2, "q8_0": values // 32 * 34, "q4_0": values // 32 * 18}


def test_llamacpp_needs_the_whole_card_no_fraction(catalog):
    engine = engine_settings(EngineChoice("llamacpp"), H100)
    bill = serving_memory(catalog.architecture("llama-3.1-8b"), llama_layout(999), engine, 24 * GIB, 1, 4096)
    assert bill.usable_bytes == 24 * GIB


# --- What each engine runs ------------------------------------------------------------------------------------------

def test_engines_refuse_formats_kv_dtypes_and_layouts_they_do_not_run():
    assert "llama.cpp" in unsupported_by_engine(EngineChoice("vllm"), ServingLayout(weight_format=weight_format("gguf-q4_k_m")))
    assert "not a llama.cpp format" in unsupported_by_engine(EngineChoice("llamacpp"), llama_layout(999, fmt="int4-awq"))
    assert "q8_0" in unsupported_by_engine(EngineChoice("sglang"), ServingLayout(kv_cache_dtype=kv_cache_dtype("q8_0")))
    gguf_tp2 = ServingLayout(tp=2, weight_format=weight_format("gguf-q8_0"))
    assert "pipeline stages" in unsupported_by_engine(EngineChoice("llamacpp"), gguf_tp2)
    assert unsupported_by_engine(EngineChoice("trtllm"), ServingLayout(weight_format=weight_format("fp8"))) is None


def test_unknown_engines_and_knobs_of_another_engine_are_bad_input_naming_the_field():
    with pytest.raises(InputError) as unknown:
        EngineChoice("sglnag").check()
    assert "sglang" in unknown.value.render()
    with pytest.raises(InputError) as foreign:
        EngineChoice("vllm", mem_fraction_static=0.8).check()
    assert "engine.mem_fraction_static" in foreign.value.render()
    with pytest.raises(InputError):
        EngineChoice("vllm", version="latest").check()


def test_the_memory_command_names_the_flag_of_a_wrong_engine_option_and_exits_2():
    from click.testing import CliRunner

    from planner.cli import cli

    result = CliRunner().invoke(cli, ["memory", "--model", "llama-3.1-8b", "--engine", "vllm", "--mem-fraction-static", "0.8"])
    assert result.exit_code == 2 and "--mem-fraction-static" in result.output and "SGLang" in result.output
    typo = CliRunner().invoke(cli, ["memory", "--model", "llama-3.1-8b", "--engine", "sglnag"])
    assert typo.exit_code == 2 and "did you mean 'sglang'" in typo.output
