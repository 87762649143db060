"""Text that README.md and docs/*.md generate: sample outputs, accuracy tables and the numbers quoted in prose.

Each Markdown file imports this module in its first cog block (``from benchmarks.docs_text import *``); see
``benchmarks/docs.py`` for how the blocks run and how outputs are made deterministic.
"""

from __future__ import annotations

import functools
import re
import statistics
from typing import Any

from benchmarks.docs import (ROOT, fence, include, json_of, measured, measured_note, normalise, output_of, python_output,
                             run, shell, table)


def pct(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f} %"


def usd(value: float) -> str:
    return f"${value:,.2f}"


# --- README -----------------------------------------------------------------------------------------------------

def worked_example_reading(scenario: str) -> str:
    """The README's 'how to read it' list, with the numbers of the plan ``planner solve SCENARIO`` prints."""
    data = json_of(f"planner solve {scenario} --format json")
    plan = data["plans"][0]
    groups = plan["replicas"]
    first = groups[0]
    bill = first["memory_per_gpu_gib"]
    demand = data["demand"]
    cand = data["candidates"]
    rejected = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(cand.get("rejected", {}).items()))
    shapes = " and ".join(f"{g['count']} × TP {g['tp']} × PP {g['pp']} on {g['gpu']} holding {g['concurrency']}" for g in groups)
    perf = first.get("performance") or {}
    lines = [
        f"- **The first line** restates the demand: {demand['concurrency']:,} concurrent sequences of "
        f"{demand['context_tokens']:,} tokens (prompt + output) of {data['model']}.",
        f"- **Plan 1** is the cheapest fleet that holds them: {plan['gpu_mix']} for {usd(plan['cost_usd_per_hour'])}/h. "
        f"Its *min headroom*, {plan['min_headroom_fraction']:.1%}, is the smallest free share of any GPU's memory; "
        "the scenario asks for at least `min_headroom`.",
        f"- **Each row** is a group of identical replicas (GPU, TP × PP, expert parallelism, weight format, KV-cache "
        f"dtype). Here: {shapes} sequences. The solver mixes shapes when that is cheaper than rounding one shape up.",
        f"- **The memory columns** are the bill of one GPU of the busiest replica, in GiB: on the first row "
        f"{bill['weights']:.2f} weights + {bill['kv_cache']:.2f} KV cache + {bill['activations']:.2f} activation peak + "
        f"{bill['overhead']:.2f} overhead (CUDA context, NCCL) + {bill['cuda_graphs']:.2f} CUDA graphs leave "
        f"{bill['free']:.2f} GiB free of {bill['capacity']:.2f}. `planner memory` prints the same bill with its formulas.",
    ]
    if perf:
        lines.append(
            f"- **Predicted performance** comes from the performance model at each replica's load: the first row "
            f"decodes {perf['output_tokens_per_s']:,.0f} output tokens/s at a batch of {perf['batch_size']:.0f}, "
            f"{perf['tpot_ms']:.1f} ms per output token, bound by {perf['bound']}.")
    lines.append(
        f"- **The status line**: `{data['status']}` means CP-SAT proved that no cheaper plan exists (zero gap). "
        f"{cand['total']:,} replica shapes were considered ({rejected}) and {cand['after_pruning']:,} were left after "
        "dropping those another shape beats; one worker and a fixed seed make the answer the same on every run.")
    return "\n".join(lines) + "\n"


PYTHON_EXAMPLE = '''\
from planner import load_scenario, solve_scenario

report = solve_scenario(load_scenario("scenarios/llama-3.1-70b-chat.yaml"))
plan = report.plans[0]
print(report.status, plan.gpu_mix, plan.cost_usd_per_hour, f"{plan.min_headroom_fraction:.3f}")
for group in plan.to_dict()["replicas"]:        # the same dictionaries as `planner solve --format json`
    print(group["count"], group["gpu"], group["tp"], group["memory_per_gpu_gib"]["total"])
'''


def python_example(code: str) -> str:
    """A Python snippet and what it prints."""
    return fence(code, "python") + "\nprints\n\n" + fence(python_output(code))


