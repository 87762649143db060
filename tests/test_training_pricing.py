"""Training plans price GPUs as serving plans do: estimated prices only when allowed, whole instances when asked."""

from __future__ import annotations

import pytest

from planner.errors import InputError
from planner.pipeline.training import solve_training
from planner.schema import validate_scenario


def training(**fields):
    base = {"kind": "training", "model": "llama-3.1-8b", "method": "lora",
            "data": {"tokens": 2e8, "sequence_length": 2048, "global_batch_sequences": 64},
            "parallelism": {"tp": [1, 2], "pp": [1], "zero_stages": [0, 1], "max_gpus": 8}}
    base.update(fields)
    return validate_scenario(base)


def test_estimated_prices_are_left_out_of_training_plans_and_named():
    """MI300X's price is derived, not quoted (catalogs/gpus.yaml): next to a quoted H100 it is left out, with a note."""
    report = solve_training(training(gpus=["mi300x", "h100-sxm"]))
    assert report.plans[0].gpu_id == "h100-sxm"
    assert any("estimated price" in note and "mi300x" in note for note in report.notes)


def test_training_with_only_estimated_prices_asks_to_allow_them():
    with pytest.raises(InputError) as error:
        solve_training(training(gpus=["mi300x"]))
    assert "no GPU has a usable rental price" in str(error.value)
    assert any("allow_estimated" in issue.message for issue in error.value.issues)


def test_allow_estimated_lets_a_training_plan_use_an_estimated_price_and_marks_it():
    report = solve_training(training(gpus=["mi300x"], pricing={"allow_estimated": True}))
    assert report.plans[0].gpu_id == "mi300x" and report.plans[0].to_dict()["price_estimated"] is True
    assert not report.notes


def test_whole_instances_bill_every_gpu_of_a_started_instance():
    """Rented in instances of 8 (gpus.<id>.instance_gpus), a layout of at most 8 GPUs pays for 8: the hourly price is
    a whole instance's, and the cheapest plan is the fastest one that fits in it (its GPUs are paid for anyway)."""
    price, parallelism = 4.0, {"tp": [1, 2], "pp": [1], "dp": [1, 2], "zero_stages": [0, 1], "max_gpus": 4}
    single = solve_training(training(gpus={"h100-sxm": {"price_usd_per_gpu_hour": price}}, parallelism=parallelism)).plans[0]
    whole = solve_training(training(gpus={"h100-sxm": {"price_usd_per_gpu_hour": price, "instance_gpus": 8}},
                                    whole_instances=True, parallelism=parallelism)).plans[0]
    assert single.time.billed_gpus == single.layout.gpus < 8  # by the GPU, only the GPUs in use are paid for
    assert whole.time.billed_gpus == 8 and whole.to_dict()["cost_usd_per_hour"] == pytest.approx(8 * price)
    assert whole.time.cost_usd == pytest.approx(8 * price * whole.time.hours)
    assert whole.time.hours <= single.time.hours
