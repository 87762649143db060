"""Exactness: the solver's integer model against the exact memory and cost models on random scenarios.

For every random serving scenario (short contexts of 1-64 tokens included, headroom and utilisation as typed
decimals, prices with up to five decimals) this checks, independently of the solver's code:

1. capacity: each shape's sequences per replica (``Row.max_sequences``) equals the largest load the memory model
   itself accepts: ``serving_memory`` at k sequences within the engine's usable memory and with the headroom
   free, by direct search on k (the verifier's rule);
2. price: each row's price is replicas x GPUs x the GPU's price in micro-USD, exactly the decimal written;
3. optimum: CP-SAT's cost equals a dynamic program over those exact capacities and prices (covering the demand
   at least cost, unbounded replicas; budget applied to the optimum);
4. budgets: the printed cost, read back as ``budget.max_usd_per_hour``, admits a plan of that cost, and one
   micro-USD less is infeasible with the explanation naming the budget and a sufficient budget.

Run: ``python -m benchmarks.exactness [--scenarios N] [--seed S] [--save]``; prints counts and any mismatch (``--save``:
also benchmarks/results/exactness.json, which docs/exactness.md renders).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from planner.api import solve_scenario
from planner.catalog import default_catalog
from planner.errors import InfeasibleError, InputError
from planner.memory.serving_bill import serving_memory
from planner.pipeline.serving import prepare
from planner.schema import validate_scenario
from planner.units import decimal_fraction, format_usd, usd_to_micro_usd_ceil

MODELS = ("llama-3.1-8b", "qwen2.5-7b", "mistral-7b-v0.1", "gemma-2-9b", "qwen3-8b", "phi-3-mini-4k-instruct",
          "deepseek-v2-lite", "qwen3-30b-a3b")
GPUS = ("t4", "l4", "a10g", "rtx-3090", "rtx-4090", "l40s", "a100-40gb", "a100-80gb", "h100-sxm")
CONTEXTS = (1, 7, 16, 17, 31, 64, 100, 257, 1000, 2048, 4096, 8192)
HEADROOMS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.33)
UTILISATIONS = (0.8, 0.85, 0.9, 0.92, 0.95)


def random_scenario(rng: random.Random) -> dict[str, Any]:
    """A small serving scenario a test can solve in well under a second."""
    gpus = rng.sample(GPUS, rng.randint(1, 3))
    prices = {g: round(rng.uniform(0.1, 4.0), rng.choice((2, 3, 4, 5))) for g in gpus if rng.random() < 0.5}
    return {
        "name": "exactness", "model": rng.choice(MODELS),
        "workload": {"concurrency": rng.randint(1, 300), "context_tokens": rng.choice(CONTEXTS)},
        "gpus": {g: ({"price_usd_per_gpu_hour": prices[g]} if g in prices else None) for g in gpus},
        "min_headroom": rng.choice(HEADROOMS),
        "engine": {"gpu_memory_utilization": rng.choice(UTILISATIONS)},
        "parallelism": {"tp": [1, 2], "pp": [1, 2]},
        "kv_cache_dtypes": rng.choice((["fp16"], ["fp16", "fp8"])),
    }


def exact_capacity(prepared, candidate) -> int:
    """The largest k the memory model accepts on one GPU of the shape: usable memory and headroom, exact."""
    ctx = prepared.context
    headroom = decimal_fraction(ctx.min_headroom)

    def fits(k: int) -> bool:
        bill = serving_memory(ctx.arch, candidate.layout, ctx.engine_for(candidate.gpu, candidate.layout), candidate.gpu.capacity_bytes, k,
                              ctx.context_tokens, explain=False)
        return bill.total_bytes <= bill.usable_bytes and Fraction(bill.free_bytes, bill.capacity_bytes) >= headroom

    if not fits(0):
        return 0
    low, high = 0, 1
    while fits(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def cover_optimum(shapes: list[tuple[int, int]], demand: int) -> int | None:
    """Least cost of replicas (capacity, price) holding at least ``demand`` sequences: a covering knapsack DP."""
    found = cover_plan([(capacity, price, price) for capacity, price in shapes], demand)
    return None if found is None else found[0]


def cover_plan(shapes: list[tuple[int, int, int]], demand: int) -> tuple[int, int] | None:
    """(cost, true cost) of the cheapest cover by ``cost`` of replicas (capacity, cost, true cost), ties by true cost:
    the plan a model with these capacities and costs would pick, and what it really costs."""
    best: list[tuple[int, int] | None] = [(0, 0)] + [None] * demand
    for need in range(1, demand + 1):
        for capacity, cost, true in shapes:
            previous = best[max(0, need - capacity)] if capacity > 0 else None
            if previous is not None:
                value = (previous[0] + cost, previous[1] + true)
                if best[need] is None or value < best[need]:
                    best[need] = value
    return best[demand]


def mib_rounded_capacity(candidate) -> int:
    """Sequences per replica under the earlier rule: the limit floored and the fixed part and KV per sequence rounded
    up to whole MiB, at least 1 MiB per sequence (kept to measure what exactness changed)."""
    mib, memory = 2**20, candidate.memory
    room = candidate.limit_bytes // mib - -(-memory.fixed_bytes // mib)
    return max(0, room // max(1, -(-memory.kv_cache_bytes_per_sequence // mib)))


def milli_rounded_price(candidate) -> int:
    """A replica's price under the earlier rule, in micro-USD: the float price x GPUs rounded up to a milli-USD."""
    import math

    return math.ceil(round(candidate.price_usd_per_gpu_hour * candidate.gpus_per_replica * 1000, 6)) * 1000


