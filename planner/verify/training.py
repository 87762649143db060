"""Independent verification of training plans.

Each plan is recomputed from the scenario through the memory and time models, not through the solver's rows, and
compared exactly (bytes; the time model's hours and USD against the deadline, budget and headroom as the decimals
written; the price per hour in micro-USD): structure (the framework rules:
TP inside a node and dividing the heads, no pipeline with ZeRO-2/3, EP and interleaving constraints, batch
divisibility, enough micro-batches for the pipeline), memory of every stage within the limit,
deadline, budgets and inventory. A violation is a bug in the planner and raises ``VerificationError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..candidates.training import TrainingContext, layout_time
from ..errors import Issue, VerificationError
from ..memory.runtime import training_gpu
from ..memory.training import training_memory
from ..plans.training import TrainingPlan
from ..rules import training_layout_breaches
from ..units import MICRO_USD_PER_USD, decimal_fraction, format_usd, usd_to_micro_usd_ceil


@dataclass(frozen=True)
class Violation:
    check: str
    expected: str
    actual: str


@dataclass(frozen=True)
class Limits:
    deadline_hours: float | None
    max_usd: float | None
    max_usd_per_hour: float | None
    inventory: dict[str, int | None]


def training_plan_violations(plan: TrainingPlan, context: TrainingContext, limits: Limits) -> list[Violation]:
    arch, lay, gpu = context.arch, plan.layout, plan.candidate.gpu
    out: list[Violation] = []

    def check(ok: bool, what: str, expected: str, actual: str) -> None:
        if not ok:
            out.append(Violation(what, expected, actual))

    microbatches = context.global_batch // (lay.dp * lay.micro_batch)
    for breach in training_layout_breaches(arch, lay.tp, lay.pp, lay.dp, lay.ep, lay.virtual_stages, lay.zero_stage, lay.offload,
                                           lay.sequence_parallel, microbatches, plan.candidate.terms.topology):
        check(False, f"framework rule: {breach.rule.value}", "no rule broken", breach.detail)
    check(context.global_batch % (lay.dp * lay.micro_batch) == 0, "global batch divisible by dp x micro-batch",
          f"{context.global_batch} % {lay.dp * lay.micro_batch} == 0", str(context.global_batch % (lay.dp * lay.micro_batch)))
    check(lay.pp == 1 or microbatches >= lay.pp, "micro-batches per step >= pp", f">= {lay.pp}", str(microbatches))
    check(lay.micro_batch in context.micro_batches, "micro-batch allowed", str(context.micro_batches), str(lay.micro_batch))
    memory = training_memory(arch, context.recipe, lay, training_gpu(gpu.id, gpu.release_year, gpu.scale_up_link, gpu.nvlink_domain_size))
    headroom = decimal_fraction(context.min_headroom)
    for stage in memory.stages:
        free = gpu.capacity_bytes - stage.total_bytes
        check(free >= headroom * gpu.capacity_bytes, f"memory of stage {stage.stage}",
              f"at least {float(headroom):.1%} of {gpu.capacity_bytes} B free", f"{stage.total_bytes} B used")
    check(memory.total_bytes == plan.memory.total_bytes, "reported memory", f"{memory.total_bytes} B", f"{plan.memory.total_bytes} B")
    timing = layout_time(context, plan.candidate.terms, lay)
    check(abs(timing.total_seconds - plan.time.total_seconds) <= 1e-6 * timing.total_seconds, "reported time",
          f"{timing.total_seconds:.3f} s", f"{plan.time.total_seconds:.3f} s")
    if limits.deadline_hours is not None:
        check(Fraction(timing.hours) <= decimal_fraction(limits.deadline_hours), "deadline", f"<= {limits.deadline_hours} h",
              f"{timing.hours!r} h")
    if limits.max_usd is not None:
        check(Fraction(timing.cost_usd) <= decimal_fraction(limits.max_usd), "budget", f"<= ${limits.max_usd}", f"${timing.cost_usd!r}")
    if limits.max_usd_per_hour is not None:
        hourly = timing.billed_gpus * usd_to_micro_usd_ceil(plan.candidate.price_usd_per_gpu_hour)  # whole instances
        check(Fraction(hourly, MICRO_USD_PER_USD) <= decimal_fraction(limits.max_usd_per_hour), "budget per hour",
              f"<= ${limits.max_usd_per_hour}/h", f"${format_usd(hourly)}/h")
    stock = limits.inventory.get(gpu.id)
    check(stock is None or lay.gpus <= stock, f"inventory of {gpu.id}", f"<= {stock}", str(lay.gpus))
    return out


def verify_training_plan(plan: TrainingPlan, context: TrainingContext, limits: Limits) -> None:
    violations = training_plan_violations(plan, context, limits)
    if violations:
        raise VerificationError(
            f"internal error: training plan {plan.candidate.key} failed verification (this is a bug in planner)",
            [Issue(f"{v.check}: expected {v.expected}, got {v.actual}") for v in violations])
