"""What-if: re-solve a scenario under overrides and sweeps, and compare every variation with the baseline.

Overrides are ``path=value`` strings (``workload.concurrency=512``) applied to the scenario's YAML data before
it is validated, so a variation is checked exactly like a scenario file (unknown keys get a did-you-mean, bad
values their range). Shortcuts: ``gpus.<id>.price`` is the GPU's on-demand price; ``gpus.<id>.spot_price``,
``reserved_price`` and ``purchase_price`` go to the ``pricing`` section.

Variations are independent solves, run in a process pool across cores or on Ray (``executor='ray'``, the
``RAY_ADDRESS`` cluster or a local instance); each solve is deterministic (fixed seed and workers), so every
executor returns the same results.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from ..errors import Incomplete, InfeasibleError, InputError, Issue, PlannerError, ScenarioError, did_you_mean
from ..limits import MAX_TEXT_CHARS
from ..schema import resolve_paths, validate_scenario
from ..schema.outputs_analysis import VariationOutput, WhatIfOutput
from ..schema.serving import ServingScenario
from ..schema.translate import first_model
from ..units import micro_usd_to_usd, rounded
from ..yaml_io import Locator, load_yaml_file, parse_yaml
from .sweep import GPU_SHORTCUTS, Axis, SweepFile, Variation, expand, expand_shortcut

Executor = Literal["local", "ray"]


def parse_override(text: str) -> tuple[str, Any]:
    """'workload.concurrency=512' -> ('workload.concurrency', 512); the value is read as YAML."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path or any(not part for part in path.split(".")):
        raise InputError("invalid --set", [Issue(f"expected PATH=VALUE, got {text!r}", source="--set",
                                                 suggestion="e.g. --set workload.concurrency=512")])
    if len(text) > MAX_TEXT_CHARS:
        raise InputError("invalid --set", [Issue(f"{len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}", source="--set")])
    if not raw.strip():
        return path, None
    try:  # read as YAML, bounded like a file (aliases, depth, long numbers)
        value, _ = parse_yaml(raw, f"--set {path}", InputError)
    except InputError as exc:
        if exc.message != "the file is not valid YAML" or "recursive" in exc.render():
            raise
        value = raw  # not YAML: the text itself
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]], gpu_ids: Callable[[], list[str]]) -> dict[str, Any]:
    """A copy of the scenario data with each override set; ``gpu_ids()`` lists the catalog for ``gpus: all``."""
    data = copy.deepcopy(data)
    for raw_path, value in overrides:
        path = expand_shortcut(raw_path)
        parts = path.split(".")
        if parts[0] == "gpus" and len(parts) > 1:
            _gpus_as_mapping(data, parts[1], gpu_ids, raw_path)
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise InputError("invalid --set", [Issue(f"{'.'.join(parts[:depth + 1])} is not a mapping, cannot set {path}",
                                                         source=f"--set {raw_path}", field_path=path)])
            node = child
        node[parts[-1]] = value
    return data


def _gpus_as_mapping(data: dict[str, Any], gpu_id: str, gpu_ids: Callable[[], list[str]], raw_path: str) -> None:
    """A per-GPU override needs ``gpus`` as a mapping: list -> {id: null}, absent (all GPUs) -> every catalog id."""
    current = data.get("gpus")
    allowed = list(current) if isinstance(current, (list, dict)) else gpu_ids()
    if gpu_id not in allowed:
        raise InputError("invalid --set", [Issue(f"GPU {gpu_id!r} is not among the scenario's GPUs", source=f"--set {raw_path}",
                                                 field_path="gpus",
                                                 suggestion=did_you_mean(gpu_id, allowed) or f"allowed: {', '.join(allowed)}")])
    if not isinstance(current, dict):
        data["gpus"] = dict.fromkeys(allowed)


