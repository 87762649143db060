"""Every bound on what a user may give the planner, in one place.

Any file or flag, however hostile, must get an answer in seconds and bounded memory. Each limit below is far
above what a real scenario, catalog, ``config.json`` or sweep needs (the measured largest of each is noted),
and each is enforced *before* the work it bounds, with an error that names it. ``planner/yaml_io.py`` applies
the file limits while reading; the schemas apply the value limits; ``candidates`` and ``sweep`` count the
work they would do before doing it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .errors import InfeasibleError, InputError, Issue

# --- files --------------------------------------------------------------------------------------------------------
MAX_FILE_BYTES = 4 * 2**20
"""Largest input file read (scenario, catalog, config.json, sweep, architecture): 4 MiB. The built-in GPU catalog
is 40 KB, the largest shipped config.json 20 KB; a 1,000-GPU catalog is about 1 MB."""

MAX_NODES = 250_000
"""Values in one parsed file, counting every alias expansion (YAML alias bombs stop here)."""

MAX_DEPTH = 50
"""Nesting of mappings and lists in one file (real files nest at most 7 deep)."""

MAX_NUMBER_CHARS = 100
"""Characters of one number in a file; Python refuses integers of more than 4,300 digits, we refuse far earlier."""

# --- values -------------------------------------------------------------------------------------------------------
MAX_LIST_ITEMS = 1_000
"""Entries of any list or mapping a schema takes (GPU ids, inventory, sweep values, catalog entries)."""

MAX_DEGREE_OPTIONS = 32
"""Entries of one parallel-degree list (tp, pp, dp, micro-batches): every useful degree fits in 32."""

MAX_NAME_CHARS = 200
"""Characters of a name shown in tables and plot titles."""

MAX_TEXT_CHARS = 10_000
"""Characters of a free-text field (descriptions, sources)."""

MAX_PRICE_USD_PER_GPU_HOUR = 10_000.0
"""Price of one GPU-hour (the dearest cloud GPU rents for about $15)."""

MAX_GPU_MEMORY_MIB = 2**24
"""Memory of one GPU: 16 TiB (the largest today has 288 GB)."""

MAX_GPUS_PER_REPLICA = 4096

# --- work ---------------------------------------------------------------------------------------------------------
MAX_CATALOG_GPUS = 1_000
"""GPU types in one catalog (the built-in one has 40)."""

MAX_CANDIDATE_SHAPES = 50_000
"""Replica shapes (GPU x TP x PP x EP x format x KV dtype) or training choices (layout x micro-batch) one scenario
may ask to enumerate: about 7 s of memory-model work on one core (the built-in catalog's 28 GPUs with 12 formats
and dtypes and 48 TP x PP pairs are 6,864 shapes, enumerated in 1.2 s)."""

MAX_TRAINING_CHOICES = 300_000
"""(layout, micro-batch) choices one training scenario may ask to evaluate: about 8 s on one core (every built-in
GPU with the default degrees, 512 sequences per step, is 137,000 choices, evaluated in 3.8 s)."""

MAX_VARIATIONS = 1_000
"""Variations of one what-if run (each is a full solve)."""

MAX_SOLVER_INTEGER = 2**62
"""Largest value a solver expression may reach (CP-SAT computes in 64-bit integers and refuses overflow)."""


def check_count(count: int, limit: int, what: str, field_path: str | None = None, suggestion: str | None = None) -> None:
    """Raise ``InputError`` naming the limit when ``count`` (computed before the work) exceeds it."""
    if count > limit:
        raise InputError(f"{what}: {count:,} is over the limit of {limit:,}", [Issue(
            f"{what} would be {count:,}; the planner handles at most {limit:,}", field_path=field_path,
            suggestion=suggestion)])


@dataclass(frozen=True)
class Deadline:
    """A wall-clock budget shared by every step of one solve (enumeration, pruning, search, explanation)."""

    seconds: float
    start: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        if not math.isfinite(seconds) or seconds <= 0:
            raise InputError("invalid time limit", [Issue(f"the time limit must be a positive number of seconds, got {seconds!r}",
                                                          field_path="--time-limit")])
        return cls(seconds, time.perf_counter())

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def expired(self) -> bool:
        return self.left() <= 0


class TimeLimitReached(InfeasibleError):
    """The time limit ran out before a plan was found (exit 1, like every 'no plan' answer, with the reason)."""
