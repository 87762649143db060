"""Hugging Face config.json import: every family we list imports unedited; what we cannot model is refused by name."""

import json
from pathlib import Path

import pytest

from planner.catalog import builtin_catalog_dir
from planner.errors import ModelConfigError
from planner.memory.parameters import count_parameters, layer_tensors
from planner.model.architecture import ModelArchitecture, architecture_from_mapping_file
from planner.model.hf_config import (
    architecture_from_config_file,
    architecture_from_hf_config,
    checkpoint_weight_format,
    load_checkpoint_config,
    load_hf_config,
)

CATALOG_CONFIGS = sorted((builtin_catalog_dir() / "model_configs").glob("*.json")) + sorted(
    (builtin_catalog_dir() / "model_configs").glob("*/config.json"))


def config(name: str) -> dict:
    return load_hf_config(builtin_catalog_dir() / "model_configs" / name)


@pytest.mark.parametrize("path", CATALOG_CONFIGS, ids=lambda p: p.name)
def test_every_config_imports_without_edits(path: Path):
    arch = architecture_from_config_file(path)
    assert count_parameters(arch).total > 0
    checkpoint_weight_format(load_checkpoint_config(path))


def test_the_catalog_holds_the_configs_the_issue_names():
    names = {p.name for p in CATALOG_CONFIGS}
    for wanted in ("deepseek-ai--DeepSeek-V3.json", "deepseek-ai--DeepSeek-V2-Lite.json", "mistralai--Mixtral-8x7B-v0.1.json",
                   "mistralai--Mixtral-8x22B-v0.1.json", "Qwen--Qwen3-235B-A22B.json", "google--gemma-2-9b.json",
                   "google--gemma-2-27b.json", "openai--gpt-oss-120b.json"):
        assert wanted in names


def test_unsupported_model_type_is_refused_by_name():
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config({"model_type": "mamba", "num_hidden_layers": 2})
    issue = caught.value.issues[0]
    assert issue.field_path == "model_type" and "'mamba'" in issue.message


def test_a_model_type_that_is_not_a_string_is_refused_by_name():
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config({"model_type": ["llama"], "num_hidden_layers": 2})
    assert caught.value.issues[0].field_path == "model_type"


def test_a_quantization_sidecar_that_is_not_an_object_is_refused_naming_it(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(config("meta-llama--Meta-Llama-3.1-8B.json")))
    (tmp_path / "hf_quant_config.json").write_text("[1]")
    with pytest.raises(ModelConfigError) as caught:
        load_checkpoint_config(tmp_path / "config.json")
    assert "hf_quant_config.json must hold a JSON object" in caught.value.message


def test_unsupported_quant_method_is_refused_by_name():
    bad = {**config("meta-llama--Meta-Llama-3.1-8B.json"), "quantization_config": {"quant_method": "hqq"}}
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config(bad)
    assert caught.value.issues[0].field_path == "quantization_config.quant_method"


def test_interleaved_dense_and_moe_layers_are_refused_by_name():
    bad = {**config("Qwen--Qwen3-30B-A3B.json"), "mlp_only_layers": [0, 1]}
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config(bad)
    assert caught.value.issues[0].field_path == "mlp_only_layers"
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config({**config("deepseek-ai--DeepSeek-V2-Lite.json"), "moe_layer_freq": 2})
    assert caught.value.issues[0].field_path == "moe_layer_freq"


def test_unknown_layer_kind_is_refused_by_name():
    base = config("openai--gpt-oss-20b.json")
    bad = {**base, "layer_types": ["linear_attention"] * base["num_hidden_layers"]}
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config(bad)
    assert caught.value.issues[0].field_path == "layer_types" and "linear_attention" in caught.value.issues[0].message


def test_gptq_group_sizes_map_to_group_variants_and_odd_ones_are_refused_by_name():
    base = config("meta-llama--Llama-2-7b-hf.json")
    gptq = {"quant_method": "gptq", "bits": 4}
    assert checkpoint_weight_format({**base, "quantization_config": {**gptq, "group_size": 32}}) == "int4-gptq-g32"
    assert checkpoint_weight_format({**base, "quantization_config": {**gptq, "group_size": -1}}) == "int4-gptq-channel"
    bad = {**base, "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 100}}
    with pytest.raises(ModelConfigError) as caught:
        checkpoint_weight_format(bad)
    assert caught.value.issues[0].field_path == "quantization_config.group_size"


@pytest.mark.parametrize("quant, expected", [
    ({"quant_method": "fp8", "weight_block_size": [128, 128]}, "fp8-block"),
    ({"quant_method": "fp8", "activation_scheme": "static"}, "fp8-per-tensor"),
    ({"quant_method": "awq", "bits": 4, "group_size": 128}, "int4-awq"),
    ({"quant_method": "gptq", "bits": 8, "group_size": 128}, "int8-gptq"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_use_double_quant": True}, "nf4"),
    ({"quant_method": "mxfp4"}, "mxfp4"),
    ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": {
        "num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": True}}}}, "int4-w4a16"),
    ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": {
        "num_bits": 8, "type": "float", "strategy": "channel"}}}}, "fp8"),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "nvfp4"),
])
def test_quantization_configs_map_to_the_format_vocabulary(quant, expected):
    assert checkpoint_weight_format({**config("meta-llama--Meta-Llama-3.1-8B.json"), "quantization_config": quant}) == expected