def accuracy_at_a_glance() -> str:
    """One row per model: what it is checked against and how close it comes (details in docs/)."""
    from benchmarks import accuracy, accuracy_performance, accuracy_training_throughput

    memory_rows = accuracy.collect_rows()
    serving = [r for r in memory_rows if r.get("engine", "training") != "training" and r.get("goal_pct") is not None]
    training = [r for r in memory_rows if r.get("engine", "training") == "training" and r.get("goal_pct") is not None]

    def within(rows: list[dict[str, Any]]) -> str:
        inside = sum(1 for r in rows if abs(accuracy.error_pct(r) or 0.0) <= r["goal_pct"])
        return f"{inside} of {len(rows)}"

    perf = accuracy_performance.summary(accuracy_performance.case_rows())["validation"]
    train = accuracy_training_throughput.summary(accuracy_training_throughput.evaluate())
    cases = len({r["case"] for r in memory_rows if r.get("engine", "training") != "training"})
    rows = [
        ("serving memory per GPU", f"{cases} engine logs (vLLM, SGLang, TensorRT-LLM, llama.cpp)",
         f"{within(serving)} quantities within their goal (weights ±3 %, KV size ±0.5 %, KV capacity ±5 %)",
         "[memory.md](docs/memory.md#accuracy-against-engine-logs)"),
        ("training memory per GPU", "ZeRO, DeepSpeed, Korthikanti, Megatron-LM, LitGPT figures",
         f"{within(training)} within their goal (formulas ±2 %, measured peaks ±15 %)", "[training.md](docs/training.md)"),
        ("serving throughput and latency", f"{sum(int(m['cases']) for m in perf.values())} published measurements never "
         "used for fitting", "median error " + ", ".join(f"{pct(m['median_abs_error_pct'])} {name}" for name, m in
                                                         (("output tokens/s", perf["output_tokens_per_s"]), ("TPOT", perf["tpot_ms"]),
                                                          ("TTFT", perf["ttft_ms"]))),
         "[performance.md](docs/performance.md#accuracy)"),
        ("training step time", f"{train['validate']['cases']} published runs never used for fitting",
         f"median error {pct(train['validate']['median_abs_pct'])}, max {pct(train['validate']['max_abs_pct'])}",
         "[training.md](docs/training.md#step-time-against-published-training-runs)"),
    ]
    return table(("model", "checked against", "result", "details"), rows)



# --- docs/scenarios.md ------------------------------------------------------------------------------------------

def _leading_comment(path) -> str:
    """A scenario file's description: its leading comment block (or its ``description:`` field)."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("planner "):  # a usage line, shown elsewhere
            continue
        lines.append(text)
    return " ".join(lines)


def scenario_examples() -> str:
    """Every file in scenarios/: what it is (kind and load) and what it asks, from the file itself."""
    from planner.scenario import load_scenario

    rows = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        name = f"[`{path.name}`](../scenarios/{path.name})"
        if path.name.startswith("sweep-"):
            rows.append((name, "what-if sweep", _leading_comment(path)))
            continue
        scenario = load_scenario(path)
        if scenario.kind == "training":
            kind = "training"
        elif getattr(scenario, "demand", None) is not None:
            kind = "serving, procurement over time"
        else:
            kind = "serving, " + {"concurrency": "concurrency", "request_rate": "request rate", "offline": "offline job"}.get(
                scenario.workload.kind, scenario.workload.kind)
        rows.append((name, kind, _leading_comment(path) or getattr(scenario, "description", "") or ""))
    return table(("file", "kind", "what it asks"), rows)



def _schema_type(spec: dict[str, Any], defs: dict[str, Any]) -> str:
    """A JSON Schema type in a few characters: int, number, string, list of ..., one of the enum values, a $ref name."""
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    if "anyOf" in spec or "oneOf" in spec:
        parts = [_schema_type(s, defs) for s in spec.get("anyOf", spec.get("oneOf", [])) if s.get("type") != "null"]
        return " or ".join(dict.fromkeys(parts))
    kind = spec.get("type")
    if kind == "array":
        return "list of " + _schema_type(spec.get("items", {}), defs)
    if kind == "object":
        extra = spec.get("additionalProperties")
        return "mapping" + (f" to {_schema_type(extra, defs)}" if isinstance(extra, dict) and extra else "")
    return {"integer": "int", "number": "number", "string": "string", "boolean": "bool"}.get(kind, kind or "any")


def _resolve(spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The object definition behind a property: through $ref, optional anyOf and mappings id -> object."""
    if "$ref" in spec:
        return defs[spec["$ref"].rsplit("/", 1)[-1]]
    if "properties" in spec:
        return spec
    extra = spec.get("additionalProperties")
    for option in [*spec.get("anyOf", []), *([extra] if isinstance(extra, dict) else [])]:
        found = _resolve(option, defs)
        if "properties" in found:
            return found
    return spec


