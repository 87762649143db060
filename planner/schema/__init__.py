"""Scenario schema: what a user asks the planner, validated by pydantic v2.

``kind: serving`` (the default, ``planner.schema.serving``) or ``kind: training`` (``planner.schema.training``),
both built on ``planner.schema.base``. ``validate_scenario`` turns parsed YAML into one of them with located
errors and did-you-mean; ``resolve_paths`` makes its file references absolute. Reading a file and checking its
catalog ids is ``planner.api.load_scenario``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Issue, ScenarioError, did_you_mean
from ..yaml_io import Locator
from .base import CatalogPaths
from .serving import ServingScenario
from .workload import MAX_CONCURRENCY, MAX_TOKENS, Workload  # noqa: F401  (re-exported: the schema's names)


SCENARIO_KINDS = ("serving", "training")


def scenario_type(kind: Any) -> type[BaseModel] | None:
    """The schema of a scenario ``kind``; the training schema (and the training memory model under it) is imported
    only when a training scenario is read, so a serving command does not pay for it at start-up."""
    if kind == "serving":
        return ServingScenario
    if kind == "training":
        from .training import TrainingScenario

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
