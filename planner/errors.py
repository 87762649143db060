"""User-facing errors and their exit codes.

Exit codes: 0 plan found, 1 infeasible (with the reason), 2 bad input. A ``VerificationError`` is a bug in
the planner, never a property of the input, and exits with 3.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One problem in one input: where it is, what was found, what was expected."""

    message: str
    source: str | None = None
    field_path: str | None = None
    line: int | None = None
    column: int | None = None
    suggestion: str | None = None

    def render(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: " if where else ""
        if self.field_path:
            text += f"{self.field_path}: "
        text += self.message
        if self.suggestion:
            text += f" ({self.suggestion})"
        return text


class PlannerError(Exception):
    """Base of every error a user may see; carries its exit code."""

    exit_code = 2

    def __init__(self, message: str, issues: Sequence[Issue] = ()):
        super().__init__(message)
        self.message = message
        self.issues = tuple(issues)

    def render(self) -> str:
        if not self.issues:
            return self.message
        lines = [self.message] if self.message else []
        lines += [f"  - {issue.render()}" for issue in self.issues]
        return "\n".join(lines)


class InputError(PlannerError):
    """Bad input: a scenario, catalog, config.json or command-line value that cannot be used."""

    exit_code = 2


class ScenarioError(InputError):
    """A scenario file failed to parse or validate."""


class CatalogError(InputError):
    """A catalog file is malformed, or an id is not in it."""


class ModelConfigError(InputError):
    """A Hugging Face config.json cannot be read or has an unsupported field."""


class InfeasibleError(PlannerError):
    """No plan satisfies the scenario; the message says what does not fit and by how much."""

    exit_code = 1

    def __init__(self, message: str, issues: Sequence[Issue] = (), explanation: object | None = None):
        super().__init__(message, issues)
        self.explanation = explanation


class Incomplete(PlannerError):
    """A command stopped part-way (Ctrl-C: exit 130; a worker process died: exit 3); ``partial`` holds what
    finished, which the command prints before the message."""

    def __init__(self, message: str, issues: Sequence[Issue] = (), partial: object | None = None, exit_code: int = 130):
        super().__init__(message, issues)
        self.partial = partial
        self.exit_code = exit_code


class VerificationError(PlannerError):
    """A plan failed independent verification: a bug in the planner, never shown as a plan."""

    exit_code = 3


@dataclass(frozen=True)
class Suggestion:
    """Nearest known names to an unknown one (did-you-mean)."""

    names: tuple[str, ...] = field(default_factory=tuple)

    def render(self) -> str | None:
        if not self.names:
            return None
        return "did you mean " + " or ".join(repr(name) for name in self.names) + "?"


def did_you_mean(name: str, known: Iterable[str], limit: int = 3) -> str | None:
    """'did you mean ...?' text for an unknown name, or None when nothing is close.

    Names that start with what was typed come first ('qwen2.5-72b' -> 'qwen2.5-72b-instruct'), then names that
    contain it or are contained in it, then spelling neighbours (difflib's ratio of at least 0.5).
    """
    known = list(dict.fromkeys(known))
    lowered = name.lower().strip()
    if not lowered:
        return None
    prefixed = sorted((k for k in known if k.lower().startswith(lowered)), key=len)
    contained = [k for k in known if lowered in k.lower() or (len(k) >= 3 and k.lower() in lowered)]
    close = difflib.get_close_matches(name, known, n=limit, cutoff=0.5)
    matches = list(dict.fromkeys(prefixed + contained + close))[:limit]
    return Suggestion(tuple(matches)).render()