def test_metas_fbgemm_fp8_release_maps_to_the_mlp_only_format():
    """transformers' conversion script for Llama-3.1-405B FP8: skip model.layers.0, model.layers.125, lm_head and
    model.layers.{1..124}.self_attn."""
    skipped = ["model.layers.0", "model.layers.125", "lm_head"] + [f"model.layers.{i}.self_attn" for i in range(1, 125)]
    cfg = {**config("meta-llama--Meta-Llama-3.1-405B.json"),
           "quantization_config": {"quant_method": "fbgemm_fp8", "modules_to_not_convert": skipped}}
    assert checkpoint_weight_format(cfg) == "fp8-mlp"
    assert checkpoint_weight_format({**cfg, "quantization_config": {"quant_method": "fbgemm_fp8"}}) == "fp8"


def test_catalog_checkpoint_formats_agree_with_their_configs(catalog):
    for entry in catalog.models:
        path = builtin_catalog_dir() / (entry.config or "")
        implied = checkpoint_weight_format(load_checkpoint_config(path))
        if implied is not None and implied != "fp16":
            assert entry.weight_format == implied, entry.id


def test_gemma2_alternates_local_and_global_layers_with_explicit_head_dim():
    arch = architecture_from_hf_config(config("google--gemma-2-9b.json"))
    assert arch.sliding_window == 4096 and arch.sliding_window_layers == tuple(range(0, 42, 2))
    assert arch.attention_head_dim == 256 != arch.hidden_size // arch.num_attention_heads
    assert arch.tie_word_embeddings


def test_gemma3_pattern_makes_every_sixth_layer_global():
    cfg = {"model_type": "gemma3_text", "num_hidden_layers": 12, "hidden_size": 1152, "num_attention_heads": 4,
           "num_key_value_heads": 1, "head_dim": 256, "intermediate_size": 6912, "vocab_size": 262144,
           "sliding_window": 512, "sliding_window_pattern": 6}
    arch = architecture_from_hf_config({"model_type": "gemma3", "text_config": cfg})
    assert [i for i in range(12) if not arch.is_sliding_layer(i)] == [5, 11]
    assert arch.attention_kind == "MQA"


def test_gpt_oss_layer_types_mark_the_sliding_layers():
    arch = architecture_from_hf_config(config("openai--gpt-oss-120b.json"))
    assert arch.sliding_window == 128 and arch.sliding_window_layers == tuple(range(0, 36, 2))
    assert arch.attention_sinks and arch.router_bias


def test_mistral_window_applies_to_every_layer():
    arch = architecture_from_hf_config(config("mistralai--Mistral-7B-v0.1.json"))
    assert arch.sliding_window == 4096 and all(arch.is_sliding_layer(i) for i in range(32))


def test_qwen_sliding_window_is_off_unless_use_sliding_window_and_then_from_max_window_layers():
    base = config("Qwen--Qwen2.5-7B.json")
    assert architecture_from_hf_config(base).sliding_window is None
    on = architecture_from_hf_config({**base, "use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 20})
    assert on.sliding_window_layers == tuple(range(20, 28))


def test_deepseek_v3_mla_moe_shared_experts_and_dense_first_layers():
    arch = architecture_from_hf_config(config("deepseek-ai--DeepSeek-V3.json"))
    assert arch.attention_kind == "MLA" and (arch.kv_lora_rank, arch.qk_rope_head_dim) == (512, 64)
    assert (arch.num_experts, arch.num_shared_experts, arch.first_k_dense_layers) == (256, 1, 3)
    assert not arch.is_moe_layer(2) and arch.is_moe_layer(3)
    router = next(t for t in layer_tensors(arch, 3) if t.name == "router")
    assert (router.rows, router.cols) == (256, 7168)  # the router is counted, replicated on every rank


def test_attention_kinds_are_recognised():
    kinds = {architecture_from_config_file(p).attention_kind for p in CATALOG_CONFIGS}
    assert {"MHA", "GQA", "MLA"} <= kinds
    mqa = ModelArchitecture(num_layers=2, hidden_size=64, num_attention_heads=8, num_kv_heads=1, intermediate_size=128, vocab_size=100)
    assert mqa.attention_kind == "MQA"


def test_architecture_mapping_file_loads_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("num_layers: 4\nhidden_size: 512\nnum_attention_heads: 8\nnum_kv_heads: 2\nintermediate_size: 1024\n"
                    "vocab_size: 32000\n")
    arch = architecture_from_mapping_file(path)
    assert arch.name == "tiny" and arch.attention_kind == "GQA"


def test_architecture_mapping_file_with_a_typo_names_the_field(tmp_path):
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"num_layers": 4, "hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 1024,
                                "vocab_size": 32000, "num_kv_head": 2}))
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_mapping_file(path)
    issue = caught.value.issues[0]
    assert issue.field_path == "num_kv_head" and "num_kv_heads" in (issue.suggestion or "")


def test_a_hugging_face_config_given_as_architecture_points_to_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config("Qwen--Qwen2.5-7B.json")))
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_mapping_file(path)
    assert "--config" in (caught.value.issues[0].suggestion or "")
