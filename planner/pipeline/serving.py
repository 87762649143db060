"""From a serving scenario to verified plans: the library entry point behind ``planner solve``.

Flow: resolve the catalog and model -> enumerate candidate shapes (memory model) -> prune dominated shapes
-> integer ``Problem`` -> CP-SAT (or the enumerator) -> plans -> independent verification.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from ..candidates.capacity import CapacityTable, ShapeCapacity, Traffic, performance_at
from ..candidates.enumeration import Enumeration
from ..candidates.serving import Candidate, RejectReason, ServingContext, enumerate_candidates, prune_dominated, resolve_gpus
from ..catalog import Catalog, GpuSpec, default_catalog
from ..catalog.pricing import priced_sources, rental_prices
from ..errors import InfeasibleError, InputError, Issue
from ..limits import Deadline
from ..memory.serving_bill import serving_memory
from ..model.architecture import ModelArchitecture
from ..model.formats import weight_format
from ..model.hf_config import architecture_from_config_file, checkpoint_weight_format, load_checkpoint_config
from ..performance.topology import NodeTopology, node_topology
from ..plans.serving import IdleGpus, Plan, ReplicaGroup, SolveReport, offline_job
from ..rules import Rule, format_breach, pipeline_breach, tensor_parallel_breach, valid_tp_degrees
from ..schema.base import ModelRef
from ..schema.outputs import stated_demand
from ..schema.procurement import split_source
from ..schema.serving import ServingScenario
from ..solver.problem import Assignment, Instance, Problem, Row, SolveOutcome
from ..units import micro_usd_to_usd, usd_to_micro_usd_ceil, usd_to_micro_usd_floor

if TYPE_CHECKING:
    from ..catalog import GpuSpec

Method = Literal["cpsat", "enumerate"]


def load_catalog(scenario: ServingScenario) -> Catalog:
    if scenario.catalog.gpus or scenario.catalog.models:
        return Catalog.load(scenario.catalog.gpus, scenario.catalog.models)
    return default_catalog()


def resolve_model(ref: ModelRef, catalog: Catalog) -> tuple[ModelArchitecture, str, str]:
    """(architecture, display name, checkpoint weight format) of a model reference."""
    if ref.id is not None:
        entry = catalog.model(ref.id)
        return catalog.architecture(ref.id), entry.id, entry.weight_format
    if ref.config is not None:
        config = load_checkpoint_config(ref.config)
        arch = architecture_from_config_file(ref.config)
        return arch, arch.name, checkpoint_weight_format(config) or "bf16"
    assert ref.architecture is not None
    return ref.architecture, ref.architecture.name, "bf16"


@dataclass(frozen=True)
class PreparedScenario:
    """A scenario resolved against its catalog, ready for the solver."""

    scenario: ServingScenario
    catalog: Catalog
    context: ServingContext
    model_name: str
    gpus: list[GpuSpec]
    weight_formats: list[str]
    enumeration: Enumeration[Candidate]
    candidates: list[Candidate]  # after pruning
    notes: tuple[str, ...] = ()  # GPUs left out for their prices (planner.catalog.pricing.rental_prices)
    capacities: CapacityTable | None = None  # each shape's rate within the SLO, sequences and latency
    deadline: Deadline | None = None  # the solve's time limit, shared by enumeration, search and explanation

    @property
    def is_traffic(self) -> bool:
        return self.scenario.workload.is_traffic

    def demand_milli_rps(self) -> int | None:
        """The traffic demand in the solver's unit, rounded up (None for concurrency scenarios)."""
        rate = self.scenario.workload.demand_requests_per_s
        return None if rate is None else max(1, math.ceil(rate * 1000 - 1e-9))

    def topology(self, gpu: GpuSpec) -> NodeTopology:
        """The nodes of ``gpu``: the catalog's figures with the scenario's overrides."""
        return node_topology(gpu, self.scenario.topology_override(gpu.id))

    @property
    def inventory(self) -> dict[str, int | None]:
        return {g.id: self.scenario.inventory_of(g.id) for g in self.gpus}

    @property
    def instance_sizes(self) -> dict[str, int]:
        return whole_instance_sizes(self.scenario, self.gpus)

    def problem(self, mixed_fleet: bool | None = None) -> Problem:
        s = self.scenario
        budget = s.budget.max_usd_per_hour
        inventory = {gpu: n for gpu, n in self.inventory.items() if n is not None}
        table = self.capacities
        rows = tuple(_row(c, table(c) if table else None, table.latency_us(c) if table else 0) for c in self.candidates)
        price = {g.id: g.price_usd_per_gpu_hour for g in self.gpus}
        instances = {gpu: Instance(size, usd_to_micro_usd_ceil(price[gpu]) * size) for gpu, size in self.instance_sizes.items()}
        return Problem(rows, s.workload.concurrency or 0, usd_to_micro_usd_floor(budget) if budget is not None else None,
                       inventory, s.solver.mixed_fleet if mixed_fleet is None else mixed_fleet, self.demand_milli_rps(), instances)