@dataclass
class Tally:
    scenarios: int = 0
    shapes: int = 0
    capacity_mismatches: list[str] = field(default_factory=list)
    price_mismatches: list[str] = field(default_factory=list)
    optimum_mismatches: list[str] = field(default_factory=list)
    budget_equal_cost_feasible: int = 0
    budget_below_cost_infeasible: int = 0
    budget_checks: int = 0
    budget_failures: list[str] = field(default_factory=list)
    short_context_scenarios: int = 0
    capacity_loss: list[float] = field(default_factory=list)  # per shape: 1 - MiB-rounded capacity / exact capacity
    rounded_dearer: list[float] = field(default_factory=list)  # per scenario where the rounded model's plan costs more
    rounded_infeasible: int = 0  # scenarios the rounded model called infeasible that have a plan
    rejected: int = 0  # random options that allow no shape at all (bad input, exit 2)

    @property
    def failures(self) -> list[str]:
        return self.capacity_mismatches + self.price_mismatches + self.optimum_mismatches + self.budget_failures


def check_scenario(data: dict[str, Any], tally: Tally, budgets: bool = True) -> None:
    """Run the four checks on one scenario, adding to ``tally``."""
    scenario = validate_scenario(data)
    try:
        prepared = prepare(scenario, prune=False)
    except InputError:  # e.g. a bf16 model on GPUs without bf16: bad input, nothing to compare
        tally.rejected += 1
        return
    tally.scenarios += 1
    tally.short_context_scenarios += scenario.workload.tokens_per_sequence <= 64
    problem = prepared.problem()
    rows = {row.key: row for row in problem.rows}
    catalog = default_catalog()
    for candidate in prepared.candidates:
        tally.shapes += 1
        row = rows[candidate.key]
        exact = exact_capacity(prepared, candidate)
        if row.max_sequences != exact:
            tally.capacity_mismatches.append(f"{candidate.key}: solver {row.max_sequences}, memory model {exact}")
        written = scenario.gpu_override(candidate.gpu.id).price_usd_per_gpu_hour or catalog.gpu(candidate.gpu.id).price_usd_per_gpu_hour
        if row.price_micro_usd_per_hour != candidate.gpus_per_replica * decimal_fraction(written) * 10**6:
            tally.price_mismatches.append(f"{candidate.key}: {row.price_micro_usd_per_hour} micro-USD for {written} USD/GPU-h")
    demand = scenario.workload.concurrency
    expected = cover_optimum([(min(row.max_sequences, demand), row.price_micro_usd_per_hour) for row in problem.rows], demand)
    rounded = cover_plan([(min(mib_rounded_capacity(c), demand), milli_rounded_price(c), c.price_micro_usd_per_hour)
                          for c in prepared.candidates], demand)
    for candidate in prepared.candidates:
        if candidate.max_sequences:
            tally.capacity_loss.append(1 - mib_rounded_capacity(candidate) / candidate.max_sequences)
    if expected is not None and rounded is None:
        tally.rounded_infeasible += 1
    elif expected is not None and rounded is not None and rounded[1] > expected:
        tally.rounded_dearer.append(rounded[1] / expected - 1)
    try:
        plan = solve_scenario(scenario).plans[0]
        found = plan.cost_micro_usd_per_hour
    except InfeasibleError:
        plan, found = None, None
    if found != expected:
        tally.optimum_mismatches.append(f"{data['model']} x {data['workload']}: solver {found}, exact {expected}")
    if not budgets or plan is None:
        return
    tally.budget_checks += 1
    printed = float(format_usd(found, grouping=False))
    at_cost = solve_scenario(validate_scenario({**data, "budget": {"max_usd_per_hour": printed}})).plans[0]
    if at_cost.cost_micro_usd_per_hour == found:
        tally.budget_equal_cost_feasible += 1
    else:
        tally.budget_failures.append(f"budget {printed} (the printed cost) gave a plan of {at_cost.cost_micro_usd_per_hour}")
    if found > 1:
        below = (found - 1) / 10**6
        try:
            solve_scenario(validate_scenario({**data, "budget": {"max_usd_per_hour": below}}))
            tally.budget_failures.append(f"budget {below} (one micro-USD under the optimum) found a plan")
        except InfeasibleError as exc:
            relaxation = exc.explanation.relaxation("budget") if exc.explanation is not None else None
            if relaxation is None or relaxation.value is None or usd_to_micro_usd_ceil(relaxation.value) < found:
                tally.budget_failures.append(f"budget {below}: the explanation did not name a sufficient budget ({exc.message})")
            else:
                tally.budget_below_cost_infeasible += 1