def validate_with_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]], source: str, base_dir: Path,
                            locator: Locator | None = None) -> ServingScenario:
    """Apply overrides and validate like a scenario file; issues at an overridden path name the --set."""
    updated = apply_overrides(data, overrides, lambda: _catalog_gpu_ids(data, base_dir))
    try:
        scenario = validate_scenario(updated, locator, source)
    except ScenarioError as exc:
        raise ScenarioError(exc.message, [_blame_override(issue, overrides) for issue in exc.issues]) from None
    if not isinstance(scenario, ServingScenario):
        raise InputError("what-if needs a serving scenario",
                         [Issue(f"kind {getattr(scenario, 'kind', '?')!r} is not supported", source=source)])
    return resolve_paths(scenario, base_dir)


def _blame_override(issue: Issue, overrides: list[tuple[str, Any]]) -> Issue:
    for raw_path, value in overrides:
        path = expand_shortcut(raw_path)
        field = issue.field_path
        if field and (field == path or field.startswith(path + ".") or path.startswith(field + ".")):
            suggestion = issue.suggestion
            if issue.message.startswith("unknown key"):
                suggestion = did_you_mean(raw_path, _instantiate(known_paths(), raw_path)) or suggestion
            return replace(issue, source=f"--set {raw_path}={value}", line=None, column=None, suggestion=suggestion)
    return issue


def known_paths(model: type[BaseModel] = ServingScenario, prefix: str = "") -> list[str]:
    """Every dotted path of the scenario schema, ``*`` standing for a mapping key (e.g. ``gpus.*.inventory``),
    plus the ``gpus.*.price`` shortcuts (for did-you-mean on --set paths)."""
    out = [f"gpus.*.{short}" for short in GPU_SHORTCUTS] if not prefix else []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        nested = first_model(info.annotation)
        if nested is None or nested is model:
            continue
        keyed = dict in {get_origin(arg) for arg in (*get_args(info.annotation), info.annotation)}
        out.extend(known_paths(nested, path + (".*." if keyed else ".")))
    return out


def _instantiate(templates: list[str], path: str) -> list[str]:
    """Templates with each ``*`` replaced by the segment the user wrote at that position."""
    parts = path.split(".")
    out = []
    for template in templates:
        pieces = template.split(".")
        out.append(".".join(parts[i] if piece == "*" and i < len(parts) else piece for i, piece in enumerate(pieces)))
    return out


def _catalog_gpu_ids(data: dict[str, Any], base_dir: Path) -> list[str]:
    from ..catalog import Catalog, default_catalog

    paths = data.get("catalog") or {}
    if isinstance(paths, dict) and paths.get("gpus"):
        return [g.id for g in Catalog.load(base_dir / str(paths["gpus"])).gpus]
    return [g.id for g in default_catalog().gpus]


@dataclass(frozen=True)
class VariationResult:
    """One variation's outcome, picklable (plain values) so any executor can return it."""

    name: str
    status: str  # optimal | feasible | infeasible | unknown | error | interrupted
    cost_micro_usd_per_hour: int | None = None
    gpu_mix: str | None = None
    total_gpus: int | None = None
    min_headroom_fraction: float | None = None
    message: str | None = None
    plan: dict[str, Any] | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    axes: tuple[Axis, ...] = ()

    @property
    def cost_usd_per_hour(self) -> float | None:
        return None if self.cost_micro_usd_per_hour is None else micro_usd_to_usd(self.cost_micro_usd_per_hour)

    def delta_micro_vs(self, baseline: VariationResult) -> tuple[int | None, float | None]:
        """(cost change in micro-USD per hour, change as a fraction of the baseline's cost)."""
        if self.cost_micro_usd_per_hour is None or baseline.cost_micro_usd_per_hour is None:
            return None, None
        delta = self.cost_micro_usd_per_hour - baseline.cost_micro_usd_per_hour
        return delta, (delta / baseline.cost_micro_usd_per_hour if baseline.cost_micro_usd_per_hour else None)

    def to_dict(self, baseline: VariationResult | None = None) -> dict[str, Any]:
        """The variation as ``planner whatif --format json`` writes it (``VariationOutput``)."""
        return self.output(baseline).model_dump(exclude_unset=True)

    def output(self, baseline: VariationResult | None = None) -> VariationOutput:
        delta, fraction = self.delta_micro_vs(baseline) if baseline is not None else (None, None)
        return VariationOutput(variation=self.name, status=self.status, overrides=dict(self.overrides),  # type: ignore[arg-type]
                               axes={a.name: a.value for a in self.axes}, cost_usd_per_hour=self.cost_usd_per_hour,
                               delta_usd_per_hour=None if delta is None else micro_usd_to_usd(delta),
                               delta_fraction=rounded(fraction),
                               gpu_mix=self.gpu_mix, total_gpus=self.total_gpus,
                               min_headroom_fraction=rounded(self.min_headroom_fraction),
                               message=self.message, plan=self.plan)  # type: ignore[arg-type]


