"""The one translator from pydantic's ``ValidationError`` to the planner's located issues.

Every file the planner validates with pydantic (scenarios, GPU and model catalogs, offers, architecture files,
config.json-derived architectures, sweep files) reports its problems through :func:`validation_issues`: one
``Issue`` per problem with the file, line and column (from the YAML locator), the field path, what was expected
and what was given, and a did-you-mean for unknown keys and for values outside a closed set of choices.
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import Issue, did_you_mean
from ..yaml_io import Locator

FRACTION_FIELDS = ("min_headroom", "gpu_memory_utilization", "utilisation")
"""Fields that take a fraction of 1; a value above 1 gets the hint that 0.1 means 10%."""

_ALTERNATIVE_PREFIX = "Input should be a valid "
_MAX_SHOWN_CHARS = 80


def validation_issues(error: ValidationError, data: Any, *, source: str, locator: Locator | None = None,
                      root: type[BaseModel] | None = None) -> list[Issue]:
    """One located ``Issue`` per problem pydantic found in ``data`` (validated against ``root``; the model at a path
    of an unknown key, for its did-you-mean, is found by following the path through ``root``'s field annotations)."""
    issues = []
    for item in error.errors():
        loc = _clean_loc(item["loc"])
        message, suggestion = _message(item, loc, root)
        line, column = locator.locate(loc) if locator is not None else (None, None)
        issues.append(Issue(message, source=source, field_path=_field_path(loc, data), line=line, column=column,
                            suggestion=suggestion))
    return _merge_alternatives(issues)


def problems(count: int) -> str:
    """'(1 problem)', '(3 problems)': the count in an error's title."""
    return f"({count} problem{'s' if count != 1 else ''})"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The input path of an error: pydantic also names the union member or validator that failed
    (``str``, ``list[str]``, ``function-after[...]``, a discriminator's tag); those are not keys of the file."""
    return tuple(part for part in loc if not (isinstance(part, str) and (
        part == "str" or part.startswith(("list[", "dict[", "function-")))))


def _field_path(loc: tuple[Any, ...], data: Any) -> str | None:
    """``workload.concurrency``; list items by their ``id`` where they have one (``gpus[h100-sxm].price``), else by
    position (``parallelism.tp.0``)."""
    text = ""
    node = data
    for part in loc:
        item = node[part] if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node) else None
        if isinstance(part, int) and isinstance(item, dict) and isinstance(item.get("id"), (str, int)) and text:
            text += f"[{item['id']}]"
        else:
            text += f"{'.' if text else ''}{part}"
        node = item if isinstance(part, int) else (node.get(part) if isinstance(node, dict) else None)
    return text or None


def _message(item: Any, loc: tuple[Any, ...], root: type[BaseModel] | None) -> tuple[str, str | None]:
    kind = item["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(root, tuple(p for p in loc[:-1] if not isinstance(p, int)))
        return f"unknown key {key!r}", did_you_mean(key, list(model.model_fields)) if model is not None else None
    if kind == "missing":
        return "this field is required", None
    message = str(item["msg"]).removeprefix("Value error, ")
    given = item.get("input")
    if "input" in item and kind not in ("model_type", "dict_type") and not isinstance(given, (dict, list)) and repr(given) not in message:
        shown = repr(given)
        message += f" (got {shown if len(shown) <= _MAX_SHOWN_CHARS else shown[:60] + f'... ({len(shown):,} characters)'})"
    if kind == "literal_error" and isinstance(given, str):
        expected = [str(v) for v in _literal_values(item)]
        return message, did_you_mean(given.strip().lower(), expected) if expected else None
    fraction = bool(loc) and loc[-1] in FRACTION_FIELDS and isinstance(given, (int, float)) and given > 1
    return message, "a fraction of 1: 0.1 means 10%" if fraction else None


def _literal_values(item: Any) -> list[str]:
    """The choices of a ``literal_error`` (pydantic gives them as text: "'a', 'b' or 'c'")."""
    expected = str((item.get("ctx") or {}).get("expected", ""))
    return [part.strip().strip("'") for part in expected.replace(" or ", ", ").split(",") if part.strip()]


def _merge_alternatives(issues: list[Issue]) -> list[Issue]:
    """A field that may be a list or a mapping fails once per alternative; say it once ('a valid list or dictionary')."""
    merged: list[Issue] = []
    index: dict[str | None, int] = {}
    for issue in issues:
        prior = index.get(issue.field_path)
        if prior is not None and issue.message.startswith(_ALTERNATIVE_PREFIX) and merged[prior].message.startswith(_ALTERNATIVE_PREFIX):
            first, second = (m[len(_ALTERNATIVE_PREFIX):].partition(" (got") for m in (merged[prior].message, issue.message))
            got = f" (got{first[2] or second[2]}" if first[1] or second[1] else ""
            merged[prior] = Issue(f"{_ALTERNATIVE_PREFIX}{first[0]} or {second[0]}{got}", merged[prior].source,
                                  merged[prior].field_path, merged[prior].line, merged[prior].column, merged[prior].suggestion)
            continue
        index[issue.field_path] = len(merged)
        merged.append(issue)
    return merged


def _model_at(root: type[BaseModel] | None, path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path`` (keys only), following ``root``'s field annotations."""
    model: type[BaseModel] | None = root
    for part in path:
        if model is None:
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = first_model(field.annotation)
    return model


def first_model(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model inside a field's annotation (``list[X]``, ``dict[str, X | None]``, ``X | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is Literal:
        return None
    for arg in get_args(annotation):
        found = first_model(arg)
        if found is not None:
            return found
    return None
