"""Every example scenario runs: solves and verifies, or (the infeasible example) explains why not; its JSON output
is what ``planner schema plan`` describes."""

import pytest
from click.testing import CliRunner

from planner.api import load_scenario, solve_scenario
from planner.cli import cli
from planner.errors import InfeasibleError
from planner.schema.outputs import PLAN, ProcurementSolveOutput, ServingSolveOutput, TrainingSolveOutput
from tests.conftest import SCENARIOS

EXAMPLES = sorted(p for p in SCENARIOS.glob("*.yaml") if not p.name.startswith("sweep"))
INFEASIBLE = {"budget-infeasible.yaml"}


def solve_json(path):
    """``planner solve PATH --format json``: exit code and the JSON, validated against ``planner schema plan``."""
    result = CliRunner().invoke(cli, ["solve", str(path), "--format", "json"])
    if result.exit_code != 0:
        return result.exit_code, None
    return 0, PLAN.validate_json(result.stdout)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_scenario_runs_and_its_json_matches_the_output_schema(path):
    """Each solve verifies its plan independently of the solver; its JSON is what ``planner schema plan`` says."""
    scenario = load_scenario(path)
    exit_code, output = solve_json(path)
    if path.name in INFEASIBLE:
        assert exit_code == 1
        with pytest.raises(InfeasibleError):
            solve_scenario(scenario)
        return
    assert exit_code == 0
    if scenario.kind == "training":
        assert isinstance(output, TrainingSolveOutput) and output.status == "optimal"
        assert scenario.deadline_hours is None or output.plans[0].hours <= scenario.deadline_hours
        return
    if scenario.demand is not None:
        assert isinstance(output, ProcurementSolveOutput)
        assert output.status in ("optimal", "feasible") and output.total_cost_usd > 0
        return
    assert isinstance(output, ServingSolveOutput) and output.status == "optimal"
    plan = output.plans[0]
    if scenario.workload.is_traffic:
        assert (plan.requests_per_s or 0.0) >= round(scenario.workload.demand_requests_per_s * (1 - 1e-6), 4) - 1e-4
        assert output.job is None or output.job.hours_to_finish <= scenario.workload.offline.deadline_hours
    else:
        assert plan.concurrency >= scenario.workload.concurrency


def test_there_are_at_least_five_examples():
    assert len(EXAMPLES) >= 5


def test_there_are_at_least_three_traffic_examples_with_an_slo_or_a_deadline():
    kinds = [load_scenario(p).workload.kind for p in EXAMPLES if not p.name.startswith("training-")]
    assert kinds.count("request_rate") >= 2 and kinds.count("offline") >= 1


def test_there_are_at_least_three_training_examples():
    assert len([p for p in EXAMPLES if p.name.startswith("training-")]) >= 3