Task = tuple[str, ServingScenario, tuple[tuple[str, Any], ...], tuple[Axis, ...]]
"""One variation to solve: its name, its scenario, the overrides that made it and its sweep axes."""


def solve_variation(task: Task) -> VariationResult:
    """Solve one variation (runs in a worker process or a Ray task)."""
    from ..solver import sat_api
    from .solve import solve_explained

    name, scenario, overrides, axes = task
    if scenario.demand is not None:
        return _solve_procurement_variation(name, scenario, overrides, axes)
    try:
        plan = solve_explained(scenario).plans[0]
        if sat_api.interrupted():  # Ctrl-C stopped this solve: its plan is not a finished result
            raise KeyboardInterrupt
    except InfeasibleError as exc:
        return VariationResult(name, "infeasible", message=exc.message, overrides=overrides, axes=axes)
    except PlannerError as exc:
        return VariationResult(name, "error", message=exc.render(), overrides=overrides, axes=axes)
    return VariationResult(name, plan.status, plan.cost_micro_usd_per_hour, plan.gpu_mix, plan.total_gpus,
                           plan.min_headroom_fraction, None, plan.to_dict(), overrides, axes)


def _solve_procurement_variation(name: str, scenario: ServingScenario, overrides: tuple[tuple[str, Any], ...],
                                 axes: tuple[Axis, ...]) -> VariationResult:
    """A scenario with a demand profile: its cost is the horizon's total spread over its hours (USD per hour)."""
    from ..pipeline.procurement import solve_procurement_scenario

    try:
        report = solve_procurement_scenario(scenario)
    except InfeasibleError as exc:
        return VariationResult(name, "infeasible", message=exc.message, overrides=overrides, axes=axes)
    except PlannerError as exc:
        return VariationResult(name, "error", message=exc.render(), overrides=overrides, axes=axes)
    busiest = max(sum(slot.gpus.values()) for period in report.periods for slot in period.slots)
    return VariationResult(name, report.status, report.cost_micro_usd_per_hour, report.gpu_mix, busiest, None, None,
                           report.to_dict(), overrides, axes)


@dataclass(frozen=True)
class WhatIfReport:
    scenario_name: str
    baseline: VariationResult
    variations: tuple[VariationResult, ...]
    executor: Executor
    wall_time_s: float
    extras: dict[str, Any] = field(default_factory=dict)  # rent_vs_buy, sensitivity

    def to_dict(self) -> dict[str, Any]:
        """What ``planner whatif --format json`` writes (``WhatIfOutput``)."""
        return self.output().model_dump(exclude_unset=True)

    def output(self) -> WhatIfOutput:
        extras = {key: [item.output() for item in items] for key, items in self.extras.items()}
        return WhatIfOutput(scenario=self.scenario_name, executor=self.executor, wall_time_s=round(self.wall_time_s, 3),
                            baseline=self.baseline.output(), variations=[v.output(self.baseline) for v in self.variations],
                            **extras)


