"""Parsed ``planner memory`` / ``planner perf`` flags into the request of the command's serving or training mode
(``MemoryRequest``, ``PerfRequest``, ``TrainingMemoryRequest``, ``TrainingPerfRequest``), refusing by name a flag of
the other mode. Apart from ``flags`` (the tables, which the configuration functions also read to check a request),
so that no import goes both ways."""

from __future__ import annotations

from typing import Any, Literal

from ..errors import InputError, Issue
from .flags import MEMORY, PERF, TRAINING_HINTS


def request(command: Literal["memory", "perf"], training: bool, values: dict[str, Any], typed: set[str]) -> Any:
    """The request that ``values`` (parsed flags by field) state for ``command`` in its serving or training mode.

    A flag of the other mode that was typed (``typed``: fields not left at their default) is bad input naming it,
    never silently ignored; fields no request takes (``--plot``, ``--explain``) are left to the caller.
    """
    from dataclasses import fields

    from .memory import MemoryRequest
    from .performance import PerfRequest
    from .training import TrainingMemoryRequest, TrainingPerfRequest

    table = MEMORY if command == "memory" else PERF
    other = "serving" if training else "training"
    refused = [item.names[0] for item in table if item.mode == other and item.field in typed]
    if refused:
        message, hint = ("serving options do not apply with --training", TRAINING_HINTS[command]) if training else \
            ("training options need --training", None)
        raise InputError(message, [Issue(f"given: {', '.join(refused)}", field_path="--training", suggestion=hint)])
    kinds: dict[tuple[str, bool], type] = {("memory", False): MemoryRequest, ("memory", True): TrainingMemoryRequest,
                                           ("perf", False): PerfRequest, ("perf", True): TrainingPerfRequest}
    made = kinds[command, training]
    taken = {item.name for item in fields(made)} & {item.field for item in table if item.mode != other}
    return made(**{key: value for key, value in values.items() if key in taken})