def run(scenarios: int, seed: int, budgets: bool = True) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for _ in range(scenarios):
        check_scenario(random_scenario(rng), tally, budgets)
    return tally


def summary(tally: Tally) -> dict[str, Any]:
    """What a run found: the counts checked and matched, and what the earlier rounding lost."""
    losses = sorted(tally.capacity_loss)

    def pick(q: float) -> float:
        return losses[min(len(losses) - 1, int(q * len(losses)))] if losses else 0.0

    return {"scenarios": tally.scenarios, "short_context_scenarios": tally.short_context_scenarios, "shapes": tally.shapes,
            "capacity_equal": tally.shapes - len(tally.capacity_mismatches), "prices_equal": tally.shapes - len(tally.price_mismatches),
            "optimum_equal": tally.scenarios - len(tally.optimum_mismatches), "budget_checks": tally.budget_checks,
            "budget_equal_cost_feasible": tally.budget_equal_cost_feasible,
            "budget_below_cost_infeasible": tally.budget_below_cost_infeasible,
            "rounding_loss": {"median": pick(0.5), "p90": pick(0.9), "max": losses[-1] if losses else 0.0},
            "rounded_dearer": len(tally.rounded_dearer), "rounded_dearer_max": max(tally.rounded_dearer, default=0.0),
            "rounded_infeasible": tally.rounded_infeasible, "failures": [str(f) for f in tally.failures[:20]]}


def render(s: dict[str, Any]) -> str:
    lines = [f"{s['scenarios']} random scenarios ({s['short_context_scenarios']} with contexts of at most 64 tokens), "
             f"{s['shapes']:,} replica shapes",
             f"capacity (sequences per replica) equal to the memory model's: {s['capacity_equal']:,}/{s['shapes']:,}",
             f"row prices equal to the written prices (micro-USD):         {s['prices_equal']:,}/{s['shapes']:,}",
             f"CP-SAT optimum equal to the exact covering optimum:          {s['optimum_equal']}/{s['scenarios']}",
             f"printed cost as budget admits the plan:                      {s['budget_equal_cost_feasible']}/{s['budget_checks']}",
             f"one micro-USD under it infeasible, sufficient budget named:  {s['budget_below_cost_infeasible']}/{s['budget_checks']}"]
    loss = s["rounding_loss"]
    if s["shapes"]:
        lines.append(f"the earlier MiB rounding of KV per sequence cost capacity: median {loss['median']:.1%}, p90 {loss['p90']:.1%}, "
                     f"max {loss['max']:.1%} per shape; its optimum cost more than the exact one in {s['rounded_dearer']} "
                     f"of {s['scenarios']} scenarios (up to {s['rounded_dearer_max']:.1%}), and {s['rounded_infeasible']} "
                     "had a plan it called infeasible")
    lines += [f"  MISMATCH {failure}" for failure in s["failures"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", action="store_true", help="Also write benchmarks/results/exactness.json.")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    found = summary(run(args.scenarios, args.seed))
    elapsed = time.perf_counter() - start
    print(render(found))
    print(f"{elapsed:.1f} s")
    if args.save:
        import sys

        from .docs import save_results

        save_results("exactness", {**found, "seconds": round(elapsed, 1)},
                     "python3 -m benchmarks.exactness " + " ".join(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