def tightened(prepared: PreparedScenario, scenario: ServingScenario) -> PreparedScenario:
    """``prepared`` under ``scenario``, whose SLO is at least as tight: the shapes that fit are the same, so only
    their rates are re-derived (those that met no load before meet none now) and the pruning redone."""
    capacities = CapacityTable(prepared.context, Traffic.of(scenario.workload))
    enumeration = capacities.screen(prepared.enumeration, prepared.deadline)
    uncapped = {g.id for g in prepared.gpus if scenario.inventory_of(g.id) is None}
    candidates = prune_dominated(enumeration.candidates, uncapped, whole_instance_sizes(scenario, prepared.gpus),
                                 capacities.unit, capacities.latency_us)
    return replace(prepared, scenario=scenario, enumeration=enumeration, candidates=candidates, capacities=capacities)


def whole_instance_sizes(scenario: ServingScenario, gpus: list[GpuSpec]) -> dict[str, int]:
    """GPUs per instance of each GPU type the plan must rent whole (``whole_instances``): the scenario's
    ``gpus.<id>.instance_gpus`` or the catalog's. Rented sources only: bought and owned GPUs come one by one."""
    if not scenario.whole_instances:
        return {}
    sizes = {}
    for gpu in gpus:
        if split_source(gpu.id)[1] in ("buy", "owned"):
            continue
        size = scenario.gpu_override(gpu.id.partition("@")[0]).instance_gpus or gpu.instance_gpus
        if size > 1:
            sizes[gpu.id] = size
    return sizes


def _row(c: Candidate, capacity: ShapeCapacity | None, latency: int) -> Row:
    rate, in_flight = (capacity.rate_milli_rps, capacity.sequences_at_rate) if capacity else (0, 0)
    memory = c.memory
    return Row(c.key, c.gpu.id, c.gpus_per_replica, c.price_micro_usd_per_hour, memory.fixed_bytes,
               memory.kv_cache_bytes_per_sequence, c.limit_bytes, memory.capacity_bytes, memory.outside_budget_bytes,
               rate, in_flight, latency, c.fidelity_penalty)


