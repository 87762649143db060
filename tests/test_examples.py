"""Every example scenario runs: solves and verifies, or (the infeasible example) explains why not."""

import pytest

from planner.api import load_scenario, solve_scenario
from planner.errors import InfeasibleError
from tests.conftest import SCENARIOS

EXAMPLES = sorted(p for p in SCENARIOS.glob("*.yaml") if not p.name.startswith("sweep"))
INFEASIBLE = {"budget-infeasible.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_scenario_runs(path):
    scenario = load_scenario(path)
    if scenario.kind == "training":
        from planner.pipeline.training import solve_training

        if path.name in INFEASIBLE:
            with pytest.raises(InfeasibleError):
                solve_training(scenario)
            return
        report = solve_training(scenario)  # verifies the plan independently of the solver
        assert report.status == "optimal"
        assert scenario.deadline_hours is None or report.plans[0].time.hours <= scenario.deadline_hours
        return
    if path.name in INFEASIBLE:
        with pytest.raises(InfeasibleError):
            solve_scenario(scenario)
        return
    if scenario.demand is not None:
        from planner.pipeline.procurement import solve_procurement_scenario

        plan = solve_procurement_scenario(scenario)  # verifies the schedule independently of the solver
        assert plan.status in ("optimal", "feasible") and plan.total_usd > 0
        return
    report = solve_scenario(scenario)
    assert report.status == "optimal"
    if scenario.workload.is_traffic:
        assert report.plans[0].requests_per_s >= scenario.workload.demand_requests_per_s * (1 - 1e-6)
        assert report.job is None or report.job["hours_to_finish"] <= scenario.workload.offline.deadline_hours
    else:
        assert report.plans[0].concurrency >= scenario.workload.concurrency


def test_there_are_at_least_five_examples():
    assert len(EXAMPLES) >= 5


def test_there_are_at_least_three_traffic_examples_with_an_slo_or_a_deadline():
    kinds = [load_scenario(p).workload.kind for p in EXAMPLES if not p.name.startswith("training-")]
    assert kinds.count("request_rate") >= 2 and kinds.count("offline") >= 1


def test_there_are_at_least_three_training_examples():
    assert len([p for p in EXAMPLES if p.name.startswith("training-")]) >= 3
