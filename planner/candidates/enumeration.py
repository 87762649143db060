"""What an enumeration of candidates returns, for serving shapes and training layouts alike: the layouts that
fit and the rejected ones with their reasons."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar


@dataclass(frozen=True)
class Rejection:
    """A layout left out before the solver, and why (serving or training reasons)."""

    key: str
    reason: Enum
    detail: str = ""
    shortfall_bytes: int = 0  # for DOES_NOT_FIT: bytes missing per GPU


CandidateT = TypeVar("CandidateT")


@dataclass
class Enumeration(Generic[CandidateT]):
    """Layouts that fit, and the rejected ones with their reasons (shared by serving and training)."""

    candidates: list[CandidateT]
    rejections: list[Rejection] = field(default_factory=list)

    def rejection_counts(self) -> Counter[Enum]:
        return Counter(r.reason for r in self.rejections)

    def closest_miss(self) -> Rejection | None:
        misses = [r for r in self.rejections if r.reason.name == "DOES_NOT_FIT"]
        return min(misses, key=lambda r: (r.shortfall_bytes, r.key)) if misses else None
