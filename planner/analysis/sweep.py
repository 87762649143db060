"""Sweep files: named variations and ranges of a scenario, expanded into a list of variations to re-solve.

A sweep file (YAML)::

    name: h100-price-drop
    set: {min_headroom: 0.1}                  # applied to the baseline and to every variation
    variations:                               # named variations, each a set of overrides
      - name: fp8 only
        set: {precisions: [fp8]}
    sweep:                                    # ranges, one variation per value
      - path: gpus.h100-sxm.price
        range: -50%..+20% step 10%            # relative to the baseline value
      - path: workload.concurrency
        range: 1x..16x x2                     # factors of the baseline value, geometric
    combine: separate                         # or grid: the cartesian product of the ranges

Range grammar: ``START..END [STEP]``. START and END are both plain numbers (absolute values), both percent
changes (``-30%``: the baseline value x 0.7) or both factors (``2x``). STEP is ``step N`` (added, in the
same unit) or ``xN`` (multiplied). Every value is validated like the scenario before anything is solved.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from ..errors import InputError, Issue, ScenarioError
from ..limits import MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_VARIATIONS, check_count
from ..schema.base import StrictModel
from ..schema.choices import SweepCombination
from ..yaml_io import load_yaml_file

MAX_VALUES_PER_RANGE = MAX_VARIATIONS

_NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"
_RANGE = re.compile(rf"^\s*(?P<start>{_NUMBER})\s*(?P<su>%|x|×)?\s*\.\.\s*(?P<end>{_NUMBER})\s*(?P<eu>%|x|×)?\s*"
                    rf"(?:(?:(?P<mul>x|×|\*)\s*(?P<factor>{_NUMBER}))|(?:step\s+(?P<step>{_NUMBER})\s*(?P<stu>%|x|×)?))?\s*$")


class NamedVariation(StrictModel):
    name: str = Field(..., min_length=1, max_length=MAX_NAME_CHARS)
    set: dict[str, Any] = Field(..., description="Overrides: dotted path -> value, as with --set")


class RangeSweep(StrictModel):
    path: str = Field(..., min_length=1, max_length=MAX_NAME_CHARS, description="Dotted path of the value to vary, as with --set")
    range: str | None = Field(None, max_length=MAX_NAME_CHARS, description="START..END [step N | xN]; numbers, percent changes or factors")
    values: list[Any] | None = Field(None, description="Explicit values instead of a range")
    name: str | None = Field(None, max_length=MAX_NAME_CHARS, description="Label in the results (default: from the path)")

    @model_validator(mode="after")
    def _one_form(self) -> RangeSweep:
        if (self.range is None) == (self.values is None):
            raise ValueError("give exactly one of 'range' or 'values'")
        if self.values is not None and not self.values:
            raise ValueError("list at least one value")
        return self


class SweepFile(StrictModel):
    name: str | None = Field(None, max_length=MAX_NAME_CHARS)
    description: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    set: dict[str, Any] = Field(default_factory=dict, description="Overrides applied to the baseline and every variation")
    variations: list[NamedVariation] = Field(default_factory=list)
    sweep: list[RangeSweep] = Field(default_factory=list)
    combine: SweepCombination = Field("separate", description="One range at a time, or their cartesian product")

    @model_validator(mode="after")
    def _something(self) -> SweepFile:
        if not self.variations and not self.sweep:
            raise ValueError("list at least one of 'variations' or 'sweep'")
        return self


@dataclass(frozen=True)
class Axis:
    """Where one variation sits on a swept range, for tables and plots."""

    name: str
    value: float
    label: str
    unit: str = ""  # of the swept value, for plot axes ("USD per GPU-hour", "sequences", ...)


@dataclass(frozen=True)
class Variation:
    name: str
    overrides: tuple[tuple[str, Any], ...]
    axes: tuple[Axis, ...] = ()


def load_sweep(path: str | Path) -> SweepFile:
    """Read and validate a sweep file (errors with file, line and did-you-mean like scenarios)."""
    data, locator = load_yaml_file(path, kind="sweep")
    if not isinstance(data, dict):
        raise ScenarioError("invalid sweep file", [Issue("a sweep file is a YAML mapping", source=str(path))])
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        from ..schema.translate import problems, validation_issues

        issues = validation_issues(exc, data, source=str(path), locator=locator, root=SweepFile)
        raise ScenarioError(f"invalid sweep file {problems(len(issues))}", issues) from None


def expand(sweep: SweepFile, base_value: Callable[[str], Any]) -> list[Variation]:
    """The variations of a sweep file, named variations first; ``base_value(path)`` gives baseline values."""
    out = [Variation(v.name, tuple(v.set.items())) for v in sweep.variations]
    axes = []
    for spec in sweep.sweep:
        label = spec.name or axis_name(spec.path)
        if spec.values is not None:
            points = [(str(v), v) for v in spec.values]
        else:
            points = expand_range(spec.range or "", base_value(spec.path) if _is_relative(spec.range or "") else None, spec.path)
        axes.append([(spec.path, label, text, value) for text, value in points])
    grid = sweep.combine == "grid" and bool(axes)
    total = len(out) + (math.prod(len(a) for a in axes) if grid else sum(len(a) for a in axes))
    check_count(total, MAX_VARIATIONS, "variations in the sweep", "sweep",
                "sweep fewer values, or split the sweep into several files")
    combos = list(itertools.product(*axes)) if grid else [(point,) for axis in axes for point in axis]
    for combo in combos:
        name = ", ".join(f"{label} {text}" for _, label, text, _ in combo)
        overrides = tuple((path, value) for path, _, _, value in combo)
        numeric = tuple(Axis(label, float(value), text, axis_unit(path)) for path, label, text, value in combo if _is_number(value))
        out.append(Variation(name, overrides, numeric))
    return out


def axis_name(path: str) -> str:
    """A short label for a path: 'h100-sxm price' for gpus.h100-sxm.price, 'concurrency' for workload.concurrency."""
    parts = path.split(".")
    if len(parts) == 3 and parts[0] == "gpus":
        return f"{parts[1]} {parts[2].removesuffix('_usd_per_gpu_hour')}"
    return parts[-1]


UNITS = {"price_usd_per_gpu_hour": "USD per GPU-hour", "spot_usd_per_gpu_hour": "USD per GPU-hour",
         "reserved_usd_per_gpu_hour": "USD per GPU-hour", "purchase_usd": "USD", "max_usd_per_hour": "USD per hour",
         "concurrency": "concurrent sequences", "context_tokens": "tokens", "prompt_tokens": "tokens",
         "output_tokens": "tokens", "min_headroom": "fraction of GPU memory", "inventory": "GPUs",
         "gpu_memory_utilization": "fraction of GPU memory", "utilisation": "fraction of hours", "horizon_years": "years",
         "amortisation_years": "years", "usd_per_kwh": "USD per kWh", "lead_time_weeks": "weeks", "tdp_watts": "W",
         "request_rate": "requests per second", "time_limit_s": "s"}


def axis_unit(path: str) -> str:
    """The unit of a swept path's value ('' when it has none we know): the plot's x-axis says it."""

    leaf = expand_shortcut(path).split(".")[-1]
    if path.split(".")[0] in ("inventory", "owned") or leaf == "inventory":
        return "GPUs"
    return UNITS.get(leaf, "")


def _is_relative(text: str) -> bool:
    match = _RANGE.match(text)
    return bool(match and (match.group("su") or match.group("eu")))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def expand_range(text: str, base: Any, path: str = "range") -> list[tuple[str, Any]]:
    """(label, value) pairs of one range, e.g. '64..1024 x2' -> 64, 128, ..., 1024 (inclusive, rounded to the
    baseline's type: an integer field stays integral, duplicates after rounding dropped)."""
    match = _RANGE.match(text)
    if match is None:
        raise InputError("invalid range", [Issue(f"cannot read range {text!r}", field_path=path,
                                                 suggestion="write START..END step N or START..END xN, e.g. 64..1024 x2, "
                                                            "-30%..+30% step 10%, 1x..16x x2")])
    start, end = float(match.group("start")), float(match.group("end"))
    unit = _unit(match.group("su")), _unit(match.group("eu"))
    if unit[0] != unit[1]:
        raise InputError("invalid range", [Issue(f"start and end of {text!r} use different units", field_path=path)])
    kind = unit[0]
    factor = float(match.group("factor")) if match.group("factor") else None
    step = float(match.group("step")) if match.group("step") else None
    if factor is None and step is None:
        step = 1.0
    if match.group("stu") and _unit(match.group("stu")) != kind:
        raise InputError("invalid range", [Issue(f"the step of {text!r} is not in the unit of its ends", field_path=path)])
    numbers = _progression(start, end, step, factor, text, path)
    if kind != "absolute" and not _is_number(base):
        raise InputError("no baseline value", [Issue(f"{path} has no numeric baseline value for a relative range",
                                                     field_path=path, suggestion="give absolute values instead")])
    integral = isinstance(base, int) if kind != "absolute" else all(float(n).is_integer() for n in (start, end, step or factor or 1))
    out: list[tuple[str, Any]] = []
    seen: set[Any] = set()
    for n in numbers:
        value = base * (1 + n / 100) if kind == "percent" else base * n if kind == "factor" else n
        value = round(value) if integral else round(value, 10)
        if value in seen:
            continue
        seen.add(value)
        label = f"{n:+g}%" if kind == "percent" else f"{n:g}x" if kind == "factor" else f"{value:g}"
        out.append((label, value))
    return out


def _unit(token: str | None) -> str:
    return {"%": "percent", "x": "factor", "×": "factor"}.get(token or "", "absolute")


def _progression(start: float, end: float, step: float | None, factor: float | None, text: str, path: str) -> list[float]:
    """The numbers of a range; their count is computed, and checked against the limit, before any is made."""
    if not all(math.isfinite(x) for x in (start, end, step or 0.0, factor or 0.0)) or max(abs(start), abs(end)) > 1e15:
        raise InputError("invalid range", [Issue(f"{text[:80]!r}: the numbers must be finite and at most 1e15 in size", field_path=path)])
    if factor is not None:
        if factor <= 0 or factor == 1 or start == 0 or (start > 0) != (end > 0):
            raise InputError("invalid range", [Issue(f"{text!r}: a geometric range needs a factor other than 1 and ends of one sign",
                                                     field_path=path)])
        if (end - start) * (factor - 1) * (1 if start > 0 else -1) < 0:
            raise InputError("invalid range", [Issue(f"{text!r}: the factor moves away from the end", field_path=path)])
        count = math.floor(math.log(end / start) / math.log(factor) + 1e-9) + 1
        _check_range_length(count, text, path)
        values = [start * factor**i for i in range(count)]
    else:
        assert step is not None
        if step == 0 or (end - start) * step < 0:
            raise InputError("invalid range", [Issue(f"{text!r}: the step must be non-zero and move towards the end", field_path=path)])
        steps = (end - start) / step
        if not math.isfinite(steps) or steps > MAX_VALUES_PER_RANGE:
            _check_range_length(MAX_VALUES_PER_RANGE + 1 if not math.isfinite(steps) else int(steps) + 1, text, path)
        count = math.floor(steps + 1e-9) + 1
        _check_range_length(count, text, path)
        values = [start + step * i for i in range(count)]
    return [round(v, 10) for v in values]


def _check_range_length(count: int, text: str, path: str) -> None:
    if count > MAX_VALUES_PER_RANGE:
        raise InputError("range too long", [Issue(f"{text[:80]!r} gives {count:,} values (limit {MAX_VALUES_PER_RANGE:,})",
                                                  field_path=path, suggestion="use a larger step")])


GPU_SHORTCUTS = {
    "price": ("gpus", "price_usd_per_gpu_hour"),
    "spot_price": ("pricing.gpus", "spot_usd_per_gpu_hour"),
    "reserved_price": ("pricing.gpus", "reserved_usd_per_gpu_hour"),
    "purchase_price": ("pricing.gpus", "purchase_usd"),
}


def expand_shortcut(path: str) -> str:
    """gpus.<id>.price -> gpus.<id>.price_usd_per_gpu_hour, gpus.<id>.spot_price -> pricing.gpus.<id>...."""
    parts = path.split(".")
    if len(parts) == 3 and parts[0] == "gpus" and parts[2] in GPU_SHORTCUTS:
        prefix, leaf = GPU_SHORTCUTS[parts[2]]
        return f"{prefix}.{parts[1]}.{leaf}"
    return path