def prepare(scenario: ServingScenario, catalog: Catalog | None = None, prune: bool = True,
            deadline: Deadline | None = None) -> PreparedScenario:
    catalog = catalog or load_catalog(scenario)
    arch, model_name, checkpoint_format = resolve_model(scenario.model, catalog)
    gpus = resolve_gpus(catalog, scenario.gpu_ids, scenario.inventory)
    # fp32 checkpoints (gemma-2-9b) are served in 16 bits by every engine (vLLM's dtype='auto' downcasts them).
    formats = scenario.precisions or ["bf16" if checkpoint_format == "fp32" else checkpoint_format]
    context = ServingContext(arch, scenario.engine.choice(), scenario.workload.tokens_per_sequence, scenario.min_headroom,
                             longest_context_tokens=scenario.workload.longest_sequence_tokens)
    gpus, prices, notes = rental_prices(scenario, catalog, gpus)  # offers: tiers; estimated prices only when allowed
    gpus, prices = priced_sources(scenario, catalog, gpus, prices)  # rent / buy / owned sources (pricing section)
    p = scenario.parallelism
    topologies = {g.id: node_topology(g, scenario.topology_override(g.id)) for g in gpus}
    enumeration = enumerate_candidates(context, gpus, formats, scenario.kv_cache_dtypes, p.tp, p.pp, p.expert_parallel,
                                       p.max_gpus_per_replica, prices, topologies, deadline)
    capacities = CapacityTable(context, Traffic.of(scenario.workload))
    enumeration = capacities.screen(enumeration, deadline)  # traffic: shapes that meet the SLO at no load are rejected
    uncapped = {g.id for g in gpus if scenario.inventory_of(g.id) is None}  # as PreparedScenario.inventory
    candidates = (prune_dominated(enumeration.candidates, uncapped, whole_instance_sizes(scenario, gpus), capacities.unit,
                                  capacities.latency_us) if prune else list(enumeration.candidates))
    prepared = PreparedScenario(scenario, catalog, context, model_name, gpus, formats, enumeration, candidates, notes, capacities, deadline)

    check_options(prepared)  # options that allow no replica shape at all are bad input (exit 2), not infeasible
    return prepared


