"""Traffic scenarios end to end: rates within the SLO, topology rules, tie-breaks at equal cost, explanations,
the cost-latency frontier and independent re-checks with the performance model."""

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.analysis.pareto import non_dominated, pareto_front
from planner.api import solve_scenario
from planner.candidates.capacity import Traffic, serving_shape
from planner.errors import InfeasibleError, InputError
from planner.performance.serving import RequestRate, predict
from planner.pipeline.serving import prepare
from planner.rules import Rule
from planner.schema import validate_scenario
from planner.solver.cpsat import solve_cpsat

CHAT = {"request_rate": 2, "prompt_tokens": 1000, "output_tokens": 200, "slo": {"tpot_ms": 60, "ttft_ms": 2000, "percentile": "p90"}}


def scenario(**fields):
    return validate_scenario({"model": "llama-3.1-70b", "workload": CHAT, **fields})


def keys(plan):
    return [(g.candidate.key, g.count) for g in plan.groups]


def test_at_equal_cost_tp4_beats_tp2_pp2_for_70b_on_h100():
    # both shapes take 4 H100s of one NVSwitch node; TP=4 decodes faster (issue 10's first example)
    for workload in (CHAT, {"concurrency": 32, "context_tokens": 4096}):
        plan = solve_scenario(scenario(workload=workload, gpus=["h100-sxm"], parallelism={"tp": [2, 4], "pp": [2, 1]})).plans[0]
        assert plan.total_gpus == 4 and keys(plan) == [("h100-sxm/tp4/pp1/bf16/kv-fp16", 1)], keys(plan)


def test_at_equal_cost_bf16_beats_int4_weights_with_an_fp8_kv_cache():
    s = scenario(precisions=["int4-awq", "bf16"], kv_cache_dtypes=["fp8", "fp16"], gpus=["h100-sxm"],
                 parallelism={"tp": [4], "pp": [1]}, workload={"concurrency": 16, "context_tokens": 4096})
    assert keys(solve_scenario(s).plans[0]) == [("h100-sxm/tp4/pp1/bf16/kv-fp16", 1)]


def test_tensor_parallelism_over_pcie_is_allowed_and_its_all_reduces_are_priced():
    s = scenario(precisions=["fp8"], gpus=["l40s"], parallelism={"tp": [4], "pp": [1]})
    (group,) = solve_scenario(s).plans[0].groups
    assert group.candidate.tp_link == "pcie" and group.to_dict()["tp_link"] == "pcie"
    assert group.performance.breakdown_ms["communication_ms"] > 0  # the PCIe all-reduces are in every step
    nvlink = solve_scenario(scenario(precisions=["fp8"], gpus=["h100-sxm"], parallelism={"tp": [4], "pp": [1]})).plans[0]
    assert group.performance.breakdown_ms["communication_ms"] > 5 * nvlink.groups[0].performance.breakdown_ms["communication_ms"]


def test_tensor_parallelism_never_crosses_the_network_but_pipelines_may():
    s = scenario(precisions=["fp8"], gpus={"l40s": {"gpus_per_node": 2}}, parallelism={"tp": [1, 2, 4, 8], "pp": [1, 2, 4]},
                 workload={"concurrency": 8, "context_tokens": 4096})
    prepared = prepare(s)
    assert all(c.layout.tp <= 2 for c in prepared.enumeration.candidates)
    crossing = [r for r in prepared.enumeration.rejections if r.reason is Rule.TP_CROSSES_NETWORK]
    assert {r.key for r in crossing} == {f"l40s/tp{tp}/pp{pp}" for tp in (4, 8) for pp in (1, 2, 4)}
    assert any(c.crosses_network for c in prepared.enumeration.candidates)  # TP=2 x PP=2 spans two 2-GPU nodes
    for group in solve_scenario(s).plans[0].groups:
        assert group.candidate.layout.tp <= 2


