"""GPU and model catalogs: loading, validation and lookup with did-you-mean.

The built-in catalogs ship inside the package (``planner/catalogs`` once installed, ``catalogs/`` in a source
checkout). A scenario may point at its own files instead; every entry keeps its source.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from ..errors import CatalogError, Issue, ScenarioError, did_you_mean
from ..limits import (
    MAX_CATALOG_GPUS,
    MAX_GPU_MEMORY_MIB,
    MAX_GPUS_PER_REPLICA,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_PRICE_USD_PER_GPU_HOUR,
    MAX_TEXT_CHARS,
)
from ..model.architecture import ModelArchitecture
from ..model.hf_config import architecture_from_config_file
from ..schema.base import StrictModel
from ..units import BYTES_PER_MIB
from ..yaml_io import Locator, load_packaged_yaml_file, load_yaml_file

if TYPE_CHECKING:
    from ..schema.serving import ServingScenario
    from ..schema.training import TrainingScenario


DEFAULT_NODE_NETWORK_GB_PER_S = 12.5
"""100 Gb/s Ethernet, the scale-out network assumed for a catalog entry that names none."""


class GpuSpec(StrictModel):
    """One GPU type: memory as the driver reports it, throughput, interconnect and price."""


    id: str = Field(..., pattern=r"^[a-z0-9][a-z0-9.\-]*$", max_length=64, description="GPU id, as scenarios and --gpu name it")
    name: str = Field(..., max_length=MAX_NAME_CHARS, description="Product name")
    vendor: Literal["nvidia", "amd"] = Field(..., description="Vendor (its software stack: CUDA or ROCm)")
    segment: Literal["datacenter", "workstation", "consumer"] = Field(..., description="Market segment")
    memory_nominal_gb: float = Field(..., gt=0, le=MAX_GPU_MEMORY_MIB, description="Memory on the datasheet, GB (1e9 bytes)")
    memory_usable_mib: int = Field(..., gt=0, le=MAX_GPU_MEMORY_MIB, description="Total memory the driver reports (nvidia-smi), MiB")
    memory_usable_estimated: bool = Field(False, description="No driver figure found: 99% of the nominal memory")
    memory_usable_source: str = Field(..., max_length=MAX_TEXT_CHARS, description="Where memory_usable_mib comes from")
    memory_bandwidth_gbps: float = Field(..., gt=0, le=1e7, description="Memory bandwidth, GB/s (decimal)")
    bf16_dense_tflops: float | None = Field(None, gt=0, le=1e7, description="Dense BF16 tensor throughput, TFLOPS (no 2:4 sparsity)")
    fp16_dense_tflops: float | None = Field(None, gt=0, le=1e7, description="Dense FP16 tensor throughput, TFLOPS")
    fp8_dense_tflops: float | None = Field(None, gt=0, le=1e7, description="Dense FP8 tensor throughput, TFLOPS")
    int8_dense_tops: float | None = Field(None, gt=0, le=1e7, description="Dense INT8 tensor throughput, TOPS")
    supports_bf16: bool = Field(..., description="BF16 tensor math")
    supports_fp8: bool = Field(..., description="FP8 tensor math")
    nvlink_domain_size: int = Field(..., ge=1, le=MAX_GPUS_PER_REPLICA,
                                    description="GPUs joined by NVLink / Infinity Fabric (1: PCIe only)")
    gpus_per_node: int = Field(..., ge=1, le=MAX_GPUS_PER_REPLICA, description="GPUs in one server")
    scale_up_link: Literal["nvswitch", "nvlink-bridge", "xgmi", "none"] | None = Field(
        None, description="GPU-to-GPU link inside the NVLink (or Infinity Fabric) domain; 'none' = PCIe only "
                          "(default: nvswitch for domains of 8 or more, nvlink-bridge for 2-4, none for 1)")
    scale_up_bandwidth_gb_per_s: float | None = Field(
        None, gt=0, le=1e7, description="Scale-up link bandwidth per GPU, one direction, GB/s (datasheet bidirectional / 2)")
    pcie_gen: int = Field(4, ge=3, le=7, description="Host interface PCIe generation (x16)")
    pcie_peer_to_peer: bool = Field(True, description="GPUs exchange data over PCIe directly (False on GeForce 40/50)")
    inter_node_bandwidth_gb_per_s: float | None = Field(
        None, gt=0, le=1e7, description="Network bandwidth per GPU between nodes, one direction, GB/s "
                                "(default: 100 Gb/s Ethernet per node, shared by its GPUs, marked estimated)")
    inter_node_estimated: bool = Field(False, description="inter_node_bandwidth_gb_per_s is an assumption (inter_node_network says which)")
    inter_node_network: str | None = Field(None, max_length=MAX_TEXT_CHARS,
                                           description="The network behind inter_node_bandwidth_gb_per_s, with its source")
    instance_gpus: int = Field(1, ge=1, le=MAX_GPUS_PER_REPLICA,
                               description="GPUs per rented instance at price_usd_per_gpu_hour (1 = by the GPU)")
    tdp_watts: float | None = Field(None, gt=0, le=100_000, description="Board power on the datasheet, W")
    price_usd_per_gpu_hour: float = Field(..., gt=0, le=MAX_PRICE_USD_PER_GPU_HOUR,
                                          description="On-demand rental price per GPU-hour, USD (the default offer)")
    spot_price_usd_per_gpu_hour: float | None = Field(None, gt=0, le=MAX_PRICE_USD_PER_GPU_HOUR,
                                                      description="Lowest spot price per GPU-hour, USD (None: no spot market)")
    price_source: str = Field(..., max_length=MAX_TEXT_CHARS, description="Where the price comes from, or how it was derived")
    price_estimated: bool = Field(False, description="Price derived rather than quoted (used only with allow_estimated)")
    purchase_price_usd: float | None = Field(None, gt=0, le=1e8, description="Indicative purchase price per GPU, USD")
    purchase_price_source: str | None = Field(None, description="Where the purchase price comes from")
    release_year: int | None = Field(None, ge=1900, le=2200, description="Year of release")
    source_url: str = Field(..., max_length=MAX_TEXT_CHARS, description="Datasheet of the figures")

    @model_validator(mode="before")
    @classmethod
    def _default_topology(cls, data: Any) -> Any:
        """Fill the topology a user catalog leaves out, saying so (assumptions are marked, never silent)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        domain = data.get("nvlink_domain_size", 1)
        if data.get("scale_up_link") is None and isinstance(domain, int):
            data["scale_up_link"] = "nvswitch" if domain >= 8 else "nvlink-bridge" if domain > 1 else "none"
        if data.get("inter_node_bandwidth_gb_per_s") is None and isinstance(data.get("gpus_per_node"), int) and data["gpus_per_node"] > 0:
            data["inter_node_bandwidth_gb_per_s"] = DEFAULT_NODE_NETWORK_GB_PER_S / data["gpus_per_node"]
            data["inter_node_estimated"] = True
            data.setdefault("inter_node_network", "assumed: 100 Gb/s Ethernet per node (no figure in the catalog entry)")
        return data

    @property
    def capacity_bytes(self) -> int:
        return self.memory_usable_mib * BYTES_PER_MIB

    def dense_tflops(self, precision: str) -> float | None:
        """Dense tensor throughput for a compute precision (bf16, fp16, fp8, int8)."""
        return {
            "bf16": self.bf16_dense_tflops or self.fp16_dense_tflops,
            "fp16": self.fp16_dense_tflops or self.bf16_dense_tflops,
            "fp8": self.fp8_dense_tflops,
            "int8": self.int8_dense_tops,
        }.get(precision)


