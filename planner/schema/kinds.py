"""``Scenario``: the discriminated union of scenario kinds, ``kind: serving`` (the default when the key is absent)
or ``kind: training``. ``planner.schema.validate_scenario`` applies the same discriminator without building the
union (a serving command never imports the training schema); this is the union for the JSON Schema and for
Python callers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter

from .serving import ServingScenario
from .training import TrainingScenario


def _kind_defaults_to_serving(value: Any) -> Any:
    return {**value, "kind": "serving"} if isinstance(value, dict) and "kind" not in value else value


Scenario = Annotated[ServingScenario | TrainingScenario, Field(discriminator="kind"), BeforeValidator(_kind_defaults_to_serving)]
"""Any scenario: ``kind`` picks the model; serving when ``kind`` is absent."""

SCENARIO: TypeAdapter[ServingScenario | TrainingScenario] = TypeAdapter(Scenario)
"""Validates and describes (``SCENARIO.json_schema()``) any scenario."""
