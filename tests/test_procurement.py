"""Procurement over time: one CP-SAT plan over all periods, checked against the single-period planner, brute force,
hand computations and the binomial model of spot interruptions."""

import itertools
import json
import math
from fractions import Fraction

import pytest

from planner.api import solve_scenario
from planner.catalog import default_catalog
from planner.catalog.pricing import HOURS_PER_YEAR
from planner.errors import InputError, ScenarioError
from planner.pipeline.procurement import solve_procurement_scenario
from planner.pipeline.supply import guaranteed_units
from planner.schema import validate_scenario

SMALL = {"model": "llama-3.1-8b", "workload": {"concurrency": 40, "context_tokens": 4096}, "gpus": ["l4", "l40s"],
         "parallelism": {"tp": [1], "pp": [1]}}
L4_SEQUENCES, L40S_SEQUENCES = 8, 49  # llama-3.1-8b bf16, 4,096 tokens, one GPU (the memory model's capacity)
POWER_PUE, POWER_USD_PER_KWH = 1.58, 0.0806


def scenario(demand, pricing=None, **fields):
    return validate_scenario({**SMALL, **fields, "demand": demand, **({"pricing": pricing} if pricing is not None else {})})


def gpus_by_source(plan, period=0, slot=0):
    out = {}
    for pool, n in plan.periods[period].slots[slot].gpus.items():
        info = plan.pools[pool]
        out[(info.gpu, info.source)] = out.get((info.gpu, info.source), 0) + n
    return {k: v for k, v in out.items() if v}


def test_the_small_cases_shapes_hold_what_the_brute_force_assumes():
    plan = solve_procurement_scenario(scenario({"loads": [8]}))
    assert plan.capacity == {"l4/tp1/pp1/bf16/kv-fp16": L4_SEQUENCES, "l40s/tp1/pp1/bf16/kv-fp16": L40S_SEQUENCES}


@pytest.mark.parametrize("pricing", [None, {"owned": {"l4": 3}}, {"owned": {"l4": 2}, "buy": True}],
                         ids=["rent", "owned", "owned+buy"])
def test_a_flat_one_period_profile_gives_the_single_period_plan(pricing):
    """One hour at the workload's load: the same GPUs per type and source, the same cost per hour (to the cent: each
    procurement cost coefficient, per GPU bought or powered, is rounded up to a milli-USD)."""
    single = solve_scenario(validate_scenario({**SMALL, "workload": {"concurrency": 120, "context_tokens": 4096},
                                               **({"pricing": pricing} if pricing else {})}))
    plan = solve_procurement_scenario(scenario({"loads": [120]}, pricing, workload={"concurrency": 120, "context_tokens": 4096}))
    assert plan.status == "optimal"
    assert plan.total_usd == pytest.approx(single.plans[0].cost_usd_per_hour, abs=0.01)
    mine = {(gpu, {"onprem": "owned"}.get(source, source)): n for (gpu, source), n in gpus_by_source(plan).items()}
    names = {"": "on_demand", "owned": "onprem", "buy": "onprem"}
    theirs: dict = {}
    for group in single.plans[0].groups:
        gpu, _, source = group.candidate.gpu.id.partition("@")
        key = (gpu, "owned" if names.get(source, source) == "onprem" else names.get(source, source))
        theirs[key] = theirs.get(key, 0) + group.gpus
    assert sum(mine.values()) == sum(theirs.values())
    assert {g for g, _ in mine} == {g for g, _ in theirs}