def test_shapes_that_cannot_meet_the_slo_are_counted_and_the_nearest_change_is_named():
    s = scenario(gpus=["h100-sxm", "a100-80gb"], parallelism={"tp": [1, 2, 4]},
                 workload={**CHAT, "slo": {"tpot_ms": 12, "percentile": "p90"}})
    with pytest.raises(InfeasibleError) as caught:
        solve_scenario(s)
    message = caught.value.message
    assert message.startswith("no replica shape meets the SLO at any load: the fastest shape")
    assert "TPOT" in message and "the SLO asks 12 ms" in message
    reached = float(message.split("reaches TPOT ")[1].split(" ms")[0])
    assert reached > 12
    changes = {r.group: r for r in caught.value.explanation.relaxations}
    assert changes["slo"].value >= reached
    fix = changes.get("precisions") or changes.get("tp") or changes.get("gpus")
    assert fix is not None  # and the change it names does give a plan:
    update = {"precisions": {"precisions": ["bf16", fix.value]}, "tp": {"parallelism": {"tp": [1, 2, 4, fix.value]}},
              "gpus": {"gpus": ["h100-sxm", "a100-80gb", fix.value]}}[fix.group]
    assert solve_scenario(scenario(**{"gpus": ["h100-sxm", "a100-80gb"], "parallelism": {"tp": [1, 2, 4]},
                                      "workload": {**CHAT, "slo": {"tpot_ms": 12, "percentile": "p90"}}, **update})).plans


def test_a_budget_too_small_for_the_rate_names_the_rate_that_fits():
    s = scenario(gpus=["h100-sxm"], workload={**CHAT, "request_rate": 20}, budget={"max_usd_per_hour": 20})
    with pytest.raises(InfeasibleError) as caught:
        solve_scenario(s)
    rate = caught.value.explanation.relaxation("demand").value
    assert 0 < rate < 20
    assert solve_scenario(scenario(gpus=["h100-sxm"], workload={**CHAT, "request_rate": rate}, budget={"max_usd_per_hour": 20}))


def _repredicted(plan, prepared):
    """Each group's TTFT and TPOT at the SLO's percentile at its load, predicted here from scratch."""
    traffic = Traffic.of(prepared.scenario.workload)
    for group in plan.groups:
        shape = serving_shape(group.candidate, prepared.context)
        perf = predict(shape, traffic.mix, RequestRate(group.load_requests_per_s / group.count), group.candidate.max_sequences)
        yield group, perf


@st.composite
def traffic_scenarios(draw):
    model = draw(st.sampled_from(["llama-3.1-8b", "qwen2.5-7b", "llama-3.1-70b"]))
    slo = {"percentile": draw(st.sampled_from(["p50", "p90", "p99"]))}
    if draw(st.booleans()):
        slo["tpot_ms"] = draw(st.sampled_from([25, 40, 60, 100]))
    if draw(st.booleans()) or "tpot_ms" not in slo:
        slo["ttft_ms"] = draw(st.sampled_from([300, 1000, 3000]))
    gpus = draw(st.lists(st.sampled_from(["l4", "l40s", "a100-80gb", "h100-sxm", "h200", "rtx-4090"]), min_size=1, max_size=3, unique=True))
    fp8 = gpus != ["a100-80gb"] and draw(st.booleans())  # every other GPU here has FP8 tensor cores
    return validate_scenario({
        "model": model, "precisions": ["bf16", "fp8"] if fp8 else ["bf16"], "gpus": gpus,
        "workload": {"request_rate": draw(st.sampled_from([0.5, 3, 12, 40])), "prompt_tokens": draw(st.sampled_from([200, 1500, 6000])),
                     "output_tokens": draw(st.sampled_from([50, 300])), "slo": slo},
        "whole_instances": draw(st.booleans()),
    })


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(traffic_scenarios())
def test_every_traffic_plan_meets_its_slo_when_re_predicted_by_the_performance_model(s):
    try:
        report = solve_scenario(s)
    except InfeasibleError as caught:
        assert caught.explanation is not None and caught.explanation.kind in ("slo_unreachable", "conflicting_limits", "nothing_fits")
        return
    plan, prepared = report.plans[0], prepare(s)
    slo = s.workload.slo
    assert plan.requests_per_s == pytest.approx(s.workload.request_rate, rel=1e-3)
    for _group, perf in _repredicted(plan, prepared):
        assert not perf.saturated
        if slo.ttft_ms is not None:
            assert perf.ttft_ms.at(slo.percentile) <= slo.ttft_ms * (1 + 1e-9)
        if slo.tpot_limit_ms is not None:
            assert perf.tpot_ms.at(slo.percentile) <= slo.tpot_limit_ms * (1 + 1e-9)