class WhatIf:
    """A base scenario file plus ``--set`` overrides, from which variations are built and validated."""

    def __init__(self, scenario_path: str | Path, overrides: list[str] | None = None):
        self.path = Path(scenario_path)
        self.data, self.locator = load_yaml_file(self.path)
        if not isinstance(self.data, dict):
            validate_scenario(self.data, self.locator, str(self.path))
        self.base_overrides = [parse_override(text) for text in overrides or []]
        self.baseline = self.variant([])

    def variant(self, overrides: list[tuple[str, Any]]) -> ServingScenario:
        return validate_with_overrides(self.data, self.base_overrides + list(overrides), str(self.path),
                                       self.path.parent, self.locator)

    def variations(self, sweep: SweepFile | None = None, extra: list[Variation] | None = None,
                   baseline: ServingScenario | None = None) -> list[Variation]:
        """Explicit variations, then the sweep's, relative ranges taken from ``baseline`` (default: the file's)."""
        out = list(extra or [])
        if sweep is not None:
            reference = baseline or self.baseline
            out += expand(sweep, lambda path: base_value(reference, path))
        return out

    def tasks(self, variations: list[Variation], common: list[tuple[str, Any]] | None = None) -> list[Task]:
        """Validate every variation before anything is solved (all problems reported at once)."""
        tasks, issues = [], []
        for variation in variations:
            try:
                tasks.append((variation.name, self.variant(list(common or []) + list(variation.overrides)),
                              variation.overrides, variation.axes))
            except InputError as exc:
                prefix = "" if variation.name.startswith("--set") else f"variation {variation.name!r}: "
                issues += [replace(i, message=prefix + i.message) for i in exc.issues]
        if issues:
            raise ScenarioError(f"invalid variations ({len(issues)} problem{'s' if len(issues) != 1 else ''})", issues)
        return tasks


def base_value(scenario: ServingScenario, path: str) -> Any:
    """A scenario's value at a dotted path (catalog figures for GPU prices), the base of relative ranges."""
    from ..pipeline.serving import load_catalog

    parts = expand_shortcut(path).split(".")
    if len(parts) == 3 and parts[0] == "gpus" and parts[2] == "price_usd_per_gpu_hour":
        return scenario.gpu_override(parts[1]).price_usd_per_gpu_hour or load_catalog(scenario).gpu(parts[1]).price_usd_per_gpu_hour
    if len(parts) == 4 and parts[:2] == ["pricing", "gpus"]:
        spec = load_catalog(scenario).gpu(parts[2])
        own = getattr(scenario.pricing.gpu(parts[2]), parts[3], None) if scenario.pricing else None
        catalog = {"spot_usd_per_gpu_hour": spec.spot_price_usd_per_gpu_hour, "purchase_usd": spec.purchase_price_usd,
                   "tdp_watts": spec.tdp_watts}
        return own or catalog.get(parts[3])
    node: Any = scenario.model_dump()
    for part in parts:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def run_whatif(whatif: WhatIf, sweep: SweepFile | None = None, extra: list[Variation] | None = None,
               executor: Executor = "local", workers: int | None = None, progress: Callable[[int, int], None] | None = None,
               sensitivity: bool = False) -> WhatIfReport:
    """Solve the baseline and every variation; results in variation order, whatever the executor.

    The report also carries the rent-vs-buy break-even of the baseline plan's GPU types and, with
    ``sensitivity``, the price range over which the baseline plan stays optimal (both from the baseline).
    Ctrl-C, or a worker process that dies, raises ``Incomplete`` carrying the report of what finished (the rest
    marked 'interrupted' or 'failed').
    """
    start = time.perf_counter()
    common = list(sweep.set.items()) if sweep is not None else []
    baseline_scenario = whatif.variant(common) if common else whatif.baseline
    variations = whatif.variations(sweep, extra, baseline_scenario)
    tasks = [("baseline", baseline_scenario, tuple(common), ())] + whatif.tasks(variations, common)
    name = baseline_scenario.name or whatif.path.stem
    try:
        results = run_tasks(tasks, executor, workers, progress)
    except TasksInterrupted as stop:
        finished = [r if r is not None else VariationResult(t[0], "interrupted", message="not finished (Ctrl-C)", overrides=t[2],
                                                            axes=t[3]) for r, t in zip(stop.results, tasks)]
        done = sum(r is not None for r in stop.results)
        report = WhatIfReport(name, finished[0], tuple(finished[1:]), executor, time.perf_counter() - start)
        raise Incomplete(f"{done} of {len(tasks)} solves finished before Ctrl-C; the others are marked 'interrupted'",
                         partial=report) from None
    errors = [r for r in results if r.status == "error"]
    if errors:
        raise InputError("some variations cannot be solved", [Issue(f"{r.name}: {r.message}") for r in errors])
    failed = [r for r in results if r.status == "failed"]
    if failed:
        report = WhatIfReport(name, results[0], tuple(results[1:]), executor, time.perf_counter() - start)
        raise Incomplete(f"{len(failed)} of {len(tasks)} solves failed (their worker process died); the others finished",
                         [Issue(f"{r.name}: {r.message}") for r in failed], partial=report, exit_code=3)
    extras = baseline_extras(baseline_scenario, results[0], sensitivity)
    return WhatIfReport(name, results[0], tuple(results[1:]), executor, time.perf_counter() - start, extras)


