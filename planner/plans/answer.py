"""``planner solve``'s answer of any kind, as the renderers receive it (``api.plan`` builds it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answer:
    """What ``plan`` found for a scenario: the report of its kind and what its JSON states around it.

    ``kind``: serving, procurement, training (a ``*Report``), pareto or training_pareto (a front); ``before`` and
    ``after`` are the JSON fields around the result's own (the scenario and model of a Pareto set, the pricing of
    a serving plan); ``title`` names what a Pareto set is of (the scenario, and the model with its load), plain
    text the renderer styles.
    """

    kind: str
    result: Any
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    title: tuple[str, str] = ("", "")

    def to_dict(self) -> dict[str, Any]:
        return {**self.before, **self.result.to_dict(), **self.after}
