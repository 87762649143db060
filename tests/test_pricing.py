"""Rent or buy: owned GPUs cost power only, purchases are amortised, break-even and sensitivity by hand."""

import math

import pytest

from planner.analysis.pricing import price_sensitivity, rent_vs_buy
from planner.api import solve_scenario
from planner.catalog.pricing import HOURS_PER_YEAR, break_even_utilisation, power_usd_per_gpu_hour, pricing_summary
from planner.errors import InputError, ScenarioError
from planner.pipeline.serving import prepare, solve_prepared
from planner.schema import validate_scenario
from planner.schema.procurement import PricingOptions

BASE = dict(model="llama-3.1-8b", gpus=["l4", "l40s"], parallelism={"tp": [1, 2], "pp": [1, 2]},
            workload={"concurrency": 64, "context_tokens": 4096})


def scenario(pricing=None, **fields):
    return validate_scenario({**BASE, **fields, **({"pricing": pricing} if pricing is not None else {})})


def used(plan):
    counts = {}
    for group in plan.groups:
        counts[group.candidate.gpu.id] = counts.get(group.candidate.gpu.id, 0) + group.gpus
    return counts


def test_break_even_of_an_h100_matches_a_hand_computation():
    """$30,000 over 5 years is 30000 / 43800 = $0.6849/h; power 0.7 kW x 1.58 x $0.0806 = $0.0891/h;
    renting at $3.99/h: u* = 0.6849 / (3.99 - 0.0891) = 0.1756."""
    options = PricingOptions(pue=1.58, usd_per_kwh=0.0806, amortisation_years=5)
    power = power_usd_per_gpu_hour(700, options)
    assert power == pytest.approx(0.0891436)
    assert break_even_utilisation(3.99, 30000, power, 5) == pytest.approx(0.17559, abs=1e-5)


def test_break_even_is_none_when_power_costs_more_than_renting():
    assert break_even_utilisation(0.05, 1000, 0.06, 3) is None


def test_rent_vs_buy_reads_catalog_figures_and_judges_at_the_utilisation(catalog):
    s = validate_scenario({**BASE, "gpus": ["h100-sxm"], "pricing": {"utilisation": 0.1}})
    (row,) = rent_vs_buy(s, catalog, ["h100-sxm"])
    spec = catalog.gpu("h100-sxm")
    assert (row.rent_usd_per_gpu_hour, row.purchase_usd) == (spec.price_usd_per_gpu_hour, spec.purchase_price_usd)
    assert row.break_even_utilisation > 0.1 and row.verdict == "rent"
    (busy,) = rent_vs_buy(s.model_copy(update={"pricing": PricingOptions(utilisation=0.9)}), catalog, ["h100-sxm@owned"])
    assert busy.gpu == "h100-sxm" and busy.verdict == "buy"


def test_owned_gpus_cost_only_their_power_and_are_used_first(catalog):
    s = scenario({"owned": {"l4": 4}})
    plan = solve_scenario(s).plans[0]
    assert used(plan) == {"l4@owned": 4}
    power = catalog.gpu("l4").tdp_watts / 1000 * 1.58 * 0.0806
    assert plan.cost_micro_usd_per_hour == 4 * math.ceil(power * 10**6)  # each GPU's price kept to the micro-USD, up


def test_demand_beyond_the_owned_stock_is_topped_up_by_renting():
    s = scenario({"owned": {"l4": 2}}, workload={"concurrency": 256, "context_tokens": 4096})
    counts = used(solve_scenario(s).plans[0])
    assert counts["l4@owned"] <= 2 and sum(n for gpu, n in counts.items() if "@" not in gpu) > 0


def test_bought_gpus_cost_amortised_purchase_plus_power(catalog):
    s = scenario({"rent": [], "buy": True, "amortisation_years": 4})
    prepared = prepare(s)
    spec = catalog.gpu("l40s")
    expected = spec.purchase_price_usd / (4 * HOURS_PER_YEAR) + spec.tdp_watts / 1000 * 1.58 * 0.0806
    prices = {c.gpu.id: c.price_usd_per_gpu_hour for c in prepared.enumeration.candidates}
    assert prices["l40s@buy"] == pytest.approx(expected)
    assert all(gpu.endswith("@buy") for gpu in prices)


