"""The solver-facing problem: integer rows per candidate shape plus the global limits.

Units: memory in exact bytes, money in micro-USD per hour, concurrency in sequences, traffic in milli-requests
per second, latency in microseconds. Nothing here is a float. A row's capacity in sequences is the memory model's
own (``memory.serving.sequences_within``) and its price the cost model's, so for concurrency demand the solver's
feasible set is the memory and cost models' (tests/test_exactness.py).

Demand is either sequences held at once (``demand_sequences``) or, for traffic scenarios, a request rate
(``demand_milli_rps``) that the replicas' sustainable rates within the SLO must cover; ``capacity`` gives a
shape's per-replica capacity in the demand's unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..memory.serving import sequences_within
from ..units import bytes_to_mib_ceil


@dataclass(frozen=True)
class Row:
    """One candidate replica shape as the solver sees it."""

    key: str
    gpu_type: str
    gpus_per_replica: int
    price_micro_usd_per_hour: int  # per replica
    fixed_bytes: int  # per GPU: weights + activations + overhead
    kv_bytes_per_sequence: int  # per GPU
    limit_bytes: int  # per GPU ceiling (usable memory and headroom)
    capacity_bytes: int  # per GPU, for headroom reporting
    graphs_bytes: int = 0  # per GPU, kept outside the engine budget (CUDA graphs, SGLang activations): uses headroom
    rate_milli_rps: int = 0  # traffic: requests/s one replica sustains within the SLO, x 1000, rounded down
    sequences_at_rate: int = 0  # traffic: sequences one replica holds at that rate (Little's law), <= max_sequences
    latency_us: int = 0  # TPOT at the shape's operating point, microseconds, for the latency tie-break (0: none)
    fidelity_penalty: int = 0  # distance of its formats from 16 bits (formats.fidelity_penalty), first tie-break

    @property
    def max_sequences(self) -> int:
        return sequences_within(self.limit_bytes, self.fixed_bytes, self.kv_bytes_per_sequence)

    @property
    def fixed_mib(self) -> int:
        """The fixed part in whole MiB, a coefficient of the solver's memory row (whose right-hand side comes from
        ``max_sequences``, so this rounding cannot change which loads fit)."""
        return bytes_to_mib_ceil(self.fixed_bytes)

    @property
    def kv_mib_per_sequence(self) -> int:
        return max(1, bytes_to_mib_ceil(self.kv_bytes_per_sequence))


@dataclass(frozen=True)
class Instance:
    """A GPU type rented only as whole instances: GPUs per instance and the instance's price."""

    gpus: int
    price_micro_usd_per_hour: int