def schema_fields(path: str = "", which: str = "scenario") -> str:
    """The fields of a scenario section (``path`` such as ``workload.slo``), from ``planner schema``: name, type,
    default, meaning. Generated from the schema, so it lists exactly what the scenario loader accepts."""
    schema = json_of(f"planner schema {which}")
    defs = schema.get("$defs", {})
    node = schema
    for key in filter(None, path.split(".")):
        node = _resolve(node["properties"][key], defs)
    rows = []
    for name, spec in node.get("properties", {}).items():
        default = spec.get("default")
        shown = f"`{json_dumps(default)}`" if "default" in spec and default is not None else ""
        rows.append((f"`{name}`", _schema_type(spec, defs), shown, (spec.get("description") or "").replace("|", "\\|")))
    return table(("field", "type", "default", "meaning"), rows)


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, separators=(", ", ": "))



# --- docs/how-it-works.md ---------------------------------------------------------------------------------------

def _first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, in Markdown (``x`` becomes `x`)."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "`").replace("|", "\\|")
    for match in re.finditer(r"\. (?=[A-Z(`])", paragraph):
        if not re.search(r"\b(?:al|e\.g|i\.e|Sec|Eq|vs)$", paragraph[:match.start()]):
            return paragraph[:match.start() + 1]
    return paragraph


def module_map(package: str = "planner") -> str:
    """Every module of the package with the first sentence of its docstring: the code's own map of itself."""
    import ast

    rows = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path.name == "__main__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        name = str(path.relative_to(ROOT)).replace("/__init__.py", "/")
        rows.append((f"`{name}`", _first_sentence(doc)))
    return table(("module", "what it is"), rows)



# --- docs/memory.md, docs/engines.md: the memory model against engine logs -------------------------------------

@functools.lru_cache(maxsize=None)
def _memory_rows() -> tuple[dict[str, Any], ...]:
    from benchmarks import accuracy

    return tuple(accuracy.collect_rows())


def memory_rows(kind: str) -> list[dict[str, Any]]:
    """Rows of ``python -m benchmarks.accuracy``: ``serving`` (engine logs) or ``training`` (published figures)."""
    return [r for r in _memory_rows() if (r.get("engine", "training") == "training") == (kind == "training")]


def memory_accuracy_table(kind: str) -> str:
    """The accuracy table of ``python -m benchmarks.accuracy --markdown`` for serving or training rows, with its count."""
    from benchmarks import accuracy

    rows = memory_rows(kind)
    return accuracy.render_markdown(rows) + "\n\n" + accuracy.summary(rows) + "\n"


def memory_accuracy_by_engine() -> str:
    from benchmarks import accuracy

    return accuracy.summary_by_group(list(_memory_rows())) + "\n"


def memory_error(case: str, quantity: str) -> str:
    """The signed error of one row of the memory accuracy table, as the table prints it (``+2.87 %``)."""
    from benchmarks import accuracy

    for row in _memory_rows():
        if row["case"] == case and row["quantity"] == quantity:
            error = accuracy.error_pct(row) or 0.0
            return f"{error:+.2f} %" if abs(error) < 1 else f"{error:+.1f} %"
    raise KeyError(f"no accuracy row {case!r} / {quantity!r}")


def memory_predicted(case: str, quantity: str) -> float:
    for row in _memory_rows():
        if row["case"] == case and row["quantity"] == quantity:
            return float(row["predicted"])
    raise KeyError(f"no accuracy row {case!r} / {quantity!r}")



