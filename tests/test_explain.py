"""Infeasible scenarios say why in the user's terms, and every relaxation they suggest is checked by solving it."""

import re

import pytest
from click.testing import CliRunner

from planner.analysis.explain import explain_infeasible
from planner.api import load_scenario, solve_scenario
from planner.catalog import default_catalog
from planner.cli import cli
from planner.errors import InfeasibleError
from planner.pipeline.serving import prepare, solve_report
from planner.schema import validate_scenario
from planner.units import BYTES_PER_GIB
from tests.conftest import SCENARIOS


def scenario(**fields):
    base = {"model": "llama-3.1-70b", "precisions": ["bf16"], "workload": {"concurrency": 400, "context_tokens": 8192}}
    base.update(fields)
    return validate_scenario(base)


def explain(s):
    return explain_infeasible(prepare(s))


def solves(s) -> bool:
    try:
        solve_scenario(s)
    except InfeasibleError:
        return False
    return True


def with_fields(s, **update):
    return validate_scenario({**s.model_dump(exclude_none=True), **update})


BUDGET = scenario(model="llama-3.1-405b", precisions=["bf16", "fp8"], gpus=["h100-sxm", "h200", "b200"],
                  budget={"max_usd_per_hour": 20}, workload={"concurrency": 32, "context_tokens": 8192})
INVENTORY = scenario(gpus=["h100-sxm", "a100-80gb"], inventory={"h100-sxm": 8, "a100-80gb": 4},
                     budget={"max_usd_per_hour": 1000})


def test_budget_conflict_names_the_budget_and_the_budget_that_suffices():
    e = explain(BUDGET)
    assert [g.name for g in e.conflict] == ["budget", "demand"]
    assert "the budget of $20.00/h" in e.message
    enough = e.relaxation("budget").value
    assert e.relaxation("budget").suggestion == f"a budget of ${enough:,.2f}/h would suffice"
    assert solve_scenario(with_fields(BUDGET, budget={"max_usd_per_hour": enough})).plans[0].cost_usd_per_hour <= enough
    assert not solves(with_fields(BUDGET, budget={"max_usd_per_hour": enough - 0.01}))


def test_the_concurrency_that_fits_is_the_largest_that_solves():
    fits = explain(INVENTORY).relaxation("demand").value
    assert fits > 0
    assert solves(with_fields(INVENTORY, workload={"concurrency": fits, "context_tokens": 8192}))
    assert not solves(with_fields(INVENTORY, workload={"concurrency": fits + 1, "context_tokens": 8192}))


def test_inventory_conflict_gives_the_fewest_extra_gpus_that_suffice():
    e = explain(INVENTORY)
    assert {g.name for g in e.conflict} == {"demand", "inventory:h100-sxm", "inventory:a100-80gb"}
    assert "budget" not in e.message, "a generous budget is not part of the conflict"
    needed = e.relaxation("inventory").value
    assert needed == {"h100-sxm": 16}
    assert solves(with_fields(INVENTORY, inventory={"a100-80gb": 4, **needed}))
    assert not solves(with_fields(INVENTORY, inventory={"a100-80gb": 4, "h100-sxm": 15}))
    assert not solves(with_fields(INVENTORY, inventory={"a100-80gb": 5, "h100-sxm": 14}))


def test_headroom_conflict_gives_the_largest_headroom_that_fits():
    s = scenario(gpus=["h100-sxm"], min_headroom=0.9, parallelism={"pp": [1]}, workload={"concurrency": 16, "context_tokens": 8192})
    e = explain(s)
    assert "headroom" in {g.name for g in e.conflict} and "minimum headroom of 90.0%" in e.message
    fits = e.relaxation("headroom").value
    assert 0 < fits < 0.9
    assert solves(with_fields(s, min_headroom=fits))
    assert not solves(with_fields(s, min_headroom=round(fits + 0.001, 3)))


