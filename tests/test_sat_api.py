"""The lean CP-SAT builder (planner.solver.sat_api) solves models exactly as OR-Tools' own cp_model does."""

from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model as reference

from planner.solver import sat_api

rows = st.lists(st.tuples(st.integers(1, 50), st.integers(1, 9), st.integers(0, 6)), min_size=1, max_size=6)


def build(api, items, demand, budget):
    """min sum(cost*x) s.t. sum(cap*x) >= demand, x <= ub, sum(cost*x) <= budget, x >= 1 <=> used."""
    model = api.CpModel()
    xs, used = [], []
    for index, (_, _, upper) in enumerate(items):
        x = model.new_int_var(0, upper, f"x{index}")
        u = model.new_bool_var(f"u{index}")
        model.add(x >= 1).only_enforce_if(u)
        model.add(x == 0).only_enforce_if(~u)
        xs.append(x)
        used.append(u)
    model.add(sum(cap * x for (_, cap, _), x in zip(items, xs)) >= demand)
    cost = sum(c * x for (c, _, _), x in zip(items, xs))
    model.add(cost <= budget)
    if len(used) > 3:
        model.add_at_most_one(used)
    model.minimize(cost)
    solver = api.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    return status, (solver.objective_value if status in (api.OPTIMAL, api.FEASIBLE) else None)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(rows, st.integers(1, 60), st.integers(1, 400))
def test_lean_builder_matches_ortools_cp_model(items, demand, budget):
    lean_status, lean_objective = build(sat_api, items, demand, budget)
    ref_status, ref_objective = build(reference, items, demand, budget)
    assert int(lean_status) == int(ref_status)
    assert lean_objective == ref_objective


def build_with_assumptions(api, items, demand, budget):
    """Each constraint group behind an assumption literal, as planner.analysis.explain posts them."""
    model = api.CpModel()
    xs = [model.new_int_var(0, upper, f"x{i}") for i, (_, _, upper) in enumerate(items)]
    demand_on, budget_on = model.new_bool_var("demand"), model.new_bool_var("budget")
    model.add(sum(cap * x for (_, cap, _), x in zip(items, xs)) >= demand).only_enforce_if(demand_on)
    model.add(sum(c * x for (c, _, _), x in zip(items, xs)) <= budget).only_enforce_if(budget_on)
    model.add_assumptions([demand_on, budget_on])
    solver = api.CpSolver()
    solver.parameters.num_workers = 1
    status = solver.solve(model)
    core = sorted(solver.sufficient_assumptions_for_infeasibility()) if status == api.INFEASIBLE else []
    return int(status), core


@settings(max_examples=30, deadline=None, derandomize=True)
@given(rows, st.integers(1, 60), st.integers(0, 100))
def test_assumptions_give_the_same_status_and_infeasible_core(items, demand, budget):
    assert build_with_assumptions(sat_api, items, demand, budget) == build_with_assumptions(reference, items, demand, budget)


def build_maximise_with_hint(api, items, budget, hint):
    """max sum(cap*x) s.t. sum(cost*x) <= budget, with a (possibly infeasible) complete hint."""
    model = api.CpModel()
    xs = [model.new_int_var(0, upper, f"x{i}") for i, (_, _, upper) in enumerate(items)]
    model.add(sum(c * x for (c, _, _), x in zip(items, xs)) <= budget)
    for x, value in zip(xs, hint):
        model.add_hint(x, value)
    model.maximize(sum(cap * x for (_, cap, _), x in zip(items, xs)))
    solver = api.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    return int(status), solver.objective_value, solver.best_objective_bound


@settings(max_examples=30, deadline=None, derandomize=True)
@given(rows, st.integers(0, 300), st.lists(st.integers(0, 6), min_size=6, max_size=6))
def test_maximise_with_hints_matches_ortools(items, budget, hint):
    assert build_maximise_with_hint(sat_api, items, budget, hint) == build_maximise_with_hint(reference, items, budget, hint)


def build_boolean_constraints(api, size, exactly):
    model = api.CpModel()
    literals = [model.new_bool_var(f"b{i}") for i in range(size)]
    if exactly:
        model.add_exactly_one(literals)
    else:
        model.add_bool_or(literals)
    model.add(sum(literals) <= 1).only_enforce_if(~literals[0])
    model.minimize(sum((i + 1) * b for i, b in enumerate(literals)) - 2 * literals[-1])
    solver = api.CpSolver()
    solver.parameters.num_workers = 1
    status = solver.solve(model)
    return int(status), solver.objective_value, [solver.boolean_value(b) for b in literals]


@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.integers(1, 6), st.booleans())
def test_exactly_one_bool_or_and_negated_enforcement_match_ortools(size, exactly):
    assert build_boolean_constraints(sat_api, size, exactly) == build_boolean_constraints(reference, size, exactly)


def test_the_installed_ortools_is_in_the_supported_range():
    """pyproject pins ortools>=9.15,<10: the lean builder writes CpModelProto fields of that range."""
    major, minor = (int(part) for part in sat_api.ortools_version().split(".")[:2])
    assert (major, minor) >= (9, 15) and major < 10


def test_a_total_of_no_terms_is_still_a_constraint():
    """sat_api.total([]) compares to a linear constraint (the built-in sum of nothing is 0, whose comparison is a bool):
    0 <= 5 holds and 0 >= 5 makes the model infeasible, as OR-Tools' LinearExpr.sum([]) does."""
    for bound, expected in ((sat_api.total([]) <= 5, sat_api.OPTIMAL), (sat_api.total([]) >= 5, sat_api.INFEASIBLE)):
        model = sat_api.CpModel()
        model.add(bound)
        x = model.new_int_var(0, 3, "x")
        model.minimize(x)
        assert sat_api.CpSolver().solve(model) == expected
    model = sat_api.CpModel()
    x, y = model.new_int_var(0, 3, "x"), model.new_int_var(0, 3, "y")
    model.add(sat_api.total([x, 2 * y]) >= 5)
    model.minimize(sat_api.total([x, y]))
    solver = sat_api.CpSolver()
    assert solver.solve(model) == sat_api.OPTIMAL and solver.objective_value == 3