class ModelEntry(StrictModel):
    """A catalog model: where its architecture comes from and its published parameter counts."""


    id: str = Field(..., min_length=1, max_length=MAX_NAME_CHARS)
    name: str = Field(..., max_length=MAX_NAME_CHARS)
    hf_id: str | None = Field(None, max_length=MAX_NAME_CHARS)
    config: str | None = Field(None, description="Path of a config.json, relative to the catalog file")
    architecture: ModelArchitecture | None = None
    weight_format: str = "bf16"
    published_params_total: float | None = Field(None, gt=0, le=1e15)
    published_params_active: float | None = Field(None, gt=0, le=1e15)
    params_source: str | None = None
    family: str | None = None


class _GpuFile(StrictModel):
    schema_version: int
    as_of: str | None = None
    gpus: list[GpuSpec] = Field(..., max_length=MAX_CATALOG_GPUS)


class _ModelFile(StrictModel):
    schema_version: int
    as_of: str | None = None
    models: list[ModelEntry] = Field(..., max_length=MAX_LIST_ITEMS)


BUILTIN_CATALOG_FILES = ("gpus.yaml", "models.yaml", "offers.yaml")


@lru_cache(maxsize=1)
def builtin_catalog_dir() -> Path:
    """Directory of the built-in catalogs: package data when installed, ``catalogs/`` in a checkout."""
    try:
        packaged = Path(str(resources.files("planner.catalogs")))
        if (packaged / "gpus.yaml").is_file():
            return packaged
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent.parent / "catalogs"