@dataclass(frozen=True)
class Problem:
    rows: tuple[Row, ...]
    demand_sequences: int  # concurrency demand (0 for traffic problems)
    budget_micro_usd_per_hour: int | None
    inventory_by_gpu: dict[str, int]
    mixed_fleet: bool = True
    demand_milli_rps: int | None = None  # traffic demand; None: a concurrency problem
    instances: Mapping[str, Instance] = field(default_factory=dict)  # GPU types rented as whole instances

    @property
    def is_traffic(self) -> bool:
        return self.demand_milli_rps is not None

    @property
    def demand(self) -> int:
        """Demand in the problem's unit: milli-requests/s for traffic, sequences otherwise."""
        return self.demand_milli_rps if self.demand_milli_rps is not None else self.demand_sequences

    def capacity(self, row: Row) -> int:
        """What one replica of ``row`` serves, in the demand's unit (its sustainable rate, or its sequences)."""
        return row.rate_milli_rps if self.is_traffic else row.max_sequences

    def replica_upper_bound(self, row: Row) -> int:
        """Tight bound on replicas of one shape: demand, budget and stock each cap it (primer: tight domains)."""
        demand = self.demand
        bound = -(-demand // max(1, self.capacity(row)))
        bound = min(bound, demand)
        if self.budget_micro_usd_per_hour is not None:
            bound = min(bound, self.budget_micro_usd_per_hour // self.least_price_per_replica(row))
        stock = self.inventory_by_gpu.get(row.gpu_type)
        if stock is not None:
            instance = self.instances.get(row.gpu_type)
            bound = min(bound, (stock - stock % instance.gpus if instance else stock) // row.gpus_per_replica)
        return max(0, bound)

    def least_price_per_replica(self, row: Row) -> int:
        """A lower bound on what one more replica adds to the cost (>= 1 micro-USD)."""
        instance = self.instances.get(row.gpu_type)
        if instance is None:
            return max(1, row.price_micro_usd_per_hour)
        return max(1, instance.price_micro_usd_per_hour * row.gpus_per_replica // instance.gpus)

    def cost(self, replicas: Mapping[str, int]) -> int:
        """Fleet cost in micro-USD per hour: per replica, or per whole instance of the GPU types rented that way."""
        rows = {row.key: row for row in self.rows}
        total = 0
        gpus_by_type: dict[str, int] = {}
        for key, count in replicas.items():
            row = rows[key]
            if row.gpu_type in self.instances:
                gpus_by_type[row.gpu_type] = gpus_by_type.get(row.gpu_type, 0) + count * row.gpus_per_replica
            else:
                total += count * row.price_micro_usd_per_hour
        for gpu_type, gpus in gpus_by_type.items():
            instance = self.instances[gpu_type]
            total += -(-gpus // instance.gpus) * instance.price_micro_usd_per_hour
        return total

    def within_limits(self, replicas: Mapping[str, int]) -> bool:
        """Stock (whole instances included) and budget hold for these replica counts."""
        rows = {row.key: row for row in self.rows}
        used: dict[str, int] = {}
        for key, count in replicas.items():
            used[rows[key].gpu_type] = used.get(rows[key].gpu_type, 0) + count * rows[key].gpus_per_replica
        for gpu_type, gpus in used.items():
            stock = self.inventory_by_gpu.get(gpu_type)
            instance = self.instances.get(gpu_type)
            rented = -(-gpus // instance.gpus) * instance.gpus if instance else gpus
            if stock is not None and rented > stock:
                return False
        budget = self.budget_micro_usd_per_hour
        return budget is None or self.cost(replicas) <= budget


@dataclass(frozen=True)
class Assignment:
    """Solver output per row key: replicas, sequences held and (traffic) load in milli-requests/s."""

    replicas: dict[str, int]
    sequences: dict[str, int]
    load_milli_rps: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SolveOutcome:
    status: str  # optimal | feasible | infeasible | unknown
    assignment: Assignment | None
    objective_micro_usd: int | None
    best_bound_micro_usd: int | None
    wall_time_s: float
    method: str
    parameters: dict[str, object]
    interrupted: bool = False  # Ctrl-C stopped the search: the plan is the best found so far

    @property
    def gap(self) -> float | None:
        if self.objective_micro_usd is None or self.best_bound_micro_usd is None or self.objective_micro_usd == 0:
            return None
        return max(0.0, (self.objective_micro_usd - self.best_bound_micro_usd) / self.objective_micro_usd)


def assignment_for(problem: Problem, replicas: dict[str, int]) -> Assignment:
    """The plan's load split for these replica counts: demand in proportion to capacity (``spread_sequences``);
    for traffic, the sequences each shape then holds by Little's law (see ``ServingModel._traffic_rows``)."""
    shares = spread_sequences(problem, replicas)
    if not problem.is_traffic:
        return Assignment(replicas, shares)
    rows = {row.key: row for row in problem.rows}
    sequences = {key: max(replicas[key], -(-load * rows[key].sequences_at_rate // rows[key].rate_milli_rps))
                 for key, load in shares.items()}
    return Assignment(replicas, sequences, shares)


def spread_sequences(problem: Problem, replicas: dict[str, int]) -> dict[str, int]:
    """Demand split over the chosen shapes in proportion to their capacity (sequences, or requests/s for traffic).

    Each shape gets between one unit per replica (no idle replica) and ``capacity x replicas`` (its memory
    limit, or its sustainable rate); such a split exists exactly when the two cover rows hold. Proportional
    shares (largest remainder, then row order) load every shape alike, so no GPU is fuller than it needs to be
    and every replica runs at the same load factor.
    """
    demand = problem.demand
    rows = [row for row in problem.rows if replicas.get(row.key, 0) > 0]
    capacity = {row.key: min(problem.capacity(row), demand) * replicas[row.key] for row in rows}
    total = sum(capacity.values())
    if total == 0:
        return {}
    shares = {key: max(replicas[key], min(cap, demand * cap // total)) for key, cap in capacity.items()}
    order = {row.key: (-(demand * capacity[row.key] % total), index) for index, row in enumerate(rows)}
    missing = demand - sum(shares.values())  # > 0 after rounding down; < 0 if the one-per-replica floor overshot
    if missing > 0:
        for key in sorted(shares, key=order.__getitem__):  # largest remainder first
            add = min(missing, capacity[key] - shares[key])
            shares[key], missing = shares[key] + add, missing - add
    for key in sorted(shares, key=order.__getitem__, reverse=True):
        if missing >= 0:
            break
        cut = min(-missing, shares[key] - replicas[key])
        shares[key], missing = shares[key] - cut, missing + cut
    return shares
