"""Scenario schema: what a user asks the planner, validated by pydantic v2.

Glossary of parallel degrees used everywhere in the planner:

- ``tp``: tensor parallelism, each layer's matrices split over ``tp`` GPUs inside one NVLink domain.
- ``pp``: pipeline parallelism, the layers split into ``pp`` consecutive stages.
- ``ep``: expert parallelism, MoE experts spread over the GPUs of a replica's TP group.
- ``dp``: data parallelism, whole replicas; in serving these are the replica counts the solver chooses.
- ``zero_stage``: ZeRO sharding of optimizer states (1), gradients (2) and parameters (3) over ``dp``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from .architecture import ModelArchitecture
from .demand import DemandProfile
from .errors import Issue, ScenarioError, did_you_mean
from .formats import KV_CACHE_DTYPES, WEIGHT_FORMATS, canonical_kv_dtype, canonical_weight_format, is_weight_format
from .limits import MAX_DEGREE_OPTIONS, MAX_GPUS_PER_REPLICA, MAX_NAME_CHARS, MAX_PRICE_USD_PER_GPU_HOUR, MAX_TEXT_CHARS
from .performance.topology import TopologyOverride
from .pricing import PricingOptions, source_inventory
from .workload import MAX_CONCURRENCY, MAX_TOKENS, Workload  # noqa: F401  (re-exported: the schema's names)
from .yaml_io import Locator, load_yaml_file

if TYPE_CHECKING:
    from .training.schema import TrainingScenario



class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ModelRef(_Strict):
    """A model: a catalog id, a local Hugging Face config.json, or an inline architecture."""

    id: str | None = Field(None, description="Catalog model id (see 'planner catalog models')")
    config: str | None = Field(None, description="Path to a Hugging Face config.json (relative to the scenario)")
    architecture: ModelArchitecture | None = Field(None, description="Inline architecture")

    @model_validator(mode="after")
    def _exactly_one(self) -> "ModelRef":
        given = [name for name in ("id", "config", "architecture") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'id', 'config' or 'architecture'")
        return self


def _model_ref(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


class GpuOverride(_Strict):
    """Per-GPU changes to the catalog for this scenario: price, stock and the cluster's own topology."""

    price_usd_per_gpu_hour: float | None = Field(None, gt=0, le=MAX_PRICE_USD_PER_GPU_HOUR)
    inventory: int | None = Field(None, ge=0, le=1_000_000, description="Max GPUs of this type available")
    gpus_per_node: int | None = Field(None, ge=1, le=1024, description="GPUs per node in your cluster", strict=True)
    scale_up_bandwidth_gb_per_s: float | None = Field(
        None, gt=0, le=100_000, description="NVLink / Infinity Fabric bandwidth per GPU, one direction, GB/s")
    inter_node_bandwidth_gb_per_s: float | None = Field(
        None, gt=0, le=100_000, description="Network bandwidth per GPU between nodes, one direction, GB/s")
    instance_gpus: int | None = Field(None, ge=1, le=1024, strict=True,
                                      description="GPUs per rented instance at this price (with whole_instances)")

    def topology_override(self) -> TopologyOverride:
        return TopologyOverride(self.gpus_per_node, self.scale_up_bandwidth_gb_per_s, self.inter_node_bandwidth_gb_per_s)