def _read_yaml(path: Path) -> tuple[Any, Locator]:
    """A catalog file, bounded and checked like a scenario (duplicate keys are errors: the later price would win);
    the built-in files as shipped, without the checks (``load_packaged_yaml_file``)."""
    if path.parent == builtin_catalog_dir() and path.name in BUILTIN_CATALOG_FILES:
        data, locator = load_packaged_yaml_file(path, "catalog", CatalogError)
    else:
        data, locator = load_yaml_file(path, "catalog", CatalogError)
    if data is not None and not isinstance(data, dict):
        raise CatalogError("invalid catalog", [Issue("a catalog file is a YAML mapping with schema_version and a list",
                                                     source=str(path))])
    return data, locator


def _validation_issues(error: ValidationError, source: str, data: Any, list_key: str, locator: Locator,
                       root: type[BaseModel]) -> list[Issue]:
    """A catalog file's problems (``planner.schema.translate``); an empty file says what it should hold."""
    from ..schema.translate import validation_issues

    if data is None:
        return [Issue("the catalog file is empty", source=source, suggestion=f"expected schema_version and a '{list_key}' list")]
    return validation_issues(error, data, source=source, locator=locator, root=root)


class Catalog:
    """The GPUs and models a scenario may use."""

    def __init__(self, gpus: list[GpuSpec], models: list[ModelEntry], models_dir: Path, sources: tuple[str, str]):
        self._gpus = {g.id: g for g in gpus}
        self._models = {m.id: m for m in models}
        self._models_dir = models_dir
        self.sources = sources
        for kind, entries, index in (("GPU", gpus, self._gpus), ("model", models, self._models)):
            if len(index) != len(entries):
                ids = [e.id for e in entries]
                dup = next(i for i in ids if ids.count(i) > 1)
                raise CatalogError(f"duplicate {kind} id in catalog",
                                   [Issue(f"id {dup!r} appears twice", source=sources[0 if kind == 'GPU' else 1])])
        if not gpus:
            raise CatalogError("the GPU catalog is empty", [Issue("no GPUs listed", source=sources[0])])

    @classmethod
    def load(cls, gpus_path: str | Path | None = None, models_path: str | Path | None = None) -> Catalog:
        base = builtin_catalog_dir()
        gpus_file = Path(gpus_path) if gpus_path else base / "gpus.yaml"
        models_file = Path(models_path) if models_path else base / "models.yaml"
        gpu_data, gpu_lines = _read_yaml(gpus_file)
        model_data, model_lines = _read_yaml(models_file)
        try:
            gpus = _GpuFile.model_validate(gpu_data).gpus
        except ValidationError as exc:
            issues = _validation_issues(exc, str(gpus_file), gpu_data, "gpus", gpu_lines, _GpuFile)
            raise CatalogError("invalid GPU catalog", issues) from None
        try:
            models = _ModelFile.model_validate(model_data).models
        except ValidationError as exc:
            issues = _validation_issues(exc, str(models_file), model_data, "models", model_lines, _ModelFile)
            raise CatalogError("invalid model catalog", issues) from None
        return cls(gpus, models, models_file.parent, (str(gpus_file), str(models_file)))

    @property
    def gpus(self) -> list[GpuSpec]:
        return list(self._gpus.values())

    @property
    def models(self) -> list[ModelEntry]:
        return list(self._models.values())

    def gpu(self, gpu_id: str) -> GpuSpec:
        try:
            return self._gpus[gpu_id]
        except KeyError:
            raise CatalogError(
                "unknown GPU", [Issue(f"no GPU {gpu_id!r} in the catalog", source=self.sources[0],
                                      suggestion=did_you_mean(gpu_id, self._gpus) or "see 'planner catalog gpus'")]
            ) from None

    def model(self, model_id: str) -> ModelEntry:
        try:
            return self._models[model_id]
        except KeyError:
            raise CatalogError(
                "unknown model", [Issue(f"no model {model_id!r} in the catalog", source=self.sources[1],
                                        suggestion=did_you_mean(model_id, self._models) or "see 'planner catalog models'")]
            ) from None

    def architecture(self, model_id: str) -> ModelArchitecture:
        """The architecture of a catalog model (read from its config.json, cached)."""
        return _architecture_of(self.model(model_id), str(self._models_dir))