def _exhaustive_cost(problem):
    rows = problem.rows
    best = None
    for counts in itertools.product(*(range(problem.replica_upper_bound(r) + 1) for r in rows)):
        replicas = {r.key: n for r, n in zip(rows, counts) if n}
        if not replicas or sum(counts) > problem.demand or not problem.within_limits(replicas):
            continue
        if sum(n * problem.capacity(r) for r, n in zip(rows, counts)) >= problem.demand:
            cost = problem.cost(replicas)
            best = cost if best is None else min(best, cost)
    return best


@pytest.mark.parametrize("rate, gpus, stock", [(3, ["l40s", "a100-80gb"], {"a100-80gb": 2}), (9, ["h100-sxm", "l40s"], {"h100-sxm": 4}),
                                               (25, ["h200", "a100-80gb"], {})])
def test_cpsat_equals_exhaustive_search_on_small_traffic_scenarios(rate, gpus, stock):
    s = scenario(precisions=["fp8", "bf16"], gpus=gpus, inventory=stock, parallelism={"tp": [2, 4], "pp": [1]},
                 workload={**CHAT, "request_rate": rate})
    problem = prepare(s).problem()
    assert 1 <= len(problem.rows) <= 6
    outcome = solve_cpsat(problem)
    assert outcome.objective_micro_usd == _exhaustive_cost(problem)


def test_cost_tpot_frontier_is_non_dominated_and_each_point_meets_its_own_target():
    s = scenario(precisions=["bf16", "fp8"], gpus=["h100-sxm", "a100-80gb", "l40s"], workload={**CHAT, "request_rate": 6})
    front = pareto_front(prepare(s), "tpot", max_points=6)
    points = front.points
    assert len(points) >= 3 and non_dominated(list(points), "tpot") == list(points)
    costs = [p.cost_micro_usd_per_hour for p in points]
    tpots = [p.value("tpot") for p in points]
    assert costs == sorted(costs) and tpots == sorted(tpots, reverse=True)
    assert all(a > b for a, b in itertools.pairwise(tpots))  # strictly faster for strictly more money
    for point in points[1:]:
        assert point.value("tpot") <= point.level  # each point met the tightened target it was solved under


def test_cost_ttft_needs_live_traffic():
    with pytest.raises(InputError):
        pareto_front(prepare(scenario(workload={"concurrency": 8, "context_tokens": 2048}, gpus=["h100-sxm"])), "ttft")


def test_an_offline_job_finishes_by_its_deadline_and_is_priced_per_million_tokens():
    s = validate_scenario({"model": "llama-3.1-8b", "gpus": ["l40s", "a100-80gb", "h100-sxm"],
                           "workload": {"offline": {"requests": 50_000, "deadline_hours": 4}, "prompt_tokens": 3000, "output_tokens": 250}})
    report = solve_scenario(s)
    job = report.job
    assert job["hours_to_finish"] <= 4
    tokens = 50_000 * 3250
    assert job["usd_per_million_tokens"] == pytest.approx(job["cost_usd"] / tokens * 1e6, rel=1e-3)
    assert job["cost_usd"] == pytest.approx(report.plans[0].cost_usd_per_hour * job["hours_to_finish"], rel=1e-3)


def test_every_replica_must_hold_the_longest_request_of_a_mix():
    mix = [{"prompt_tokens": 500, "output_tokens": 100, "weight": 0.95}, {"prompt_tokens": 120_000, "output_tokens": 500, "weight": 0.05}]
    s = validate_scenario({"model": "llama-3.1-8b", "gpus": ["l4", "h100-sxm"], "parallelism": {"tp": [1], "pp": [1]},
                           "workload": {"request_rate": 1, "length_mix": mix, "slo": {"ttft_ms": 60_000, "percentile": "p50"}}})
    prepared = prepare(s)
    assert {c.gpu.id for c in prepared.enumeration.candidates} == {"h100-sxm"}  # 120k tokens of KV do not fit one L4
    assert any("longest request" in r.detail for r in prepared.enumeration.rejections)


def test_the_demand_rounds_up_to_whole_milli_requests_and_the_rates_down():
    s = scenario(gpus=["h100-sxm"], workload={**CHAT, "request_rate": 2.0004})
    prepared = prepare(s)
    assert prepared.problem().demand_milli_rps == 2001
    for c in prepared.candidates:
        found = prepared.capacities(c)
        assert found.rate_milli_rps == math.floor(found.performance.requests_per_s * 1000 + 1e-9)
