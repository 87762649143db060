"""The speed-ups keep the answers: pruning keeps the optimum, the covering formulation matches brute force,
the greedy baseline never beats CP-SAT, the benchmark generator is deterministic, and the lean CP-SAT import
behaves like OR-Tools' own. No timing is asserted here (timings are in benchmarks/ and the README's Performance section).
"""

import itertools
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import case_by_name, inventory_caps, serving_cases, synthetic_catalog, tight_inventory_problems
from planner.candidates.serving import prune_dominated
from planner.pipeline.serving import prepare
from planner.schema import validate_scenario
from planner.solver import sat_api
from planner.solver.cpsat import solve_cpsat
from planner.solver.greedy import greedy_plan, solve_greedy
from planner.solver.problem import Problem, Row, spread_sequences

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _inventory_scenario(seed: int, demand: int, capped_fraction: float, mixed_fleet: bool = True):
    """20 GPU types (synthetic past the catalog), some capped, 70B with 2 formats and 2 KV dtypes."""
    catalog = synthetic_catalog(20, seed)
    caps = inventory_caps(catalog.gpus, seed)
    capped = {gpu: n for i, (gpu, n) in enumerate(sorted(caps.items())) if (i * 7 + seed) % 10 < 10 * capped_fraction}
    scenario = validate_scenario({
        "model": "llama-3.1-70b", "precisions": ["bf16", "fp8"], "kv_cache_dtypes": ["fp16", "fp8"],
        "workload": {"concurrency": demand, "context_tokens": 8192}, "inventory": capped,
        "solver": {"mixed_fleet": mixed_fleet}, "parallelism": {"tp": [1, 2, 4, 8], "pp": [1, 2, 4]}})
    return scenario, catalog


@pytest.mark.parametrize("seed,demand,capped_fraction", [(0, 200, 1.0), (1, 600, 0.5), (2, 900, 0.7), (3, 90, 0.2),
                                                         (4, 1500, 1.0), (5, 40, 0.0)])
def test_pruning_keeps_the_optimum_of_the_unpruned_model_with_inventory_caps(seed, demand, capped_fraction):
    scenario, catalog = _inventory_scenario(seed, demand, capped_fraction)
    pruned, full = prepare(scenario, catalog), prepare(scenario, catalog, prune=False)
    assert len(pruned.candidates) < len(full.candidates)
    a, b = solve_cpsat(pruned.problem()), solve_cpsat(full.problem())
    assert a.status == b.status
    assert a.objective_micro_usd == b.objective_micro_usd
    if a.assignment is not None:
        rows = {r.key: r for r in full.problem().rows}
        gpus = [sum(n * rows[k].gpus_per_replica for k, n in o.assignment.replicas.items()) for o in (a, b)]
        assert gpus[0] == gpus[1]  # the GPU-count tie-break keeps its optimum too


@pytest.mark.parametrize("seed", [0, 1])
def test_pruning_keeps_the_optimum_of_homogeneous_fleets(seed):
    scenario, catalog = _inventory_scenario(seed, 300, 0.5, mixed_fleet=False)
    a = solve_cpsat(prepare(scenario, catalog).problem())
    b = solve_cpsat(prepare(scenario, catalog, prune=False).problem())
    assert (a.status, a.objective_micro_usd) == (b.status, b.objective_micro_usd)


def test_a_capped_gpu_types_shapes_are_never_pruned_by_another_types_shapes():
    scenario, catalog = _inventory_scenario(0, 200, 1.0)
    everything = prepare(scenario, catalog, prune=False).enumeration.candidates
    capped_only = prune_dominated(everything)
    assert {c.gpu.id for c in capped_only} == {c.gpu.id for c in everything}


