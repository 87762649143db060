"""The strict base of every scenario model and the parts serving and training scenarios share: the model
reference, GPU choices with per-GPU overrides and inventory, the budget, solver options and catalog paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..limits import MAX_PRICE_USD_PER_GPU_HOUR
from ..model.architecture import ModelArchitecture


@dataclass(frozen=True)
class TopologyOverride:
    """A scenario's own cluster figures for one GPU (``planner.performance.topology.node_topology``); ``None`` keeps
    the catalog's."""

    gpus_per_node: int | None = None
    scale_up_bandwidth_gb_per_s: Number | None = None
    inter_node_bandwidth_gb_per_s: Number | None = None


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


Number = Annotated[float, BeforeValidator(_not_a_boolean)]
"""A float that refuses booleans: YAML's ``true`` is not 1.0 (counts are ``StrictInt``)."""


def parallel_degrees(values: list[int], most: int) -> list[int]:
    """A list of parallel degrees (tp, pp, ep, ...) as a sorted set, each in ``1..most``; at least one."""
    if not values:
        raise ValueError("list at least one degree")
    for value in values:
        if value < 1 or value > most:
            raise ValueError(f"degree {value} is out of range 1..{most}")
    return sorted(set(values))


class StrictModel(BaseModel):
    """The base of every model the planner reads or writes: unknown keys are errors (so a typo is never silently
    ignored), no inf or nan, and frozen (a validated input is not changed behind the planner's back)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ModelRef(StrictModel):
    """A model: a catalog id, a local Hugging Face config.json, or an inline architecture."""

    id: str | None = Field(None, description="Catalog model id (see 'planner catalog models')")
    config: str | None = Field(None, description="Path to a Hugging Face config.json (relative to the scenario)")
    architecture: ModelArchitecture | None = Field(None, description="Inline architecture")

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelRef:
        given = [name for name in ("id", "config", "architecture") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'id', 'config' or 'architecture'")
        return self


def _model_ref(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


class GpuOverride(StrictModel):
    """Per-GPU changes to the catalog for this scenario: price, stock and the cluster's own topology."""

    price_usd_per_gpu_hour: Number | None = Field(None, gt=0, le=MAX_PRICE_USD_PER_GPU_HOUR)
    inventory: StrictInt | None = Field(None, ge=0, le=1_000_000, description="Max GPUs of this type available")
    gpus_per_node: StrictInt | None = Field(None, ge=1, le=1024, description="GPUs per node in your cluster")
    scale_up_bandwidth_gb_per_s: Number | None = Field(
        None, gt=0, le=100_000, description="NVLink / Infinity Fabric bandwidth per GPU, one direction, GB/s")
    inter_node_bandwidth_gb_per_s: Number | None = Field(
        None, gt=0, le=100_000, description="Network bandwidth per GPU between nodes, one direction, GB/s")
    instance_gpus: StrictInt | None = Field(None, ge=1, le=1024,
                                      description="GPUs per rented instance at this price (with whole_instances)")

    def topology_override(self) -> TopologyOverride:
        return TopologyOverride(self.gpus_per_node, self.scale_up_bandwidth_gb_per_s, self.inter_node_bandwidth_gb_per_s)


class GpuChoices(StrictModel):
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
        override: GpuOverride = self.gpu_override(gpu_id.partition("@")[0])
        return override.topology_override()


class Budget(StrictModel):
    max_usd_per_hour: Number | None = Field(None, gt=0, le=100_000_000, description="Fleet cost ceiling, USD per hour")


class SolverOptions(StrictModel):
    time_limit_s: Number = Field(10.0, gt=0, le=3600)
    workers: StrictInt = Field(1, ge=1, le=64, description="CP-SAT workers (1 is deterministic and fastest here)")
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1)
    mixed_fleet: bool = Field(True, description="Allow several replica shapes / GPU types in one plan")


class CatalogPaths(StrictModel):
    gpus: str | None = Field(None, description="Path of a GPU catalog YAML (relative to the scenario)")
    models: str | None = Field(None, description="Path of a model catalog YAML (relative to the scenario)")
    offers: str | None = Field(None, description="Path of a rental-offers YAML (relative to the scenario; see catalogs/offers.yaml)")
