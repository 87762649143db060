"""``planner catalog gpus|offers|models --json`` have strict pydantic models like every other JSON output: the JSON
validates against its model and is written back byte for byte, ``planner schema catalog-NAME`` prints its JSON
Schema, and a key the listing adds without a field in its model is refused."""

import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from planner.catalog import GpuSpec, default_catalog
from planner.catalog.outputs import (
    CATALOG_FORMATS,
    CATALOG_GPUS,
    CATALOG_MODELS,
    CATALOG_OFFERS,
    CATALOG_OUTPUT_NAMES,
    CatalogModelOutput,
    CatalogOfferOutput,
    catalog_output_adapter,
)
from planner.cli import cli

GPUS_ARGS = ("catalog", "gpus", "--json")
OFFERS_ARGS = ("catalog", "offers", "--json")
H100_OFFERS_ARGS = ("catalog", "offers", "--gpu", "h100-sxm", "--json")
MODELS_ARGS = ("catalog", "models", "--json")
FORMATS_ARGS = ("catalog", "formats", "--json")


def written(*args):
    """The text a command writes (it must succeed)."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def rewritten(adapter, text):
    """``text`` validated against ``adapter``'s model, after checking the model writes it back byte for byte."""
    output = adapter.validate_json(text)
    assert json.dumps(adapter.dump_python(output), indent=2) + "\n" == text
    return output


def test_catalog_gpus_json_is_what_planner_schema_catalog_gpus_describes():
    gpus = rewritten(CATALOG_GPUS, written(*GPUS_ARGS))
    assert all(isinstance(gpu, GpuSpec) for gpu in gpus)
    assert [gpu.id for gpu in gpus] == [spec.id for spec in default_catalog().gpus]


def test_catalog_offers_json_is_what_planner_schema_catalog_offers_describes():
    offers = rewritten(CATALOG_OFFERS, written(*OFFERS_ARGS))
    assert all(isinstance(offer, CatalogOfferOutput) for offer in offers)
    assert sorted(offer.gpu for offer in offers if offer.default) == sorted(spec.id for spec in default_catalog().gpus)


def test_one_gpus_offers_start_with_its_default_offer_at_the_catalog_price():
    offers = rewritten(CATALOG_OFFERS, written(*H100_OFFERS_ARGS))
    assert {offer.gpu for offer in offers} == {"h100-sxm"} and len(offers) > 1
    assert offers[0].default and not any(offer.default for offer in offers[1:])
    assert offers[0].usd_per_gpu_hour("on_demand") == pytest.approx(default_catalog().gpu("h100-sxm").price_usd_per_gpu_hour)


def test_catalog_models_json_is_what_planner_schema_catalog_models_describes():
    models = rewritten(CATALOG_MODELS, written(*MODELS_ARGS))
    assert all(isinstance(model, CatalogModelOutput) for model in models)
    assert [model.id for model in models] == [entry.id for entry in default_catalog().models]
    assert {model.attention for model in models} == {"MHA", "GQA", "MQA", "MLA"}


def test_catalog_formats_json_lists_every_format_the_memory_model_knows_with_its_scales():
    from planner.model.formats import KV_CACHE_DTYPES, WEIGHT_FORMATS

    formats = rewritten(CATALOG_FORMATS, written(*FORMATS_ARGS))
    assert [f.name for f in formats.weight_formats] == list(WEIGHT_FORMATS)
    assert [d.name for d in formats.kv_cache_dtypes] == list(KV_CACHE_DTYPES)
    by_name = {f.name: f for f in formats.weight_formats}
    assert by_name["bf16"].effective_bits_per_weight == 16
    assert by_name["int4-awq"].effective_bits_per_weight == 4 + 20 / 128  # AWQ: a 16-bit scale and a 4-bit zero per 128


@pytest.mark.parametrize("name", CATALOG_OUTPUT_NAMES)
def test_planner_schema_prints_each_catalog_listings_json_schema(name):
    printed = json.loads(written("schema", name))
    command, adapter = catalog_output_adapter(name)
    assert printed["title"] == command == f"planner catalog {name.removeprefix('catalog-')} --json"
    assert {key: value for key, value in printed.items() if key != "title"} == \
           {key: value for key, value in adapter.json_schema().items() if key != "title"}


@pytest.mark.parametrize("name", CATALOG_OUTPUT_NAMES)
def test_every_catalog_listing_row_refuses_unknown_keys_and_describes_each_field(name):
    schema = catalog_output_adapter(name)[1].json_schema()
    top = schema["items"]["$ref"] if schema["type"] == "array" else None
    rows = [schema["$defs"][top.rsplit("/", 1)[-1]]] if top else [schema, *(d for d in schema["$defs"].values() if "properties" in d)]
    for row in rows:
        assert row["additionalProperties"] is False
        assert [key for key, field in row["properties"].items() if not field.get("description")] == []


@pytest.mark.parametrize(("args", "adapter"), [(GPUS_ARGS, CATALOG_GPUS), (OFFERS_ARGS, CATALOG_OFFERS), (H100_OFFERS_ARGS, CATALOG_OFFERS),
                                               (MODELS_ARGS, CATALOG_MODELS), (FORMATS_ARGS, CATALOG_FORMATS)],
                         ids=["gpus", "offers", "offers-gpu", "models", "formats"])
def test_a_key_added_to_a_catalog_row_without_its_model_field_is_refused(args, adapter):
    listing = json.loads(written(*args))
    rows = listing if isinstance(listing, list) else listing["kv_cache_dtypes"]
    rows[-1]["unexpected"] = 1
    with pytest.raises(ValidationError, match="unexpected"):
        adapter.validate_python(listing)


@pytest.mark.parametrize(("model", "args"), [("CatalogModelOutput", MODELS_ARGS), ("CatalogOfferOutput", H100_OFFERS_ARGS)],
                         ids=["models", "offers"])
def test_a_listing_that_writes_a_key_its_model_lacks_is_an_internal_error(monkeypatch, model, args):
    """The listings are built through their models: a key added without a field fails (exit 3, a bug), it is never
    written as an undocumented change of the output."""
    from planner.catalog import outputs

    original = getattr(outputs, model)
    monkeypatch.setattr(outputs, model, lambda **fields: original(**fields, vram_gib=1.0))
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 3 and "vram_gib" in result.output and "extra_forbidden" in result.output
