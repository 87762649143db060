"""The serving model with traffic demand, whole instances and the latency tie-break: CP-SAT equals an
exhaustive search over replica counts on small problems, and its tie-breaks pick the fastest plan at equal cost."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.solver.cpsat import solve_cpsat
from planner.solver.enumerate import solve_enumerate
from planner.solver.greedy import greedy_plan
from planner.solver.problem import Instance, Problem, Row


def traffic_row(key, gpu_type, gpus, price, rate, latency_us=0, sequences_at_rate=4, max_sequences=8, penalty=0):
    """A shape holding ``max_sequences`` (1 byte each above 1000 bytes of weights) that sustains ``rate`` milli-req/s."""
    return Row(key, gpu_type, gpus, price, 1000, 1, 1000 + max_sequences, 4096, 0, rate, min(sequences_at_rate, max_sequences),
               latency_us, penalty)


def exhaustive(problem: Problem) -> tuple[int, int, int, int] | None:
    """(cost, worst fidelity penalty, worst latency, GPUs) of the lexicographically best replica counts, by trying
    them all."""
    ranges = [range(problem.replica_upper_bound(row) + 1) for row in problem.rows]
    best = None
    for counts in itertools.product(*ranges):
        replicas = {row.key: n for row, n in zip(problem.rows, counts) if n}
        if not replicas or sum(counts) > problem.demand:
            continue
        if sum(n * problem.capacity(row) for row, n in zip(problem.rows, counts)) < problem.demand:
            continue
        if not problem.mixed_fleet and len(replicas) > 1:
            continue
        if not problem.within_limits(replicas):
            continue
        rows = [row for row in problem.rows if row.key in replicas]
        key = (problem.cost(replicas), max(row.fidelity_penalty for row in rows), max(row.latency_us for row in rows),
               sum(replicas[r.key] * r.gpus_per_replica for r in rows))
        best = key if best is None else min(best, key)
    return best


@st.composite
def small_traffic_problems(draw):
    rows = []
    for index in range(draw(st.integers(1, 4))):
        rows.append(traffic_row(f"s{index}", f"g{draw(st.integers(0, 2))}", draw(st.sampled_from([1, 2, 4])),
                                draw(st.integers(1, 900)), draw(st.integers(1, 3000)), draw(st.sampled_from([0, 20_000, 35_000, 50_000])),
                                penalty=draw(st.sampled_from([0, 8, 80, 128]))))
    stock = {f"g{t}": draw(st.integers(0, 12)) for t in range(3) if draw(st.booleans())}
    instances = {f"g{t}": Instance(size, draw(st.integers(1, 3000))) for t in range(3)
                 for size in [draw(st.sampled_from([1, 2, 4, 8]))] if size > 1 and draw(st.booleans())}
    budget = draw(st.one_of(st.none(), st.integers(1, 6000)))
    return Problem(tuple(rows), 0, budget, stock, draw(st.booleans()), demand_milli_rps=draw(st.integers(1, 9000)), instances=instances)


def _outcome_key(problem: Problem, outcome) -> tuple[int, int, int, int]:
    rows = {r.key: r for r in problem.rows}
    replicas = outcome.assignment.replicas
    return (outcome.objective_micro_usd, max(rows[k].fidelity_penalty for k in replicas), max(rows[k].latency_us for k in replicas),
            sum(n * rows[k].gpus_per_replica for k, n in replicas.items()))


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_traffic_problems())
def test_cpsat_equals_exhaustive_search_on_small_traffic_problems_with_instances(problem):
    outcome = solve_cpsat(problem)
    expected = exhaustive(problem)
    if expected is None:
        assert outcome.status == "infeasible"
        return
    assert outcome.status == "optimal"
    assert _outcome_key(problem, outcome) == expected  # cost, then the worst penalty, the worst latency, the GPU count
    assert problem.cost(outcome.assignment.replicas) == outcome.objective_micro_usd


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_traffic_problems())
def test_every_traffic_plan_splits_the_demand_within_each_shapes_sustainable_rate(problem):
    outcome = solve_cpsat(problem)
    if outcome.assignment is None:
        return
    rows = {r.key: r for r in problem.rows}
    load = outcome.assignment.load_milli_rps
    assert sum(load.values()) == problem.demand
    for key, replicas in outcome.assignment.replicas.items():
        row = rows[key]
        assert replicas <= load[key] <= replicas * row.rate_milli_rps  # no idle replica, none beyond its rate
        sequences = outcome.assignment.sequences[key]
        assert sequences * row.rate_milli_rps >= row.sequences_at_rate * load[key]  # Little's law
        assert sequences <= replicas * row.max_sequences  # the memory row


def test_the_load_is_spread_so_every_group_runs_at_the_same_load_factor():
    problem = Problem((traffic_row("a", "g", 1, 100, 1000), traffic_row("b", "h", 1, 100, 3000)), 0, None, {"g": 1, "h": 1},
                      demand_milli_rps=3600)
    load = solve_cpsat(problem).assignment.load_milli_rps
    assert load == {"a": 900, "b": 2700}


def test_at_equal_cost_the_plan_with_the_lower_worst_latency_wins_then_fewer_gpus():
    rows = (traffic_row("pp2", "h100", 4, 4000, 2000, latency_us=41_000),
            traffic_row("tp4", "h100", 4, 4000, 2000, latency_us=23_000),
            traffic_row("tp2", "h100", 2, 2000, 1000, latency_us=23_000))
    outcome = solve_cpsat(Problem(rows, 0, None, {}, demand_milli_rps=4000))
    assert outcome.assignment.replicas == {"tp4": 2}


def test_whole_instances_are_paid_for_even_when_replicas_leave_gpus_idle():
    rows = (traffic_row("tp4", "h100", 4, 4000, 2000),)
    problem = Problem(rows, 0, None, {}, demand_milli_rps=1500, instances={"h100": Instance(8, 8000)})
    outcome = solve_cpsat(problem)
    assert outcome.objective_micro_usd == 8000 and outcome.assignment.replicas == {"tp4": 1}


def test_greedy_and_the_homogeneous_enumerator_price_whole_instances_like_the_model():
    rows = (traffic_row("a", "h100", 2, 2000, 1000), traffic_row("b", "l40s", 1, 900, 300))
    problem = Problem(rows, 0, None, {"h100": 12}, demand_milli_rps=2500, instances={"h100": Instance(8, 8000)})
    best = solve_cpsat(problem).objective_micro_usd
    assert greedy_plan(problem)[0] >= best
    homogeneous = Problem(rows, 0, None, {"h100": 12}, False, demand_milli_rps=2500, instances={"h100": Instance(8, 8000)})
    # one instance, 2 GPUs idle
    assert solve_enumerate(homogeneous).objective_micro_usd == solve_cpsat(homogeneous).objective_micro_usd == 8000


def _solve(**fields):
    from planner.api import solve_scenario
    from planner.schema import validate_scenario

    data = {"model": "llama-3.1-70b", "workload": {"concurrency": 64, "context_tokens": 8192}, **fields}
    return solve_scenario(validate_scenario(data)).plans[0]


def test_whole_instances_rent_the_catalogs_eight_gpu_h100_instance():
    per_gpu = _solve(gpus=["h100-sxm", "b200"])
    whole = _solve(gpus=["h100-sxm", "b200"], whole_instances=True)
    assert per_gpu.gpu_mix == "2x b200"  # two B200s out of an 8-GPU instance: not rentable at that price
    assert whole.total_gpus % 8 == 0 and whole.cost_usd_per_hour >= 8 * 3.99 - 1e-6


def test_a_scenario_can_set_its_own_instance_size_and_idle_gpus_are_paid_and_reported():
    plan = _solve(gpus={"b200": {"instance_gpus": 4}}, whole_instances=True, parallelism={"tp": [1], "pp": [1]},
                  workload={"concurrency": 1, "context_tokens": 8192})
    assert plan.total_gpus == 4 and [(i.gpu, i.count) for i in plan.idle] == [("b200", 3)]
    assert plan.cost_usd_per_hour == pytest.approx(4 * plan.groups[0].candidate.price_usd_per_gpu_hour)
    assert plan.to_dict()["idle_gpus"][0]["count"] == 3


def test_idle_gpus_of_a_whole_instance_are_put_to_work_when_that_lowers_the_latency():
    plan = _solve(gpus={"b200": {"instance_gpus": 4}}, whole_instances=True)
    assert plan.total_gpus == 4 and not plan.idle  # at the instance's cost, four GPUs serve faster than two


def test_owned_gpus_are_never_forced_into_whole_instances():
    plan = _solve(gpus=["a100-80gb"], whole_instances=True, pricing={"rent": [], "owned": {"a100-80gb": 4}},
                  workload={"concurrency": 8, "context_tokens": 4096})
    assert not plan.idle