@lru_cache(maxsize=256)
def _architecture_of(entry: ModelEntry, models_dir: str) -> ModelArchitecture:
    if entry.architecture is not None:
        return entry.architecture
    if entry.config is None:
        raise CatalogError("catalog model has neither config nor architecture", [Issue(f"model {entry.id!r}")])
    path = Path(entry.config)
    if not path.is_absolute():
        path = Path(models_dir) / path
    arch = architecture_from_config_file(path, name=entry.name)
    return arch.model_copy(update={"family": entry.family or arch.family})


@lru_cache(maxsize=8)
def _default_catalog() -> Catalog:
    return Catalog.load()


def default_catalog() -> Catalog:
    """The built-in catalogs, loaded once per process."""
    return _default_catalog()


def check_catalog_ids(scenario: ServingScenario | TrainingScenario, locator: Locator, source: str) -> None:
    """Unknown model and GPU ids, each at its line of the scenario, with the nearest catalog names."""

    paths = scenario.catalog
    catalog = Catalog.load(paths.gpus, paths.models) if (paths.gpus or paths.models) else default_catalog()
    issues = []

    def unknown(what: str, name: str, known: list[str], path: tuple[Any, ...], listing: str) -> None:
        line, column = locator.locate(path)
        issues.append(Issue(f"unknown {what} {name!r}: not in the catalog", source=source, line=line, column=column,
                            field_path=".".join(str(p) for p in path), suggestion=did_you_mean(name, known) or f"see '{listing}'"))

    models = [m.id for m in catalog.models]
    if scenario.model.id is not None and scenario.model.id not in models:
        unknown("model", scenario.model.id, models, ("model", "id"), "planner catalog models")
    gpus = [g.id for g in catalog.gpus]
    chosen = getattr(scenario, "gpus", None)
    for index, gpu in enumerate(chosen or []):
        if gpu not in gpus:
            unknown("GPU", gpu, gpus, ("gpus", index if isinstance(chosen, list) else gpu), "planner catalog gpus")
    for gpu in getattr(scenario, "inventory", {}) or {}:
        if gpu not in gpus:
            unknown("GPU", gpu, gpus, ("inventory", gpu), "planner catalog gpus")
    if issues:
        raise ScenarioError(f"unknown catalog id{'s' if len(issues) > 1 else ''} in the scenario", issues)