def memory_counterfactual(case: str, quantity: str, **changes: Any) -> dict[str, Any]:
    """One row of a logged case re-predicted with some of its settings changed (``capacity_gib``, ``weight_format``):
    the row dict with ``error`` (as the table prints it) and ``predicted``."""
    from dataclasses import replace

    from benchmarks import accuracy, accuracy_serving, serving_cases

    logged = next(c for c in serving_cases.CASES if c.case == case)
    for row in accuracy_serving.case_rows(replace(logged, **changes)):
        if row["quantity"] == quantity:
            return {**row, "error": f"{accuracy.error_pct(row):+.0f} %"}
    raise KeyError(f"no row {quantity!r} for {case!r}")



# --- variants of a scenario (what the prose compares a plan with) -----------------------------------------------

@functools.lru_cache(maxsize=None)
def _variant(path: str, changes_json: str) -> Any:
    """Solve a scenario file with some fields changed (dotted paths; None removes the field): the report's dict, or
    the error message when there is no plan."""
    import copy
    import json

    import yaml

    from planner import solve_scenario
    from planner.errors import PlannerError
    from planner.scenario import resolve_paths, validate_scenario

    data = copy.deepcopy(yaml.safe_load((ROOT / path).read_text()))
    for dotted, value in json.loads(changes_json).items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    scenario = resolve_paths(validate_scenario(data, source=path), (ROOT / path).parent)
    try:
        return solve_scenario(scenario).to_dict()
    except PlannerError as exc:
        return exc.render()


def variant(path: str, **changes: Any) -> Any:
    """``_variant`` with keyword changes (``deadline_hours=None``); use ``__`` for a dot (``budget__max_usd=...``)."""
    import json

    return _variant(path, json.dumps({key.replace("__", "."): value for key, value in changes.items()}, sort_keys=True))



# --- docs/training.md -------------------------------------------------------------------------------------------

TRAINING_EXAMPLES = ("scenarios/training-llama-3.1-8b-lora-consumer-gpu.yaml",
                     "scenarios/training-llama-3.1-8b-full-finetune-node.yaml",
                     "scenarios/training-llama-3.1-70b-pretraining.yaml")


def training_layout(p: dict[str, Any]) -> str:
    parts = [f"{p['gpus']:,} × {p['gpu']}", f"TP×PP×DP {p['tp']}×{p['pp']}×{p['dp']}"]
    parts += [f"EP {p['ep']}"] if p.get("ep", 1) > 1 else []
    parts += [f"ZeRO-{p['zero_stage']}", f"recompute {p['recompute']}"]
    parts += ["SP"] if p.get("sequence_parallel") else []
    parts += [f"offload {p['offload']}"] if p.get("offload", "none") != "none" else []
    return ", ".join(parts + [f"micro-batch {p['micro_batch']}"])


def training_examples_table() -> str:
    """The three training examples: what each asks, the plan, its time, cost and memory per GPU."""
    from planner.scenario import load_scenario

    rows = []
    for path in TRAINING_EXAMPLES:
        p = json_of(f"planner solve {path} --format json")["plans"][0]
        m = p["memory_per_gpu_gib"]
        rows.append((f"`{path.rsplit('/', 1)[-1]}`: {load_scenario(ROOT / path).description}", training_layout(p),
                     f"{p['hours']:,.1f} h", usd(p["cost_usd"]), f"{m['total']:.1f} of {m['capacity']:.1f} GiB"))
    return table(("example", "plan", "time", "cost", "memory per GPU (measured-peak model, worst stage)"), rows)


def training_constants_table() -> str:
    """The step-time model's fitted constants, read from the code."""
    from planner.performance import training as model

    gemm = " · ".join(f"{generation} {width} {value:.2f}" for (generation, width), value in model.GEMM_EFFICIENCY.items())
    rows = [
        ("`GEMM_EFFICIENCY`", gemm + " (CDNA from a kernel study, not fitted)",
         "sustained share of the datasheet dense peak under the power limit"),
        ("`ATTENTION_EFFICIENCY`", f"{model.ATTENTION_EFFICIENCY:g}", "causal FlashAttention end to end, rotary, masking"),
        ("`ELEMENTWISE_PASSES`", f"{model.ELEMENTWISE_PASSES:g}", "re-reads of fused element-wise kernels and their HBM efficiency"),
        ("`TP_OVERLAP`", f"{model.TP_OVERLAP:g}", "TP collectives hidden behind GEMMs"),
        ("`COMMUNICATION_OVERLAP`", f"{model.COMMUNICATION_OVERLAP:g}",
         "share of a pass bucketed DP collectives, async PP sends and offload copies can hide behind"),
        ("`LAYER_OVERHEAD_S`", f"{model.LAYER_OVERHEAD_S * 1e3:g} ms per block per forward pass", "launches and host synchronisation"),
        ("`MOE_LAYER_OVERHEAD_S`", f"{model.MOE_LAYER_OVERHEAD_S * 1e3:g} ms per MoE block per pass",
         "router, token-count synchronisation, grouped-GEMM set-up"),
    ]
    return table(("constant", "value", "what it absorbs"), rows)


