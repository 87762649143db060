"""Unit conversions and rounding rules, in one place.

Exact quantities (docs/exactness.md lists them):

- Memory is counted in whole bytes by the memory model; the solver's capacity of a shape (sequences per replica)
  is computed from those bytes, so no memory rounding reaches a decision. MiB appear only as coefficients of the
  solver's memory row, whose right-hand side comes from the exact capacity; GiB (2**30 bytes) are for people.
- Money is integer micro-USD (10**-6 USD) per hour everywhere a decision or a printed cost comes from. A price
  or budget is read as the decimal the user wrote (``decimal_fraction``); prices with more than six decimals are
  rounded up, budgets down, to the micro-USD (by less than $0.000001), so a cost the planner prints is always
  a budget that admits the plan.
- Fractions of memory (headroom, gpu_memory_utilization) are also read as written decimals and applied to
  whole bytes exactly.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

BYTES_PER_KIB = 2**10
BYTES_PER_MIB = 2**20
BYTES_PER_GIB = 2**30
BYTES_PER_GB = 10**9
MICRO_USD_PER_USD = 10**6


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounded up (for shards and requirements)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return -(-numerator // denominator)


@lru_cache(maxsize=4096)
@lru_cache(maxsize=4096)
def decimal_fraction(value: float) -> Fraction:
    """The exact rational a user means by a number: 0.1 is 1/10, not the binary float nearest to it.

    ``repr`` of a float is the shortest decimal that reads back as that float, i.e. what was written in the file.
    """
    if isinstance(value, int):
        return Fraction(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return Fraction(repr(float(value)))


def fraction_of_bytes_floor(num_bytes: int, fraction: float) -> int:
    """``num_bytes x fraction`` rounded down to a whole byte, exactly (a capacity)."""
    exact = decimal_fraction(fraction)
    return num_bytes * exact.numerator // exact.denominator


def fraction_of_bytes_ceil(num_bytes: int, fraction: float) -> int:
    """``num_bytes x fraction`` rounded up to a whole byte, exactly (a requirement, e.g. headroom kept free)."""
    exact = decimal_fraction(fraction)
    return -(-num_bytes * exact.numerator // exact.denominator)


def bits_to_bytes(bits: float) -> int:
    """Bytes needed to hold ``bits`` bits, rounded up (sub-byte formats go through bits)."""
    return math.ceil(bits / 8)


def bytes_to_gib(num_bytes: float) -> float:
    return num_bytes / BYTES_PER_GIB


def gib_to_bytes(gib: float) -> int:
    return round(gib * BYTES_PER_GIB)


def bytes_to_mib_ceil(num_bytes: float) -> int:
    """A requirement in bytes as whole MiB, rounded up."""
    return math.ceil(num_bytes / BYTES_PER_MIB)


def bytes_to_mib_floor(num_bytes: float) -> int:
    """A capacity in bytes as whole MiB, rounded down."""
    return math.floor(num_bytes / BYTES_PER_MIB)


def usd_to_micro_usd_ceil(usd: float) -> int:
    """A price in USD as integer micro-USD: exact up to six decimals, else rounded up (never cheaper than it is)."""
    exact = decimal_fraction(usd)
    return -(-exact.numerator * MICRO_USD_PER_USD // exact.denominator)


def usd_to_micro_usd_floor(usd: float) -> int:
    """A budget in USD as integer micro-USD: exact up to six decimals, else rounded down (never looser than it is)."""
    exact = decimal_fraction(usd)
    return exact.numerator * MICRO_USD_PER_USD // exact.denominator


def micro_usd_to_usd(micro_usd: int) -> float:
    """For JSON: the nearest float, which prints as the exact decimal (costs stay far below 2**53 micro-USD)."""
    return micro_usd / MICRO_USD_PER_USD


def format_usd(micro_usd: int, min_decimals: int = 2, grouping: bool = True) -> str:
    """An exact cost as text: at least ``min_decimals`` decimals and as many more as it has (up to six), so a
    printed cost read back as a budget admits the plan it came from ('27.70', '1,234.5678')."""
    sign = "-" if micro_usd < 0 else ""
    whole, micro = divmod(abs(micro_usd), MICRO_USD_PER_USD)
    decimals = f"{micro:06d}".rstrip("0").ljust(min_decimals, "0")
    number = f"{whole:,}" if grouping else str(whole)
    return sign + number + (f".{decimals}" if decimals else "")


def cents_ceil(micro_usd: int) -> int:
    """Whole cents at or above an exact cost (a round budget that still admits it)."""
    return ceil_div(micro_usd, MICRO_USD_PER_USD // 100)


def whole_units(count: int, unit: int) -> int:
    """``count`` rounded up to whole units of ``unit`` (GPUs billed in whole instances of ``unit`` GPUs)."""
    return ceil_div(count, unit) * unit


def round_up(value: float, decimals: int) -> float:
    """``value`` rounded up to ``decimals`` decimals, exactly: a printed time or cost read back as a limit admits it."""
    scale = 10**decimals
    return float(math.ceil(Fraction(value) * scale) / scale)


def rounded(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded for a JSON output; None (not known, not applicable) stays None."""
    return None if value is None else round(value, digits)
