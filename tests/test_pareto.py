"""Pareto sets: non-dominated, no duplicates, each point optimal for its bound, and equal to brute force."""

import itertools
import json

import pytest
from click.testing import CliRunner

from planner.analysis.pareto import non_dominated, pareto_front
from planner.api import load_scenario, solve_scenario
from planner.cli import cli
from planner.pipeline.serving import prepare
from planner.schema import validate_scenario
from tests.conftest import SCENARIOS

SMALL = dict(model="llama-3.1-8b", gpus=["l4", "a10g", "l40s"], parallelism={"tp": [1, 2], "pp": [1, 2]},
             workload={"concurrency": 24, "context_tokens": 4096})


def scenario(**fields):
    return validate_scenario({**SMALL, **fields})


@pytest.fixture(scope="module")
def chat_front():
    prepared = prepare(load_scenario(SCENARIOS / "llama-3.1-70b-chat.yaml"))
    return prepared, pareto_front(prepared, "headroom", max_points=6)


def dominates(a, b, objective, maximise):
    sign = 1 if maximise else -1
    return (a.cost_usd_per_hour <= b.cost_usd_per_hour and sign * a.value(objective) >= sign * b.value(objective)
            and (a.cost_usd_per_hour < b.cost_usd_per_hour or sign * a.value(objective) > sign * b.value(objective)))


def test_no_pareto_point_dominates_or_duplicates_another(chat_front):
    _, front = chat_front
    points = front.points
    assert len(points) == 6
    for a in points:
        for b in points:
            assert a is b or not dominates(a, b, "headroom", True)
    assert len({(p.cost_usd_per_hour, p.plan.min_headroom_fraction) for p in points}) == len(points)


def test_headroom_rises_strictly_with_cost_along_the_front(chat_front):
    _, front = chat_front
    costs = [p.cost_usd_per_hour for p in front.points]
    headrooms = [p.plan.min_headroom_fraction for p in front.points]
    assert costs == sorted(costs) and len(set(costs)) == len(costs)
    assert all(a < b for a, b in itertools.pairwise(headrooms))


def test_each_point_costs_what_a_plain_solve_at_its_headroom_costs(chat_front):
    prepared, front = chat_front
    for point in front.points:
        single = solve_scenario(prepared.scenario.model_copy(update={"min_headroom": point.level})).plans[0]
        assert point.status == "optimal"
        assert point.plan.min_headroom_fraction >= point.level
        assert single.cost_usd_per_hour == pytest.approx(point.cost_usd_per_hour, abs=1e-9)


def test_first_point_is_the_cheapest_plan(chat_front):
    prepared, front = chat_front
    cheapest = solve_scenario(prepared.scenario).plans[0]
    assert front.points[0].cost_usd_per_hour == pytest.approx(cheapest.cost_usd_per_hour)


def _free_bytes(c, load):
    m = c.memory
    return m.capacity_bytes - m.fixed_bytes - m.outside_budget_bytes - m.kv_cache_bytes_per_sequence * load


def _exact_headroom(plan):
    """A plan's headroom in exact bytes (the memory model's, which the solver now uses)."""
    return min(_free_bytes(g.candidate, g.concurrency_per_replica) / g.candidate.memory.capacity_bytes for g in plan.groups)


def test_homogeneous_front_equals_brute_force_over_every_shape_and_replica_count():
    s = scenario(solver={"mixed_fleet": False})
    front = pareto_front(prepare(s), "headroom", max_points=100)
    assert front.complete
    demand = s.workload.concurrency
    plans = []
    for c in prepare(s, prune=False).candidates:
        for replicas in range(-(-demand // c.max_sequences), demand + 1):
            load = -(-demand // replicas)
            plans.append((replicas * c.price_micro_usd_per_hour, _free_bytes(c, load) / c.memory.capacity_bytes))
    brute = sorted({(cost, h) for cost, h in plans if not any(
        o_cost <= cost and o_h >= h and (o_cost, o_h) != (cost, h) for o_cost, o_h in plans)})
    found = sorted((p.plan.cost_micro_usd_per_hour, _exact_headroom(p.plan)) for p in front.points)
    assert [cost for cost, _ in found] == [cost for cost, _ in brute]
    assert [h for _, h in found] == pytest.approx([h for _, h in brute], abs=1e-12)


def test_cost_vs_gpus_trades_fewer_gpus_for_more_cost():
    front = pareto_front(prepare(scenario(workload={"concurrency": 200, "context_tokens": 4096})), "gpus")
    gpus = [p.plan.total_gpus for p in front.points]
    costs = [p.cost_usd_per_hour for p in front.points]
    assert len(front.points) >= 2 and front.complete
    assert all(a > b for a, b in itertools.pairwise(gpus)) and all(a < b for a, b in itertools.pairwise(costs))


def test_cost_vs_concurrency_points_match_a_solve_at_their_demand():
    s = scenario()
    front = pareto_front(prepare(s), "concurrency", max_points=5)
    capacities = [p.max_concurrency for p in front.points]
    assert len(front.points) == 5 and all(a < b for a, b in itertools.pairwise(capacities))
    for point in front.points:
        assert point.max_concurrency >= point.level
        at_demand = s.model_copy(update={"workload": s.workload.model_copy(update={"concurrency": int(point.level)})})
        assert solve_scenario(at_demand).plans[0].cost_usd_per_hour == pytest.approx(point.cost_usd_per_hour)


def test_dominance_filter_keeps_the_better_of_equal_cost_points(chat_front):
    _, front = chat_front
    first, second = front.points[0], front.points[1]
    assert non_dominated([second, first, first], "headroom") == [first, second]


def test_solve_pareto_json_lists_plans_like_solve():
    path = str(SCENARIOS / "llama-3.1-8b-consumer-gpu.yaml")
    runner = CliRunner()
    pareto = runner.invoke(cli, ["solve", path, "--pareto", "--pareto-points", "3", "--format", "json"])
    plain = runner.invoke(cli, ["solve", path, "--format", "json"])
    assert pareto.exit_code == 0, pareto.output
    data = json.loads(pareto.output)
    assert data["objectives"] == ["cost", "headroom"] and len(data["pareto"]) == 3
    assert set(data["pareto"][0]["plan"]) == set(json.loads(plain.output)["plans"][0])


def test_solve_pareto_rejects_an_unknown_pair():
    result = CliRunner().invoke(cli, ["solve", str(SCENARIOS / "llama-3.1-8b-consumer-gpu.yaml"), "--pareto", "cost,speed"])
    assert result.exit_code == 2
