"""Result types of a training solve: the chosen layout with its memory bill, time and cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..candidates.training import TrainingCandidate
from ..memory.training import StageMemory, TrainingLayout, TrainingMemory
from ..performance.training import TrainingTime
from ..performance.training_compute import time_model_label
from ..schema.outputs import Candidates, TrainingJob, TrainingPlanOutput, TrainingSolveOutput
from ..units import BYTES_PER_GIB, micro_usd_to_usd, round_up


def memory_lines_gib(stage: StageMemory, limit_bytes: int | None = None, capacity_bytes: int | None = None) -> dict[str, float]:
    """The per-GPU bill in GiB with the keys ``planner memory --training --json`` documents."""
    def gib(size_bytes: int) -> float:
        return round(size_bytes / BYTES_PER_GIB, 3)

    lines = {
        "parameters": gib(stage.parameters_bytes),
        "gradients": gib(stage.gradients_bytes),
        "optimizer_states": gib(stage.optimizer_states_bytes),
        "activations": gib(stage.activations_bytes),
        "buffers": gib(stage.buffers_bytes),
        "cuda_context": gib(stage.cuda_context_bytes),
        "nccl": gib(stage.nccl_bytes),
        "allocator_reserve": gib(stage.allocator_reserve_bytes),
        "total": gib(stage.total_bytes),
        "torch_allocated": gib(stage.allocated_bytes),
        "torch_reserved": gib(stage.reserved_bytes),
        "overhead": gib(stage.overhead_bytes),
        "formula_total": gib(stage.formula_total_bytes),
        "cpu_offload": gib(stage.cpu_offload_bytes),
    }
    if capacity_bytes is not None:
        lines["capacity"] = gib(capacity_bytes)
        lines["free"] = gib(capacity_bytes - stage.total_bytes)
    if limit_bytes is not None:
        lines["limit"] = gib(limit_bytes)
    return lines


@dataclass(frozen=True)
class TrainingPlan:
    """One layout on one GPU type, at one micro-batch."""

    candidate: TrainingCandidate
    layout: TrainingLayout  # with the chosen micro-batch and micro-batches per step
    memory: TrainingMemory
    time: TrainingTime
    status: str

    @property
    def gpu_id(self) -> str:
        return self.candidate.gpu.id

    @property
    def headroom_fraction(self) -> float:
        capacity = self.candidate.gpu.capacity_bytes
        return (capacity - self.memory.total_bytes) / capacity

    def to_dict(self) -> dict[str, Any]:
        return self.output().model_dump(exclude_unset=True)

    def output(self) -> TrainingPlanOutput:
        lay, t = self.layout, self.time
        step = t.step
        worst = self.memory.worst
        optional: dict[str, Any] = {}  # set only when they apply: the JSON leaves the others out (exclude_unset)
        if t.instance_gpus > 1:
            optional.update(instance_gpus=t.instance_gpus, billed_gpus=t.billed_gpus)
        if self.candidate.gpu.price_estimated:
            optional["price_estimated"] = True
        micro_batches = lay.num_microbatches
        if micro_batches is None:  # a plan's layout is at its micro-batch (candidates.training.layout_at)
            raise ValueError(f"training plan {lay} has no micro-batch count")
        return TrainingPlanOutput(
            status=self.status,
            gpu=self.gpu_id,
            gpus=lay.gpus,
            tp=lay.tp,
            pp=lay.pp,
            dp=lay.dp,
            ep=lay.ep,
            virtual_stages=lay.virtual_stages,
            zero_stage=lay.zero_stage,
            recompute=lay.recompute,
            sequence_parallel=lay.sequence_parallel,
            offload=lay.offload,
            micro_batch=lay.micro_batch,
            micro_batches_per_step=micro_batches,
            hours=round_up(t.hours, 3),  # rounded up: read back as a deadline or budget, it admits this plan
            cost_usd=round_up(t.cost_usd, 2),
            cost_usd_per_hour=micro_usd_to_usd(self.candidate.price_micro_usd_per_hour),
            steps=t.steps,
            step_seconds=round(t.step_seconds, 4),
            step_breakdown_s={k: round(v, 4) for k, v in step.breakdown().items()},
            tokens_per_second=round(t.tokens_per_second, 1),
            tokens_per_second_per_gpu=round(step.tokens_per_s_per_gpu, 1),
            model_tflops_per_gpu=round(step.model_tflops_per_gpu, 1),
            mfu=round(step.mfu, 4),
            time_model="assumed MFU" if self.candidate.terms.mfu_override is not None else
            time_model_label(self.candidate.gpu),
            pipeline_bubble_fraction=round(t.bubble_fraction, 4),
            flops_per_token=step.executed_flops_per_step / step.tokens_per_step,
            headroom_fraction=round(self.headroom_fraction, 4),
            worst_stage=worst.stage,
            memory_per_gpu_gib=memory_lines_gib(worst, self.candidate.limit_bytes, self.candidate.gpu.capacity_bytes),
            **optional,
        )


@dataclass(frozen=True)
class TrainingSolveReport:
    """Everything ``planner solve`` prints for a training scenario."""

    scenario_name: str
    model_name: str
    method: str
    objective: str
    status: str
    plans: tuple[TrainingPlan, ...]
    parameter_count: int
    trainable_parameter_count: int
    tokens: int
    global_batch: int
    sequence_length: int
    deadline_hours: float | None
    candidates_total: int
    candidates_after_pruning: int
    solver: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # GPUs left out for their prices (planner.catalog.pricing.rental_prices)

    def to_dict(self) -> dict[str, Any]:
        return self.output().model_dump(exclude_unset=True)

    def output(self) -> TrainingSolveOutput:
        return TrainingSolveOutput(
            scenario=self.scenario_name,
            kind="training",
            model=self.model_name,
            method=self.method,
            objective=self.objective,
            status=self.status,
            parameter_count=self.parameter_count,
            trainable_parameter_count=self.trainable_parameter_count,
            job=TrainingJob(tokens=self.tokens, global_batch_sequences=self.global_batch, sequence_length=self.sequence_length,
                            deadline_hours=self.deadline_hours),
            candidates=Candidates(total=self.candidates_total, after_pruning=self.candidates_after_pruning),
            solver=self.solver,
            plans=[p.output() for p in self.plans],
            **({"notes": list(self.notes)} if self.notes else {}),
        )
