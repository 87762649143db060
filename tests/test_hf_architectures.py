"""config.json of every common architecture: parameter counts against the published totals, and the rules of the
mapping that decide them (biases, norms, position tables, multi-query, cross-attention, vision towers).

Configs: catalogs/model_configs (catalog models) and tests/data/configs; provenance in each folder's SOURCES.md.
An exact published count must be met exactly; a figure rounded to d digits within half a unit of its last digit
(or 1 %, whichever is wider).
"""

from pathlib import Path

import pytest

from planner.catalog import builtin_catalog_dir
from planner.errors import ModelConfigError
from planner.memory.parameters import count_parameters, embedding_tensors, layer_tensors, vision_tensors
from planner.model.hf_config import architecture_from_config_file, architecture_from_hf_config, load_hf_config

CATALOG = builtin_catalog_dir() / "model_configs"
DATA = Path(__file__).parent / "data" / "configs"

# (model_type, config, published total, half a unit of its last digit (0: an exact count), source).
# Every figure was found in retrieved text; tests/data/configs/SOURCES.md and catalogs/model_configs/SOURCES.md
# (section 2) give the address and a verbatim quote for each.
PUBLISHED = [
    ("gpt2", CATALOG / "openai-community--gpt2.json", 124_439_808, 0, "keras-hub preset gpt2_base_en params"),
    ("gpt2", DATA / "openai-community--gpt2-medium.json", 354_823_168, 0, "keras-hub preset gpt2_medium_en params"),
    ("gpt_bigcode", DATA / "bigcode--gpt_bigcode-santacoder.json", 1.12e9, 0.005e9, "Hub metadata 1.12B (model page copy)"),
    ("gpt_bigcode", CATALOG / "WizardLM--WizardCoder-15B-V1.0.json", 15_517_462_528, 0, "Together AI model list num_parameters"),
    ("opt", DATA / "facebook--opt-1.3b.json", 1_315_758_080, 0, "transformers count of facebook/opt-1.3b quoted in two repositories"),
    ("gpt_neox", DATA / "togethercomputer--RedPajama-INCITE-Base-3B-v1.json", 2_775_864_320, 0, "together-python model_param_count"),
    ("gpt_neox", DATA / "EleutherAI--pythia-6.9b-deduped.json", 6_857_302_016, 0, "Pythia model card table, total params"),
    ("gpt_neox", DATA / "EleutherAI--pythia-12b-deduped.json", 11_846_072_320, 0, "Pythia model card table, total params"),
    ("falcon", CATALOG / "tiiuae--falcon-40b.json", 41_303_293_952, 0, "checkpoint index total minus the re-stored tied LM head"),
    ("falcon", DATA / "tiiuae--falcon-7b-instruct.json", 7e9, 0.5e9, "model card: a 7B parameters causal decoder-only model"),
    ("phi", DATA / "microsoft--phi-1_5.json", 1_418_270_720, 0, "Hub metadata safetensors_total_params 1418270720"),
    ("phi-msft", CATALOG / "microsoft--phi-2.json", 2_779_683_840, 0, "Hub API safetensors parameters F16 2779683840"),
    ("phi3", DATA / "microsoft--Phi-4-mini-instruct.json", 3_836_021_760, 0, "Hub API safetensors.total 3836021760"),
    ("phi3", DATA / "microsoft--Phi-3-medium-4k-instruct.json", 13_960_238_080, 0, "model_size 13960238080 (unsloth copy)"),
    ("gemma", DATA / "google--gemma-2b.json", 2_506_172_416, 0, "keras-hub preset gemma_instruct_2b_en params"),
    ("gemma3_text", DATA / "google--gemma-3-1b-it.json", 999_885_952, 0, "keras-hub preset gemma3_instruct_1b params; Hub API"),
    ("gemma3", CATALOG / "google--gemma-3-27b-it.json", 27_432_406_640, 0, "keras-hub preset medgemma_instruct_27b params"),
    ("cohere", CATALOG / "CohereForAI--aya-23-8B.json", 8e9, 0.5e9, "Aya 23 report: 8-billion parameter model"),
    ("olmo", DATA / "allenai--OLMo-7B-hf.json", 6_888_095_744, 0, "transformers count of OLMo-7B in two repositories (assembled config)"),
    ("olmo2", CATALOG / "allenai--OLMo-2-1124-7B.json", 7_298_617_344, 0, "Hub API safetensors.total"),
    ("olmo2", DATA / "allenai--OLMo-2-1124-13B.json", 13_716_198_400, 0, "Hub API safetensors.total"),
    ("deepseek_v2", CATALOG / "deepseek-ai--DeepSeek-V2-Lite.json", 15_706_484_224, 0, "total_params 15706484224; chatllm.cpp"),
    ("deepseek_v3", CATALOG / "deepseek-ai--DeepSeek-V3.json", 671_026_419_200, 0,
     "checkpoint-header audits of the main model (card: 671B)"),
    ("mllama", CATALOG / "meta-llama--Llama-3.2-11B-Vision.json", 10_670_220_835, 0, "Hub safetensors metadata of the Instruct checkpoint"),
    ("llava", CATALOG / "llava-hf--llava-1.5-7b-hf.json", 7_063_427_072, 0, "transformers count of llava-hf/llava-1.5-7b-hf"),
    ("qwen2_vl", DATA / "Qwen--Qwen2-VL-7B-Instruct.json", 8_291_375_616, 0, "Hub safetensors metadata (assembled config)"),
    ("qwen2_5_vl", CATALOG / "Qwen--Qwen2.5-VL-7B-Instruct.json", 8_292_166_656, 0, "transformers count; Hub numParameters"),
    ("qwen2_moe", CATALOG / "Qwen--Qwen1.5-MoE-A2.7B.json", 14_315_784_192, 0, "keras-hub preset qwen1.5_moe_2.7b_en; chatllm.cpp"),
    ("qwen3_moe+fp8", CATALOG / "Qwen--Qwen3-30B-A3B-FP8.json", 30_532_122_624, 0, "keras-hub preset qwen3_moe_30b_a3b_en params"),
    ("llama+modelopt", CATALOG / "nvidia--Llama-3.1-70B-Instruct-FP8" / "config.json", 70_553_706_496, 0,
     "Hub API safetensors.total of Llama-3.1-70B"),
]