class GpuChoices(_Strict):
    """GPU list, per-GPU overrides and inventory: shared by serving and training scenarios."""

    _override_class: ClassVar[type[BaseModel]] = GpuOverride

    @field_validator("inventory", check_fields=False)
    @classmethod
    def _inventory_counts(cls, values: dict[str, int]) -> dict[str, int]:
        for gpu, count in values.items():
            if count < 0 or count > 1_000_000:
                raise ValueError(f"inventory of {gpu!r} must be between 0 and 1,000,000")
        return values

    @property
    def gpu_ids(self) -> list[str] | None:
        gpus = getattr(self, "gpus", None)
        if gpus is None:
            return None
        return list(gpus) if isinstance(gpus, list) else list(gpus.keys())

    def gpu_override(self, gpu_id: str) -> Any:
        gpus = getattr(self, "gpus", None)
        if isinstance(gpus, dict) and gpus.get(gpu_id) is not None:
            return gpus[gpu_id]
        return self._override_class()

    def inventory_of(self, gpu_id: str) -> int | None:
        override = self.gpu_override(gpu_id).inventory
        return override if override is not None else getattr(self, "inventory", {}).get(gpu_id)

    def topology_override(self, gpu_id: str) -> TopologyOverride:
        """The scenario's own node size and bandwidths for ``gpu_id`` (``planner.performance.topology``)."""
        return self.gpu_override(gpu_id.partition("@")[0]).topology_override()


class Budget(_Strict):
    max_usd_per_hour: float | None = Field(None, gt=0, le=100_000_000, description="Fleet cost ceiling, USD per hour")


class EngineOptions(_Strict):
    """The serving engine and its memory knobs, in the engine's own names; an unset knob takes the engine's
    default for each GPU and layout (``planner.engines``, docs/engines.md)."""

    name: str = Field("vllm", description="vllm | sglang | trtllm | llamacpp (also vllm-v0, vllm-v1, tensorrt-llm, llama.cpp)")
    version: str | None = Field(None, description="Release whose defaults apply, e.g. 0.6.3 (vLLM), 0.4.6 (SGLang), b4500")
    entrypoint: Literal["server", "offline"] = Field("server", description="vLLM: OpenAI server or LLM class defaults")
    gpu_memory_utilization: float | None = Field(None, gt=0.05, le=1.0, description="vLLM: fraction of GPU memory [0.9]")
    max_num_batched_tokens: int | None = Field(None, ge=16, le=1_048_576, description="vLLM: tokens per forward pass")
    max_num_seqs: int | None = Field(None, ge=1, le=65_536, description="vLLM: sequences per batch")
    block_size: int | None = Field(None, ge=1, le=1024, description="Paged-KV block size in tokens")
    mem_fraction_static: float | None = Field(None, gt=0.05, lt=1.0, description="SGLang: weights + KV pool fraction")
    chunked_prefill_size: int | None = Field(None, ge=16, le=1_048_576, description="SGLang")
    cuda_graph_max_bs: int | None = Field(None, ge=1, le=65_536, description="SGLang")
    free_gpu_memory_fraction: float | None = Field(None, gt=0.0, le=1.0, description="TensorRT-LLM: KV share of free memory [0.9]")
    max_num_tokens: int | None = Field(None, ge=16, le=1_048_576, description="TensorRT-LLM [8192]")
    max_batch_size: int | None = Field(None, ge=1, le=65_536, description="TensorRT-LLM [2048]")
    n_gpu_layers: int | None = Field(None, ge=0, le=100_000, description="llama.cpp -ngl: blocks on the GPU [all]")
    n_ubatch: int | None = Field(None, ge=1, le=1_048_576, description="llama.cpp physical batch [512]")
    cuda_graphs_in_budget: bool = Field(False, description="vLLM: charge CUDA graphs to the KV budget")
    memory_mode: Literal["engine", "formula"] = Field(
        "engine", description="'engine': the engine's budget; 'formula': weights x 1.2 + KV + 1 GiB rule of thumb"
    )

    @model_validator(mode="after")
    def _known_engine(self) -> "EngineOptions":
        from .engines import check_choice

        check_choice(self.choice())
        return self

    def choice(self):  # type: ignore[no-untyped-def]
        """The ``planner.engines.EngineChoice`` these options ask for."""
        from .engines import EngineChoice

        return EngineChoice(**self.model_dump())