def test_copies_of_a_smaller_shape_replace_a_bigger_one_only_if_no_dearer_and_no_more_gpus():
    everything = prepare(case_by_name("catalog-28").scenario).enumeration.candidates
    kept = prune_dominated(everything, {c.gpu.id for c in everything})
    kept_keys = {c.key for c in kept}
    for b in everything:
        if b.key in kept_keys:
            continue
        assert any(-(-b.max_sequences // a.max_sequences) * a.gpus_per_replica <= b.gpus_per_replica
                   and -(-b.max_sequences // a.max_sequences) * a.price_micro_usd_per_hour <= b.price_micro_usd_per_hour
                   for a in kept), b.key


def _brute_force(problem: Problem) -> int | None:
    """Cheapest replica counts meeting demand within stock and budget, by exhaustive search."""
    ranges = [range(problem.replica_upper_bound(row) + 1) for row in problem.rows]
    best = None
    for counts in itertools.product(*ranges):
        if sum(n * r.max_sequences for n, r in zip(counts, problem.rows)) < problem.demand_sequences:
            continue
        if sum(counts) > problem.demand_sequences:
            continue
        used: dict[str, int] = {}
        for n, r in zip(counts, problem.rows):
            used[r.gpu_type] = used.get(r.gpu_type, 0) + n * r.gpus_per_replica
        if any(used.get(t, 0) > s for t, s in problem.inventory_by_gpu.items()):
            continue
        if not problem.mixed_fleet and sum(1 for n in counts if n) > 1:
            continue
        cost = sum(n * r.price_micro_usd_per_hour for n, r in zip(counts, problem.rows))
        if problem.budget_micro_usd_per_hour is not None and cost > problem.budget_micro_usd_per_hour:
            continue
        best = cost if best is None else min(best, cost)
    return best


@st.composite
def small_problems(draw):
    rows = []
    for index in range(draw(st.integers(1, 4))):
        sequences = draw(st.integers(1, 9))
        rows.append(Row(f"s{index}", f"g{draw(st.integers(0, 2))}", draw(st.integers(1, 4)), draw(st.integers(1, 900)),
                        1000, 100, 1000 + 100 * sequences, 4096))
    stock = {f"g{t}": draw(st.integers(0, 8)) for t in range(3) if draw(st.booleans())}
    budget = draw(st.one_of(st.none(), st.integers(1, 5000)))
    return Problem(tuple(rows), draw(st.integers(1, 24)), budget, stock, draw(st.booleans()))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_the_covering_formulation_finds_the_brute_force_optimum(problem):
    outcome = solve_cpsat(problem)
    expected = _brute_force(problem)
    if expected is None:
        assert outcome.status == "infeasible"
        return
    assert outcome.status == "optimal" and outcome.objective_micro_usd == expected
    rows = {r.key: r for r in problem.rows}
    for key, replicas in outcome.assignment.replicas.items():
        sequences = outcome.assignment.sequences[key]
        assert replicas <= sequences <= replicas * rows[key].max_sequences  # no idle replica, memory respected
    assert sum(outcome.assignment.sequences.values()) == problem.demand_sequences


def test_sequences_are_spread_in_proportion_to_capacity_with_every_replica_busy():
    rows = (Row("a", "g", 1, 1, 0, 1, 10, 10), Row("b", "g", 1, 1, 0, 1, 30, 30), Row("c", "h", 1, 1, 0, 1, 5, 5))
    problem = Problem(rows, 41, None, {})
    shares = spread_sequences(problem, {"a": 1, "b": 1, "c": 1})
    assert shares == {"a": 9, "b": 27, "c": 5}
    assert spread_sequences(Problem(rows, 3, None, {}), {"a": 1, "b": 1, "c": 1}) == {"a": 1, "b": 1, "c": 1}


@pytest.mark.parametrize("name,problem", tight_inventory_problems(range(1), (0.3, 0.8, 0.97), "medium-20-inventory"))
def test_greedy_never_beats_cpsat_and_its_plans_are_feasible(name, problem):
    greedy, best = solve_greedy(problem), solve_cpsat(problem)
    assert best.status == "optimal"
    if greedy.assignment is None:
        return
    assert greedy.objective_micro_usd >= best.objective_micro_usd
    rows = {r.key: r for r in problem.rows}
    assert sum(greedy.assignment.sequences.values()) == problem.demand_sequences
    used: dict[str, int] = {}
    for key, n in greedy.assignment.replicas.items():
        assert n <= greedy.assignment.sequences[key] <= n * rows[key].max_sequences
        used[rows[key].gpu_type] = used.get(rows[key].gpu_type, 0) + n * rows[key].gpus_per_replica
    assert all(used.get(t, 0) <= s for t, s in problem.inventory_by_gpu.items())


def test_greedy_finds_a_mixed_plan_when_stock_rules_out_a_single_shape():
    rows = (Row("a", "g", 1, 100, 0, 1, 10, 10), Row("b", "h", 1, 150, 0, 1, 10, 10))
    found = greedy_plan(Problem(rows, 30, None, {"g": 2, "h": 2}))
    assert found is not None and found[0] == 2 * 100 + 150 and set(found[1].replicas) == {"a", "b"}


def test_the_generator_builds_identical_scenarios_from_the_same_seed():
    def fingerprint(seed):
        return [(c.name, c.scenario.model_dump_json(), [g.model_dump_json() for g in c.catalog.gpus]) for c in serving_cases(seed)]

    assert fingerprint(0) == fingerprint(0)
    assert fingerprint(0) != fingerprint(1)


def test_the_largest_benchmark_has_thousands_of_shapes_over_60_gpu_types_with_caps():
    case = case_by_name("largest-60-inventory")
    prepared = prepare(case.scenario, case.catalog)
    assert case.gpu_types == 60 and len(case.scenario.inventory) == 60
    assert len(prepared.enumeration.candidates) >= 2000


def _modules_loaded_by(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules with one of ``prefixes`` that a fresh interpreter has loaded after running ``code``."""
    report = f"\nprint(sorted(m for m in __import__('sys').modules if m.startswith({prefixes!r})))"
    result = subprocess.run([sys.executable, "-c", code + report], capture_output=True, text=True, cwd=ROOT, check=True)
    return eval(result.stdout.strip().splitlines()[-1])


def test_a_solve_loads_neither_numpy_nor_pandas():
    """cp_model's numpy/pandas imports were what made start-up slow; the proto builder must not bring them back."""
    code = ("from planner.solver.cpsat import solve_cpsat\n"
            "from planner.solver.problem import Problem, Row\n"
            "assert solve_cpsat(Problem((Row('a', 'g', 1, 5, 0, 1, 10, 10),), 25, None, {})).objective_micro_usd == 15")
    assert _modules_loaded_by(code, ("numpy", "pandas")) == []


def test_a_serving_solve_with_json_output_loads_neither_the_training_schema_nor_rich():
    """Both are imported where they are used (a training scenario, a table): start-up time every command pays."""
    code = ("import contextlib, io, sys\n"
            "from planner.cli import main\n"
            "sys.argv = ['planner', 'solve', 'benchmarks/scenarios/full-catalog-traffic.yaml', '--format', 'json']\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    main()")
    assert _modules_loaded_by(code, ("rich", "planner.schema.training", "planner.memory.training")) == []


def _distinct_asking_every_preference(replacers, strict=False):
    """The replacer list as it was built before the preferences were asked only where needed."""
    from planner.candidates.serving import DISTINCT_AFTER

    if len(replacers) <= DISTINCT_AFTER:
        return replacers
    seen, out = set(), []
    for x in replacers:
        signature = (x.gpus, x.capacity, x.price, x.whole_instance, x.candidate.fidelity_penalty, x.preference)
        if signature not in seen:
            seen.add(signature)
            out.append(x)
    return out


@pytest.mark.parametrize("scenario", ["full-catalog.yaml", "full-catalog-traffic-8-formats.yaml"])
def test_pruning_that_asks_few_tie_break_latencies_keeps_the_same_shapes(scenario, monkeypatch):
    """Replacers are told apart by their tie-break latency only where they agree on everything else, and not at all
    in the strict pass: the kept shapes are those asking every replacer's latency keeps, in the same order."""
    from planner.api import load_scenario
    from planner.candidates import serving as candidates

    loaded = load_scenario(os.path.join(ROOT, "benchmarks", "scenarios", scenario))
    fast = [c.key for c in prepare(loaded).candidates]
    monkeypatch.setattr(candidates, "_distinct", _distinct_asking_every_preference)
    assert fast == [c.key for c in prepare(loaded).candidates]


def test_replacers_are_told_apart_by_their_preferences_only_where_everything_else_agrees():
    """70 replacers (past DISTINCT_AFTER): three share GPUs, capacity and price, two of them with different tie-break
    latencies. Only those three are asked their latency; the two that differ both stay (each replaces other shapes at
    equal cost), the exact copy goes; in the strict pass, where only strictly cheaper copies replace, one stays."""
    from types import SimpleNamespace

    from planner.candidates.serving import _distinct, _Shape

    asked = []

    def preference(candidate):
        asked.append(candidate.key)
        return (0, candidate.latency)

    def shape(rank, gpus, capacity, price, latency):
        candidate = SimpleNamespace(key=f"s{rank}", fidelity_penalty=0, latency=latency)
        return _Shape(candidate, "g", gpus, capacity, price, rank, preference, False, capacity)

    unique = [shape(rank, 1, 10 + rank, 1000, 5) for rank in range(67)]
    twins = [shape(67, 2, 8, 900, 100), shape(68, 2, 8, 900, 10), shape(69, 2, 8, 900, 100)]
    kept = _distinct(unique + twins)
    assert [x.rank for x in kept] == list(range(69)) and sorted(asked) == ["s67", "s68", "s69"]
    asked.clear()
    assert [x.rank for x in _distinct(unique + twins, strict=True)] == list(range(68)) and asked == []


def _pruned_by_the_definition(candidates, uncapped=(), whole=(), capacity=None, latency_us=None):
    """``prune_dominated`` as its docstring states it, without the scans' shortcuts (price-per-unit order, GPU buckets,
    integer pre-tests, merged replacers): per GPU type the one-for-one frontier and what no frontier shape dominates,
    then what no uncapped shape dominates, first for strictly cheaper copies, then with the tie-breaks."""
    from planner.candidates.serving import _Shape

    def preference(c):
        return c.fidelity_penalty, latency_us(c) if latency_us else 0

    shapes = [_Shape.of(c, capacity(c) if capacity else c.max_sequences, preference, c.gpu.id in whole) for c in candidates]
    for strict in (True, False):
        survivors = []
        for gpu in dict.fromkeys(x.gpu_type for x in shapes):
            frontier = []
            for x in sorted((x for x in shapes if x.gpu_type == gpu), key=lambda x: (x.gpus, -x.capacity, x.rank)):
                if not any(kept.capacity >= x.capacity and kept.replaces(x, strict) for kept in frontier):
                    frontier.append(x)
            survivors += [b for b in frontier if not any(a is not b and a.dominates(b, strict) for a in frontier)]
        replacers = [x for x in survivors if x.gpu_type in uncapped and x.gpu_type not in whole]
        shapes = [b for b in survivors if b.gpu_type in whole or not any(a is not b and a.dominates(b, strict) for a in replacers)]
    return sorted((x.candidate for x in shapes), key=lambda c: c.rank)


def _with_caps_and_whole_instances():
    scenario, catalog = _inventory_scenario(2, 900, 0.5)
    return validate_scenario({**scenario.model_dump(exclude_none=True, exclude_defaults=True), "whole_instances": True}), catalog


@pytest.mark.parametrize("make", [lambda: (validate_scenario({"model": "llama-3.1-70b", "precisions": ["bf16", "fp8", "int8", "int4-awq"],
                                                              "kv_cache_dtypes": ["fp16", "fp8"],
                                                              "workload": {"concurrency": 256, "context_tokens": 8192}}), None),
                                  lambda: _inventory_scenario(1, 600, 0.5), _with_caps_and_whole_instances],
                         ids=["full-catalog", "inventory-caps", "caps-and-whole-instances"])
def test_pruning_keeps_exactly_what_the_definition_of_dominance_keeps(make):
    from planner.pipeline.serving import whole_instance_sizes

    scenario, catalog = make()
    full = prepare(scenario, catalog, prune=False)
    uncapped = {g.id for g in full.gpus if scenario.inventory_of(g.id) is None}
    whole = whole_instance_sizes(scenario, full.gpus)
    table = full.capacities
    expected = _pruned_by_the_definition(full.enumeration.candidates, uncapped, whole, table.unit, table.latency_us)
    assert [c.key for c in prepare(scenario, catalog).candidates] == [c.key for c in expected]


def test_python_ctrl_c_handling_is_restored_after_a_solve_that_caught_sigint():
    received = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        model = sat_api.CpModel()
        x = model.new_int_var(0, 10, "x")
        model.add(x >= 3)
        model.minimize(x)
        solver = sat_api.CpSolver()
        solver.parameters.catch_sigint_signal = True
        assert solver.solve(model) == sat_api.OPTIMAL and solver.value(x) == 3
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(received) == 1
