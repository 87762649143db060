"""Text that README.md and docs/*.md generate: sample outputs, tables and the numbers quoted in prose.

Each Markdown file imports this module in its first cog block (``from benchmarks.docs_text import *``), which
also brings the model and accuracy text (``benchmarks.docs_models``) and the measured timings
(``benchmarks.docs_measured``); see ``benchmarks/docs.py`` for how the blocks run and how outputs are made
deterministic.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from benchmarks.docs import (  # noqa: F401 - re-exported: the Markdown's cog blocks call them
    ROOT,
    fence,
    include,
    json_of,
    measured,
    measured_note,
    normalise,
    output_of,
    pct,
    python_output,
    run,
    shell,
    table,
    usd,
    wrap,
)
from benchmarks.docs_measured import *  # noqa: F403 - re-exported for the Markdown's cog blocks
from benchmarks.docs_models import *  # noqa: F403


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
    from planner.api import load_scenario

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


@functools.cache
def _variant(path: str, changes_json: str) -> Any:
    """Solve a scenario file with some fields changed (dotted paths; None removes the field): the report's dict, or
    the error message when there is no plan."""
    import copy
    import json

    import yaml

    from planner import solve_scenario
    from planner.errors import PlannerError
    from planner.schema import resolve_paths, validate_scenario

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
    from planner.api import load_scenario

    rows = []
    for path in TRAINING_EXAMPLES:
        p = json_of(f"planner solve {path} --format json")["plans"][0]
        m = p["memory_per_gpu_gib"]
        rows.append((f"`{path.rsplit('/', 1)[-1]}`: {load_scenario(ROOT / path).description}", training_layout(p),
                     f"{p['hours']:,.1f} h", usd(p["cost_usd"]), f"{m['total']:.1f} of {m['capacity']:.1f} GiB"))
    return table(("example", "plan", "time", "cost", "memory per GPU (measured-peak model, worst stage)"), rows)


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


def published_counts() -> dict[str, int]:
    """How many configs tests/test_hf_architectures.py checks against published parameter counts, and how."""
    from tests import test_hf_architectures

    rows = test_hf_architectures.PUBLISHED
    exact = sum(1 for row in rows if row[3] == 0)
    return {"configs": len(rows), "types": len({row[0] for row in rows}), "exact": exact, "nominal": len(rows) - exact}



def bad_input_cases() -> dict[str, Any]:
    """The cases of the bad-input corpus (tests/data/bad/expected.yaml)."""
    import yaml

    return yaml.safe_load((ROOT / "tests" / "data" / "bad" / "expected.yaml").read_text())["cases"]


def indent_block(text: str, spaces: int) -> str:
    """Indent every non-empty line (a block inside a list item)."""
    return "".join((" " * spaces + line) if line.strip() else line for line in text.splitlines(True))


__all__ = [name for name in dir() if not name.startswith("_")]
