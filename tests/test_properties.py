"""Fuzzed scenarios and catalogs (hypothesis): no crash, every plan meets every constraint, CP-SAT matches the
exhaustive enumerator on single-shape fleets, and a second solve prints the same plan.

The constraint checks here are written from the scenario and the memory model, not through ``planner.verify``,
so a bug shared by the solver and the verifier would still show. Examples are derandomized so CI runs the same
scenarios every time; set PLANNER_FUZZ_EXAMPLES to run more (e.g. 2000) on a workstation.
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.api import solve_scenario
from planner.catalog import Catalog, GpuSpec, builtin_catalog_dir, default_catalog
from planner.errors import InfeasibleError, InputError, PlannerError, ScenarioError
from planner.memory.serving_bill import serving_memory
from planner.model.formats import weight_format
from planner.performance.topology import node_topology
from planner.pipeline.serving import prepare
from planner.schema import validate_scenario
from planner.solver.cpsat import solve_cpsat
from planner.solver.enumerate import solve_enumerate

SCALE = int(os.environ.get("PLANNER_FUZZ_EXAMPLES", "0"))


def examples(ci: int) -> settings:
    return settings(max_examples=SCALE or ci, deadline=None, derandomize=not SCALE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# CI example counts, reported in the README's Reliability section
CI_EXAMPLES = {"solve": 150, "catalog": 60, "homogeneous": 100, "determinism": 20, "mutation": 300}

MODELS = ["llama-3.1-8b", "qwen2.5-7b", "mistral-7b-v0.1", "mixtral-8x7b", "llama-3.1-70b", "phi-3-mini-4k-instruct",
          "qwen3-30b-a3b", "deepseek-v2-lite", "gemma-2-9b", "llama-2-13b", "llama-3.1-405b"]
GPUS = ["t4", "l4", "a10g", "l40s", "rtx-3090", "rtx-4090", "a100-40gb", "a100-80gb", "h100-sxm", "h200", "b200", "mi300x"]
PRECISIONS = ["bf16", "fp16", "fp8", "int8", "int4-awq", "int4-gptq"]


@st.composite
def scenario_data(draw, gpus=GPUS, mixed_fleet=None):
    chosen = draw(st.lists(st.sampled_from(gpus), min_size=1, max_size=4, unique=True))
    data = {
        "model": draw(st.sampled_from(MODELS)),
        "precisions": draw(st.lists(st.sampled_from(PRECISIONS), min_size=1, max_size=3, unique=True)),
        "kv_cache_dtypes": draw(st.lists(st.sampled_from(["fp16", "fp8"]), min_size=1, max_size=2, unique=True)),
        "workload": {"concurrency": draw(st.integers(1, 3000)), "context_tokens": draw(st.sampled_from([256, 2048, 8192, 32768, 131072]))},
        "gpus": chosen,
        "min_headroom": draw(st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5])),
        "parallelism": {"tp": draw(st.lists(st.sampled_from([1, 2, 4, 8]), min_size=1, max_size=4, unique=True)),
                        "pp": draw(st.lists(st.sampled_from([1, 2, 4]), min_size=1, max_size=3, unique=True))},
        "solver": {"mixed_fleet": draw(st.booleans()) if mixed_fleet is None else mixed_fleet},
    }
    if draw(st.booleans()):
        data["inventory"] = {g: draw(st.integers(0, 64)) for g in chosen if draw(st.booleans())}
    if draw(st.booleans()):
        data["budget"] = {"max_usd_per_hour": draw(st.sampled_from([1, 5, 20, 100, 1000]))}
    return data


def assert_plan_meets_every_constraint(report, s, catalog=None):
    """Each constraint of the scenario, recomputed from the memory model and the catalog."""
    catalog = catalog or default_catalog()
    arch = catalog.architecture(s.model.id)
    plan = report.plans[0]
    from planner.engines import GpuFacts, engine_settings
    used: dict[str, int] = {}
    for group in plan.groups:
        c, lay = group.candidate, group.candidate.layout
        gpu = catalog.gpu(c.gpu.id)
        assert lay.tp in s.parallelism.tp and lay.pp in s.parallelism.pp
        assert lay.tp <= node_topology(gpu, s.topology_override(gpu.id)).max_group_without_network  # TP inside a node
        assert lay.tp * lay.pp <= s.parallelism.max_gpus_per_replica
        assert arch.num_attention_heads % lay.tp == 0 and lay.pp <= arch.num_layers
        assert arch.uses_mla or arch.kv_heads % lay.tp == 0 or lay.tp % arch.kv_heads == 0
        assert lay.weight_format.name in s.precisions
        assert gpu.supports_fp8 or not weight_format(lay.weight_format.name).needs_fp8_hardware
        assert group.count >= 1 and group.concurrency >= group.count
        facts = GpuFacts(gpu.capacity_bytes, gpu.name, gpu.scale_up_link or "none")
        engine = engine_settings(s.engine.choice(), facts, lay.tp, lay.pp, s.workload.tokens_per_sequence)
        bill = serving_memory(arch, lay, engine, gpu.capacity_bytes, -(-group.concurrency // group.count), s.workload.tokens_per_sequence)
        assert bill.total_bytes <= bill.usable_bytes, f"{c.key}: memory per GPU over the usable capacity"
        assert bill.capacity_bytes - bill.total_bytes >= s.min_headroom * bill.capacity_bytes - 1, f"{c.key}: headroom"
        used[gpu.id] = used.get(gpu.id, 0) + group.count * lay.tp * lay.pp
    assert sum(g.concurrency for g in plan.groups) == s.workload.concurrency
    for gpu_id, count in used.items():
        stock = s.inventory_of(gpu_id)
        assert stock is None or count <= stock, f"inventory of {gpu_id}"
    cost = sum(g.count * g.candidate.gpus_per_replica * catalog.gpu(g.candidate.gpu.id).price_usd_per_gpu_hour for g in plan.groups)
    assert abs(cost - plan.cost_usd_per_hour) < 1e-6
    if s.budget.max_usd_per_hour is not None:
        assert cost <= s.budget.max_usd_per_hour + 1e-9
    if not s.solver.mixed_fleet:
        assert len(plan.groups) == 1
    assert report.status in ("optimal", "feasible")
    gap = report.solver.get("gap")
    assert report.status != "optimal" or not gap, "optimal is only claimed with a zero gap"


def solve_or_explain(s, catalog=None):
    """A report, or an infeasible / bad-input error with a message; anything else (a crash) fails the test."""
    try:
        return solve_scenario(s, catalog)
    except (InfeasibleError, InputError) as exc:
        assert exc.exit_code in (1, 2) and exc.render().strip()
        return None


@examples(CI_EXAMPLES["solve"])
@given(scenario_data())
def test_random_valid_scenarios_never_crash_and_every_plan_meets_every_constraint(data):
    s = validate_scenario(data)
    report = solve_or_explain(s)
    if report is not None:
        assert_plan_meets_every_constraint(report, s)


@st.composite
def gpu_catalogs(draw):
    base = default_catalog().gpu("h100-sxm").model_dump()
    specs = []
    for index in range(draw(st.integers(1, 4))):
        specs.append(GpuSpec(**{**base, "id": f"fuzz-{index}", "name": f"Fuzz GPU {index}",
                                "memory_usable_mib": draw(st.integers(4 * 1024, 300 * 1024)),
                                "nvlink_domain_size": draw(st.sampled_from([1, 2, 4, 8])),
                                "supports_fp8": draw(st.booleans()), "supports_bf16": draw(st.booleans()),
                                "price_usd_per_gpu_hour": draw(st.floats(0.05, 20.0).map(lambda x: round(x, 3)))}))
    default = default_catalog()
    return Catalog(specs, default.models, builtin_catalog_dir(), ("fuzzed-gpus.yaml", default.sources[1]))


@examples(CI_EXAMPLES["catalog"])
@given(gpu_catalogs(), st.data())
def test_random_gpu_catalogs_never_crash_and_plans_meet_every_constraint(catalog, data):
    s = validate_scenario(data.draw(scenario_data(gpus=[g.id for g in catalog.gpus])))
    report = solve_or_explain(s, catalog)
    if report is not None:
        assert_plan_meets_every_constraint(report, s, catalog)


@examples(CI_EXAMPLES["homogeneous"])
@given(scenario_data(mixed_fleet=False))
def test_cpsat_optimum_equals_the_enumerator_on_single_shape_fleets(data):
    try:
        problem = prepare(validate_scenario(data)).problem(mixed_fleet=False)
    except InputError:
        return
    exhaustive, cpsat = solve_enumerate(problem), solve_cpsat(problem)
    assert (cpsat.assignment is None) == (exhaustive.assignment is None)
    if exhaustive.assignment is not None:
        assert cpsat.status == "optimal"
        assert cpsat.objective_micro_usd == exhaustive.objective_micro_usd


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "wall_time_s"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@examples(CI_EXAMPLES["determinism"])
@given(scenario_data())
def test_solving_twice_gives_identical_output(data):
    s = validate_scenario(data)
    outputs = []
    for _ in range(2):
        try:
            outputs.append(_without_timings(solve_scenario(s).to_dict()))
        except PlannerError as exc:
            outputs.append(exc.render())
    assert outputs[0] == outputs[1]


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**13, 10**13), st.floats(allow_nan=True), st.text(max_size=12),
                 st.lists(st.integers(-3, 300), max_size=3), st.dictionaries(st.text(max_size=6), st.integers(), max_size=2))
PATHS = [("model",), ("precisions",), ("kv_cache_dtypes",), ("workload",), ("workload", "concurrency"),
         ("workload", "context_tokens"), ("workload", "prompt_tokens"), ("gpus",), ("inventory",), ("budget",),
         ("budget", "max_usd_per_hour"), ("min_headroom",), ("engine", "gpu_memory_utilization"), ("engine", "block_size"),
         ("parallelism", "tp"), ("parallelism", "pp"), ("parallelism", "max_gpus_per_replica"), ("solver", "time_limit_s"),
         ("kind",), ("catalog",), ("typo_key",), ("workload", "typo_key")]


@examples(CI_EXAMPLES["mutation"])
@given(scenario_data(), st.sampled_from(PATHS), JUNK)
def test_a_scenario_with_any_field_replaced_by_junk_is_rejected_cleanly_or_solved(data, path, junk):
    target = data
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = junk
    try:
        s = validate_scenario(data, source="fuzz.yaml")
    except ScenarioError as exc:
        assert exc.issues and all(issue.message for issue in exc.issues)
        return
    solve_or_explain(s)