@pytest.mark.parametrize("model_type, path, published, half_unit, source", PUBLISHED,
                         ids=lambda v: v if isinstance(v, str) and not v[0].isupper() else None)
def test_parameter_count_matches_the_published_total(model_type, path, published, half_unit, source):
    total = count_parameters(architecture_from_config_file(path)).total
    if half_unit == 0:
        assert total == published, f"{path.name}: {total:,} vs the exact published {published:,} ({source})"
    else:
        assert abs(total - published) <= max(0.01 * published, half_unit), f"{path.name}: {total:,} vs {published:,.0f} ({source})"


def test_every_architecture_the_issue_names_has_a_published_count_test():
    covered = {row[0].split("+")[0] for row in PUBLISHED}
    assert {"gpt2", "gpt_bigcode", "opt", "gpt_neox", "falcon", "phi", "phi3", "gemma", "gemma3", "cohere", "olmo", "olmo2",
            "deepseek_v2", "deepseek_v3", "mllama", "llava", "qwen2_vl", "qwen2_5_vl", "qwen2_moe"} <= covered


def test_gpt2_has_learned_positions_biases_layernorm_and_a_tied_head():
    arch = architecture_from_config_file(CATALOG / "openai-community--gpt2.json")
    assert (arch.position_embeddings, arch.norm, arch.gated_mlp, arch.tie_word_embeddings) == (1024, "layernorm", False, True)
    assert arch.attention_bias and arch.attention_output_bias and arch.mlp_bias and arch.rope_dim == 0
    assert count_parameters(arch).total == 124_439_808  # 12 x (12h^2 + 13h) + (50257 + 1024) h + 2h, h = 768
    assert "no `tie_word_embeddings` key: assumed True for gpt2 (transformers GPT2Config default)" in arch.assumptions
    assert "no `intermediate_size` key: assumed 3072 for gpt2 (4 x hidden_size, as GPT2Config does for null)" in arch.assumptions