def baseline_extras(scenario: ServingScenario, baseline: VariationResult, sensitivity: bool) -> dict[str, Any]:
    """Rent vs buy for the baseline plan's GPU types; price sensitivity of the baseline plan on request."""
    from ..pipeline.serving import load_catalog, prepare, solve_prepared
    from .pricing import price_sensitivity, rent_vs_buy

    if baseline.plan is None:
        return {}
    if scenario.demand is not None:  # a procurement plan carries its own break-even points
        if sensitivity:
            raise InputError("--sensitivity is for single-load scenarios", [Issue(
                "a demand profile's plan lists its break-even points instead", field_path="--sensitivity")])
        return {}
    gpu_ids = [group["gpu"] for group in baseline.plan["replicas"]]
    extras: dict[str, Any] = {"rent_vs_buy": rent_vs_buy(scenario, load_catalog(scenario), gpu_ids)}
    if sensitivity:
        prepared = prepare(scenario)
        _, plan = solve_prepared(prepared)
        if plan is not None:
            extras["sensitivity"] = price_sensitivity(prepared, plan)
    return extras


class TasksInterrupted(Exception):
    """Ctrl-C stopped ``run_tasks``: ``results`` holds the finished results, None where a task did not finish."""

    def __init__(self, results: list[VariationResult | None]):
        super().__init__("interrupted")
        self.results = results


def run_tasks(tasks: list[Task], executor: Executor = "local", workers: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[VariationResult]:
    """Results of ``solve_variation`` for every task, in task order; ``TasksInterrupted`` on Ctrl-C (the workers
    are stopped at once, not left to finish)."""
    if executor == "ray":
        return _run_ray(tasks, workers, progress)
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    results: list[VariationResult | None] = [None] * len(tasks)
    try:
        if workers == 1:
            for index, task in enumerate(tasks):
                results[index] = solve_variation(task)
                if progress:
                    progress(index + 1, len(tasks))
        else:
            _run_pool(tasks, workers, results, progress)
    except KeyboardInterrupt:
        raise TasksInterrupted(results) from None
    return _finished(results)


def _finished(results: list[VariationResult | None]) -> list[VariationResult]:
    """Every task's result, once all have finished (a missing one is a bug)."""
    finished = [r for r in results if r is not None]
    if len(finished) != len(results):
        raise RuntimeError(f"{len(results) - len(finished)} of {len(results)} variations have no result")
    return finished


def _run_pool(tasks: list[Task], workers: int, results: list[VariationResult | None],
              progress: Callable[[int, int], None] | None) -> None:
    """A process pool whose workers never see the terminal's Ctrl-C (their own process group): the parent gets it
    and terminates them, so a sweep stops in well under a second instead of finishing the solves in flight."""
    import multiprocessing

    # forkserver: workers fork from a clean single-threaded server that has imported the planner once, not
    # from this process (whose OR-Tools or progress-bar threads may hold locks); spawn where there is no fork
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["planner.analysis.whatif", "planner.pipeline.serving", "planner.solver.cpsat"])
    with context.Pool(processes=workers, initializer=_detach_from_terminal) as pool:
        for done, (index, result) in enumerate(pool.imap_unordered(_solve_indexed, enumerate(tasks)), start=1):
            results[index] = result
            if progress:
                progress(done, len(tasks))
        pool.close()
        pool.join()