@functools.lru_cache(maxsize=None)
def _throughput_rows() -> tuple[dict[str, Any], ...]:
    from benchmarks import accuracy_training_throughput

    return tuple(accuracy_training_throughput.evaluate())


def training_throughput_summary() -> str:
    from benchmarks import accuracy_training_throughput as bench

    summary = bench.summary(list(_throughput_rows()))
    return table(("split", "cases", "median abs. error", "max abs. error", f"within {bench.MAX_GOAL_PCT:g} %"),
                 [(name, s["cases"], pct(s["median_abs_pct"]), pct(s["max_abs_pct"]), s["within_30_pct"])
                  for name, s in summary.items()])


def training_throughput_table() -> str:
    from benchmarks import accuracy_training_throughput as bench

    return bench.render(list(_throughput_rows()), markdown=True) + "\n"


def _errors(prefix: str, contains: str = "") -> list[float]:
    return [r["error_pct"] for r in _throughput_rows() if r["case"].startswith(prefix) and contains in r["case"]]


def _span(errors: list[float], slow: bool = False) -> str:
    values = sorted(abs(e) for e in errors)
    return f"{values[0]:.0f}–{values[-1]:.0f} %" if len(values) > 1 else f"{values[0]:.0f} %"


def training_throughput_notes() -> str:
    """What the step-time accuracy table shows, series by series, with the numbers of the table."""
    from benchmarks import accuracy_training_throughput as bench

    rows = _throughput_rows()
    beyond = [r for r in rows if r["split"] != "excluded" and abs(r["error_pct"]) > bench.MAX_GOAL_PCT]
    mtnlg = " / ".join(f"{e:+.0f}" for e in _errors("mtnlg2022"))
    excluded = [r for r in rows if r["split"] == "excluded"]
    text = (
        f"Scaling series: Megatron 32 → 3,072 GPUs all within {max(abs(e) for e in _errors('narayanan2021')):.0f} %; "
        f"llm-foundry 7B/13B on 8 → 128 A100s within {max(abs(e) for e in _errors('llmfoundry-mpt-', 'a100')):.0f} %; "
        f"MT-NLG 2,240 → 3,360 GPUs {mtnlg} % (the model predicts faster than measured). "
        f"The {len(beyond)} case{'s' if len(beyond) != 1 else ''} beyond {bench.MAX_GOAL_PCT:g} % "
        f"({', '.join(r['case'] for r in beyond)}) {'are' if len(beyond) != 1 else 'is'} MT-NLG's larger runs: the same 530B "
        "layout (TP 8 × PP 35, ~2,500 A100s, micro-batch 1) ran at 163 TFLOP/s in Narayanan et al. and 113–126 in "
        "MT-NLG's Megatron-DeepSpeed, a 25–30 % framework difference one model cannot represent. "
        f"The Llama 3 runs are predicted {_span(_errors('llama3-'))} slow and the Megatron-Bridge H100 FP8 runs "
        f"{_span(_errors('bridge2511-', 'h100'))} slow: the Hopper constants are a compromise between these (newer "
        "software) and llm-foundry's 2023 H100 numbers.")
    for r in excluded:
        text += (f" {r['case']} ({r['error_pct']:+.0f} %) is listed but excluded: its attention sinks and sliding windows "
                 "point at an unfused attention path the model does not represent.")
    text += (" Also not covered: V100-era DeepSpeed ZeRO papers (no V100 in the catalog), MLPerf (time-to-train, not "
             "throughput), consumer GPUs and LoRA (no published run with its full setup was found), CPU offload.")
    return wrap(text)


