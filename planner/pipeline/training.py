"""From a training scenario to a verified plan: the library entry point behind ``planner solve`` for
``kind: training``.

Flow: resolve the catalog and model -> enumerate layouts (memory and time models) -> prune dominated layouts
-> integer ``TrainingProblem`` -> CP-SAT (or the exhaustive oracle) -> plan -> independent verification.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ..candidates.serving import resolve_gpus
from ..candidates.training import (
    GpuTerms,
    TrainingCandidate,
    TrainingContext,
    TrainingEnumeration,
    enumerate_layouts,
    layout_at,
    layout_time,
    prune_dominated,
)
from ..catalog import Catalog, GpuSpec
from ..catalog.pricing import rental_prices
from ..errors import InfeasibleError, InputError, Issue
from ..limits import Deadline
from ..memory.runtime import training_gpu
from ..memory.training import TrainingRecipe, training_memory
from ..performance.topology import node_topology
from ..performance.training import peak_flops_per_second
from ..plans.training import TrainingPlan, TrainingSolveReport
from ..schema.training import TrainingScenario
from ..solver.training_problem import Choice, TrainingOutcome, TrainingProblem, TrainingRow, solve_exhaustive
from ..units import BYTES_PER_GIB, format_usd, round_up, usd_to_micro_usd_floor
from ..verify.training import Limits, verify_training_plan
from .serving import load_catalog, resolve_model

Method = Literal["cpsat", "enumerate"]


def recipe_of(scenario: TrainingScenario) -> TrainingRecipe:
    return TrainingRecipe(method=scenario.method, precision=scenario.precision, optimizer=scenario.optimizer,
                          convention=scenario.memory.convention, lora_rank=scenario.lora.rank,
                          lora_targets=tuple(scenario.lora.target_modules),
                          flash_attention=scenario.memory.attention == "flash", dropout=scenario.memory.dropout,
                          trainable_layers=scenario.trainable_layers, lora_dropout=scenario.lora.dropout > 0)


@dataclass(frozen=True)
class PreparedTraining:
    """A training scenario resolved against its catalog, ready for the solver."""

    scenario: TrainingScenario
    catalog: Catalog
    context: TrainingContext
    model_name: str
    gpus: list[GpuSpec]
    enumeration: TrainingEnumeration
    candidates: list[TrainingCandidate]  # after pruning
    notes: tuple[str, ...] = ()  # GPUs left out for their prices (planner.catalog.pricing.rental_prices)

    @property
    def inventory(self) -> dict[str, int | None]:
        return {g.id: self.scenario.inventory_of(g.id) for g in self.gpus}

    @property
    def limits(self) -> Limits:
        s = self.scenario
        return Limits(s.deadline_hours, s.budget.max_usd, s.budget.max_usd_per_hour, self.inventory)

    def problem(self, relax: frozenset[str] = frozenset(), objective: str | None = None,
                faster_than_seconds: float | None = None) -> TrainingProblem:
        """The integer problem; ``relax`` drops limits by name (deadline, budget, inventory) for explanations."""
        s = self.scenario
        deadline = None if "deadline" in relax else s.deadline_hours
        budget = None if "budget" in relax else s.budget.max_usd
        hourly = s.budget.max_usd_per_hour
        hourly_micro = None if hourly is None or "budget" in relax else usd_to_micro_usd_floor(hourly)
        inventory = {} if "inventory" in relax else {g: n for g, n in self.inventory.items() if n is not None}
        rows = tuple(_row(c) for c in self.candidates)
        return TrainingProblem(rows, deadline, budget, hourly_micro, inventory, objective or s.objective,  # type: ignore[arg-type]
                               faster_than_seconds)


def _row(c: TrainingCandidate) -> TrainingRow:
    return TrainingRow(c.key, c.gpu.id, c.gpus, c.price_micro_usd_per_hour, c.micro_batches, c.memory_bytes,
                       c.limit_bytes, c.seconds, c.cost_usd, c.rank)


def gpu_terms(scenario: TrainingScenario, gpu: GpuSpec) -> GpuTerms:
    """Price, node topology (catalog + the scenario's overrides) and optional assumed MFU of one GPU type."""
    override = scenario.gpu_override(gpu.id)
    instance = (override.instance_gpus or gpu.instance_gpus) if scenario.whole_instances else 1
    return GpuTerms(gpu, override.price_usd_per_gpu_hour or gpu.price_usd_per_gpu_hour,
                    node_topology(gpu, scenario.topology_override(gpu.id)), scenario.mfu_of(gpu.id), instance)


def prepare_training(scenario: TrainingScenario, catalog: Catalog | None = None, prune: bool = True,
                     deadline: Deadline | None = None) -> PreparedTraining:
    catalog = catalog or load_catalog(scenario)  # type: ignore[arg-type]
    arch, model_name, _ = resolve_model(scenario.model, catalog)
    gpus = resolve_gpus(catalog, scenario.gpu_ids, scenario.inventory)
    gpus, _, notes = rental_prices(scenario, catalog, gpus)  # estimated prices only with pricing.allow_estimated, as serving
    if all(peak_flops_per_second(g, scenario.precision) is None for g in gpus):
        raise InputError("no listed GPU supports the precision", [Issue(
            f"{scenario.precision} needs {'FP8' if scenario.precision == 'fp8-mixed' else 'BF16'} tensor cores; none of "
            f"{', '.join(g.id for g in gpus)} has them", field_path="precision", suggestion="use fp16-mixed or other GPUs")])
    data = scenario.data
    context = TrainingContext(arch, recipe_of(scenario), data.total_tokens, data.global_batch, data.sequence_length,
                              tuple(scenario.micro_batch), scenario.min_headroom)
    enumeration = enumerate_layouts(context, [gpu_terms(scenario, g) for g in gpus], scenario.parallelism, deadline)
    candidates = prune_dominated(enumeration.candidates) if prune else list(enumeration.candidates)
    return PreparedTraining(scenario, catalog, context, model_name, gpus, enumeration, candidates, notes)


def build_training_plan(prepared: PreparedTraining, choice: Choice, status: str) -> TrainingPlan:
    """The plan of one (layout, micro-batch) choice, with its bill and time from the models."""
    candidate = next(c for c in prepared.candidates if c.key == choice.key)
    ctx = prepared.context
    layout = layout_at(candidate.layout, ctx, choice.micro_batch)
    gpu = candidate.gpu
    memory = training_memory(ctx.arch, ctx.recipe, layout, training_gpu(gpu.id, gpu.release_year, gpu.scale_up_link,
                                                                        gpu.nvlink_domain_size))
    return TrainingPlan(candidate, layout, memory, layout_time(ctx, candidate.terms, layout), status)


def solve_prepared_training(prepared: PreparedTraining, method: Method = "cpsat",
                            time_limit_s: float | None = None) -> tuple[TrainingOutcome, TrainingPlan | None]:
    settings = prepared.scenario.solver
    problem = prepared.problem()
    if method == "enumerate":
        outcome = solve_exhaustive(problem)
    else:
        from ..solver.training_cpsat import solve_training_cpsat

        outcome = solve_training_cpsat(problem, time_limit_s or settings.time_limit_s, settings.workers, settings.seed)
    if outcome.choice is None:
        return outcome, None
    plan = build_training_plan(prepared, outcome.choice, outcome.status)
    verify_training_plan(plan, prepared.context, prepared.limits)
    return outcome, plan


def solve_training(scenario: TrainingScenario, catalog: Catalog | None = None, method: Method = "cpsat",
                   time_limit_s: float | None = None) -> TrainingSolveReport:
    """Cheapest (or fastest) verified training plan; ``InfeasibleError`` with the reason when none exists."""
    limit = time_limit_s or scenario.solver.time_limit_s
    deadline = Deadline.after(limit)  # covers enumeration and search
    prepared = prepare_training(scenario, catalog, deadline=deadline)
    if not prepared.candidates:
        raise InfeasibleError(*_nothing_fits(prepared))
    outcome, plan = solve_prepared_training(prepared, method, max(0.01, deadline.left()))
    outcome = replace(outcome, parameters={**outcome.parameters, "max_time_in_seconds": limit})  # the limit as set
    if plan is None:
        if outcome.status == "unknown":
            raise InfeasibleError(f"no plan found within the time limit ({outcome.wall_time_s:.1f} s); it may still exist",
                                  [Issue("raise --time-limit or narrow the GPU list and parallel degrees")])
        raise InfeasibleError(*_explain_infeasible(prepared))
    ctx = prepared.context
    unit = "usd" if prepared.problem().objective == "cost" else "seconds"
    return TrainingSolveReport(
        scenario_name=scenario.name or "scenario", model_name=prepared.model_name, method=scenario.method,
        objective=scenario.objective, status=outcome.status, plans=(plan,),
        parameter_count=plan.memory.parameter_count, trainable_parameter_count=plan.memory.trainable_parameter_count,
        tokens=ctx.tokens, global_batch=ctx.global_batch, sequence_length=ctx.sequence_length,
        deadline_hours=scenario.deadline_hours,
        candidates_total=len(prepared.enumeration.candidates) + len(prepared.enumeration.rejections),
        candidates_after_pruning=len(prepared.candidates),
        solver={**outcome.parameters, "method": outcome.method, "status": outcome.status,
                f"objective_{unit}": outcome.objective,
                f"best_bound_{unit}": outcome.best_bound,
                "gap": outcome.gap, "wall_time_s": round(outcome.wall_time_s, 4)},
        notes=prepared.notes,
    )


def _nothing_fits(prepared: PreparedTraining) -> tuple[str, list[Issue]]:
    counts = prepared.enumeration.rejection_counts()
    issues = [Issue(f"{n} layouts rejected: {reason.value}") for reason, n in counts.most_common()]
    miss = prepared.enumeration.closest_miss()
    if miss is None:
        raise InputError("the options allow no training layout for this model, batch and GPU list "
                         "(parallelism, micro_batch and data.global_batch_* contradict each other)", issues)
    p = prepared.scenario.parallelism
    hints = [h for h, missing in (("ZeRO stage 3", 3 not in p.zero_stages), ("full recomputation", "full" not in p.recompute),
                                  ("optimizer offload", "optimizer" not in p.offload), ("larger pp", max(p.pp) < 8),
                                  ("smaller micro-batches", min(prepared.scenario.micro_batch) > 1)) if missing]
    biggest = max(prepared.gpus, key=lambda g: g.capacity_bytes)
    hints.append(f"a GPU with more memory than {biggest.id} ({biggest.memory_usable_mib / 1024:.0f} GiB)")
    issues.append(Issue("to make it fit, allow: " + ", ".join(hints)))
    return (f"no layout fits in GPU memory: the closest, {miss.key}, needs {miss.shortfall_bytes / BYTES_PER_GIB:.1f} GiB "
            "more per GPU at the smallest micro-batch"), issues


def _explain_infeasible(prepared: PreparedTraining) -> tuple[str, list[Issue]]:
    """Name the binding limits by re-solving with each one relaxed (the same CP-SAT model, not a guess)."""
    from ..solver.training_cpsat import solve_training_cpsat

    s = prepared.scenario
    issues: list[Issue] = []
    reasons: list[str] = []

    def relaxed(names: set[str], objective: str) -> TrainingPlan | None:
        outcome = solve_training_cpsat(prepared.problem(frozenset(names), objective), 10.0)
        return build_training_plan(prepared, outcome.choice, outcome.status) if outcome.choice else None

    if s.deadline_hours is not None:
        fastest = relaxed({"deadline"}, "time")
        if fastest is not None:
            reasons.append("deadline")
            enough = round_up(fastest.time.hours, 1)
            issues.append(Issue(f"the fastest plan within the other limits takes {round_up(fastest.time.hours, 2):,.2f} h "
                                f"({fastest.candidate.key}), over the deadline of {s.deadline_hours:,} h",
                                field_path="deadline_hours", suggestion=f"a deadline of {enough:,.1f} h would suffice"))
    if s.budget.max_usd is not None or s.budget.max_usd_per_hour is not None:
        cheapest = relaxed({"budget"}, "cost")
        if cheapest is not None:
            reasons.append("budget")
            issues.append(Issue(f"the cheapest plan within the other limits costs ${round_up(cheapest.time.cost_usd, 2):,.2f} "
                                f"(${format_usd(cheapest.candidate.price_micro_usd_per_hour)}/h, {cheapest.candidate.key})",
                                field_path="budget"))
    if any(n is not None for n in prepared.inventory.values()):
        unlimited = relaxed({"inventory"}, s.objective)
        if unlimited is not None:
            reasons.append("inventory")
            issues.append(Issue(f"with unlimited stock the plan would use {unlimited.layout.gpus} x {unlimited.candidate.gpu.id}",
                                field_path="inventory"))
    if not reasons:
        fastest = relaxed({"deadline", "budget", "inventory"}, "time")
        if fastest is not None:
            issues.append(Issue(f"without deadline, budget and inventory the fastest plan takes {fastest.time.hours:,.1f} h "
                                f"and costs ${fastest.time.cost_usd:,.0f} on {fastest.layout.gpus} x {fastest.candidate.gpu.id}"))
    what = " and ".join(reasons) if reasons else "the combined deadline, budget and inventory"
    return f"no training plan fits within {what}", issues
