"""The worst pipeline stage's memory (``training_memory(...).total_bytes``) for the many layouts a training search
evaluates, without building their bills.

A search over the catalog evaluates tens of thousands of (layout, micro-batch) choices that share most of their
terms: the model states and buffers depend only on TP, PP, EP, DP, ZeRO and offload, the activations only on TP,
PP, SP, recomputation, virtual stages, sequence, micro-batch and the micro-batches in flight. Both come from the
very functions ``training_memory`` adds up (``stage_states``, ``stage_activation_bytes``) and are memoised here;
the sum, the allocator's reserve and the worst stage are the bill's own integer arithmetic (the reserve rising
with what is allocated, the worst stage is the one that allocates most), so the totals are equal to the bill's
byte for byte (tests/test_training_memory.py compares them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ..model.architecture import ModelArchitecture
from .runtime import TrainingGpu
from .training import TrainingLayout, TrainingRecipe, allocator_reserve_bytes, stage_activation_bytes, stage_states


class WorstStageTotals:
    """``training_memory(arch, recipe, layout, gpu).total_bytes`` (the worst stage's measured peak) for many layouts
    of one model and recipe, without building the bills: the per-stage model states and buffers are computed once
    per (TP, PP, EP, DP, ZeRO, offload) and the activations once per (TP, PP, SP, recomputation, v, sequence,
    micro-batch, in-flight micro-batches), by the very functions ``training_memory`` adds up, and memoised here
    (a layout search evaluates tens of thousands of layouts that share them)."""

    def __init__(self, arch: ModelArchitecture, recipe: TrainingRecipe) -> None:
        self.arch, self.recipe = arch, recipe
        self._states: dict[tuple[object, ...], tuple[int, ...]] = {}
        self._activations: dict[tuple[object, ...], tuple[int, ...]] = {}

    def states_bytes(self, layout: TrainingLayout) -> tuple[int, ...]:
        """Allocated bytes per stage besides the activations (memoised by the layout parts they depend on)."""
        key = (layout.tp, layout.pp, layout.ep, layout.dp, layout.zero_stage, layout.offload)
        found = self._states.get(key)
        if found is None:
            found = self._states[key] = tuple(s.allocated_bytes for s in stage_states(self.arch, self.recipe, layout))
        return found

    def activation_bytes(self, layout: TrainingLayout, micro_batch: int | None = None,
                         num_microbatches: int | None = None) -> tuple[int, ...]:
        """Activations per stage of ``layout`` at ``micro_batch`` sequences per micro-batch and ``num_microbatches``
        per step (default: the layout's own); memoised, the micro-batches per step mattering only up to ``pp``
        (1F1B's in-flight cap)."""
        b = layout.micro_batch if micro_batch is None else micro_batch
        m = layout.num_microbatches if micro_batch is None else num_microbatches
        in_flight = min(m, layout.pp) if m else layout.pp
        key = (layout.tp, layout.pp, layout.sequence_parallel, layout.recompute, layout.virtual_stages,
               layout.sequence_length, b, in_flight)
        found = self._activations.get(key)
        if found is None:
            at = layout if micro_batch is None else replace(layout, micro_batch=b, num_microbatches=m)
            found = self._activations[key] = stage_activation_bytes(self.arch, self.recipe, at)
        return found

    def total_bytes(self, layout: TrainingLayout, gpu: TrainingGpu, micro_batch: int | None = None,
                    num_microbatches: int | None = None) -> int:
        """The worst stage's total bytes (``TrainingMemory.total_bytes``), at a micro-batch as ``activation_bytes``."""
        return self.totals_bytes(layout, gpu, ((micro_batch, num_microbatches),))[0]

    def totals_bytes(self, layout: TrainingLayout, gpu: TrainingGpu,
                     micro_batches: Iterable[tuple[int | None, int | None]]) -> tuple[int, ...]:
        """``total_bytes`` at each (micro-batch, micro-batches per step)."""
        outside = gpu.cuda_context_bytes + gpu.nccl_bytes(layout.gpus)
        states = self.states_bytes(layout)
        totals = []
        for micro_batch, num_microbatches in micro_batches:
            allocated = max(map(int.__add__, states, self.activation_bytes(layout, micro_batch, num_microbatches)))
            totals.append(allocated + allocator_reserve_bytes(allocated) + outside)  # x + ceil(f x) rises with x
        return tuple(totals)