def wrap(text: str, width: int = 116) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)) + "\n"



# --- docs/reliability.md ----------------------------------------------------------------------------------------

def bad_input_corpus() -> str:
    """How many bad inputs the corpus holds, by how they are fed to the planner (tests/data/bad/expected.yaml)."""
    import collections

    import yaml

    cases = yaml.safe_load((ROOT / "tests" / "data" / "bad" / "expected.yaml").read_text())["cases"]
    kinds = collections.Counter(case.get("as", "scenario") for case in cases.values())
    exits = collections.Counter(case.get("exit") for case in cases.values())
    names = {"scenario": "scenarios", "config": "`config.json` files", "gpu-catalog": "GPU catalogs",
             "model-catalog": "model catalogs"}
    parts = ", ".join(f"{n} {names.get(kind, kind)}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    by_exit = ", ".join(f"{n} exit {code}" for code, n in sorted(exits.items()))
    return wrap(
        f"The corpus `tests/data/bad/` holds **{len(cases)} bad inputs** ({parts}; {by_exit}), and "
        "`tests/data/bad/expected.yaml` pairs each with its exit code and the message fragments it must produce "
        "(file:line:column, field, did-you-mean). `tests/test_bad_inputs.py` runs every one through the CLI "
        "(`validate` and `solve` for scenarios, `memory --config` for configs, a scenario naming the file for "
        "catalogs) and checks: the exit code, the message, stderr only, no traceback.")


FUZZ_PROPERTIES = {
    "solve": "random valid scenarios never crash; every plan meets every constraint",
    "catalog": "random GPU catalogs never crash; every plan meets every constraint",
    "homogeneous": "CP-SAT's optimum equals the exhaustive enumerator's on single-shape fleets",
    "determinism": "solving twice gives identical output",
    "mutation": "a scenario with any field replaced by junk is rejected with an issue list, or solved",
}


def fuzz_table() -> str:
    """The property tests' example counts per CI run, read from tests/test_properties.py."""
    import ast

    tree = ast.parse((ROOT / "tests" / "test_properties.py").read_text())
    counts = next(ast.literal_eval(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CI_EXAMPLES" for t in node.targets))
    rows = [(FUZZ_PROPERTIES.get(key, key), f"{n:,}") for key, n in counts.items()]
    return table(("property", "scenarios"), rows + [("**total**", f"**{sum(counts.values()):,}**")])



def memory_accuracy_error(row: dict[str, Any]) -> float:
    from benchmarks import accuracy

    return accuracy.error_pct(row) or 0.0


ENGINE_KNOBS = {
    "vllm": "`gpu_memory_utilization`, `max_num_batched_tokens`, `max_num_seqs`, `block_size`, `entrypoint` (server / "
            "offline), `cuda_graphs_in_budget`",
    "sglang": "`mem_fraction_static`, `chunked_prefill_size`, `cuda_graph_max_bs`",
    "trtllm": "`free_gpu_memory_fraction`, `max_num_tokens`, `max_batch_size`, `block_size` (tokens per block)",
    "llamacpp": "`n_gpu_layers` (`-ngl`), `n_ubatch`",
}


def engine_table() -> str:
    """Each engine with its knobs and the release whose defaults apply when none is given (from planner.engines)."""
    from planner.engines import ALIASES, ENGINES

    rows = []
    for key, info in ENGINES.items():
        aliases = ", ".join(f"`{alias}` = {version}" for alias, (engine, version) in ALIASES.items() if engine == key and version)
        rows.append((f"`{key}`", ENGINE_KNOBS.get(key, ""), info.default_version + (f" ({aliases})" if aliases else "")))
    return table(("engine", "knobs (scenario `engine:` keys = `planner memory` flags)", "default release"), rows)


def memory_case_roles() -> str:
    """Which engine-log cases calibrated a constant (and which) and which only validate (benchmarks/serving_cases.py)."""
    from benchmarks import serving_cases

    calibration = [f"{c.case} ({c.calibrates})" for c in serving_cases.CASES if c.role == "calibration"]
    validation = [c.case for c in serving_cases.CASES if c.role != "calibration"]
    training = sorted({r["case"] for r in memory_rows("training") if r.get("role") in ("calibration", "validation")
                       and r.get("role") == "calibration"})
    return wrap(f"**Calibration cases**: {', '.join(calibration + [f'{t} (training)' for t in training])}.") + wrap(
        f"**Validation cases**: {', '.join(validation)}, and the training peaks of "
        f"[training.md](training.md#memory-against-published-figures).")



# --- docs/models.md ---------------------------------------------------------------------------------------------

def published_counts() -> dict[str, int]:
    """How many configs tests/test_hf_architectures.py checks against published parameter counts, and how."""
    from tests import test_hf_architectures

    rows = test_hf_architectures.PUBLISHED
    exact = sum(1 for row in rows if row[3] == 0)
    return {"configs": len(rows), "types": len({row[0] for row in rows}), "exact": exact, "nominal": len(rows) - exact}



# --- docs/performance.md ----------------------------------------------------------------------------------------

PERFORMANCE_EXAMPLE = '''\
from planner.catalog import default_catalog
from planner.formats import kv_cache_dtype, weight_format
from planner.memory.serving import EngineSettings, ServingLayout
from planner.performance.serving import RequestMix, RequestRate, ServingShape, Slo, max_request_rate_within_slo, predict

catalog = default_catalog()
shape = ServingShape(catalog.architecture("llama-3.1-70b"), catalog.gpu("h100-sxm"),
                     ServingLayout(tp=4, weight_format=weight_format("fp8"), kv_cache_dtype=kv_cache_dtype("fp8")),
                     EngineSettings(engine="vllm"))
mix = RequestMix(((500, 200, 3.0), (4000, 400, 1.0)), prefix_cache_hit_rate=0.2)   # buckets with weights
result = predict(shape, mix, RequestRate(6.0))
print(f"{result.output_tokens_per_s:,.0f} output tokens/s, TTFT p99 {result.ttft_ms.p99:.0f} ms, "
      f"TPOT p99 {result.tpot_ms.p99:.1f} ms, {result.bound}-bound")
rate = max_request_rate_within_slo(shape, mix, Slo(ttft_ms=1000, tpot_ms=40, percentile="p99"))
print(f"{rate.requests_per_s:.2f} requests/s per replica, limited by {rate.limit}")   # 0 with the reason if none
'''


@functools.lru_cache(maxsize=None)
def _performance_rows() -> tuple[dict[str, Any], ...]:
    from benchmarks import accuracy_performance

    return tuple(accuracy_performance.case_rows())


def performance_rows(split: str | None = None, case: str = "", metric: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``python -m benchmarks.accuracy_performance``, filtered by split, a case-id regex and metric."""
    return [r for r in _performance_rows() if (split is None or r["split"] == split) and re.search(case, r["case"])
            and (metric is None or r["metric"] == metric)]


def performance_accuracy_summary() -> str:
    from benchmarks import accuracy_performance as bench

    summary = bench.summary(list(_performance_rows()))
    rows = [(split, metric, int(s["cases"]), pct(s["median_abs_error_pct"]), pct(s["max_abs_error_pct"]), f"{s['max_factor']:.2f}x")
            for split, metrics in summary.items() for metric, s in metrics.items()]
    return table(("split", "metric", "cases", "median abs error", "max abs error", "worst factor"), rows)


def performance_accuracy_by_source() -> str:
    groups: dict[tuple[str, str], list[float]] = {}
    for r in performance_rows("validation"):
        groups.setdefault((r["group"], r["metric"]), []).append(abs(r["error_pct"]))
    rows = [(group, metric, len(errors), pct(statistics.median(errors)), pct(max(errors)))
            for (group, metric), errors in sorted(groups.items())]
    return table(("source", "metric", "validation cases", "median abs error", "max abs error"), rows)


def performance_calibration_cases() -> str:
    from benchmarks import accuracy_performance as bench

    ids = [c["id"] for c in bench.load_cases() if c["split"] == "calibration"]
    return f"Calibration cases ({len(ids)}): " + ", ".join(f"`{i}`" for i in ids) + "\n"


def performance_accuracy_table() -> str:
    from benchmarks import accuracy_performance as bench

    return bench.render(list(_performance_rows()), markdown=True) + "\n"


def performance_case_counts() -> dict[str, Any]:
    """Measurements, calibration and validation counts, and the plain-roofline baseline's median errors."""
    from benchmarks import accuracy_performance as bench

    cases = bench.load_cases()
    with bench.plain_roofline():
        roofline = bench.summary(bench.case_rows())["validation"]
    return {"measurements": len(cases), "calibration": sum(c["split"] == "calibration" for c in cases),
            "validation": sum(c["split"] == "validation" for c in cases),
            "roofline": {metric: s["median_abs_error_pct"] for metric, s in roofline.items()}}


def performance_constants_table() -> str:
    """The serving model's efficiency constants, read from planner/performance (with what each was fitted on)."""
    from planner.performance import efficiency, topology

    fam, eng = efficiency.FAMILY_EFFICIENCY, efficiency.ENGINE_PROFILES

    def f(name: str) -> str:
        e = fam[name]
        return f"{e.compute:.2f} / {e.fp8_compute:.2f} / {e.bandwidth:.2f}"

    def overheads(name: str) -> str:
        p = eng[name]
        return f"{p.step_overhead_s * 1e3:g} ms / {p.per_layer_overhead_s * 1e6:g} µs / {p.per_sequence_overhead_s * 1e6:g} µs"

    rows = [
        ("Ampere compute / FP8 compute / bandwidth efficiency", f("ampere"),
         "A100 calibration cases (TensorRT-LLM 0.9, 0.13; vLLM 0.6, SGLang 0.3)"),
        ("Ada compute / FP8 compute / bandwidth", f("ada"), "L40S calibration cases (16-bit compute takes Hopper's)"),
        ("Hopper compute / FP8 compute / bandwidth", f("hopper"), "H100 calibration cases"),
        ("Turing, Blackwell", f"{f('turing')}, {f('blackwell')}", "no fitted case: Ampere's and Hopper's carried over "
         "(`fitted: false` in `--json`)"),
        ("CDNA 2 / 3 / 4", f("cdna3"), "no case: published MI300X kernel studies (hipBLASLt GEMM ~45 % of peak, "
         "~60-65 % of HBM bandwidth)"),
        ("MoE GEMM efficiency", f"{efficiency.MOE_GEMM_EFFICIENCY:.2f} of dense", "Mixtral calibration cases (TensorRT-LLM 0.13)"),
        ("overlap of compute and memory time", f"{eng['vllm'].overlap:.2f}", "all calibration cases"),
        ("vLLM step / per layer / per sequence", overheads("vllm"),
         "vLLM 0.6 and ROCm vLLM 0.9 calibration cases (per layer not fitted)"),
        ("SGLang step / per layer / per sequence", overheads("sglang"), "SGLang 0.3 calibration case"),
        ("TensorRT-LLM step / per layer / per sequence", overheads("trtllm"), "TensorRT-LLM 0.9 / 0.13 and NIM calibration cases"),
        ("PCIe peer-to-peer bus efficiency", f"{topology.LINK_EFFICIENCY['pcie']:.2f} of x16",
         "L40S TP4 calibration case (shared with the training model)"),
        ("NVSwitch / NVLink step latency", f"{topology.LINK_LATENCY_S['nvswitch'] * 1e6:g} µs",
         "nccl-tests small-message rows, custom all-reduce kernels (not fitted)"),
        ("xGMI step latency", f"{topology.LINK_LATENCY_S['xgmi'] * 1e6:g} µs", "the two MI300X TP 8 decode-latency calibration cases"),
    ]
    return table(("constant", "value", "fitted on / source"), rows)


def span_pct(rows: list[dict[str, Any]], signed: bool = False) -> str:
    """The range of errors of some rows: ``13-38 %`` (absolute) or ``+13 to +38 %``."""
    errors = sorted(r["error_pct"] if signed else abs(r["error_pct"]) for r in rows)
    if signed:
        return f"{errors[0]:+.0f} to {errors[-1]:+.0f} %" if len(errors) > 1 else f"{errors[0]:+.0f} %"
    return f"{errors[0]:.0f}-{errors[-1]:.0f} %" if len(errors) > 1 else f"{errors[0]:.0f} %"


def max_abs_pct(rows: list[dict[str, Any]]) -> str:
    return f"{max(abs(r['error_pct']) for r in rows):.0f} %"


__all__ = [name for name in dir() if not name.startswith("_")]