def _detach_from_terminal() -> None:
    """Pool worker start-up: out of the terminal's process group, and Ctrl-C ignored should one arrive anyway."""
    import signal

    if hasattr(os, "setpgrp"):
        os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _solve_indexed(item: tuple[int, Task]) -> tuple[int, VariationResult]:
    index, task = item
    return index, solve_variation(task)


def _run_ray(tasks: list[Task], workers: int | None, progress: Callable[[int, int], None] | None) -> list[VariationResult]:
    """The same tasks as Ray remote calls: on the ``RAY_ADDRESS`` cluster, else on a local instance started here.

    Ray's own output goes to stderr (stdout stays one JSON or CSV document); an unreachable ``RAY_ADDRESS`` is bad
    input within seconds; each result is collected as it finishes, so a worker that dies costs only its own task
    (retried once, then reported as 'failed'); Ctrl-C cancels what is still running.
    """
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed", [Issue("--executor ray needs Ray", suggestion="pip install 'planner[ray]'")]) from None
    address = os.environ.get("RAY_ADDRESS")
    if address:
        check_ray_address(address)
    with stdout_to_stderr():
        started = False
        if not ray.is_initialized():
            import planner

            source_root = str(Path(planner.__file__).resolve().parent.parent)
            pythonpath = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH")) if p)
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning",
                                       "runtime_env": {"env_vars": {"PYTHONPATH": pythonpath}}}
            if not address:
                options["num_cpus"] = workers or os.cpu_count() or 1
            ray.init(**options)
            started = True
        try:
            return _collect_ray(ray, tasks, progress, solve_variation)
        finally:
            if started:
                ray.shutdown()


def _collect_ray(ray: Any, tasks: list[Task], progress: Callable[[int, int], None] | None,
                 function: Callable[[Task], VariationResult]) -> list[VariationResult]:
    remote = ray.remote(num_cpus=1, max_retries=1)(function)
    refs = [remote.remote(task) for task in tasks]
    position = {ref: index for index, ref in enumerate(refs)}
    results: list[VariationResult | None] = [None] * len(tasks)
    pending, done = list(refs), 0
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in ready:
                index = position[ref]
                name, _, overrides, axes = tasks[index]
                try:
                    results[index] = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died (killed, out of memory) or the task crashed
                    results[index] = VariationResult(name, "failed", message=f"its Ray worker failed: {type(exc).__name__}",
                                                     overrides=overrides, axes=axes)
                done += 1
                if progress:
                    progress(done, len(tasks))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise TasksInterrupted(results) from None
    return _finished(results)


def check_ray_address(address: str) -> None:
    """Refuse an unreachable ``RAY_ADDRESS`` at once (Ray itself retries for a minute or more)."""
    import socket

    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InputError("RAY_ADDRESS is not an address", [Issue(f"RAY_ADDRESS={address!r}", field_path="RAY_ADDRESS",
                                                                 suggestion="host:port or ray://host:port, or unset it for a local Ray")])
    try:
        socket.create_connection((host, int(port)), timeout=3.0).close()
    except OSError as exc:
        raise InputError("cannot reach the Ray cluster", [Issue(
            f"RAY_ADDRESS={address!r}: {exc.strerror or exc} (no answer within 3 s)", field_path="RAY_ADDRESS",
            suggestion="start the cluster (ray start --head), fix the address, or unset RAY_ADDRESS for a local Ray")]) from None


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 (Ray's processes and C++ logs included) to stderr meanwhile."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (an embedding host): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
