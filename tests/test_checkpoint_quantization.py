"""Quantized checkpoints: the weights bill counts exactly which tensors the quantization_config quantizes (with
their scales and zeros) and which it keeps in 16-bit. Expected byte counts are written out from the module
shapes, independently of the parameter inventory."""

import json
import math

import pytest

from planner.catalog import builtin_catalog_dir
from planner.memory.parameters import Tensor, embedding_tensors, layer_tensors, vision_tensors
from planner.memory.serving import ServingLayout, quantized_parameter_split, rotary_cache_bytes, weight_bytes_by_stage
from planner.model.formats import is_weight_format, weight_format
from planner.model.hf_config import architecture_from_config_file, architecture_from_hf_config, checkpoint_weight_format, load_hf_config
from planner.model.quantization import checkpoint_quantization

CATALOG = builtin_catalog_dir() / "model_configs"


def config(name: str) -> dict:
    return load_hf_config(CATALOG / name)


def weights(arch, fmt: str, tp: int = 1) -> int:
    """Weight bytes on one GPU without vLLM's rotary cos/sin cache."""
    return weight_bytes_by_stage(arch, ServingLayout(tp=tp, weight_format=weight_format(fmt)))[0] - rotary_cache_bytes(arch)


def fp8_block(rows: int, cols: int) -> int:
    return rows * cols + math.ceil(rows / 128) * math.ceil(cols / 128) * 4


def test_qwen3_fp8_checkpoint_keeps_routers_norms_and_lm_head_in_bf16():
    """Qwen/Qwen3-30B-A3B-FP8: e4m3 weights with an fp32 scale per 128x128 block; modules_to_not_convert lists
    lm_head and every layer's mlp.gate (router) and norms."""
    arch = architecture_from_config_file(CATALOG / "Qwen--Qwen3-30B-A3B-FP8.json")
    h, vocab, layers, experts = 2048, 151936, 48, 128
    attention = fp8_block(32 * 128, h) + 2 * fp8_block(4 * 128, h) + fp8_block(h, 32 * 128)
    expert = 2 * fp8_block(768, h) + fp8_block(h, 768)  # gate and up (768 x 2048 each), down
    bf16 = 2 * (experts * h + 2 * h + 2 * 128)  # router, two RMSNorms, q/k norms
    expected = layers * (attention + experts * expert + bf16) + 2 * (2 * vocab * h + h)
    assert weights(arch, "fp8-block") == expected
    router = next(t for t in layer_tensors(arch, 0) if t.name == "router")
    assert router.quantized is False and next(t for t in layer_tensors(arch, 0) if t.name == "q_proj").quantized is True


def test_modelopt_sidecar_makes_an_fp8_per_tensor_checkpoint_with_lm_head_excluded():
    """nvidia/Llama-3.1-70B-Instruct-FP8 keeps its quantization in hf_quant_config.json (exclude_modules: lm_head):
    one fp32 scale per checkpoint tensor; gate and up projections are separate tensors with a scale each."""
    path = CATALOG / "nvidia--Llama-3.1-70B-Instruct-FP8" / "config.json"
    arch = architecture_from_config_file(path)
    assert arch.quantization.method == "modelopt" and arch.quantization.weight_format == "fp8-per-tensor"
    h, inner, vocab = 8192, 28672, 128256
    per_layer = (h * h + 4) * 2 + (1024 * h + 4) * 2 + 2 * (inner * h + 4) + (h * inner + 4) + 2 * 2 * h
    assert weights(arch, "fp8-per-tensor") == 80 * per_layer + 2 * (2 * vocab * h + h)


def test_modelopt_export_without_quant_method_is_recognised():
    arch = architecture_from_config_file(builtin_catalog_dir().parent / "tests" / "data" / "configs"
                                         / "Qwen--Qwen3-32B-FP8-Static-PerTensor.json")
    quantization = arch.quantization
    assert (quantization.method, quantization.weight_format, quantization.skip) == ("modelopt", "fp8-per-tensor", ("lm_head",))


def awq_int4(rows: int, cols: int, group: int = 128) -> int:
    """AutoAWQ GEMM: 4-bit weights, per group of ``group`` inputs an fp16 scale and a 4-bit zero per output."""
    return rows * cols // 2 + rows * (cols // group) * (16 + 4) // 8


