"""The training layout search's shortcuts give the models' own numbers: memoised memory totals equal the bills,
stages timed once per signature equal stages timed one by one, the step-time lower bound never exceeds the step
time, and pruning that skips provably dominated layouts keeps exactly what pruning over every timed layout keeps."""

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.api import load_scenario
from planner.candidates import training as candidates
from planner.catalog import default_catalog
from planner.memory.runtime import training_gpu
from planner.memory.training import TrainingLayout, TrainingRecipe, training_memory
from planner.memory.training_totals import WorstStageTotals
from planner.performance.topology import node_topology
from planner.performance.training import slowest_stage, step_seconds_lower_bound, training_step_time
from planner.performance.training_compute import _stage_signatures, compute_layout, pipeline_micro_batch, stage_micro_batch
from planner.pipeline.training import prepare_training
from planner.schema import validate_scenario
from tests.conftest import SCENARIOS

CATALOG = default_catalog()
MODELS = ("llama-3.1-8b", "mixtral-8x7b", "deepseek-v2-lite", "gemma-2-9b", "gpt-oss-20b", "llama-3.2-11b-vision",
          "gpt2", "qwen2.5-72b-instruct-awq")
RECIPES = (TrainingRecipe(), TrainingRecipe(method="lora", lora_targets=("all-linear",), lora_dropout=True),
           TrainingRecipe(method="qlora", optimizer="adam8bit", convention="megatron"),
           TrainingRecipe(method="frozen", trainable_layers=3, precision="fp32", optimizer="sgd"),
           TrainingRecipe(optimizer="adafactor", convention="deepspeed", flash_attention=False),
           TrainingRecipe(precision="fp8-mixed", dropout=False))
GPUS = ("h100-sxm", "a100-40gb", "l40s", "mi300x", "gb200", "rtx-4090")


@st.composite
def layouts(draw):
    """A valid layout of one of ``MODELS`` (any TP, PP, DP, ZeRO, offload, recomputation, SP, EP, v, micro-batch)."""
    arch = CATALOG.architecture(draw(st.sampled_from(MODELS)))
    tp = draw(st.sampled_from([t for t in (1, 2, 4, 8) if arch.tp_is_valid(t)]))
    pp = draw(st.sampled_from([p for p in (1, 2, 3, 4, 5, 8) if p <= arch.num_layers]))
    dp = draw(st.sampled_from((1, 2, 4, 16)))
    ep = 1
    if arch.is_moe:
        ep = draw(st.sampled_from([e for e in (1, 2, 4, 8) if e == 1 or (arch.num_experts % e == 0 and e % tp == 0
                                                                         and (tp * dp) % e == 0)]))
    zero = draw(st.sampled_from((0, 1, 2, 3) if pp == 1 else (0, 1)))
    offload = "none" if zero == 0 else draw(st.sampled_from(("none", "optimizer") + (("optimizer_and_parameters",) if zero == 3 else ())))
    chunks = [v for v in (1, 2, 4) if v == 1 or (pp > 1 and arch.num_layers % (pp * v) == 0)]
    layout = TrainingLayout(tp=tp, pp=pp, dp=dp, zero_stage=zero, micro_batch=draw(st.sampled_from((1, 2, 4))),
                            sequence_length=draw(st.sampled_from((512, 4096))),
                            recompute=draw(st.sampled_from(("none", "selective", "full"))),
                            sequence_parallel=tp > 1 and draw(st.booleans()), offload=offload,
                            num_microbatches=draw(st.sampled_from((None, 1, 2, 3, 16))), ep=ep,
                            virtual_stages=draw(st.sampled_from(chunks)))
    return arch, draw(st.sampled_from(RECIPES)), layout, CATALOG.gpu(draw(st.sampled_from(GPUS)))


_TOTALS: dict = {}


def _neighbours(layout):
    """The layout and those a search evaluates next to it: every recomputation, SP on and off, twice the DP, the
    other ZeRO stages it allows, other micro-batches per step (they share some memoised terms, not all)."""
    sps = (False, True) if layout.tp > 1 else (False,)
    zeros = (0, 1, 2, 3) if layout.pp == 1 else (0, 1)
    for recompute in ("none", "selective", "full"):
        for sp in sps:
            for dp in (layout.dp, 2 * layout.dp):
                for zero in zeros:
                    offload = layout.offload if zero == 3 or (zero > 0 and layout.offload == "optimizer") else "none"
                    for micro_batches in (layout.num_microbatches, 1):
                        yield replace(layout, recompute=recompute, sequence_parallel=sp, dp=dp, zero_stage=zero,
                                      offload=offload, num_microbatches=micro_batches)


_TOTALS: dict = {}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_memoised_worst_stage_total_equals_the_bills_total(case):
    """One WorstStageTotals per (model, recipe) across examples, as a search shares it: its memo never leaks a
    term of another layout into this one's total."""
    arch, recipe, drawn, gpu = case
    runtime = training_gpu(gpu.id, gpu.release_year, gpu.scale_up_link, gpu.nvlink_domain_size)
    totals = _TOTALS.setdefault((arch.name, recipe), WorstStageTotals(arch, recipe))
    for layout in _neighbours(drawn):
        bill = training_memory(arch, recipe, layout, runtime)
        assert totals.total_bytes(layout, runtime) == bill.total_bytes
        assert totals.activation_bytes(layout) == tuple(stage.activations_bytes for stage in bill.stages)
        at_one = replace(layout, micro_batch=1, num_microbatches=None)
        assert totals.total_bytes(at_one, runtime, layout.micro_batch, layout.num_microbatches) == bill.total_bytes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_stages_timed_once_per_signature_equal_stages_timed_one_by_one(case):
    """Middle pipeline stages with the same blocks share one timing; every stage's figures stay what timing it
    alone gives (MoE and dense blocks, sliding windows, cross-attention blocks, a frozen backbone)."""
    arch, recipe, layout, gpu = case
    if recipe.precision == "fp8-mixed" and not gpu.supports_fp8:
        return
    topology = node_topology(gpu)
    at = compute_layout(layout)
    alone = tuple(stage_micro_batch.__wrapped__(arch, recipe, at, gpu, topology, stage) for stage in range(layout.pp))
    assert pipeline_micro_batch(arch, recipe, at, gpu, topology) == alone


