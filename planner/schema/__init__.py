"""Scenario schema: what a user asks the planner, validated by pydantic v2.

``kind: serving`` (the default, ``planner.schema.serving``) or ``kind: training`` (``planner.schema.training``),
both built on ``planner.schema.base``. ``validate_scenario`` turns parsed YAML into one of them with located
errors and did-you-mean; ``resolve_paths`` makes its file references absolute. Reading a file and checking its
catalog ids is ``planner.api.load_scenario``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from ..errors import Issue, ScenarioError, did_you_mean
from ..yaml_io import Locator
from .base import CatalogPaths
from .serving import ServingScenario
from .translate import problems, validation_issues

if TYPE_CHECKING:
    from .training import TrainingScenario
from .workload import MAX_CONCURRENCY, MAX_TOKENS, Workload  # noqa: F401  (re-exported: the schema's names)

SCENARIO_KINDS = ("serving", "training")

AnyScenario = TypeVar("AnyScenario", bound="ServingScenario | TrainingScenario")


def scenario_type(kind: Any) -> type[BaseModel] | None:
    """The schema of a scenario ``kind`` (None for an unknown kind): the discriminator of ``Scenario``, applied
    without building the union, so that a serving command does not import the training schema (start-up time)."""
    if kind == "serving":
        return ServingScenario
    if kind == "training":
        from .training import TrainingScenario

        return TrainingScenario
    return None


def __getattr__(name: str) -> Any:
    """``Scenario`` (the union of scenario kinds, ``planner.schema.kinds``), imported when first asked for."""
    if name in ("Scenario", "SCENARIO"):
        from . import kinds

        return getattr(kinds, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate_scenario(data: Any, locator: Locator | None = None, source: str = "<scenario>") -> ServingScenario | TrainingScenario:
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
        issues = validation_issues(exc, data, source=source, locator=locator, root=model)
        raise ScenarioError(f"invalid scenario {problems(len(issues))}", issues) from None


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


def resolve_paths(scenario: AnyScenario, base: Path) -> AnyScenario:
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
    return cast("AnyScenario", scenario.model_copy(update=update)) if update else scenario