def test_awq_modules_to_not_convert_keeps_that_module_in_16_bit():
    base = config("meta-llama--Llama-2-7b-hf.json")
    quant = {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True}
    plain = architecture_from_hf_config({**base, "quantization_config": quant})
    skipped = architecture_from_hf_config({**base, "quantization_config": {**quant, "modules_to_not_convert": ["model.layers.0.mlp"]}})
    mlp_16bit = 2 * (2 * 11008 * 4096 + 4096 * 11008)
    mlp_awq = awq_int4(2 * 11008, 4096) + awq_int4(4096, 11008)
    assert weights(skipped, "int4-awq") - weights(plain, "int4-awq") == mlp_16bit - mlp_awq
    assert all(t.quantized for t in layer_tensors(skipped, 1) if t.role.value == "linear")


def test_gptq_group_size_desc_act_and_modules_in_block_to_quantize():
    base = config("meta-llama--Llama-2-7b-hf.json")
    quant = {"quant_method": "gptq", "bits": 4, "group_size": 32, "desc_act": True, "sym": True,
             "modules_in_block_to_quantize": [["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"], ["self_attn.o_proj"]]}
    arch = architecture_from_hf_config({**base, "quantization_config": quant})
    assert arch.quantization.weight_format == "int4-gptq-g32"
    h, inner = 4096, 11008
    gptq = h * h // 2 + h * (h // 32) * 20 // 8 + h * 4  # int4 weights, fp16 scale + 4-bit zero per group of 32, int32 g_idx
    per_layer = 4 * gptq + 2 * 3 * h * inner + 2 * 2 * h
    assert weights(arch, "int4-gptq-g32") == 32 * per_layer + 2 * (2 * 32000 * h + h)


def test_compressed_tensors_targets_every_linear_unless_ignored():
    base = config("mistralai--Mixtral-8x7B-v0.1.json")
    scheme = {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}
    keeps_router = {"quant_method": "compressed-tensors", "config_groups": scheme, "ignore": ["lm_head", "re:.*block_sparse_moe.gate$"]}
    router_too = {"quant_method": "compressed-tensors", "config_groups": scheme, "ignore": ["lm_head"]}

    def router(q: dict) -> Tensor:
        return next(t for t in layer_tensors(architecture_from_hf_config({**base, "quantization_config": q}), 0) if t.name == "router")

    assert router(keeps_router).quantized is False and router(router_too).quantized is True


def test_bitsandbytes_quantizes_the_vision_tower_unless_it_is_skipped():
    base = config("llava-hf--llava-1.5-7b-hf.json")
    nf4 = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True}
    default = architecture_from_hf_config({**base, "quantization_config": nf4})
    skip = architecture_from_hf_config({**base, "quantization_config": {
        **nf4, "llm_int8_skip_modules": ["lm_head", "multi_modal_projector", "vision_tower"]}})
    assert all(t.quantized for t in vision_tensors(default) if t.role.value == "vision")
    assert not any(t.quantized for t in vision_tensors(skip) if t.role.value == "vision")
    quantized, sixteen = quantized_parameter_split(default, weight_format("nf4"))
    assert "lm_head" in sixteen and "lm_head" not in quantized and "vision" in quantized


