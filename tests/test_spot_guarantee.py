"""Spot spares (N + k): the guaranteed units equal the k-out-of-n reliability computed with exact sums."""

import math

import pytest

from planner.pipeline.supply import guarantee_table, guaranteed_units


def reference_guaranteed_units(units: int, q: float, availability: float) -> int:
    """The definition, summed exactly at every step (Kuo & Zuo 2003, eq. 7.1)."""
    tail = []
    for survivors in range(units, -1, -1):
        tail.append(math.comb(units, survivors) * (1 - q) ** survivors * q ** (units - survivors))
        if math.fsum(tail) >= availability:
            return survivors
    return 0


@pytest.mark.parametrize("q", [0.01, 0.05, 0.1, 0.2, 0.5])
@pytest.mark.parametrize("availability", [0.9, 0.99, 0.999])
def test_guaranteed_units_follow_the_binomial_tail(q, availability):
    for units in (1, 2, 7, 40, 150):
        assert guaranteed_units(units, q, availability) == reference_guaranteed_units(units, q, availability)


def test_a_large_spot_table_is_built_in_well_under_a_second():
    import time

    start = time.perf_counter()
    table = guarantee_table(600, 0.2, 0.99)
    assert table[-1] >= 600 and time.perf_counter() - start < 5  # generous: the quadratic tail took minutes
