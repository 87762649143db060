"""Rentals projected out of the procurement model: the cheapest rentals for every residual load, by dynamic programming.

Once a period's commitments are fixed (owned, bought and reserved replicas, constant over its slots), the rentals
of each slot are an independent covering problem: hold the load the commitments leave, ``r`` sequences, at the
least cost per hour with replicas rented on demand (any number, per GPU) and at most one spot shape. That minimum
``T(r)`` is the same for every slot (only the hours and the discount factor differ), so it is computed once:

- on demand: the unbounded covering knapsack ``R(r) = min_o (cost_o + R(max(0, r - seq_o)))``, ``R(0) = 0``
  (Martello & Toth, "Knapsack Problems", Wiley 1990, Sec. 3.6, the unbounded knapsack recursion, here in its
  minimum-cost covering form); an option ``B`` that ``ceil(seq_B / seq_A)`` copies of an option ``A`` cover at
  no more cost never helps and is left out (the single-period solver's pruning, with prices only: rentals have
  no stock limit here);
- spot: ``T(r) = min(R(r), min_v (cost_v + R(max(0, r - cap_v))))`` over the spot options ``v`` (units of one
  shape and the capacity they guarantee, ``planner.pipeline.supply.guaranteed_units``).

Each period's rental cost is then a table of its committed capacity ``C``:
``F_h(C) = sum_s ceil(T(max(0, d_s - C)) x hours_s x discount_h)`` (micro-USD, each slot rounded up once), and
the CP-SAT model keeps one capacity variable and one table lookup per period instead of a knapsack per slot.
The projection is exact: every plan of the full model costs at least ``F_h`` of its committed capacity in each
period, and the table's rentals achieve it. Rentals with a stock limit are not projected (the caller keeps them
as explicit variables).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class RentalOption:
    """One replica of one shape rented on demand: what it holds and costs per hour."""

    pool: str
    shape: str
    capacity: int  # in the demand's unit (sequences, or milli-requests/s within the SLO)
    gpus: int
    micro_usd_per_hour: int


@dataclass(frozen=True)
class SpotOption:
    """``units`` spot units of one shape: the replicas that survive interruptions with the target odds."""

    pool: str
    shape: str
    units: int
    guaranteed_replicas: int
    capacity: int  # what the guaranteed replicas serve, in the demand's unit
    gpus: int  # GPUs provisioned
    micro_usd_per_hour: int


def prune_options(options: list[RentalOption]) -> list[RentalOption]:
    """Drop options that copies of another cover at no more cost per hour (ties: the earlier one is kept)."""
    ranked = sorted(enumerate(options), key=lambda item: (Fraction(item[1].micro_usd_per_hour, item[1].capacity), item[0]))
    kept: list[tuple[int, RentalOption]] = []
    for index, b in ranked:
        if not any(-(-b.capacity // a.capacity) * a.micro_usd_per_hour <= b.micro_usd_per_hour for _, a in kept):
            kept.append((index, b))
    return [option for _, option in sorted(kept)]


class RentalTable:
    """``T(r)`` for r = 0..max_load (in the demand's unit) in micro-USD per hour, and the rentals that achieve it."""

    def __init__(self, on_demand: list[RentalOption], spot: list[SpotOption], max_load: int):
        self.options = prune_options([o for o in on_demand if o.capacity > 0])
        self.spot = [s for s in spot if s.capacity > 0]
        self.max_load = max_load
        infinity = math.inf
        best = [0] + [infinity] * max_load
        back = [-1] * (max_load + 1)
        for r in range(1, max_load + 1):
            for index, option in enumerate(self.options):
                cost = option.micro_usd_per_hour + best[max(0, r - option.capacity)]
                if cost < best[r]:
                    best[r], back[r] = cost, index
        self._on_demand = best
        self._back = back
        total = np.array([x if x != infinity else np.inf for x in best], dtype=float)
        spot_choice = np.full(max_load + 1, -1, dtype=np.int64)
        loads = np.arange(max_load + 1)
        on_demand_array = total.copy()
        for index, spot_option in enumerate(self.spot):
            candidate = spot_option.micro_usd_per_hour + on_demand_array[np.maximum(0, loads - spot_option.capacity)]
            better = candidate < total
            total = np.where(better, candidate, total)
            spot_choice = np.where(better, index, spot_choice)
        self._total = [int(x) if math.isfinite(x) else None for x in total]
        self._spot_choice = [int(x) for x in spot_choice]

    def micro_usd_per_hour(self, load: int) -> int | None:
        """The cheapest rentals' cost for ``load`` residual sequences (None: nothing can be rented)."""
        return self._total[max(0, min(load, self.max_load))] if load <= self.max_load else None

    def rentals(self, load: int) -> tuple[SpotOption | None, dict[tuple[str, str], int]]:
        """The spot option (or None) and the on-demand replicas per (pool, shape) of the cheapest rentals."""
        load = max(0, load)
        spot_index = self._spot_choice[load] if load else -1
        spot = self.spot[spot_index] if spot_index >= 0 else None
        left = max(0, load - spot.capacity) if spot else load
        replicas: dict[tuple[str, str], int] = {}
        while left > 0:
            option = self.options[self._back[left]]
            replicas[(option.pool, option.shape)] = replicas.get((option.pool, option.shape), 0) + 1
            left = max(0, left - option.capacity)
        return spot, replicas


def slot_cost_micro_usd(micro_usd_per_hour: int, hours: Fraction, discount: float) -> int:
    """One slot's rentals in micro-USD, rounded up once: exact integers without a discount factor."""
    return slot_costs_micro_usd([micro_usd_per_hour], hours, discount)[0]


def slot_costs_micro_usd(micro_usd_per_hour: list[int | None], hours: Fraction, discount: float) -> list[int]:
    """``slot_cost_micro_usd`` of each hourly cost of a list (-1 where None: nothing can be rented), the slot's hours
    converted once (a period's table asks for every residual load of every slot)."""
    if discount == 1.0:
        numerator, denominator = hours.numerator, hours.denominator
        return [-1 if m is None else -(-(m * numerator) // denominator) for m in micro_usd_per_hour]
    hours_float = float(hours)
    return [-1 if m is None else math.ceil(round(m * hours_float * discount, 6)) for m in micro_usd_per_hour]


def period_table(table: RentalTable, loads: list[int], hours: list[Fraction], discount: float, peak: int
                 ) -> tuple[int, tuple[int, ...]]:
    """``(C_min, F)``: ``F[C]`` for committed capacity C = 0..peak is the period's rental cost over its slots (micro-USD);
    below ``C_min`` some slot's residual load cannot be rented at all (no on-demand offer, spot too small), so the
    commitments must hold at least ``C_min`` sequences (``F`` repeats ``F[C_min]`` there)."""
    total = np.zeros(peak + 1, dtype=np.int64)
    capacity = np.arange(peak + 1)
    minimum = 0
    cache: dict[tuple[int, Fraction], np.ndarray] = {}
    for load, slot_hours in zip(loads, hours):
        if load <= 0:
            continue
        key = (load, slot_hours)
        if key not in cache:
            micros = [table.micro_usd_per_hour(residual) for residual in range(load + 1)]
            cache[key] = np.array(slot_costs_micro_usd(micros, slot_hours, discount), dtype=np.int64)
        costs = cache[key]
        finite = np.nonzero(costs < 0)[0]
        if finite.size:  # the smallest residual that cannot be rented: commitments must leave less
            minimum = max(minimum, load - int(finite[0]) + 1)
        total += np.maximum(costs[np.maximum(0, load - capacity)], 0)
    minimum = min(minimum, peak)
    total[:minimum] = total[minimum]
    return minimum, tuple(int(v) for v in total)