def test_bitsandbytes_without_double_quant_pays_an_fp32_absmax_per_64():
    assert checkpoint_weight_format({"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}}) == "nf4-fp32-absmax"
    assert weight_format("nf4-fp32-absmax").matrix_bytes(4096, 4096) == 4096 * 4096 // 2 + 4096 * 64 * 4


def test_mxfp4_globs_keep_attention_and_router_out():
    arch = architecture_from_config_file(CATALOG / "openai--gpt-oss-20b.json")
    flags = {t.name: t.quantized for t in layer_tensors(arch, 0) if t.quantized is not None}
    assert flags["q_proj"] is False and flags["router"] is False and flags["experts.gate_up_proj"] is True


def test_serving_in_another_format_uses_that_formats_scope():
    arch = architecture_from_config_file(CATALOG / "Qwen--Qwen3-30B-A3B-FP8.json")
    bf16, awq = weights(arch, "bf16"), weights(arch, "int4-awq")
    assert bf16 == 2 * (30_532_122_624)  # every parameter in 16-bit
    assert awq < weights(arch, "fp8-block") < bf16


def test_fbgemm_release_still_maps_to_the_mlp_only_format():
    skipped = ["model.layers.0", "model.layers.125", "lm_head"] + [f"model.layers.{i}.self_attn" for i in range(1, 125)]
    cfg = {**config("meta-llama--Meta-Llama-3.1-405B.json"),
           "quantization_config": {"quant_method": "fbgemm_fp8", "modules_to_not_convert": skipped}}
    assert checkpoint_quantization(cfg).weight_format == "fp8-mlp"


@pytest.mark.parametrize("name", ["int4-gptq-g32", "int4-awq-g64", "int4-gptq-channel", "int3-gptq", "int8-gptq-g64", "int4-w4a16-g32"])
def test_group_variants_are_weight_formats(name):
    assert is_weight_format(name) and weight_format(name).name == name


def test_group_variant_overhead_follows_the_group_size():
    assert weight_format("int4-gptq-g32").matrix_bytes(128, 4096) == 128 * 4096 // 2 + 128 * 128 * 20 // 8 + 4096 * 4
    assert not is_weight_format("int4-gptq-g100") and not is_weight_format("int8-awq")


def test_memory_explain_names_what_the_checkpoint_keeps_in_16_bit():
    from click.testing import CliRunner

    from planner.cli import cli

    result = CliRunner().invoke(cli, ["memory", "--model", "qwen3-30b-a3b-fp8", "--gpu", "h100-sxm", "--explain", "--wide"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "checkpoint's quantization_config quantizes" in text and "16-bit:" in text and "router" in text


DATA = builtin_catalog_dir().parent / "tests" / "data"
DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "int32": 4}


def inventory_bytes(name: str) -> tuple[int, int]:
    """Bytes and tensor count of a released checkpoint, from its safetensors tensor table."""
    table = json.loads((DATA / "checkpoints" / f"{name}.tensors.json").read_text())["tensors"]
    return (sum(math.prod(t["shape"]) * DTYPE_BYTES[t["dtype"]] * t["count"] for t in table),
            sum(t["count"] for t in table))


@pytest.mark.parametrize("name, tensors", [("Llama-2-7B-AWQ", 739), ("Qwen3-32B-AWQ", 1603)])
def test_awq_checkpoint_bill_equals_the_released_safetensors(name, tensors):
    """Released AutoAWQ checkpoints (config and tensor table in tests/data, sources in SOURCES.md): the weights
    bill for the checkpoint's own format is the sum of its qweight, qzeros, scales and 16-bit tensors."""
    arch = architecture_from_config_file(DATA / "configs" / f"{name}.json")
    expected_bytes, tensor_count = inventory_bytes(name)
    assert tensor_count == tensors  # the report's tensor count: the table is complete
    assert arch.quantization.weight_format == "int4-awq"
    assert weights(arch, "int4-awq") == expected_bytes


def test_gptq_block_of_a_released_checkpoint_keeps_lm_head_in_16_bit_and_stores_g_idx():
    """TheBloke/Llama-2-7B-Chat-GPTQ's quantization_config (desc_act, group 128, no lm_head key) on the
    Llama-2-7B shapes: AutoGPTQ tensors qweight [in/8, out] int32, qzeros [in/128, out/8] int32, scales
    [in/128, out] fp16, g_idx [in] int32; embeddings, norms and LM head fp16."""
    quant = json.loads((DATA / "quantization" / "TheBloke--Llama-2-7B-Chat-GPTQ.quantization_config.json").read_text())
    arch = architecture_from_hf_config({**config("meta-llama--Llama-2-7b-hf.json"), "quantization_config": quant})
    assert arch.quantization.weight_format == "int4-gptq"

    def gptq(out_features: int, in_features: int) -> int:
        groups = in_features // 128
        return in_features // 8 * out_features * 4 + groups * out_features // 8 * 4 + groups * out_features * 2 + in_features * 4

    h, inner, vocab = 4096, 11008, 32000
    per_layer = 4 * gptq(h, h) + 2 * gptq(inner, h) + gptq(h, inner) + 2 * 2 * h
    assert weights(arch, "int4-gptq") == 32 * per_layer + 2 * (2 * vocab * h + h)
    assert next(t for t in embedding_tensors(arch) if t.name == "lm_head").quantized is False


def test_bitsandbytes_config_as_transformers_serializes_it_keeps_lm_head_in_16_bit():
    """A BitsAndBytesConfig(nf4, double quant) as transformers writes it into config.json (Meta-Llama-3-8B-
    Instruct): llm_int8_skip_modules null still leaves the output embedding unquantized; each linear costs
    4 bits plus an 8-bit absmax per 64 and an fp32 constant per 256 blocks."""
    arch = architecture_from_config_file(DATA / "configs" / "NousResearch--Meta-Llama-3-8B-Instruct-bnb-nf4.json")
    assert (arch.quantization.method, arch.quantization.weight_format) == ("bitsandbytes", "nf4")

    def nf4(rows: int, cols: int) -> int:
        n = rows * cols
        return n // 2 + n // 64 + n // (64 * 256) * 4

    h, kv, inner, vocab = 4096, 1024, 14336, 128256
    per_layer = 2 * nf4(h, h) + 2 * nf4(kv, h) + 2 * nf4(inner, h) + nf4(h, inner) + 2 * 2 * h
    assert weights(arch, "nf4") == 32 * per_layer + 2 * (2 * vocab * h + h)
