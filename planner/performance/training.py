"""Training step time: compute + exposed communication + pipeline bubble, per optimizer step.

One optimizer step of a layout (TP x PP x DP, ZeRO stage, EP, recomputation, SP, offload, micro-batch ``b``,
``m`` micro-batches per pipeline, ``v`` virtual stages) on one GPU type and its node topology takes::

    step = m (t_f + t_b + t_tp + t_ep)            compute of the slowest stage, with TP / EP collectives
         + (p - 1)/v (t_f + t_b + t_tp + t_ep)     pipeline bubble, (p - 1)/(v m) of the above
         + t_pp                                    stage-to-stage sends
         + t_dp                                    data-parallel / ZeRO traffic not hidden behind compute
         + t_opt                                   optimizer step (GPU) or CPU-Adam + PCIe (offload)

The compute of a micro-batch (``t_f``, ``t_b``) and its TP / EP collectives come from
``training_compute.py`` (kernel rooflines); this module adds the data-parallel, pipeline and optimizer terms
and assembles the step. Communication uses the alpha-beta collectives of ``collectives.py`` on the link ``topology.py`` picks for the
group. The constants marked *fitted* were fitted on published runs and validated on others
(``benchmarks/accuracy_training_throughput.py`` lists which); everything else is a count from the model.

Pure: no solver, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..catalog import GpuSpec
from ..memory.model_states import state_bytes
from ..memory.training import (
    TrainingLayout,
    TrainingRecipe,
    stage_expert_parameters_per_gpu,
    stage_parameters_per_gpu,
    trained_parameters_per_gpu,
)
from ..model.architecture import ModelArchitecture
from ..units import whole_units
from .collectives import all_gather_s, all_reduce_s, point_to_point_s, reduce_scatter_s
from .topology import LINK_EFFICIENCY, LINK_LATENCY_S, PCIE_X16_GB_PER_S, Link, NodeTopology
from .training_compute import MicroBatchTime, compute_layout, pipeline_micro_batch
from .training_flops import (
    COMPUTE_DTYPE,
    model_flops_per_token,
    peak_flops_per_second,
    training_flops_per_token,
)

SECONDS_PER_HOUR = 3600.0

COMMUNICATION_OVERLAP = 0.95
"""*Fitted* (0.95, the search's upper bound). Fraction of the backward (forward, for parameter gathers) pass
of a micro-batch during which asynchronous collectives run concurrently: bucketed data-parallel collectives
(PyTorch DDP and FSDP buckets and prefetch, DeepSpeed ``overlap_comm``, Megatron ``overlap_grad_reduce``; Li et
al. 2020, arXiv:2006.15704, Sec. 3.2.3), asynchronous pipeline sends and ZeRO-Offload's gradient copies. The
first bucket waits for the last layers' gradients, so not quite the whole pass is usable."""

OPTIMIZER_BYTES_PER_PARAMETER = 32
"""Mixed-precision Adam step, memory-bound (apex ``FusedAdam`` / ``multi_tensor_apply``): read fp32 master,
momentum, variance and the gradient (4 x 4 B), write master, momentum, variance (3 x 4 B) and the 16-bit
weight (2 B), plus the 16-bit gradient read (2 B) = 32 B per parameter it updates."""

HOST_MEMORY_BANDWIDTH_GB_PER_S_PER_GPU = 25.0
"""Assumed host DRAM bandwidth a GPU's CPU-Adam share gets (two-socket DDR4/DDR5 servers, 200-400 GB/s shared
by 8 GPUs, about half reached by AVX kernels). ZeRO-Offload's CPU-Adam is memory-bound on the host
(Ren et al. 2021, arXiv:2101.06840, Sec. 5.1), so its time is ``32 B x parameters / this bandwidth``.
Not fitted: no published offload run with its full setup was available."""

# ------------------------------------------------------------------ one optimizer step


@dataclass(frozen=True)
class StepTime:
    """One optimizer step on one layout, split into compute, exposed communication and bubble (seconds)."""

    compute_s: float
    exposed_tp_s: float
    exposed_ep_s: float
    exposed_pp_s: float
    exposed_dp_s: float
    bubble_s: float
    optimizer_s: float
    offload_s: float
    dp_traffic_s: float  # data-parallel collectives before overlap (what a slow network costs)
    gemm_s: float
    attention_s: float
    elementwise_s: float
    micro_batches: int
    model_flops_per_step: float
    executed_flops_per_step: float
    tokens_per_step: int
    gpus: int
    peak_flops_per_gpu: float

    @property
    def step_s(self) -> float:
        return (self.compute_s + self.exposed_tp_s + self.exposed_ep_s + self.exposed_pp_s + self.exposed_dp_s
                + self.bubble_s + self.optimizer_s + self.offload_s)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_per_step / self.step_s

    @property
    def tokens_per_s_per_gpu(self) -> float:
        return self.tokens_per_s / self.gpus

    @property
    def model_tflops_per_gpu(self) -> float:
        return self.model_flops_per_step / (self.step_s * self.gpus) / 1e12

    @property
    def mfu(self) -> float:
        """Model FLOPs utilisation: model FLOPs per second over the GPUs' dense peak at the precision."""
        return self.model_flops_per_step / (self.step_s * self.gpus * self.peak_flops_per_gpu)

    @property
    def hfu(self) -> float:
        """Hardware FLOPs utilisation: executed FLOPs (recomputation included) over the peak."""
        return self.executed_flops_per_step / (self.step_s * self.gpus * self.peak_flops_per_gpu)

    def breakdown(self) -> dict[str, float]:
        """The step's parts in seconds, with the names the CLI and JSON print."""
        return {"compute_s": self.compute_s, "exposed_dp_s": self.exposed_dp_s, "exposed_tp_s": self.exposed_tp_s,
                "exposed_pp_s": self.exposed_pp_s, "exposed_ep_s": self.exposed_ep_s, "bubble_s": self.bubble_s,
                "optimizer_s": self.optimizer_s, "offload_s": self.offload_s}


def micro_batches_per_step(layout: TrainingLayout, global_batch_sequences: int) -> int:
    """Micro-batches each pipeline runs per optimizer step: ``G / (dp x b)`` (at least one)."""
    if layout.num_microbatches:
        return layout.num_microbatches
    return max(1, global_batch_sequences // (layout.dp * layout.micro_batch))


def training_step_time(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, gpu: GpuSpec,
                       topology: NodeTopology, global_batch_sequences: int) -> StepTime:
    """Seconds of one optimizer step, from the kernel, collective and pipeline models above."""
    peak = peak_flops_per_second(gpu, recipe.precision)
    if peak is None:
        raise ValueError(f"{gpu.id} has no {COMPUTE_DTYPE[recipe.precision]} tensor throughput in the catalog")
    m = micro_batches_per_step(layout, global_batch_sequences)
    stages = pipeline_micro_batch(arch, recipe, compute_layout(layout), gpu, topology)
    slowest = slowest_stage(stages)
    mb = stages[slowest]
    bubble = bubble_s(layout, mb)
    pp_s = _pipeline_s(arch, layout, topology, m, mb)
    dp_traffic, dp_exposed = _data_parallel_s(arch, recipe, layout, topology, mb, m, slowest)
    optimizer, offload = _optimizer_s(arch, recipe, layout, gpu, mb, slowest)
    tokens_per_step = global_batch_sequences * layout.sequence_length
    return StepTime(
        compute_s=m * mb.compute_s, exposed_tp_s=m * mb.tp_s, exposed_ep_s=m * mb.ep_s, exposed_pp_s=pp_s,
        exposed_dp_s=dp_exposed, bubble_s=bubble, optimizer_s=optimizer, offload_s=offload, dp_traffic_s=dp_traffic,
        gemm_s=m * mb.gemm_s, attention_s=m * mb.attention_s, elementwise_s=m * mb.elementwise_s, micro_batches=m,
        model_flops_per_step=model_flops_per_token(arch, recipe, layout.sequence_length) * tokens_per_step,
        executed_flops_per_step=training_flops_per_token(arch, recipe, layout.sequence_length, layout.recompute) * tokens_per_step,
        tokens_per_step=tokens_per_step, gpus=layout.gpus, peak_flops_per_gpu=peak)


def slowest_stage(stages: tuple[MicroBatchTime, ...]) -> int:
    """The stage whose micro-batch (compute with its TP and EP collectives) takes longest; the first on a tie."""
    return max(range(len(stages)), key=lambda s: (stages[s].compute_s + stages[s].tp_s + stages[s].ep_s, -s))


def bubble_s(layout: TrainingLayout, slowest: MicroBatchTime) -> float:
    """The pipeline bubble: ``(p - 1)/v`` micro-batches of the slowest stage (Narayanan et al. 2021, Sec. 2.2)."""
    per_micro_batch = slowest.compute_s + slowest.tp_s + slowest.ep_s
    return (layout.pp - 1) / layout.virtual_stages * per_micro_batch


def step_seconds_lower_bound(layout: TrainingLayout, slowest: MicroBatchTime, micro_batches: int) -> float:
    """A lower bound on ``training_step_time(...).step_s`` from the slowest stage's micro-batch alone: the compute,
    TP and EP terms and the bubble, added in the order ``StepTime.step_s`` adds them. The terms left out (pipeline
    sends, data-parallel traffic, optimizer, offload) are >= 0 and IEEE rounding is monotone, so the bound never
    exceeds the exact step time (tests/test_training_performance.py checks it); layout searches use it to skip
    the layouts a faster one with no more GPUs already beats."""
    m = micro_batches
    return m * slowest.compute_s + m * slowest.tp_s + m * slowest.ep_s + bubble_s(layout, slowest)


def training_steps(tokens: int, tokens_per_step: int) -> int:
    """Optimizer steps to train ``tokens`` (the last one may be partial)."""
    return math.ceil(tokens / tokens_per_step)


def pipeline_link(layout: TrainingLayout, topology: NodeTopology) -> Link:
    """Stage hand-offs stay inside the node (or NVL domain) when the whole job does; otherwise some neighbours
    sit on different nodes and, the stages running in lock-step, the network sets the pace."""
    return topology.link_for_group(layout.gpus)


def _pipeline_s(arch: ModelArchitecture, layout: TrainingLayout, topology: NodeTopology, m: int,
                mb: MicroBatchTime) -> float:
    """Activations forward and their gradients backward at every stage boundary, ``m x v`` times each per step;
    with TP each rank sends its ``1/t`` slice (the scatter/gather optimisation, Narayanan et al. 2021,
    arXiv:2104.04473, Sec. 4.1). Asynchronous sends overlap the next model chunk's compute as other
    collectives do; what does not fit behind ``COMMUNICATION_OVERLAP`` of a chunk is exposed."""
    if layout.pp == 1:
        return 0.0
    size = 2.0 * layout.micro_batch * layout.sequence_length * arch.hidden_size / layout.tp
    per_chunk = 2 * point_to_point_s(size, pipeline_link(layout, topology))
    window = COMMUNICATION_OVERLAP * mb.compute_s / layout.virtual_stages
    return m * layout.virtual_stages * max(0.0, per_chunk - window)


def _trained_parameters_per_gpu(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, stage: int) -> tuple[float, float]:
    """(dense, routed-expert) parameters with gradients on one GPU of ``stage``."""
    trained = trained_parameters_per_gpu(arch, recipe, layout, stage)
    if recipe.method != "full":
        return float(trained), 0.0
    experts = stage_expert_parameters_per_gpu(arch, layout.tp, layout.pp, layout.ep)[stage]
    return float(trained - experts), float(experts)


def gradient_bytes_per_parameter(recipe: TrainingRecipe) -> float:
    """Bytes of one gradient as the data-parallel collectives and offload move it: the convention's gradient type
    (``state_bytes``), which the optimizer does not change (Adafactor's factored moments included)."""
    return state_bytes(recipe.convention, recipe.precision, "adamw").gradient


def _data_parallel_s(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, topology: NodeTopology,
                     mb: MicroBatchTime, m: int, stage: int) -> tuple[float, float]:
    """(traffic, exposed) seconds of the data-parallel collectives of one step.

    ZeRO-0: one gradient all-reduce per step (ring: ``2(N-1)/N`` x bytes). ZeRO-1 (Megatron distributed
    optimizer): reduce-scatter of the gradients and all-gather of the updated 16-bit weights, the same volume.
    ZeRO-2 shards gradients, so it reduce-scatters every micro-batch. ZeRO-3 / FSDP also gathers the 16-bit
    weights before each micro-batch's forward and again for its backward: 1.5x the traffic of ZeRO-2
    (Rajbhandari et al. 2019, arXiv:1910.02054, Sec. 7). Gradients travel in the convention's gradient type;
    each collective overlaps ``COMMUNICATION_OVERLAP`` of the pass it runs beside."""
    groups = [(g, n) for g, n in zip(_trained_parameters_per_gpu(arch, recipe, layout, stage),
                                     (layout.dp, layout.expert_data_parallel)) if g > 0 and n > 1]
    frozen = 0.0
    if recipe.method != "full" and layout.zero_stage == 3 and layout.dp > 1:
        frozen = float(stage_parameters_per_gpu(arch, layout.tp, layout.pp, layout.ep)[stage])
    if not groups and not frozen:
        return 0.0, 0.0
    link = topology.link_for_strided_group(layout.dp, layout.tp)
    grad_bytes = gradient_bytes_per_parameter(recipe)
    gather_fwd = gather_bwd = reduce = 0.0
    for parameters, group in groups:
        gradients = parameters * grad_bytes
        if layout.zero_stage == 0:
            reduce += all_reduce_s(gradients, group, link)
        else:
            reduce += reduce_scatter_s(gradients, group, link)
            gather_fwd += all_gather_s(2.0 * parameters, group, link)
    if layout.zero_stage == 3 and layout.dp > 1:
        gather_fwd += all_gather_s(2.0 * frozen, layout.dp, link)
        gather_bwd = gather_fwd
    forward_window, backward_window = COMMUNICATION_OVERLAP * mb.forward_s, COMMUNICATION_OVERLAP * mb.backward_s
    if layout.zero_stage == 3:
        traffic = m * (gather_fwd + gather_bwd + reduce)
        exposed = m * (max(0.0, gather_fwd - forward_window) + max(0.0, gather_bwd + reduce - backward_window))
    elif layout.zero_stage == 2:
        traffic = m * reduce + gather_fwd
        exposed = m * max(0.0, reduce - backward_window) + max(0.0, gather_fwd - forward_window)
    else:
        traffic = reduce + gather_fwd
        exposed = max(0.0, reduce - backward_window) + max(0.0, gather_fwd - forward_window)
    return traffic, exposed


def host_link(gpu: GpuSpec) -> Link:
    """The GPU's own PCIe x16 link to host memory (ZeRO-Offload traffic)."""
    return Link("pcie", PCIE_X16_GB_PER_S[gpu.pcie_gen], LINK_EFFICIENCY["pcie"], LINK_LATENCY_S["pcie"])


def _optimizer_s(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, gpu: GpuSpec,
                 mb: MicroBatchTime, stage: int) -> tuple[float, float]:
    """(GPU optimizer step, offload) seconds. Without offload the fused Adam step streams
    ``OPTIMIZER_BYTES_PER_PARAMETER`` through HBM for the parameters this GPU updates (its ZeRO shard). With
    ZeRO-Offload (Ren et al. 2021, arXiv:2101.06840, Sec. 4.1) the 16-bit gradients go to the host during the
    backward pass (hidden as DP collectives are), CPU-Adam updates the shard, and the 16-bit weights come back."""
    dense, experts = _trained_parameters_per_gpu(arch, recipe, layout, stage)
    sharded = layout.zero_stage >= 1
    updated = dense / (layout.dp if sharded else 1) + experts / (layout.expert_data_parallel if sharded else 1)
    if layout.offload == "none":
        return OPTIMIZER_BYTES_PER_PARAMETER * updated / (gpu.memory_bandwidth_gbps * 1e9), 0.0
    link = host_link(gpu)
    grad_bytes = gradient_bytes_per_parameter(recipe)
    down = point_to_point_s(grad_bytes * updated, link)
    cpu_adam = OPTIMIZER_BYTES_PER_PARAMETER * updated / (HOST_MEMORY_BANDWIDTH_GB_PER_S_PER_GPU * 1e9)
    up = point_to_point_s(2.0 * updated, link)
    return 0.0, max(0.0, down - COMMUNICATION_OVERLAP * mb.backward_s) + cpu_adam + up


# ------------------------------------------------------------------ the whole job


@dataclass(frozen=True)
class TrainingTime:
    """How long the job takes and what it costs on one layout: steps x step time, GPUs x price."""

    step: StepTime
    steps: int
    price_usd_per_gpu_hour: float
    instance_gpus: int = 1  # GPUs rented together (whole instances): every GPU of a started instance is paid for

    @property
    def step_seconds(self) -> float:
        return self.step.step_s

    @property
    def tokens_per_step(self) -> int:
        return self.step.tokens_per_step

    @property
    def gpus(self) -> int:
        return self.step.gpus

    @property
    def total_seconds(self) -> float:
        return self.steps * self.step_seconds

    @property
    def hours(self) -> float:
        return self.total_seconds / SECONDS_PER_HOUR

    @property
    def tokens_per_second(self) -> float:
        return self.step.tokens_per_s

    @property
    def bubble_fraction(self) -> float:
        return self.step.bubble_s / self.step_seconds

    @property
    def billed_gpus(self) -> int:
        """GPUs paid for: the layout's, rounded up to whole instances."""
        return whole_units(self.gpus, self.instance_gpus)

    @property
    def usd_per_hour(self) -> float:
        return self.billed_gpus * self.price_usd_per_gpu_hour

    @property
    def cost_usd(self) -> float:
        return self.usd_per_hour * self.hours


def assumed_mfu_step_time(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, gpu: GpuSpec,
                          global_batch_sequences: int, mfu: float) -> StepTime:
    """The step time a user's assumed MFU implies: model FLOPs / (GPUs x peak x MFU), everything inside it
    (the explicit ``mfu:`` override; the model above is the default)."""
    base = training_step_time(arch, recipe, layout, gpu, _NO_NETWORK, global_batch_sequences)
    compute = base.model_flops_per_step / (base.gpus * base.peak_flops_per_gpu * mfu)
    zero = 0.0
    return StepTime(compute, zero, zero, zero, zero, zero, zero, zero, zero, base.gemm_s, base.attention_s,
                    base.elementwise_s, base.micro_batches, base.model_flops_per_step, base.executed_flops_per_step,
                    base.tokens_per_step, base.gpus, base.peak_flops_per_gpu)


_NO_NETWORK = NodeTopology(1 << 20, 1 << 20, Link("nvswitch", 1e6, 1.0, 0.0), Link("pcie", 1e6, 1.0, 0.0),
                           Link("network", 1e6, 1.0, 0.0))


def training_time(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, gpu: GpuSpec,
                  topology: NodeTopology, tokens: int, global_batch_sequences: int,
                  price_usd_per_gpu_hour: float, mfu_override: float | None = None, instance_gpus: int = 1) -> TrainingTime:
    """Steps x step time for ``tokens`` trained tokens in global batches of ``global_batch_sequences``; with
    ``mfu_override`` the step time is the assumed-MFU one instead of the model's; GPUs billed in whole instances
    of ``instance_gpus``."""
    if mfu_override is not None:
        step = assumed_mfu_step_time(arch, recipe, layout, gpu, global_batch_sequences, mfu_override)
    else:
        step = training_step_time(arch, recipe, layout, gpu, topology, global_batch_sequences)
    steps = training_steps(tokens, step.tokens_per_step)
    return TrainingTime(step, steps, price_usd_per_gpu_hour, instance_gpus)