def test_tco_objective_charges_the_whole_purchase_to_the_horizon(catalog):
    s = scenario({"rent": ["on_demand"], "buy": True, "objective": "tco", "horizon_years": 2, "utilisation": 0.5})
    prepared = prepare(s)
    prices = {c.gpu.id: c.price_usd_per_gpu_hour for c in prepared.enumeration.candidates}
    spec = catalog.gpu("l4")
    power = spec.tdp_watts / 1000 * 1.58 * 0.0806
    assert prices["l4"] == pytest.approx(spec.price_usd_per_gpu_hour * 0.5)
    assert prices["l4@buy"] == pytest.approx(spec.purchase_price_usd / (2 * HOURS_PER_YEAR) + power * 0.5)
    _, plan = solve_prepared(prepared)
    assert pricing_summary(s, plan)["total_cost_of_ownership_usd"] == pytest.approx(plan.cost_usd_per_hour * HOURS_PER_YEAR * 2, abs=0.01)


def test_purchase_lead_time_is_bridged_by_renting_until_delivery(catalog):
    """Hand computation: 12 weeks of on-demand rent replace 12 weeks of power in a 2-year TCO horizon."""
    s = scenario({"rent": ["on_demand"], "buy": True, "objective": "tco", "horizon_years": 2, "lead_time_weeks": 12})
    prices = {c.gpu.id: c.price_usd_per_gpu_hour for c in prepare(s).enumeration.candidates}
    spec = catalog.gpu("l4")
    power = spec.tdp_watts / 1000 * 1.58 * 0.0806
    horizon, lead = 2 * HOURS_PER_YEAR, 12 * 168
    expected = (spec.purchase_price_usd + spec.price_usd_per_gpu_hour * lead + power * (horizon - lead)) / horizon
    assert prices["l4@buy"] == pytest.approx(expected)


def test_a_purchase_arriving_after_the_horizon_is_not_offered():
    s = scenario({"rent": ["on_demand"], "buy": True, "objective": "tco", "horizon_years": 0.5, "lead_time_weeks": 30})
    assert not any(c.gpu.id.endswith("@buy") for c in prepare(s).enumeration.candidates)


def test_reserved_gpus_are_paid_every_hour_at_the_discounted_price(catalog):
    s = scenario({"rent": ["reserved"], "reserved_discount": 0.4, "utilisation": 0.5})
    prices = {c.gpu.id: c.price_usd_per_gpu_hour for c in prepare(s).enumeration.candidates}
    assert prices["l4@reserved"] == pytest.approx(catalog.gpu("l4").price_usd_per_gpu_hour * 0.6 / 0.5)


def test_reserved_without_a_price_or_discount_is_an_input_error():
    with pytest.raises(InputError) as error:
        prepare(scenario({"rent": ["reserved"]}))
    assert error.value.issues[0].field_path == "pricing.gpus.l4.reserved_usd_per_gpu_hour"


def test_spot_market_uses_the_catalog_spot_price(catalog):
    prices = {c.gpu.id: c.price_usd_per_gpu_hour for c in prepare(scenario({"rent": ["spot"]})).enumeration.candidates}
    assert prices["l40s@spot"] == pytest.approx(catalog.gpu("l40s").spot_price_usd_per_gpu_hour)


def test_unknown_owned_gpu_has_did_you_mean():
    with pytest.raises(InputError) as error:
        prepare(scenario({"owned": {"l4s": 2}}))
    assert "l4" in error.value.issues[0].suggestion


def test_pricing_with_nothing_to_plan_with_is_rejected():
    with pytest.raises(ScenarioError):
        scenario({"rent": [], "buy": False})


def test_price_sensitivity_finds_where_another_plan_becomes_as_cheap():
    """The cheapest fleet is 4 L4s ($0.8048/h each); two L40S replicas cost 2 x $1.861 = $3.722/h, so the L4
    plan stays optimal until L4 costs 3.722 / 4 = $0.9305/h."""
    s = validate_scenario({**BASE, "gpus": ["l4", "a10g", "l40s"], "parallelism": {"tp": [1], "pp": [1, 2, 4]}})
    prepared = prepare(s)
    _, plan = solve_prepared(prepared)
    (l4,) = price_sensitivity(prepared, plan)
    assert plan.gpu_mix == "4x l4" and l4.low_usd_per_gpu_hour is None
    assert l4.high_usd_per_gpu_hour == pytest.approx(0.9305, rel=0.002)