class ParallelismOptions(_Strict):
    tp: list[int] = Field(default_factory=lambda: [1, 2, 4, 8], max_length=MAX_DEGREE_OPTIONS, description="Tensor-parallel degrees to consider")
    pp: list[int] = Field(default_factory=lambda: [1, 2, 4], max_length=MAX_DEGREE_OPTIONS, description="Pipeline-parallel degrees to consider")
    expert_parallel: list[bool] = Field(default_factory=lambda: [False, True], max_length=2, description="Try EP=TP for MoE experts")
    max_gpus_per_replica: int = Field(64, ge=1, le=MAX_GPUS_PER_REPLICA)

    @field_validator("tp", "pp")
    @classmethod
    def _positive_degrees(cls, values: list[int]) -> list[int]:
        if not values:
            raise ValueError("list at least one degree")
        for value in values:
            if value < 1 or value > 1024:
                raise ValueError(f"degree {value} is out of range 1..1024")
        return sorted(set(values))


class SolverOptions(_Strict):
    time_limit_s: float = Field(10.0, gt=0, le=3600)
    workers: int = Field(1, ge=1, le=64, description="CP-SAT workers (1 is deterministic and fastest here)")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    mixed_fleet: bool = Field(True, description="Allow several replica shapes / GPU types in one plan")


class CatalogPaths(_Strict):
    gpus: str | None = Field(None, description="Path of a GPU catalog YAML (relative to the scenario)")
    models: str | None = Field(None, description="Path of a model catalog YAML (relative to the scenario)")
    offers: str | None = Field(None, description="Path of a rental-offers YAML (relative to the scenario; see catalogs/offers.yaml)")