def build_plan(prepared: PreparedScenario, assignment: Assignment, status: str) -> Plan:
    by_key = {c.key: c for c in prepared.candidates}
    groups = []
    used: dict[str, int] = {}
    for key, count in assignment.replicas.items():
        used[by_key[key].gpu.id] = used.get(by_key[key].gpu.id, 0) + count * by_key[key].gpus_per_replica
    price = {g.id: g.price_usd_per_gpu_hour for g in prepared.gpus}
    idle = tuple(IdleGpus(gpu, -used[gpu] % size, size, price[gpu]) for gpu, size in sorted(prepared.instance_sizes.items())
                 if used.get(gpu) and used[gpu] % size)
    table = prepared.capacities
    for key in sorted(assignment.replicas, key=lambda k: by_key[k].rank):
        candidate, count = by_key[key], assignment.replicas[key]
        sequences = assignment.sequences[key]
        per_replica = -(-sequences // count)
        ctx = prepared.context
        memory = serving_memory(ctx.arch, candidate.layout, ctx.engine_for(candidate.gpu, candidate.layout),
                                candidate.gpu.capacity_bytes, per_replica, ctx.context_tokens)
        group = ReplicaGroup(candidate, count, sequences, memory)
        if table is not None:
            group = with_performance(group, table, assignment.load_milli_rps.get(key))
        groups.append(group)
    return Plan(tuple(groups), status, idle)


def with_performance(group: ReplicaGroup, table: CapacityTable, load_milli_rps: int | None) -> ReplicaGroup:
    """The group with each replica's predicted performance at its share of the load (traffic) or sequences."""
    traffic = table.traffic
    candidate, count = group.candidate, group.count
    if not table.is_traffic:
        performance = performance_at(candidate, table.context, traffic, None, group.concurrency_per_replica)
        return replace(group, performance=performance, percentile=traffic.percentile)
    load = (load_milli_rps or 0) / 1000
    performance = performance_at(candidate, table.context, traffic, load / count)
    return replace(group, performance=performance, load_requests_per_s=load,
                   max_requests_per_s_per_replica=table(candidate).rate_milli_rps / 1000, percentile=traffic.percentile)


def verify_prepared(prepared: PreparedScenario, plan: Plan, demand: int | None = None, mixed_fleet: bool | None = None) -> None:
    """Re-check ``plan`` against the scenario independently of the solver (``verify``); raises on a violation."""
    from ..verify.serving import verify_plan

    s = prepared.scenario
    traffic = prepared.capacities.traffic if prepared.capacities is not None and prepared.is_traffic else None
    verify_plan(plan, prepared.context, (s.workload.concurrency or 0) if demand is None else demand, prepared.inventory,
                s.budget.max_usd_per_hour, mixed_fleet=s.solver.mixed_fleet if mixed_fleet is None else mixed_fleet,
                max_gpus_per_replica=s.parallelism.max_gpus_per_replica, instance_sizes=prepared.instance_sizes,
                traffic=traffic, demand_requests_per_s=s.workload.demand_requests_per_s)


def solve_prepared(prepared: PreparedScenario, method: Method = "cpsat",
                   time_limit_s: float | None = None) -> tuple[SolveOutcome, Plan | None]:
    from ..solver.cpsat import solve_cpsat
    from ..solver.enumerate import solve_enumerate

    settings = prepared.scenario.solver
    if method == "enumerate":
        outcome = solve_enumerate(prepared.problem(mixed_fleet=False))
    else:
        limit = time_limit_s or settings.time_limit_s
        left = limit if prepared.deadline is None else max(0.01, min(limit, prepared.deadline.left()))  # after enumeration
        outcome = solve_cpsat(prepared.problem(), left, settings.workers, settings.seed)
        outcome = replace(outcome, parameters={**outcome.parameters, "max_time_in_seconds": limit})  # the limit as set
    if outcome.assignment is None:
        return outcome, None
    plan = build_plan(prepared, outcome.assignment, outcome.status)
    verify_prepared(prepared, plan, mixed_fleet=method != "enumerate" and settings.mixed_fleet)
    return outcome, plan


class NoPlanFound(InfeasibleError):
    """No fleet meets the scenario: no shape fits, or the solver proved the limits exclude every fleet.

    The pipeline does not explain why (the explanation is an analysis, a layer above): it hands over what the
    explanation needs, and ``planner.analysis.solve.solve_explained`` (behind ``planner.solve_scenario``) turns
    it into an ``InfeasibleError`` that names the conflicting limits and the nearest relaxations."""

    def __init__(self, prepared: PreparedScenario, method: Method):
        super().__init__("no plan meets the scenario's limits together")
        self.prepared, self.method = prepared, method


def solve_report(prepared: PreparedScenario, method: Method = "cpsat", time_limit_s: float | None = None) -> SolveReport:
    """Solve a prepared scenario, verify the plan and report it; ``NoPlanFound`` when none exists."""
    scenario = prepared.scenario
    if not prepared.candidates:
        raise NoPlanFound(prepared, method)
    outcome, plan = solve_prepared(prepared, method, time_limit_s)
    if plan is None:
        if outcome.interrupted:
            raise KeyboardInterrupt  # Ctrl-C before any plan: nothing finished
        if outcome.status == "unknown":
            raise InfeasibleError(
                f"no plan found within the time limit ({outcome.wall_time_s:.1f} s); the problem may still be feasible",
                [Issue("raise --time-limit or narrow the GPU list")])
        raise NoPlanFound(prepared, method)
    workload = scenario.workload
    job = None
    if workload.offline is not None:
        job = offline_job(plan, workload.offline_requests or 0, workload.offline.deadline_hours,
                          workload.mean_prompt_tokens + workload.mean_output_tokens, workload.mean_output_tokens)
    return SolveReport(
        scenario_name=scenario.name or "scenario",
        model_name=prepared.model_name,
        status=outcome.status,
        plans=(plan,),
        demand_sequences=workload.concurrency,
        context_tokens=workload.tokens_per_sequence,
        demand=stated_demand(workload),
        demand_text=workload.describe(),
        rejections={reason.name.lower(): n for reason, n in prepared.enumeration.rejection_counts().most_common()},
        job=job,
        candidates_total=len(prepared.enumeration.candidates) + len(prepared.enumeration.rejections),
        candidates_after_pruning=len(prepared.candidates),
        solver={**outcome.parameters, "method": outcome.method, "status": outcome.status,
                "objective_usd_per_hour": None if outcome.objective_micro_usd is None else micro_usd_to_usd(outcome.objective_micro_usd),
                "best_bound_usd_per_hour": None if outcome.best_bound_micro_usd is None else micro_usd_to_usd(outcome.best_bound_micro_usd),
                "gap": outcome.gap, "wall_time_s": round(outcome.wall_time_s, 4),
                **({"interrupted": True} if outcome.interrupted else {})},
        notes=prepared.notes,
    )


def _supports(gpu: GpuSpec, fmt_name: str) -> bool:
    return format_breach(gpu, weight_format(fmt_name)) is None


def check_options(prepared: PreparedScenario) -> None:
    """Raise ``InputError`` when the scenario's own options contradict each other or the model (exit 2)."""
    s = prepared.scenario
    issues = []
    chosen = ", ".join(g.id for g in prepared.gpus)
    for fmt in prepared.weight_formats:
        if not any(_supports(g, fmt) for g in prepared.gpus):
            breaches = (format_breach(g, weight_format(fmt)) for g in prepared.gpus)
            need = next(b.detail.split(";")[0].removeprefix("no ") for b in breaches if b)
            what = f"precision {fmt!r}" if s.precisions is not None else f"the checkpoint's format {fmt!r}"
            able = [g.id for g in prepared.catalog.gpus if _supports(g, fmt)][:3]
            issues.append(Issue(f"{what} needs {need}, which none of the chosen GPUs ({chosen}) has",
                                field_path="precisions", suggestion="list precisions these GPUs support"
                                + (f", or allow a GPU such as {', '.join(able)}" if able else "")))
    enumeration = prepared.enumeration
    structural = enumeration.candidates or any(r.reason is RejectReason.DOES_NOT_FIT for r in enumeration.rejections)
    if not structural and not issues:
        issues = _structural_issues(prepared)
    if issues:
        raise InputError("the scenario's options allow no replica shape", issues)


def _structural_issues(prepared: PreparedScenario) -> list[Issue]:
    """Which option rules every shape out: the first rule that each candidate (gpu, tp, pp) broke."""
    arch, p = prepared.context.arch, prepared.scenario.parallelism
    counts = prepared.enumeration.rejection_counts()
    issues = []
    domain = _largest_tp_group(prepared)
    if counts[Rule.TP_CROSSES_NETWORK] and all(t > domain for t in p.tp):
        issues.append(Issue(f"every tensor-parallel degree in {p.tp} exceeds the GPUs of one node of the chosen GPUs "
                            f"({domain} GPU{'s' if domain != 1 else ''}); tensor parallelism stays inside a node",
                            field_path="parallelism.tp",
                            suggestion=f"use degrees up to {domain}, and pipeline parallelism across nodes" if domain > 1
                            else "use tp: [1] with pipeline parallelism, or GPUs with more per node"))
    dividing = [t for t in p.tp if tensor_parallel_breach(arch, t) is None]
    if not dividing:
        good = valid_tp_degrees(arch, min(domain, 64))
        issues.append(Issue(f"no tensor-parallel degree in {p.tp} divides the model's {arch.num_attention_heads} attention "
                            f"heads and {arch.kv_heads} KV heads", field_path="parallelism.tp",
                            suggestion=f"degrees that do: {', '.join(map(str, good))}"))
    if all(pipeline_breach(arch, pp) for pp in p.pp):
        issues.append(Issue(f"every pipeline degree in {p.pp} exceeds the model's {arch.num_layers} layers",
                            field_path="parallelism.pp", suggestion=f"use degrees up to {arch.num_layers}"))
    smallest = min(p.tp) * min(p.pp)
    if smallest > p.max_gpus_per_replica:
        issues.append(Issue(f"max_gpus_per_replica {p.max_gpus_per_replica} is below the smallest tp x pp ({smallest})",
                            field_path="parallelism.max_gpus_per_replica", suggestion=f"allow at least {smallest}"))
    if not issues:
        summary = "; ".join(f"{n} x {reason.value}" for reason, n in counts.most_common())
        issues.append(Issue(f"every combination of GPU, tp and pp is ruled out: {summary}", field_path="parallelism"))
    return issues


def _largest_tp_group(prepared: PreparedScenario) -> int:
    """The largest TP group any chosen GPU allows: its node, or its rack-scale NVLink domain."""
    return max(prepared.topology(g).max_group_without_network for g in prepared.gpus)
