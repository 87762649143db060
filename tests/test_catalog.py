"""The built-in catalogs: coverage, provenance and parameter counts against published values."""

import pytest

from planner.catalog import Catalog, builtin_catalog_dir
from planner.errors import CatalogError
from planner.memory.parameters import count_parameters


def test_gpu_catalog_covers_vendors_and_segments(catalog):
    gpus = catalog.gpus
    assert len(gpus) >= 15
    assert {g.vendor for g in gpus} == {"nvidia", "amd"}
    assert {"datacenter", "consumer"} <= {g.segment for g in gpus}


def test_every_gpu_has_provenance_and_a_price(catalog):
    for gpu in catalog.gpus:
        assert gpu.source_url.startswith("http"), gpu.id
        assert gpu.price_source and gpu.memory_usable_source, gpu.id
        assert gpu.price_usd_per_gpu_hour > 0


def test_h100_capacity_is_what_nvidia_smi_reports(catalog):
    """An '80 GB' H100 SXM shows 81,559 MiB in nvidia-smi (shared/data/gpu_specs.csv)."""
    assert catalog.gpu("h100-sxm").memory_usable_mib == 81559


@pytest.mark.parametrize("gpu_id, gib", [("a100-40gb", 39.5), ("a100-40gb-pcie", 39.5), ("t4", 14.58), ("rtx-3090", 23.58)])
def test_capacity_is_the_total_cuda_reports_not_the_marketing_figure(catalog, gpu_id, gib):
    """A100 40GB: vLLM logs total_gpu_memory 39.50 GiB (#12330); T4: PyTorch reports 14.58 GiB; RTX 3090: 23.58 GiB."""
    gpu = catalog.gpu(gpu_id)
    assert gpu.memory_usable_mib / 1024 == pytest.approx(gib, abs=0.01)
    assert gpu.memory_usable_mib < gpu.memory_nominal_gb * 1024  # below the nominal size even read as GiB


def test_model_catalog_covers_dense_moe_mha_gqa_mla(catalog):
    kinds = {catalog.architecture(m.id).attention_kind for m in catalog.models}
    assert {"MHA", "GQA", "MLA"} <= kinds
    assert len(catalog.models) >= 15
    assert any(catalog.architecture(m.id).is_moe for m in catalog.models)


@pytest.mark.parametrize("model_id", [
    "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mistral-7b-v0.1",
    "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b-instruct", "qwen3-8b",
    "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b", "deepseek-v3", "deepseek-v2-lite", "gemma-2-9b", "gemma-2-27b",
    "phi-3-mini-4k-instruct", "gpt-oss-120b", "gpt-oss-20b", "deepseek-llm-7b-base",
])
def test_computed_parameter_count_matches_published_within_one_percent(catalog, model_id):
    entry = catalog.model(model_id)
    computed = count_parameters(catalog.architecture(model_id)).total
    assert computed == pytest.approx(entry.published_params_total, rel=0.01)


@pytest.mark.parametrize("model_id, active_billions", [
    ("mixtral-8x7b", 12.9), ("mixtral-8x22b", 39.1), ("qwen3-235b-a22b", 22.0), ("qwen3-30b-a3b", 3.3),
    ("deepseek-v3", 37.0),
])
def test_moe_active_parameters_match_published_within_two_percent(catalog, model_id, active_billions):
    assert count_parameters(catalog.architecture(model_id)).active / 1e9 == pytest.approx(active_billions, rel=0.02)


def test_unknown_gpu_offers_the_nearest_ids(catalog):
    with pytest.raises(CatalogError) as caught:
        catalog.gpu("h100-sxn")
    assert "h100-sxm" in caught.value.issues[0].suggestion


def test_unknown_model_offers_the_nearest_ids(catalog):
    with pytest.raises(CatalogError) as caught:
        catalog.model("llama-3.1-7b")
    assert "llama-3.1-8b" in caught.value.issues[0].suggestion


def test_builtin_catalog_dir_holds_both_files():
    base = builtin_catalog_dir()
    assert (base / "gpus.yaml").is_file() and (base / "models.yaml").is_file()


def test_user_catalog_file_replaces_the_builtin_one(tmp_path):
    gpus = tmp_path / "gpus.yaml"
    gpus.write_text(
        "schema_version: 1\ngpus:\n  - id: my-gpu\n    name: My GPU\n    vendor: nvidia\n    segment: datacenter\n"
        "    memory_nominal_gb: 80\n    memory_usable_mib: 81559\n    memory_usable_source: test\n"
        "    memory_bandwidth_gbps: 3350\n    supports_bf16: true\n    supports_fp8: true\n    nvlink_domain_size: 8\n"
        "    gpus_per_node: 8\n    price_usd_per_gpu_hour: 1.0\n    price_source: test\n    source_url: https://example.com\n"
    )
    catalog = Catalog.load(gpus_path=gpus)
    assert [g.id for g in catalog.gpus] == ["my-gpu"]
    assert catalog.model("llama-3.1-8b")


def test_catalog_entry_with_missing_field_names_the_entry_and_field(tmp_path):
    gpus = tmp_path / "gpus.yaml"
    gpus.write_text("schema_version: 1\ngpus:\n  - id: broken\n    name: Broken\n")
    with pytest.raises(CatalogError) as caught:
        Catalog.load(gpus_path=gpus)
    paths = {i.field_path for i in caught.value.issues}
    assert "gpus[broken].vendor" in paths


@pytest.mark.parametrize("name", ["gpus.yaml", "models.yaml", "offers.yaml"])
def test_builtin_catalog_files_read_without_the_checks_equal_what_the_checked_parser_reads(name):
    """The shipped files skip the hostile-input checks: they must hold nothing those checks refuse (a duplicate key
    would silently keep the later price) and parse to the very same data; line numbers are found when asked."""
    from planner.catalog.catalog import _read_yaml
    from planner.yaml_io import load_yaml_file

    path = builtin_catalog_dir() / name
    fast, locator = _read_yaml(path)
    checked, checked_locator = load_yaml_file(path, "catalog", CatalogError)
    assert fast == checked
    key = next(iter(k for k in checked if isinstance(checked[k], list)))
    assert locator.locate((key, 1)) == checked_locator.locate((key, 1)) != (None, None)