def test_stages_that_start_with_different_blocks_of_one_kind_are_timed_apart():
    """Llama 3.2 Vision in 5 stages of 8 blocks: stage 1 starts with cross-attention block 8, stages 2 and 3 with
    self-attention blocks, so stage 1 has a signature of its own; every stage is what timing it alone gives."""
    arch, gpu = CATALOG.architecture("llama-3.2-11b-vision"), CATALOG.gpu("h100-sxm")
    at = compute_layout(TrainingLayout(tp=2, pp=5, micro_batch=1, sequence_length=4096, sequence_parallel=True))
    signatures = _stage_signatures(arch, RECIPES[0], 5, 4096)
    assert signatures[1] != signatures[2] == signatures[3]
    alone = tuple(stage_micro_batch.__wrapped__(arch, RECIPES[0], at, gpu, node_topology(gpu), s) for s in range(5))
    assert pipeline_micro_batch(arch, RECIPES[0], at, gpu, node_topology(gpu)) == alone


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts(), st.sampled_from((1, 4, 8)))
def test_step_seconds_lower_bound_never_exceeds_the_step_time(case, nodes_of_dp):
    arch, recipe, layout, gpu = case
    if recipe.precision == "fp8-mixed" and not gpu.supports_fp8:
        return
    topology = node_topology(gpu)
    global_batch = layout.dp * layout.micro_batch * (layout.num_microbatches or layout.pp) * nodes_of_dp
    step = training_step_time(arch, recipe, layout, gpu, topology, global_batch)
    stages = pipeline_micro_batch(arch, recipe, compute_layout(layout), gpu, topology)
    bound = step_seconds_lower_bound(layout, stages[slowest_stage(stages)], step.micro_batches)
    assert 0 < bound <= step.step_s


def _prepared_both_ways(scenario, monkeypatch):
    """Pruned with the lower-bound skip, and pruned with every fitting choice timed (the skip switched off)."""
    fast = prepare_training(scenario)
    with monkeypatch.context() as patch:
        patch.setattr(candidates, "_not_beaten", lambda choices: choices)
        slow = prepare_training(scenario)
    return fast, slow


def _choices(prepared):
    return [(c.key, c.micro_batches, c.memory_bytes, c.seconds, c.cost_usd, c.rank) for c in prepared.candidates]


SEARCHES = [load_scenario(path) for path in sorted(SCENARIOS.glob("training-*.yaml"))] + [
    validate_scenario({"kind": "training", "model": "mixtral-8x7b",
                       "gpus": {"h100-sxm": None, "mi300x": {"mfu": 0.3}, "a100-80gb": None},
                       "data": {"tokens": 1e10, "sequence_length": 4096, "global_batch_sequences": 256},
                       "micro_batch": [1, 2],
                       "parallelism": {"tp": [2, 8], "pp": [1, 2, 4], "ep": [1, 8], "zero_stages": [1, 3],
                                       "recompute": ["selective", "full"], "offload": ["none", "optimizer"],
                                       "virtual_stages": [1, 2], "max_gpus": 256}}),
    validate_scenario({"kind": "training", "model": "llama-3.1-8b", "method": "lora", "objective": "time",
                       "gpus": ["rtx-4090", "a100-40gb", "gb200"], "parallelism": {"pp": [1, 2], "zero_stages": [0, 1, 3]},
                       "data": {"tokens": 1e8, "sequence_length": 2048, "global_batch_sequences": 64}})]


@pytest.mark.parametrize("scenario", SEARCHES, ids=lambda s: s.name or s.model)
def test_pruning_that_skips_dominated_layouts_keeps_what_timing_every_layout_keeps(scenario, monkeypatch):
    fast, slow = _prepared_both_ways(scenario, monkeypatch)
    assert _choices(fast) == _choices(slow)
    assert len(fast.enumeration.candidates) == len(slow.enumeration.candidates)


def test_a_catalog_wide_search_times_few_of_the_layouts_that_fit():
    """Llama 3.1 8B LoRA over every GPU with the default search space: 41,419 (layout, micro-batch) choices fit,
    fewer than one in ten is timed."""
    scenario = validate_scenario({"kind": "training", "model": "llama-3.1-8b", "method": "lora",
                                  "lora": {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
                                  "data": {"tokens": 5e7, "sequence_length": 2048, "global_batch_sequences": 16},
                                  "deadline_hours": 48, "min_headroom": 0.05, "pricing": {"allow_estimated": True}})
    prepared = prepare_training(scenario)
    fitting = sum(len(c.micro_batches) for c in prepared.enumeration.candidates)
    timed = prepared.candidates[0].times._exact
    assert fitting > 40_000 and len(timed) < fitting / 10
    assert all(not math.isinf(seconds) for seconds, _ in timed.values())