def test_single_shape_conflict_prices_the_mixed_fleet():
    s = scenario(gpus=["h100-sxm", "a100-80gb"], inventory={"h100-sxm": 8, "a100-80gb": 8},
                 solver={"mixed_fleet": False}, workload={"concurrency": 300, "context_tokens": 8192})
    e = explain(s)
    assert "homogeneous" in {g.name for g in e.conflict}
    mixed = solve_scenario(with_fields(s, solver={"mixed_fleet": True})).plans[0]
    assert e.relaxation("homogeneous").value == pytest.approx(mixed.cost_usd_per_hour, abs=0.001)


def test_weights_that_fit_no_gpu_are_named_with_their_size_and_the_changes_that_fit():
    s = scenario(model="llama-3.1-405b", gpus=["h100-sxm"], parallelism={"pp": [1]}, workload={"concurrency": 8, "context_tokens": 8192})
    e = explain(s)
    assert e.kind == "nothing_fits"
    assert "the weights alone need" in e.message and "TP=8" in e.message and "h100-sxm" in e.message
    published_gib = default_catalog().model("llama-3.1-405b").published_params_total * 2 / 8 / BYTES_PER_GIB  # bf16, TP=8
    stated_gib = float(re.search(r"the weights alone need ([\d.]+) GiB per GPU", e.message).group(1))
    assert stated_gib == pytest.approx(published_gib, rel=0.01)  # 405B x 2 bytes / 8 GPUs (arXiv:2407.21783)
    changes = {r.group: r.value for r in e.relaxations}
    # h200-nvl (TP=8 over PCIe across its NVLink-bridged quads) would fit too, but its price is only estimated
    assert changes["precisions"] == "fp8" and changes["pp"] == 2 and changes["gpus"] == "h200"
    assert solves(with_fields(s, precisions=["bf16", "fp8"]))
    assert solves(with_fields(s, parallelism={"pp": [1, 2]}))
    assert solves(with_fields(s, gpus=["h100-sxm", "h200"]))


def test_a_context_too_long_for_any_gpu_gives_the_longest_that_fits():
    # pp 1: TP=8 over PCIe inside one 8 x L4 node holds about 1.2M tokens; pipelines across nodes would hold 2M
    s = scenario(model="llama-3.1-8b", gpus=["l4"], parallelism={"pp": [1]}, workload={"concurrency": 8, "context_tokens": 2_000_000})
    e = explain(s)
    assert "one sequence of 2,000,000 tokens needs" in e.message and "of KV cache per GPU" in e.message
    longest = e.relaxation("context").value
    assert prepare(with_fields(s, workload={"concurrency": 8, "context_tokens": longest})).candidates
    assert not prepare(with_fields(s, workload={"concurrency": 8, "context_tokens": longest + 1})).candidates


def test_infeasible_solve_exits_1_with_reason_and_suggestion_on_stderr():
    result = CliRunner().invoke(cli, ["solve", str(SCENARIOS / "budget-infeasible.yaml")])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("infeasible: no plan serves 32 concurrent sequences")
    assert "budget.max_usd_per_hour" in result.stderr and "would suffice" in result.stderr
    assert "Traceback" not in result.output


def test_the_enumerate_method_explains_its_single_shape_rule():
    s = scenario(gpus=["h100-sxm", "a100-80gb"], inventory={"h100-sxm": 8, "a100-80gb": 8},
                 workload={"concurrency": 300, "context_tokens": 8192})
    with pytest.raises(InfeasibleError) as caught:
        solve_scenario(s, method="enumerate")
    assert "--method enumerate" in caught.value.render() and "--method cpsat" in caught.value.render()


# --- hard problems: the time limit and Ctrl-C return the best plan so far, never a false 'optimal' -------------------

def test_a_time_limit_hit_before_the_first_solution_returns_a_verified_feasible_plan_with_its_gap():
    s = validate_scenario({"model": "llama-3.1-70b", "precisions": ["bf16", "fp8"], "gpus": ["h100-sxm", "a100-80gb"],
                           "inventory": {"h100-sxm": 8, "a100-80gb": 16}, "workload": {"concurrency": 512, "context_tokens": 8192}})
    optimal = solve_scenario(s)
    stopped = solve_report(prepare(s), time_limit_s=1e-6)  # the search only (solve_scenario's limit covers preparing too)
    assert optimal.status == "optimal" and stopped.status == "feasible"
    bound, cost = stopped.solver["best_bound_usd_per_hour"], stopped.plans[0].cost_usd_per_hour
    assert bound <= optimal.plans[0].cost_usd_per_hour <= cost
    assert stopped.solver["gap"] == pytest.approx((cost - bound) / cost, abs=1e-3) and stopped.solver["gap"] > 0


