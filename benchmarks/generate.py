"""Deterministic synthetic serving scenarios of growing size for the solver benchmarks.

Sizes grow along the axes that make the CP-SAT model harder: GPU types (5 to 60; past the 28 built-in ones,
synthetic variants of real GPUs with other memory sizes and prices), weight formats x KV dtypes x TP x PP
(up to several thousand replica shapes), mixed fleets forced by per-type inventory caps, and budgets.
Everything derives from a fixed seed, so every run builds byte-identical scenarios.

Training layouts and Pareto sweeps are separate suites that join the tables when ``planner/pipeline/training.py`` and
``planner/analysis/pareto.py`` exist (see ``optional_suites``).
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass
from typing import Any

from planner.catalog import Catalog, GpuSpec, builtin_catalog_dir, default_catalog
from planner.pipeline.serving import prepare
from planner.schema import validate_scenario
from planner.schema.serving import ServingScenario
from planner.solver.problem import Problem

DEFAULT_SEED = 0
MEMORY_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
"""Memory of a synthetic GPU relative to the real GPU it derives from."""
STOCK_CHOICES = (2, 4, 8, 8, 16, 16, 32)
"""Inventory caps drawn per GPU type in the inventory-limited cases."""


@dataclass(frozen=True)
class Case:
    """One benchmark scenario with the catalog it is solved against."""

    name: str
    description: str
    scenario: ServingScenario
    catalog: Catalog

    @property
    def gpu_types(self) -> int:
        return len(self.catalog.gpus)


def synthetic_gpus(count: int, seed: int = DEFAULT_SEED) -> list[GpuSpec]:
    """The first ``count`` built-in GPUs, then synthetic variants of them (other memory, other price)."""
    real = default_catalog().gpus
    gpus = list(real[:count])
    rng = random.Random(seed)
    index = 0
    while len(gpus) < count:
        parent = real[index % len(real)]
        memory_mib = int(parent.memory_usable_mib * rng.choice(MEMORY_FACTORS))
        price = round(parent.price_usd_per_gpu_hour * rng.uniform(0.6, 1.6), 4)
        gpus.append(parent.model_copy(update={
            "id": f"{parent.id}-syn{index}", "name": f"{parent.name} (synthetic {index})",
            "memory_usable_mib": memory_mib, "memory_usable_estimated": True,
            "price_usd_per_gpu_hour": price, "price_estimated": True, "price_source": "synthetic benchmark variant",
        }))
        index += 1
    return gpus


def synthetic_catalog(count: int, seed: int = DEFAULT_SEED) -> Catalog:
    """A catalog of ``count`` GPU types with the built-in models."""
    models = default_catalog()
    return Catalog(synthetic_gpus(count, seed), models.models, builtin_catalog_dir(), ("synthetic-gpus", models.sources[1]))


def inventory_caps(gpus: list[GpuSpec], seed: int = DEFAULT_SEED) -> dict[str, int]:
    """A stock per GPU type, drawn from ``STOCK_CHOICES``."""
    rng = random.Random(seed + 1)
    return {gpu.id: rng.choice(STOCK_CHOICES) for gpu in gpus}


def _case(name: str, description: str, gpu_count: int, seed: int, capped: bool, fields: dict[str, Any]) -> Case:
    catalog = synthetic_catalog(gpu_count, seed)
    # synthetic prices are marked estimated; the solver benchmarks keep every type, so they allow estimates
    data = {"name": name, "solver": {"time_limit_s": 10.0, "workers": 1, "seed": 0}, "pricing": {"allow_estimated": True}, **fields}
    if capped:
        data["inventory"] = inventory_caps(catalog.gpus, seed)
    return Case(name, description, validate_scenario(data), catalog)


def serving_cases(seed: int = DEFAULT_SEED) -> list[Case]:
    """The serving suite, smallest first; the last one is the largest benchmark."""
    all_tp, all_pp = [1, 2, 4, 8], [1, 2, 4, 8]
    return [
        _case("tiny-5", "8B, 5 GPU types, one format", 5, seed, False, {
            "model": "llama-3.1-8b", "precisions": ["bf16"], "workload": {"concurrency": 64, "context_tokens": 4096},
            "parallelism": {"tp": all_tp, "pp": [1]}}),
        _case("small-10", "8B, 10 types, 2 formats x 2 KV dtypes", 10, seed, False, {
            "model": "llama-3.1-8b", "precisions": ["bf16", "fp8"], "kv_cache_dtypes": ["fp16", "fp8"],
            "workload": {"concurrency": 512, "context_tokens": 8192}, "parallelism": {"tp": all_tp, "pp": [1, 2]}}),
        _case("medium-20-inventory", "70B, 20 types, inventory caps on every type", 20, seed, True, {
            "model": "llama-3.1-70b", "precisions": ["bf16", "fp8", "int4-awq"], "kv_cache_dtypes": ["fp16", "fp8"],
            "workload": {"concurrency": 600, "context_tokens": 8192}, "parallelism": {"tp": all_tp, "pp": [1, 2, 4]}}),
        _case("catalog-28", "70B over the full built-in catalog, 4 formats x 2 KV dtypes", 28, seed, False, {
            "model": "llama-3.1-70b", "precisions": ["bf16", "fp8", "int8", "int4-awq"], "kv_cache_dtypes": ["fp16", "fp8"],
            "workload": {"concurrency": 256, "context_tokens": 8192}}),
        _case("moe-40-inventory-budget", "Mixtral 8x7B with EP, 40 types, inventory caps and a budget", 40, seed, True, {
            "model": "mixtral-8x7b", "precisions": ["bf16", "fp8", "int4-gptq"], "kv_cache_dtypes": ["fp16", "fp8"],
            "workload": {"concurrency": 2000, "context_tokens": 4096}, "budget": {"max_usd_per_hour": 400},
            "parallelism": {"tp": all_tp, "pp": [1, 2, 4], "expert_parallel": [False, True]}}),
        _case("largest-60-inventory", "70B, 60 types, 5 formats x 3 KV dtypes x TP x PP, caps and a budget", 60, seed, True, {
            "model": "llama-3.1-70b", "precisions": ["bf16", "fp16", "fp8", "int8", "int4-awq"],
            "kv_cache_dtypes": ["fp16", "fp8", "int8"], "workload": {"concurrency": 3000, "context_tokens": 8192},
            "budget": {"max_usd_per_hour": 2000}, "parallelism": {"tp": all_tp, "pp": all_pp}}),
    ]


def stock_capacity_sequences(problem: Problem) -> int:
    """Sequences the stock could hold, each capped type filled with its densest shape (an upper estimate)."""
    best: dict[str, int] = {}
    for row in problem.rows:
        stock = problem.inventory_by_gpu.get(row.gpu_type)
        held = (stock // row.gpus_per_replica) * row.max_sequences if stock is not None else problem.demand_sequences
        best[row.gpu_type] = max(best.get(row.gpu_type, 0), held)
    return sum(best.values())


def tight_inventory_problems(seeds: range = range(5), fractions: tuple[float, ...] = (0.3, 0.6, 0.8, 0.9, 0.97),
                             case_name: str = "largest-60-inventory") -> list[tuple[str, Problem]]:
    """The stress suite: one inventory-capped case per seed, its demand set to fractions of what stock holds.

    Near full stock the covering model behaves like a tight knapsack, where solver settings matter most.
    """
    problems = []
    for seed in seeds:
        case = case_by_name(case_name, seed)
        base = prepare(case.scenario, case.catalog).problem()
        capacity = stock_capacity_sequences(base)
        for fraction in fractions:
            demand = max(1, int(capacity * fraction))
            problems.append((f"seed{seed}-{fraction:.2f}", Problem(base.rows, demand, None, base.inventory_by_gpu)))
    return problems


def case_by_name(name: str, seed: int = DEFAULT_SEED) -> Case:
    for case in serving_cases(seed):
        if case.name == name:
            return case
    raise KeyError(f"no benchmark case {name!r}; known: {', '.join(c.name for c in serving_cases(seed))}")


def optional_suites() -> dict[str, bool]:
    """Suites that depend on modules other engineers are building; False until the module exists."""
    return {
        "training": importlib.util.find_spec("planner.pipeline.training") is not None,
        "pareto": importlib.util.find_spec("planner.analysis.pareto") is not None,
    }


if __name__ == "__main__":
    for case in serving_cases():
        caps = sum(1 for _ in case.scenario.inventory)
        print(f"{case.name:26} {case.gpu_types:3} GPU types, {caps:3} capped, {case.description}")