def _brute_force_three_months() -> float:
    """Every commitment of the small horizon below, priced from the catalog by hand; the least total in USD.

    l40s: bought at month 1 or 2 (delivered 4 weeks = 672 h later, so serving from the next month, and charged its
    straight-line depreciation from delivery to the end), reserved for two months at 40 % off; l4: two owned; on
    demand fills the rest. Each GPU holds a fixed number of sequences (one shape per type)."""
    catalog = default_catalog()
    l4, l40s = catalog.gpu("l4"), catalog.gpu("l40s")
    hours, loads, end = 730, [30, 90, 150], 3 * 730
    power = {g.id: g.tdp_watts / 1000 * POWER_PUE * POWER_USD_PER_KWH for g in (l4, l40s)}
    reserved = l40s.price_usd_per_gpu_hour * 0.6
    best = math.inf
    for buy1, buy2, r1, r2, r3 in itertools.product(range(4), range(4), range(4), range(4), range(4)):
        cost = 0.0
        for start, n in ((0, buy1), (730, buy2)):  # book value: depreciation from delivery to the horizon's end
            cost += n * l40s.purchase_price_usd * min(1.0, (end - (start + 672)) / (5 * HOURS_PER_YEAR))
        starts = {0: r1, 1: r2, 2: r3}
        cost += sum(n * reserved * min(2 * hours, end - month * hours) for month, n in starts.items())
        for month, load in enumerate(loads):
            bought = buy1 * (month >= 1) + buy2 * (month >= 2)
            active = sum(n for start, n in starts.items() if start <= month <= start + 1)
            cheapest = math.inf
            for run_l4, run_l40s in itertools.product(range(3), range(bought + 1)):
                committed = (run_l4 * L4_SEQUENCES + (run_l40s + active) * L40S_SEQUENCES)
                residual = max(0, load - committed)
                rent = min(a * l4.price_usd_per_gpu_hour + b * l40s.price_usd_per_gpu_hour
                           for a in range(residual // L4_SEQUENCES + 2) for b in range(residual // L40S_SEQUENCES + 2)
                           if a * L4_SEQUENCES + b * L40S_SEQUENCES >= residual)
                cheapest = min(cheapest, (run_l4 * power["l4"] + run_l40s * power["l40s"] + rent) * hours)
            cost += cheapest
        best = min(best, cost)
    return best


THREE_MONTHS = dict(demand={"period": "month", "loads": [30, 90, 150]},
                    pricing={"owned": {"l4": 2}, "buy": True, "lead_time_weeks": 4, "rent": ["on_demand", "reserved"],
                             "gpus": {"l4": {"max_purchase": 0}},
                             "reserved_terms": [{"months": 2, "discount": 0.4, "gpus": ["l40s"]}]})


def test_the_multi_period_optimum_equals_brute_force_on_a_small_horizon():
    plan = solve_procurement_scenario(scenario(**THREE_MONTHS))
    assert plan.status == "optimal"
    assert plan.total_usd == pytest.approx(_brute_force_three_months(), abs=0.05)


def test_rentals_projected_out_give_the_same_optimum_as_explicit_rentals():
    """The dynamic-programming projection of rentals (planner.solver.rentals) is exact: same objective, to the micro-USD."""
    for case in (THREE_MONTHS, dict(demand={"loads": [40, 75, 120, 160, 90], "repeat": 30}, pricing={"owned": {"l40s": 1}}),
                 dict(demand={"loads": [100, 300, 200], "repeat": 10},
                      pricing={"rent": ["on_demand", "spot"], "spot": {"interruption_probability": 0.1, "availability": 0.99}})):
        projected = solve_procurement_scenario(scenario(**case))
        explicit = solve_procurement_scenario(scenario(**case), project_rentals=False)
        assert projected.status == explicit.status == "optimal"
        assert projected.outcome.objective_micro_usd == explicit.outcome.objective_micro_usd


def test_purchases_count_only_after_their_lead_time():
    """12 weeks = 2,016 h: a purchase ordered at the start of month 1 serves from month 4 (month 3 starts at 1,460 h)."""
    demand = {"period": "month", "loads": [200, 200, 200, 200, 200, 200]}
    plan = solve_procurement_scenario(scenario(demand, {"buy": True, "lead_time_weeks": 12, "rent": ["on_demand"]}))
    delivered = 0
    for month, period in enumerate(plan.periods):
        if month >= 3:
            delivered += plan.periods[month - 3].ordered.get("l40s", 0)
        assert period.onprem_gpus.get("l40s", 0) == delivered
        assert gpus_by_source(plan, month).get(("l40s", "onprem"), 0) <= delivered
    assert plan.periods[0].ordered.get("l40s", 0) > 0, "buying pays off within six months at 100 % use"
    assert all(gpus_by_source(plan, month).get(("l40s", "on_demand"), 0) + gpus_by_source(plan, month).get(("l4", "on_demand"), 0) > 0
               for month in range(3)), "the first three months are rented while the purchase is on its way"


def test_a_purchase_that_would_arrive_after_the_horizon_is_not_offered():
    plan = solve_procurement_scenario(scenario({"period": "month", "loads": [200, 200]}, {"buy": True, "lead_time_weeks": 12}))
    assert not any(p.ordered for p in plan.periods)


def test_the_capex_cap_limits_purchases_per_quarter():
    demand = {"period": "month", "count": 12}
    free = solve_procurement_scenario(scenario(demand, {"buy": True}, workload={"concurrency": 600, "context_tokens": 4096}))
    capped = solve_procurement_scenario(scenario(demand, {"buy": True, "capex_cap_usd_per_quarter": 20000},
                                                 workload={"concurrency": 600, "context_tokens": 4096}))
    spent: dict[int, float] = {}
    for period in capped.periods:
        quarter = int(period.start_hours // 2190)
        spent[quarter] = spent.get(quarter, 0) + sum(n * default_catalog().gpu(g).purchase_price_usd for g, n in period.ordered.items())
    assert max(spent.values()) <= 20000
    assert capped.total_usd > free.total_usd


def test_break_even_points_match_a_hand_computation():
    """H100 SXM: $30,000 over 5 years = $0.6849/h; power 0.7 kW x 1.58 x $0.0806 = $0.0891/h; renting at $3.99/h,
    buying wins above 0.6849 / (3.99 - 0.0891) = 17.56 % utilisation and pays back after 30000 / 3.9009 h = 10.53
    months of 730 h. A 12-month term at 35 % off with $1,000 upfront: (2.5935 + 1000 / 8760) / 3.99 = 67.86 %."""
    plan = solve_procurement_scenario(validate_scenario({
        "model": "llama-3.1-8b", "workload": {"concurrency": 200, "context_tokens": 4096}, "gpus": ["h100-sxm"],
        "demand": {"loads": [200], "repeat": 8760},
        "pricing": {"buy": True, "rent": ["on_demand", "reserved"],
                    "reserved_terms": [{"months": 12, "discount": 0.35, "upfront_usd_per_gpu": 1000}]}}))
    (even,) = plan.break_even
    assert even.buy_utilisation == pytest.approx(30000 / 43800 / (3.99 - 0.7 * 1.58 * 0.0806), rel=1e-9)
    assert even.buy_utilisation == pytest.approx(0.17559, abs=1e-5)
    assert even.buy_payback_months == pytest.approx(10.535, abs=1e-3)
    assert even.reserved["h100-sxm@reserved-12m"] == pytest.approx((3.99 * 0.65 + 1000 / 8760) / 3.99, rel=1e-9)


def test_estimated_prices_are_excluded_from_a_procurement_plan_unless_allowed():
    base = {"model": "llama-3.1-8b", "workload": {"concurrency": 100, "context_tokens": 4096}, "gpus": ["mi300x", "l40s"],
            "demand": {"loads": [100, 50], "repeat": 10}}
    plan = solve_procurement_scenario(validate_scenario(base))
    assert {info.gpu for info in plan.pools.values()} == {"l40s"}
    assert any("mi300x" in note and "estimated" in note for note in plan.notes)
    allowed = solve_procurement_scenario(validate_scenario({**base, "pricing": {"allow_estimated": True}}))
    marked = {info.gpu for info in allowed.pools.values() if info.estimated}
    assert marked == {"mi300x"}
    assert allowed.to_dict()["pools"]["mi300x@on_demand"]["price_estimated"] is True


def _survival_odds(units: int, guaranteed: int, q: Fraction) -> Fraction:
    return sum((math.comb(units, k) * (1 - q) ** k * q ** (units - k) for k in range(guaranteed, units + 1)), Fraction(0))


@pytest.mark.parametrize("needed, q, availability", [(20, "0.05", "0.99"), (5, "0.1", "0.999"), (60, "0.02", "0.9999"), (1, "0.2", "0.9")])
def test_spot_n_plus_k_matches_the_binomial_computation(needed, q, availability):
    """The fewest units N + k so that at least N survive with the target odds, by exact rational arithmetic."""
    q, availability = Fraction(q), Fraction(availability)
    spare = next(k for k in range(100) if _survival_odds(needed + k, needed, q) >= availability)
    assert guaranteed_units(needed + spare, float(q), float(availability)) >= needed
    assert guaranteed_units(needed + spare - 1, float(q), float(availability)) < needed


def test_spot_replicas_are_sized_n_plus_k_in_the_plan():
    plan = solve_procurement_scenario(scenario({"loads": [490], "repeat": 24},
                                               {"rent": ["spot"], "spot": {"interruption_probability": 0.05, "availability": 0.999}}))
    ((_, shape), (provisioned, guaranteed)), = plan.periods[0].slots[0].spot_units.items()
    held = plan.shapes[shape].max_sequences
    needed = -(-490 // held)
    assert guaranteed >= needed and guaranteed_units(provisioned, 0.05, 0.999) == guaranteed
    assert guaranteed_units(provisioned - 1, 0.05, 0.999) < needed, "one unit fewer would miss the target"
    assert provisioned > needed, "spares above N"


def test_spot_needs_its_risk_stated():
    with pytest.raises(InputError, match="spot"):
        solve_procurement_scenario(scenario({"loads": [100]}, {"rent": ["spot"]}))


def test_a_steady_state_costs_the_cycle_times_its_repeats():
    once = solve_procurement_scenario(scenario({"loads": [40, 120, 80], "repeat": 1}))
    year = solve_procurement_scenario(scenario({"loads": [40, 120, 80], "repeat": 365}))
    assert year.total_usd == pytest.approx(365 * once.total_usd, rel=1e-4)


def test_owned_gpus_serve_first_and_rentals_follow_the_load():
    plan = solve_procurement_scenario(scenario({"loads": [40, 100, 160, 100], "repeat": 30}, {"owned": {"l40s": 1}}))
    for slot in plan.periods[0].slots:
        assert slot.capacity["owned"] == L40S_SEQUENCES
        assert slot.total_capacity >= slot.load
    quiet = plan.periods[0].slots[0]  # 40 sequences: the owned GPU alone
    assert sum(n for p, n in quiet.gpus.items() if plan.pools[p].source == "on_demand") == 0


def test_discounting_prices_each_period_at_its_present_value():
    """Renting the same fleet for 8 quarters at 10 %/year: each quarter's rent x 1.1^-(mid-quarter / 8760 h)."""
    demand = {"period": "quarter", "count": 8}
    nominal = solve_procurement_scenario(scenario(demand))
    discounted = solve_procurement_scenario(scenario(demand, {"discount_rate": 0.1}))
    per_quarter = nominal.total_usd / 8
    expected = sum(per_quarter * 1.1 ** -((q + 0.5) * 2190 / 8760) for q in range(8))
    assert discounted.total_usd == pytest.approx(expected, abs=0.01)


def test_a_purchase_is_charged_its_depreciation_or_its_net_present_cost():
    """An L40S ($8,500) bought at the start of a two-year horizon, straight-line over 5 years: the horizon is charged
    8500 x 2/5 = $3,400; at 10 %/year its net present cost is 8500 - 8500 x 3/5 x 1.1^-2 = $4,285.12 (the book value
    comes back only at the end)."""
    from planner.pipeline.demand import expand
    from planner.pipeline.procurement import _candidates
    from planner.pipeline.serving import load_catalog
    from planner.pipeline.supply import build_supply

    def first_order_usd(rate):
        s = scenario({"period": "quarter", "count": 8}, {"buy": True, "discount_rate": rate}, gpus=["l40s"])
        prepared = _candidates(s, load_catalog(s))
        supply = build_supply(s, load_catalog(s), prepared.candidates, prepared.problem(), expand(s.demand, s.workload))
        return supply.problem.onprem[0].buy_cost[0] / 1e6

    assert first_order_usd(0.0) == pytest.approx(3400, abs=0.001)
    assert first_order_usd(0.1) == pytest.approx(8500 - 8500 * 0.6 / 1.21, abs=0.001)


def test_growth_compounds_per_quarter_from_the_workload_load():
    plan = solve_procurement_scenario(scenario({"period": "month", "count": 7, "growth": {"per": "quarter", "factor": 1.3}}))
    assert [p.peak for p in plan.periods] == [math.ceil(40 * 1.3 ** (month / 3) - 1e-9) for month in range(7)]


@pytest.mark.parametrize("demand, message", [
    ({"loads": [1, 2], "count": 3}, "exactly one of"),
    ({"loads": [1, 2], "repeat": 2, "growth": {"factor": 1.1}}, "steady-state"),
    ({"period": "hour", "count": 2, "within": {"factors": [1, 0.5]}}, "longer than one hour"),
    ({"loads": [0, 0]}, "every period's load is 0"),
    ({"loads": [-1]}, "between 0"),
])
def test_bad_demand_profiles_are_bad_input(demand, message):
    with pytest.raises((InputError, ScenarioError)) as error:
        solve_procurement_scenario(scenario(demand))
    assert message in error.value.render()


def test_loads_from_a_csv_file_peak_per_period(tmp_path):
    path = tmp_path / "load.csv"
    path.write_text("hour,concurrency\n0,10\n1,35\n2,20\n3,40\n")
    plan = solve_procurement_scenario(scenario({"period": "day", "csv": {"path": str(path), "label_column": "hour", "rows_per_period": 2},
                                                "repeat": 1}))
    assert [slot.load for slot in plan.periods[0].slots] == [35, 40]


@pytest.mark.parametrize("text, message, line", [
    ("hour,concurrency\n0,10\n1,ten\n", "between 0", 3),
    ("hour,load\n0,10\n", "no column 'concurrency'", 1),
    ("", "empty", None),
])
def test_a_bad_csv_is_named_with_its_line(tmp_path, text, message, line):
    path = tmp_path / "load.csv"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        solve_procurement_scenario(scenario({"csv": {"path": str(path)}, "repeat": 1}))
    assert message in error.value.render()
    if line is not None:
        assert error.value.issues[0].line == line


def test_the_library_entry_point_plans_a_demand_profile_over_time():
    """solve_scenario takes any scenario: with a demand profile it returns the procurement plan."""
    plan = solve_scenario(scenario({"loads": [10, 30], "repeat": 2}))
    assert [slot.load for slot in plan.periods[0].slots] == [10, 30]
    with pytest.raises(InputError, match="enumerate"):
        solve_scenario(scenario({"loads": [10]}), method="enumerate")


def _supply(case, prune=True, project=True):
    from planner.pipeline.demand import expand
    from planner.pipeline.procurement import _candidates
    from planner.pipeline.serving import load_catalog
    from planner.pipeline.supply import build_supply

    s = validate_scenario(case)
    prepared = _candidates(s, load_catalog(s))
    return build_supply(s, load_catalog(s), prepared.candidates, prepared.problem(), expand(s.demand, s.workload), project, prune)


REDUCTION_CASES = [
    {**SMALL, "parallelism": {"tp": [1, 2], "pp": [1, 2]}, "gpus": ["l4", "l40s", "a10g", "t4"],
     "demand": {"period": "month", "loads": [60, 140, 220]},
     "pricing": {"owned": {"l4": 2}, "buy": True, "lead_time_weeks": 4, "rent": ["on_demand", "reserved"],
                 "reserved_terms": [{"months": 1, "discount": 0.2}, {"months": 3, "discount": 0.4}]}},
    {**SMALL, "parallelism": {"tp": [1, 2, 4], "pp": [1]}, "gpus": ["l40s", "a100-80gb", "h100-sxm"],
     "demand": {"loads": [100, 400, 250, 50], "repeat": 20},
     "pricing": {"buy": True, "rent": ["on_demand", "reserved"], "reserved_terms": [{"months": 12, "discount": 0.35}]}},
]


@pytest.mark.parametrize("case", REDUCTION_CASES, ids=["horizon", "steady-state"])
def test_the_safe_reductions_keep_the_optimum(case):
    """Dropping dominated pools and term starts, the per-type shape frontier, the replica exchange bounds, the committed
    capacities one more replica improves and the projected rentals: each leaves the optimal cost unchanged against
    the model without it."""
    from planner.solver.procurement import solve_procurement

    reduced = solve_procurement(_supply(case).problem, 60)
    assert reduced.status == "optimal"
    for full in (solve_procurement(_supply(case, prune=False).problem, 60),
                 solve_procurement(_supply(case).problem, 60, exchange_bounds=False),
                 solve_procurement(_supply(case).problem, 60, capacity_dominance=False),
                 solve_procurement(_supply(case, project=False).problem, 60)):
        assert full.status == "optimal" and full.objective_micro_usd == reduced.objective_micro_usd


def test_the_lp_neighbourhood_hint_keeps_the_optimum_and_the_lp_bounds_it():
    """The starting plan from the LP relaxation (planner.solver.procurement_hint) changes the time to the optimum,
    never the optimum; the LP's value is a lower bound on it and the neighbourhood's plan an upper bound."""
    from planner.solver.phases import solver_parameters
    from planner.solver.procurement import ProcurementModel, solve_procurement
    from planner.solver.procurement_hint import add_neighbourhood_hint, lp_relaxation

    problem = _supply(REDUCTION_CASES[0]).problem
    hinted, plain = solve_procurement(problem, 60), solve_procurement(problem, 60, hint=False)
    assert hinted.status == plain.status == "optimal" and hinted.objective_micro_usd == plain.objective_micro_usd
    built = ProcurementModel(problem)
    proto = built.model.model_proto
    relaxed = lp_relaxation(proto)
    assert relaxed is not None
    lp_value = sum(c * relaxed[v] for v, c in zip(proto.objective.vars, proto.objective.coeffs))
    domains = [list(v.domain) for v in proto.variables]
    solver = solver_parameters(60, 1, 0)
    add_neighbourhood_hint(built, solver)
    assert solver.status_name() in ("OPTIMAL", "FEASIBLE") and len(proto.solution_hint.vars) == len(built.vars)
    assert lp_value <= plain.objective_micro_usd * (1 + 1e-9) <= solver.objective_value * (1 + 1e-9)
    assert [list(v.domain) for v in proto.variables] == domains  # the full model's domains are back


def _generated_case(seed):
    """A small horizon drawn from a seed: three to four GPU types, two to four months of load, owned GPUs or not, purchases
    with or without a lead time, one or two commitment terms, sometimes a capex cap."""
    import random

    draw = random.Random(seed)
    gpus = draw.sample(["l4", "l40s", "a10g", "t4", "a100-80gb", "h100-sxm", "rtx-4090"], draw.choice([3, 4]))
    pricing = {"buy": draw.random() < 0.8, "lead_time_weeks": draw.choice([0, 4]), "rent": ["on_demand", "reserved"],
               "reserved_terms": draw.sample([{"months": 1, "discount": 0.2}, {"months": 2, "discount": 0.35},
                                              {"months": 3, "discount": 0.5}], draw.choice([1, 2]))}
    if draw.random() < 0.4:
        pricing["owned"] = {gpus[0]: draw.choice([1, 2])}
    if draw.random() < 0.3:
        pricing["capex_cap_usd_per_quarter"] = draw.choice([20000, 60000])
    return {**SMALL, "precisions": ["fp16"], "parallelism": {"tp": [1, 2, 4], "pp": [1]}, "gpus": gpus, "pricing": pricing,
            "demand": {"period": "month", "loads": [draw.randint(20, 320) for _ in range(draw.choice([2, 3, 4]))]}}


@pytest.mark.parametrize("seed", range(8))
def test_dropping_replaced_committed_sources_keeps_the_optimum_on_generated_horizons(seed):
    """The dominance rule of planner.solver.procurement_pruning (another type, bought or reserved, with L GPUs per GPU
    dropped) leaves the optimal cost unchanged against the model with every pool, to the micro-USD."""
    from planner.solver.procurement import solve_procurement

    case = _generated_case(seed)
    pruned, full = _supply(case), _supply(case, prune=False)
    a, b = solve_procurement(pruned.problem, 60), solve_procurement(full.problem, 60, capacity_dominance=False)
    assert a.status == b.status == "optimal" and a.objective_micro_usd == b.objective_micro_usd


@pytest.mark.parametrize("seed", range(8, 16))
def test_committed_capacities_one_more_replica_improves_are_left_out_without_changing_the_optimum(seed):
    """planner.solver.procurement.undominated_capacities on generated horizons without a capex cap (where it
    applies): the optimum is the same to the micro-USD, and the capacity variables lose values."""
    from planner.solver.procurement import ProcurementModel, solve_procurement

    case = _generated_case(seed)
    case["pricing"].pop("capex_cap_usd_per_quarter", None)
    problem = _supply(case).problem
    a, b = solve_procurement(problem, 60), solve_procurement(problem, 60, capacity_dominance=False)
    assert a.status == b.status == "optimal" and a.objective_micro_usd == b.objective_micro_usd
    def values(flag):
        built = ProcurementModel(problem, capacity_dominance=flag)
        domains = [list(built.model.model_proto.variables[v.index].domain) for k, v in built.vars.items() if k[0] == "capacity"]
        return sum(high - low + 1 for domain in domains for low, high in zip(domain[::2], domain[1::2]))

    assert 0 < values(True) <= values(False)


@pytest.mark.parametrize("loads", [[40] * 22 + [120, 160], [30] * 20 + [60, 200, 90, 60]])
def test_rented_peaks_keep_their_optimum_when_committed_capacities_are_left_out(loads):
    """Daily curves whose peaks are cheaper rented than bought (owned L4s, purchases and on-demand rentals): the
    capacities left out never include the optimum's, to the micro-USD."""
    from planner.solver.procurement import solve_procurement

    case = {**SMALL, "demand": {"loads": loads, "repeat": 365}, "pricing": {"owned": {"l4": 2}, "buy": True}}
    problem = _supply(case).problem
    a, b = solve_procurement(problem, 60), solve_procurement(problem, 60, capacity_dominance=False)
    assert a.status == b.status == "optimal" and a.objective_micro_usd == b.objective_micro_usd
    plan = solve_procurement_scenario(validate_scenario(case))
    assert plan.cost_by_source()["on_demand"] > 0


def test_a_capacity_is_left_out_when_one_more_replica_costs_less_than_the_rentals_it_saves():
    """F (rentals by committed capacity) 0..10: 100, 90, 60, 60, 30, 30, 20, 20, 20, 0, 0. A replica holding 2 for 25:
    from 0 it saves 40 (kept out), from 1 it saves 30 (out), from 2 it saves 30 (out), from 4 it saves 10 (kept), 6
    saves 0 (kept), 8 saves 20 (kept: 20 < 25); the last capacity where F falls (9) is always kept."""
    from planner.solver.procurement import undominated_capacities

    table = (100, 90, 60, 60, 30, 30, 20, 20, 20, 0, 0)
    assert undominated_capacities([0, 1, 2, 4, 6, 9], table, [(2, 25)]) == [4, 6, 9]


def test_a_source_that_needs_more_gpus_of_a_cheaper_type_is_replaced_with_the_gpu_factor():
    """f(x), the fewest GPUs of A that serve what x GPUs of B serve, is at most L x: L = 1 when A serves as much on
    every count, L = 2 when A needs up to twice the GPUs; None when no whole factor up to MAX_FACTOR does."""
    from planner.solver.procurement_pruning import gpu_factor

    assert gpu_factor([0, 10, 20, 30, 40], [0, 5, 12, 30]) == 1
    assert gpu_factor([0, 4, 10, 15, 20, 26, 30], [0, 10, 20, 26]) == 2  # f = 2, 4, 5
    assert gpu_factor([0, 1, 2], [0, 10]) is None


def test_a_reserved_fleet_is_replaced_by_purchases_that_arrive_in_time_for_less():
    """With no lead time a purchase covers every period a reservation started then covers; L40S bought (its
    depreciation over two months) cost less than a reserved L40S and serve the same: the fleet is dropped. A lead
    time of a month leaves the first month's reservations without a twin, and the fleet is kept."""
    case = {**SMALL, "gpus": ["l40s"], "demand": {"period": "month", "loads": [60, 90]},
            "pricing": {"buy": True, "lead_time_weeks": 0, "rent": ["reserved"], "reserved_terms": [{"months": 2, "discount": 0.2}]}}
    assert _supply(case).problem.reserved == () and len(_supply(case).problem.onprem) == 1
    late = {**case, "pricing": {**case["pricing"], "lead_time_weeks": 5}}
    assert {p.group for p in _supply(late).problem.reserved} == {"l40s@reserved"}


def test_a_cheaper_type_that_draws_more_power_replaces_another_only_when_the_power_is_paid_for():
    """L40S priced $100 under an L4 (paid in cash) serve more on every GPU count; at 200 W against 72 W they replace
    the L4s (the price gap pays a GPU's extra power through the six months, about $71), at 5 kW they do not (then an
    L4 is the optimum)."""
    def case(watts):
        return {**SMALL, "demand": {"period": "month", "loads": [8, 8, 8, 8, 8, 8]},
                "pricing": {"buy": True, "lead_time_weeks": 0, "rent": [], "commitments_past_horizon": "cash",
                            "gpus": {"l40s": {"purchase_usd": 3190, "tdp_watts": watts}}}}

    assert [p.gpu_type for p in _supply(case(200)).problem.onprem] == ["l40s"]
    hungry = _supply(case(5000)).problem
    assert sorted(p.gpu_type for p in hungry.onprem) == ["l4", "l40s"]
    plan = solve_procurement_scenario(validate_scenario(case(5000)))
    assert plan.periods[0].ordered == {"l4": 1}


def test_pool_dominance_drops_a_type_that_serves_less_for_more():
    """Reserved T4s (14.6 GiB) next to reserved L4s (22.4 GiB), fp16 weights (a T4 has no bf16): at 35 % off either's
    on-demand price an L4 costs $0.523/h and a T4 $0.342/h, so neither fleet replaces the other; priced equally,
    the L4s serve at least as much on any GPU count and the T4 fleet is dropped."""
    case = {**SMALL, "gpus": ["l4", "t4"], "precisions": ["fp16"], "parallelism": {"tp": [1], "pp": [1, 2]},
            "demand": {"loads": [50], "repeat": 2},
            "pricing": {"rent": ["reserved"], "reserved_terms": [{"months": 12, "discount": 0.35}]}}
    assert {p.group for p in _supply(case).problem.reserved} == {"l4@reserved", "t4@reserved"}
    same = {**case, "pricing": {"rent": ["reserved"], "reserved_terms": [{"months": 12, "usd_per_gpu_hour": 0.5}]}}
    assert {p.group for p in _supply(same).problem.reserved} == {"l4@reserved"}


def test_whole_instances_rent_every_gpu_of_an_instance():
    """H100 SXM at the catalog's Lambda price comes as 8-GPU instances: every slot pays for 8, busy or not."""
    plan = solve_procurement_scenario(validate_scenario({
        "model": "llama-3.1-8b", "workload": {"concurrency": 40, "context_tokens": 4096}, "gpus": ["h100-sxm"],
        "whole_instances": True, "demand": {"loads": [40, 300, 120], "repeat": 10}}))
    for slot in plan.periods[0].slots:
        assert slot.gpus["h100-sxm@on_demand"] == 8
    assert plan.total_usd == pytest.approx(3 * 10 * 8 * 3.99, abs=0.01)


def test_whatif_sweeps_a_procurement_scenario(tmp_path):
    """Each variation is planned over time; its cost is the horizon's total per hour; more spot risk, more spares."""
    from planner.analysis.sweep import load_sweep
    from planner.analysis.whatif import WhatIf, run_whatif

    path = tmp_path / "spot.yaml"
    path.write_text(json.dumps({**SMALL, "demand": {"loads": [100, 300], "repeat": 5},
                                "pricing": {"rent": ["spot"], "spot": {"interruption_probability": 0.05, "availability": 0.99}}}))
    sweep = tmp_path / "risk.yaml"
    sweep.write_text(json.dumps({"name": "risk", "sweep": [{"path": "pricing.spot.interruption_probability", "values": [0.02, 0.2]}]}))
    report = run_whatif(WhatIf(path), load_sweep(sweep), [], "local", 1)
    low, high = report.variations
    assert report.baseline.status == low.status == high.status == "optimal"
    assert low.cost_micro_usd_per_hour < report.baseline.cost_micro_usd_per_hour < high.cost_micro_usd_per_hour
    assert report.baseline.plan["kind"] == "procurement"


TRAFFIC = {"model": "llama-3.1-8b", "gpus": ["l40s", "h100-sxm"], "parallelism": {"tp": [1, 2], "pp": [1]},
           "workload": {"request_rate": 12, "prompt_tokens": 1024, "output_tokens": 256,
                        "slo": {"ttft_ms": 2000, "tpot_ms": 50, "percentile": "p90"}}}


def test_request_rate_loads_are_covered_with_each_shapes_rate_within_the_slo():
    """Periods of a traffic workload carry request rates; capacity is each shape's sustainable rate (milli-requests/s)
    from the performance model, the same rows the single-period plan covers its rate with."""
    plan = solve_procurement_scenario(validate_scenario({**TRAFFIC, "demand": {"loads": [3, 12, 7.5], "repeat": 10},
                                                         "pricing": {"owned": {"l40s": 1}}}))
    assert plan.grid.traffic and [slot.load for slot in plan.periods[0].slots] == [3000, 12000, 7500]
    for slot in plan.periods[0].slots:
        assert slot.total_capacity >= slot.load
    single = solve_scenario(validate_scenario(TRAFFIC)).plans[0]
    for group in single.groups:  # the single-period plan's replicas carry at most the rate the procurement model counts
        assert group.load_requests_per_s / group.count <= plan.capacity[group.candidate.key] / 1000 + 1e-9


def test_a_flat_one_period_traffic_profile_gives_the_single_period_cost():
    single = solve_scenario(validate_scenario(TRAFFIC))
    plan = solve_procurement_scenario(validate_scenario({**TRAFFIC, "demand": {"loads": [12]}}))
    assert plan.total_usd == pytest.approx(single.plans[0].cost_usd_per_hour, abs=0.01)


def test_a_profile_in_the_other_unit_than_the_workload_is_bad_input():
    with pytest.raises(InputError, match="another unit"):
        solve_procurement_scenario(validate_scenario({**TRAFFIC, "demand": {"loads": [{"concurrency": 10}]}}))
    with pytest.raises(InputError, match="another unit"):
        solve_procurement_scenario(scenario({"loads": [12.5]}))