def test_a_stopped_search_is_shown_as_feasible_with_its_gap_never_as_optimal():
    from rich.console import Console

    from planner.report.serving import render_solve_table

    report = solve_report(prepare(load_scenario(SCENARIOS / "inventory-mixed-fleet.yaml")), time_limit_s=1e-6)
    console = Console(record=True, width=200)
    render_solve_table(report, console)
    text = console.export_text()
    assert f"feasible (gap {report.solver['gap']:.1%}, not proven optimal)" in text and "status: optimal" not in text


def _hard_problem(rows: int = 40, seed: int = 0):
    """A subset-sum in disguise: one GPU of each type, price = sequences held, demand just over half of all.

    The greedy hint is a first plan at once, but proving the cheapest cover takes CP-SAT many seconds.
    """
    import random

    from planner.solver.problem import Problem, Row

    rng = random.Random(seed)
    sizes = [rng.randint(10**7, 9 * 10**7) for _ in range(rows)]
    shapes = tuple(Row(f"shape{i}", f"gpu{i}", 1, size, 10**8 - size, 1, 10**8, 10**8) for i, size in enumerate(sizes))
    return Problem(shapes, sum(sizes) // 2 + 1, None, {f"gpu{i}": 1 for i in range(rows)}, True)


def test_ctrl_c_during_a_solve_returns_the_best_plan_so_far():
    import os
    import signal
    import threading

    from planner.solver.cpsat import solve_cpsat

    problem = _hard_problem()
    outside_the_solver = []
    previous = signal.signal(signal.SIGINT, lambda *args: outside_the_solver.append(args))
    timer = threading.Timer(0.6, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        outcome = solve_cpsat(problem, time_limit_s=60.0)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    from planner.solver import sat_api

    assert not outside_the_solver, "the signal must land inside the CP-SAT search for this test to mean anything"
    assert outcome.interrupted and sat_api.interrupted(), "later work must know the search was stopped by Ctrl-C"
    sat_api.clear_interrupt()
    assert outcome.wall_time_s < 30 and outcome.assignment is not None
    assert outcome.status in ("optimal", "feasible")
    assert outcome.best_bound_micro_usd <= outcome.objective_micro_usd
    assert sum(outcome.assignment.sequences.values()) == problem.demand_sequences


def test_when_the_conflict_search_runs_out_of_time_the_budget_is_still_named_with_the_budget_that_suffices(monkeypatch):
    """The conflict search can stall on large fleets; it must not then blame the time limit when the budget alone
    excludes every plan (the fast serving model without the budget finds the cheapest plan)."""
    from planner.analysis import explain_limits as module

    monkeypatch.setattr(module, "_solve", lambda model, enforced, time_limit_s: ("unknown", None))
    e = explain(BUDGET)
    assert e.kind == "conflicting_limits" and "budget" in {g.name for g in e.conflict}
    assert "time limit" not in e.message
    enough = e.relaxation("budget").value
    assert solves(with_fields(BUDGET, budget={"max_usd_per_hour": enough}))


def test_when_the_conflict_search_runs_out_of_time_without_a_budget_the_limits_are_listed_not_the_time_limit(monkeypatch):
    from planner.analysis import explain_limits as module

    monkeypatch.setattr(module, "_solve", lambda model, enforced, time_limit_s: ("unknown", None))
    e = explain(INVENTORY.model_copy(update={"budget": INVENTORY.budget.model_copy(update={"max_usd_per_hour": None})}))
    assert "(proven by the solver)" in e.message and "inventory" in e.message
    assert any("could not be narrowed down" in issue.message for issue in e.issues)
