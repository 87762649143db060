"""``planner solve``'s answer of any kind, as the renderers receive it (``api.plan`` builds it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answer:
    """What ``plan`` found for a scenario: the report of its kind and what its JSON states around it.

    ``kind``: serving, procurement, training (a ``*Report``), pareto or training_pareto (a front); ``after`` are
    the JSON fields after the result's own (the pricing of a serving plan); ``title`` names what a Pareto set is
    of (the scenario, and the model with its load), plain text the renderer styles.
    """

    kind: str
    result: Any
    after: dict[str, Any] = field(default_factory=dict)
    title: tuple[str, str] = ("", "")

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), **self.after}