def test_starcoder_is_multi_query_with_one_kv_head():
    arch = architecture_from_config_file(CATALOG / "WizardLM--WizardCoder-15B-V1.0.json")
    assert arch.attention_kind == "MQA" and arch.position_embeddings == 8192 and arch.tp_is_valid(8)


def test_falcon_remote_code_refinedweb_is_the_new_decoder_architecture():
    arch = architecture_from_config_file(CATALOG / "tiiuae--falcon-40b.json")
    assert (arch.kv_heads, arch.norms_per_layer, arch.norm, arch.tie_word_embeddings) == (8, 2, "layernorm", True)
    assert not arch.attention_bias and not arch.mlp_bias and arch.intermediate_size == 4 * 8192


@pytest.mark.parametrize("flags, kv_heads, norms", [
    ({"multi_query": True, "parallel_attn": True}, 1, 1),  # Falcon-7B: one KV head, one shared LayerNorm
    ({"multi_query": False, "parallel_attn": False}, 71, 2),  # sequential block with two LayerNorms
    ({"new_decoder_architecture": True, "num_kv_heads": 71, "num_ln_in_parallel_attn": 1}, 71, 1),
])
def test_falcon_block_layouts(flags, kv_heads, norms):
    base = {"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71, "vocab_size": 65024}
    arch = architecture_from_hf_config({**base, **flags})
    assert (arch.kv_heads, arch.norms_per_layer) == (kv_heads, norms)


def test_falcon_7b_layout_matches_vllms_ground_truth():
    """vLLM tests/config/base_model_arch_groundtruth.json: tiiuae/falcon-7b has head size 64 and 1 KV head; the
    released falcon-7b-instruct config (remote-code RefinedWebModel, multi_query) reads the same."""
    arch = architecture_from_config_file(DATA / "tiiuae--falcon-7b-instruct.json")
    assert (arch.attention_head_dim, arch.kv_heads, arch.norms_per_layer) == (64, 1, 1)
    qkv = sum(t.rows for t in layer_tensors(arch, 0) if t.name in ("q_proj", "k_proj", "v_proj"))
    assert qkv == 4672  # FalconLinear(4544 -> 4672): 71 query heads + 1 key + 1 value head of 64


def test_opt_learned_positions_carry_the_offset_of_two():
    arch = architecture_from_config_file(DATA / "facebook--opt-1.3b.json")
    assert arch.position_embeddings == 2050 and arch.attention_bias and arch.mlp_bias and arch.tie_word_embeddings


def test_opt_with_a_projected_embedding_is_refused_by_name():
    cfg = {**load_hf_config(DATA / "facebook--opt-1.3b.json"), "word_embed_proj_dim": 512}
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config(cfg)
    assert caught.value.issues[0].field_path == "word_embed_proj_dim"


def test_gpt_neox_rotates_a_quarter_of_each_head_and_keeps_two_norms():
    arch = architecture_from_config_file(DATA / "EleutherAI--pythia-6.9b-deduped.json")
    assert arch.rope_dim == 32 and arch.norms_per_layer == 2 and arch.attention_bias and not arch.tie_word_embeddings


@pytest.mark.parametrize("name", ["microsoft--phi-1_5.json"])
def test_phi_has_one_layernorm_per_block_and_a_biased_lm_head(name):
    arch = architecture_from_config_file(DATA / name)
    assert (arch.norms_per_layer, arch.norm, arch.lm_head_bias, arch.rope_dim) == (1, "layernorm", True, 32)
    assert any(t.name == "lm_head_bias" for t in embedding_tensors(arch))


def test_phi_msft_remote_code_reads_like_phi():
    arch = architecture_from_config_file(CATALOG / "microsoft--phi-2.json")
    assert (arch.num_layers, arch.hidden_size, arch.intermediate_size, arch.rope_dim, arch.lm_head_bias) == (32, 2560, 10240, 32, True)


def test_cohere_layernorm_has_no_bias_and_qk_norm_covers_every_head():
    base = load_hf_config(CATALOG / "CohereForAI--aya-23-8B.json")
    arch = architecture_from_hf_config(base)
    assert (arch.norm, arch.norms_per_layer, arch.tie_word_embeddings, arch.qk_norm) == ("layernorm_no_bias", 1, True, False)
    with_qk = architecture_from_hf_config({**base, "use_qk_norm": True})
    qk = next(t for t in layer_tensors(with_qk, 0) if t.name == "qk_norm")
    assert qk.parameters == (32 + 8) * 128  # CohereLayerNorm weight of shape (heads, head_dim) for q and (kv_heads, head_dim) for k


def test_olmo_norms_have_no_parameters():
    arch = architecture_from_config_file(DATA / "allenai--OLMo-7B-hf.json")
    assert arch.norm == "nonparametric"
    assert not any(t.name in ("norms", "final_norm") for t in list(layer_tensors(arch, 0)) + list(embedding_tensors(arch)))


def test_olmo2_normalises_the_whole_q_and_k_projections():
    arch = architecture_from_config_file(CATALOG / "allenai--OLMo-2-1124-7B.json")
    qk = next(t for t in layer_tensors(arch, 0) if t.name == "qk_norm")
    assert arch.qk_norm_scope == "projection" and qk.parameters == 2 * 4096


def test_qwen_moe_counts_the_shared_expert_and_its_gate():
    arch = architecture_from_config_file(CATALOG / "Qwen--Qwen1.5-MoE-A2.7B.json")
    names = {t.name for t in layer_tensors(arch, 0)}
    assert {"router", "shared_expert_gate", "experts.gate_up_proj", "shared_experts.gate_up_proj"} <= names
    assert abs(count_parameters(arch).active - 2.7e9) <= 0.05e9  # Qwen blog: 2.7B activated


def test_moe_config_without_a_dense_width_uses_the_expert_width_and_says_so():
    cfg = load_hf_config(CATALOG / "Qwen--Qwen3-30B-A3B.json")
    del cfg["intermediate_size"]
    arch = architecture_from_hf_config(cfg)
    assert arch.intermediate_size == arch.moe_intermediate_size == 768
    assert count_parameters(arch) == count_parameters(architecture_from_config_file(CATALOG / "Qwen--Qwen3-30B-A3B.json"))
    assert any("every layer is MoE" in line for line in arch.assumptions)
    with pytest.raises(ModelConfigError) as caught:  # a leading dense layer needs its width
        architecture_from_hf_config({**cfg, "first_k_dense_replace": 1})
    assert caught.value.issues[0].field_path == "intermediate_size"


def test_gemma3_vision_tower_and_text_defaults():
    arch = architecture_from_config_file(CATALOG / "google--gemma-3-27b-it.json")
    params = count_parameters(arch)
    assert arch.vision.kind == "siglip" and abs(params.vision - 423e6) < 1e6  # 417M encoder + 6.2M projector
    assert arch.vocab_size == 262208 and arch.sliding_window == 1024
    assert [i for i in range(12) if not arch.is_sliding_layer(i)] == [5, 11]
    assert "no `text_config.vocab_size` key: assumed 262208 for gemma3_text (transformers Gemma3TextConfig default)" in arch.assumptions


def test_llava_counts_clip_and_its_two_layer_projector():
    arch = architecture_from_config_file(CATALOG / "llava-hf--llava-1.5-7b-hf.json")
    projector = [t for t in vision_tensors(arch) if t.name.startswith("projector") and t.rows > 1]
    assert arch.vision.kind == "clip" and [(t.rows, t.cols) for t in projector] == [(4096, 1024), (4096, 4096)]
    assert count_parameters(arch).vision == 324_487_168  # CLIP ViT-L/14-336 303,507,456 + projector 20,979,712
    assert "no `text_config.hidden_size` key: assumed 4096 for llama (transformers LlamaConfig default)" in arch.assumptions


def test_qwen2_vl_and_qwen2_5_vl_towers():
    v1 = architecture_from_config_file(DATA / "Qwen--Qwen2-VL-7B-Instruct.json")
    v25 = architecture_from_config_file(CATALOG / "Qwen--Qwen2.5-VL-7B-Instruct.json")
    assert (v1.vision.norm, v1.vision.gated_mlp, v1.vision.intermediate_size) == ("layernorm", False, 5120)
    assert (v25.vision.norm, v25.vision.gated_mlp, v25.vision.intermediate_size) == ("rmsnorm", True, 3420)
    assert count_parameters(v1).vision == 675_759_104 and count_parameters(v25).vision == 676_550_144


def test_mllama_cross_attention_layers_cache_the_image_not_the_text():
    from planner.memory.serving import ServingLayout, kv_cache_bytes_per_sequence, kv_cache_bytes_per_token

    arch = architecture_from_config_file(CATALOG / "meta-llama--Llama-3.2-11B-Vision.json")
    assert arch.cross_attention_layers == (3, 8, 13, 18, 23, 28, 33, 38) and arch.embedding_rows == 128256 + 8
    assert arch.cross_attention_tokens == 4 * ((560 // 14) ** 2 + 1)  # 6404: four 560-pixel tiles of 40 x 40 patches + CLS
    layout = ServingLayout()
    per_layer = 2 * 8 * 128 * 2
    assert kv_cache_bytes_per_token(arch, layout) == 32 * per_layer
    image_blocks = -(-arch.cross_attention_tokens // 16) * 16
    assert kv_cache_bytes_per_sequence(arch, layout, 1024) == (32 * 1024 + 8 * image_blocks) * per_layer
    gates = next(t for t in layer_tensors(arch, 3) if t.name == "cross_attn_gates")
    assert gates.parameters == 2 and not any(t.name == "cross_attn_gates" for t in layer_tensors(arch, 2))


def test_vision_tower_sits_on_the_first_pipeline_stage():
    from planner.memory.serving import ServingLayout, weight_bytes_by_stage

    arch = architecture_from_config_file(CATALOG / "Qwen--Qwen2.5-VL-7B-Instruct.json")
    text_only = arch.model_copy(update={"vision": None})
    first, last = weight_bytes_by_stage(arch, ServingLayout(pp=2))
    first_text, last_text = weight_bytes_by_stage(text_only, ServingLayout(pp=2))
    assert first - first_text == 2 * count_parameters(arch).vision and last == last_text


@pytest.mark.parametrize("path, kind", [(DATA / "google-bert--bert-base-uncased.json", "encoder-only"),
                                        (DATA / "google-t5--t5-small.json", "encoder-decoder")])
def test_encoder_models_are_refused(path, kind):
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_config_file(path)
    assert caught.value.message == f"{kind} model in config.json" and caught.value.exit_code == 2


def test_encoder_decoder_flag_is_refused_whatever_the_type():
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config({"model_type": "llama", "is_encoder_decoder": True})
    assert "encoder-decoder" in caught.value.message


def test_unmodelled_vision_language_wrapper_is_refused_by_name():
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config({"model_type": "idefics3", "vision_config": {}, "text_config": {"model_type": "llama"}})
    assert "vision tower is not modelled" in caught.value.issues[0].message
    with pytest.raises(ModelConfigError) as caught:
        architecture_from_hf_config({**load_hf_config(CATALOG / "meta-llama--Meta-Llama-3.1-8B.json"), "vision_config": {}})
    assert caught.value.issues[0].field_path == "vision_config"


def test_family_defaults_are_recorded_for_every_absent_key():
    arch = architecture_from_hf_config({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
                                        "intermediate_size": 128, "vocab_size": 100})
    assert "no `tie_word_embeddings` key: assumed False for llama (transformers LlamaConfig default)" in arch.assumptions
    assert "no `num_key_value_heads` key: assumed 4 for llama (= num_attention_heads: multi-head attention)" in arch.assumptions
    assert arch.assumptions[0].startswith("rules for llama: rmsnorm, 2 per block; gated MLP")


def test_explain_prints_the_assumptions(tmp_path):
    from click.testing import CliRunner

    from planner.cli import cli

    result = CliRunner().invoke(cli, ["memory", "--config", str(CATALOG / "openai-community--gpt2.json"), "--gpu", "l4", "--explain"])
    assert result.exit_code == 0, result.output
    assert "no `tie_word_embeddings` key: assumed True for gpt2 (transformers GPT2Config default)" in result.output
    bert = CliRunner().invoke(cli, ["memory", "--config", str(DATA / "google-bert--bert-base-uncased.json")])
    assert bert.exit_code == 2 and "encoder-only" in bert.output