class ServingScenario(GpuChoices):
    """A serving scenario: serve ``workload`` with the cheapest fleet of replicas."""

    name: str | None = Field(None, max_length=MAX_NAME_CHARS)
    description: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    kind: Literal["serving"] = "serving"
    model: Annotated[ModelRef, Field(description="Catalog id, {config: path} or {architecture: {...}}")]
    precisions: list[str] | None = Field(None, description="Weight formats to consider (default: the checkpoint's)")
    kv_cache_dtypes: list[str] = Field(default_factory=lambda: ["fp16"], description="KV-cache dtypes to consider")
    workload: Workload
    gpus: list[str] | dict[str, GpuOverride | None] | None = Field(
        None, description="Allowed GPU ids (default: all), as a list or a mapping id -> overrides"
    )
    inventory: dict[str, StrictInt] = Field(default_factory=dict, description="Max GPUs available per GPU id")
    budget: Budget = Field(default_factory=Budget)
    min_headroom: float = Field(0.0, ge=0.0, lt=1.0, description="Fraction of each GPU's memory left free")
    whole_instances: bool = Field(False, description="Rent whole instances of each GPU's catalog instance_gpus "
                                                     "(idle GPUs in them are paid for); off: any number of GPUs")
    engine: EngineOptions = Field(default_factory=EngineOptions)
    parallelism: ParallelismOptions = Field(default_factory=ParallelismOptions)
    solver: SolverOptions = Field(default_factory=SolverOptions)
    catalog: CatalogPaths = Field(default_factory=CatalogPaths)
    pricing: PricingOptions | None = Field(None, description="Rent (on demand, reserved, spot), buy or own; hourly or TCO objective")
    demand: DemandProfile | None = Field(None, description="Load per period over a horizon or a typical day/week: a procurement plan")

    _model_ref = field_validator("model", mode="before")(classmethod(lambda cls, v: _model_ref(v)))

    @field_validator("precisions")
    @classmethod
    def _known_formats(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        if not values:
            raise ValueError("list at least one weight format")
        out = []
        for value in values:
            name = canonical_weight_format(str(value))
            if not is_weight_format(name):
                hint = did_you_mean(name, WEIGHT_FORMATS) or f"known: {', '.join(WEIGHT_FORMATS)}"
                raise ValueError(f"unknown weight format {value!r}; {hint}")
            out.append(name)
        return list(dict.fromkeys(out))

    @field_validator("kv_cache_dtypes")
    @classmethod
    def _known_kv(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("list at least one KV-cache dtype")
        out = []
        for value in values:
            name = canonical_kv_dtype(str(value))
            if name not in KV_CACHE_DTYPES:
                hint = did_you_mean(name, KV_CACHE_DTYPES) or f"known: {', '.join(KV_CACHE_DTYPES)}"
                raise ValueError(f"unknown KV-cache dtype {value!r}; {hint}")
            out.append(name)
        return list(dict.fromkeys(out))

    def inventory_of(self, gpu_id: str) -> int | None:
        if "@" in gpu_id and self.pricing is not None:  # a pricing source such as 'a100-80gb@owned'
            return source_inventory(self.pricing, gpu_id, self.inventory_of(gpu_id.partition("@")[0]))
        return super().inventory_of(gpu_id)


Scenario = ServingScenario
SCENARIO_KINDS = ("serving", "training")


def scenario_type(kind: Any) -> type[BaseModel] | None:
    """The schema of a scenario ``kind``; the training schema (and the training memory model under it) is imported
    only when a training scenario is read, so a serving command does not pay for it at start-up."""
    if kind == "serving":
        return ServingScenario
    if kind == "training":
        from .training.schema import TrainingScenario

        return TrainingScenario
    return None


def _message(item: dict[str, Any], data: Any) -> tuple[str, str | None]:
    kind = item["type"]
    loc = item["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        known = _known_keys_at(loc[:-1], data)
        return f"unknown key {key!r}", did_you_mean(key, known) if known else None
    if kind == "missing":
        return "this field is required", None
    message = item["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if "input" in item and kind not in ("model_type", "dict_type") and not isinstance(item["input"], (dict, list)):
        got = repr(item["input"])
        message += f" (got {got if len(got) <= 80 else got[:60] + f'... ({len(got):,} characters)'})"
    fraction = loc and loc[-1] in FRACTION_FIELDS and isinstance(item.get("input"), (int, float)) and item["input"] > 1
    return message, "a fraction of 1: 0.1 means 10%" if fraction else None


FRACTION_FIELDS = ("min_headroom", "gpu_memory_utilization", "utilisation")


def _merge_alternatives(issues: list[Issue]) -> list[Issue]:
    """A field that may be a list or a mapping fails once per alternative; say it once ('a valid list or dictionary')."""
    prefix = "Input should be a valid "
    merged: list[Issue] = []
    index: dict[str | None, int] = {}
    for issue in issues:
        prior = index.get(issue.field_path)
        if prior is not None and issue.message.startswith(prefix) and merged[prior].message.startswith(prefix):
            first, second = (m[len(prefix):].partition(" (got") for m in (merged[prior].message, issue.message))
            got = f" (got{first[2] or second[2]}" if first[1] or second[1] else ""
            merged[prior] = Issue(f"{prefix}{first[0]} or {second[0]}{got}", merged[prior].source, merged[prior].field_path,
                                  merged[prior].line, merged[prior].column, merged[prior].suggestion)
            continue
        index[issue.field_path] = len(merged)
        merged.append(issue)
    return merged


def _model_at(path: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    kind = data.get("kind", "serving") if isinstance(data, dict) else "serving"
    model: Any = scenario_type(kind) or ServingScenario
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = _first_model(field.annotation)
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _known_keys_at(path: tuple[Any, ...], data: Any) -> list[str]:
    model = _model_at(tuple(p for p in path if not isinstance(p, int)), data)
    return list(model.model_fields) if model is not None else []


def validate_scenario(data: Any, locator: Locator | None = None, source: str = "<scenario>") -> ServingScenario:
    """Validate a parsed scenario; every problem becomes one ``Issue`` with its location."""
    if data is None:
        raise ScenarioError("invalid scenario", [Issue("the file is empty", source=source,
                                                       suggestion="see scenarios/ for examples, or 'planner schema'")])
    if not isinstance(data, dict):
        raise ScenarioError("invalid scenario", [Issue("the scenario must be a YAML mapping of keys to values", source=source)])
    kind = data.get("kind", "serving")
    model = scenario_type(kind) if isinstance(kind, str) else None
    if model is None:
        raise ScenarioError(
            "invalid scenario",
            [Issue(f"unknown kind {kind!r}; expected one of {', '.join(SCENARIO_KINDS)}", source=source,
                   field_path="kind", suggestion=did_you_mean(str(kind), SCENARIO_KINDS))],
        )
    if "kind" not in data:
        _refuse_training_without_kind(data, locator, source)
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        issues = []
        for item in exc.errors():
            loc = tuple(part for part in item["loc"] if not (isinstance(part, str) and part in ("str", "function-after[_exactly_one(), ModelRef]")) and not str(part).startswith(("list[", "dict[", "function-")))
            message, suggestion = _message({**item, "loc": loc}, data)
            line, column = locator.locate(loc) if locator else (None, None)
            issues.append(Issue(message, source=source, field_path=".".join(str(p) for p in loc) or None,
                                line=line, column=column, suggestion=suggestion))
        issues = _merge_alternatives(issues)
        raise ScenarioError(f"invalid scenario ({len(issues)} problem{'s' if len(issues) != 1 else ''})", issues) from None


def _refuse_training_without_kind(data: dict[str, Any], locator: Locator | None, source: str) -> None:
    """A file with training keys (``data``, ``deadline_hours``, ...) and no ``workload`` is a training scenario
    missing ``kind: training``: say that, rather than list its keys as unknown serving keys."""
    unknown = [key for key in data if key not in ServingScenario.model_fields]
    training_only = [key for key in unknown if key in scenario_type("training").model_fields] if unknown else []  # type: ignore[union-attr]
    if not training_only or "workload" in data:
        return
    line, column = locator.locate((training_only[0],)) if locator else (None, None)
    raise ScenarioError("invalid scenario", [Issue(
        f"this looks like a training scenario ({', '.join(repr(k) for k in training_only[:4])} are training keys) but it has "
        "no 'kind: training'", source=source, line=line, column=column, field_path="kind",
        suggestion="add 'kind: training' at the top, or give a serving 'workload' instead")])


def load_scenario(path: str | Path) -> "ServingScenario | TrainingScenario":
    """Read and validate a scenario YAML file; relative paths inside it resolve against its folder, and catalog ids
    (model, GPUs, inventory) are checked here, so an unknown one is reported at its line of this file."""
    data, locator = load_yaml_file(path)
    scenario = resolve_paths(validate_scenario(data, locator, str(path)), Path(path).parent)
    check_catalog_ids(scenario, locator, str(path))
    return scenario


def check_catalog_ids(scenario: "ServingScenario | TrainingScenario", locator: Locator, source: str) -> None:
    """Unknown model and GPU ids, each at its line of the scenario, with the nearest catalog names."""
    from .catalog import Catalog, default_catalog

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


def resolve_paths(scenario: ServingScenario, base: Path) -> ServingScenario:
    """Make the scenario's file references absolute, relative to ``base``."""
    def absolute(value: str | None) -> str | None:
        if value is None or Path(value).is_absolute():
            return value
        return os.path.normpath(os.path.join(os.path.abspath(base), value))  # no resolve(): a symlink loop is the reader's to report

    update: dict[str, Any] = {}
    if scenario.model.config is not None:
        update["model"] = scenario.model.model_copy(update={"config": absolute(scenario.model.config)})
    demand = getattr(scenario, "demand", None)  # serving scenarios only
    if demand is not None and demand.csv is not None:
        update["demand"] = demand.model_copy(update={"csv": demand.csv.model_copy(update={"path": absolute(demand.csv.path)})})
    if scenario.catalog.gpus or scenario.catalog.models or scenario.catalog.offers:
        update["catalog"] = CatalogPaths(gpus=absolute(scenario.catalog.gpus), models=absolute(scenario.catalog.models),
                                         offers=absolute(scenario.catalog.offers))
    return scenario.model_copy(update=update) if update else scenario

