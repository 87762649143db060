"""Training compute time of one micro-batch on one GPU of a pipeline stage: the kernel rooflines and their
calibrated efficiencies, and the tensor- and expert-parallel collectives that sit inside the micro-batch.

GEMMs run at the dense peak of the precision times an efficiency that falls for narrow per-GPU shapes,
FlashAttention at a fixed fraction of the 16-bit peak, element-wise kernels (norms, residuals, activations,
dropout, rotary, loss) at the memory bandwidth; TP all-reduces (Korthikanti et al. 2022) and EP all-to-alls
(GShard) use the alpha-beta collectives on the link the topology picks. ``training.py`` assembles these into an
optimizer step with the data-parallel, pipeline and optimizer terms. The constants marked *fitted* were fitted
on published runs and validated on others (``benchmarks/accuracy_training_throughput.py`` lists which).

Pure: no solver, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from ..catalog import GpuSpec
from ..memory.parameters import Role, Tensor, embedding_tensors, layer_tensors
from ..memory.serving import ServingLayout, stage_layer_ranges, tensor_bytes_per_gpu
from ..memory.training import (
    TrainingLayout,
    TrainingRecipe,
)
from ..model.architecture import ModelArchitecture
from .collectives import all_reduce_s, all_to_all_s
from .efficiency import gpu_family
from .topology import NodeTopology
from .training_flops import (
    COMPUTE_DTYPE,
    adapter_parameters,
    attention_width,
    layer_context,
    matmul_parameters,
    peak_flops_per_second,
)

GEMM_EFFICIENCY = {("ampere", "16-bit"): 0.80, ("hopper", "16-bit"): 0.52, ("hopper", "fp8"): 0.57,
                   ("blackwell", "fp8"): 0.82, ("cdna", "16-bit"): 0.45, ("cdna", "fp8"): 0.35}
"""*Fitted* per GPU generation and operand width (A100 0.80, H100 16-bit 0.52, H100 FP8 0.57, B200 FP8 0.82);
AMD CDNA from a published kernel study, not fitted (MI300X hipBLASLt BF16 GEMMs reach ~45 % of peak: SemiAnalysis,
"MI300X vs H100 vs H200 Benchmark Part 1: Training", 2024, the figure the serving model uses too).
Fraction of the datasheet dense tensor peak a large training GEMM sustains (cuBLAS / Transformer Engine under the
board's power limit: an A100 sustains a larger share of its 312 TFLOP/s than an H100 of its 989, whose clocks drop
under full tensor load). FP8 GEMMs add scaling and casts. Combinations without published runs (Blackwell 16-bit,
other families) use the Hopper figure of the same width (see ``constants_family``); the Ampere figure, fitted on
A100s, applies to the family's other cards."""

CALIBRATED_FAMILIES = ("ampere", "hopper", "blackwell")
"""GPU families (``efficiency.gpu_family``) whose constants were fitted on published training runs (A100, H100,
B200/GB200)."""

BORROWED_FAMILY = {"turing": "ampere", "ada": "hopper", "cdna2": "cdna", "cdna3": "cdna", "cdna4": "cdna"}
"""Families without training runs take a fitted family's constants, as the serving model does
(``efficiency.FAMILY_EFFICIENCY``): Turing from Ampere, Ada from Hopper, AMD CDNA the kernel study's GEMM
fraction with Hopper's other constants. Plans say "assumed" for them."""

GEMM_HALF_DIMENSION = 64
"""Set, not fitted (the published runs barely constrain it: a free fit drives it below 10). Each GEMM
dimension ``x`` (tokens, and the per-GPU output and reduction widths) scales the efficiency by
``x / (x + 64)``: tile and wave quantisation make narrow GEMMs (heavy TP, small experts, few tokens per
expert) run below peak (NVIDIA, "Matrix Multiplication Background User's Guide": a dimension of a few 128-wide
tiles leaves SMs idle). 64 costs a 512-wide shard 11 % and a 4096-wide one 1.5 %."""

ATTENTION_EFFICIENCY = 0.21
"""*Fitted* (0.21 on the fit split). Causal FlashAttention forward+backward FLOPs, counted as executed (half
the dense ``4 T d`` of the PaLM count, backward 2.5x), as a fraction of the 16-bit peak. Kernel benchmarks
reach 35-73 % (Dao 2023, arXiv:2307.08691, Sec. 4.1); end-to-end runs at 4-8K context sustain less, and the
fit also absorbs rotary embeddings, masking and the softmax statistics around the kernel."""

ELEMENTWISE_PASSES = 1.2
"""*Fitted* (1.2). Multiplier on the counted element-wise traffic for what fused kernels still re-read
(reductions over two passes, fp32 statistics, casts, masks) and the fraction of HBM bandwidth they reach."""

TP_OVERLAP = 0.12
"""*Fitted* (0.12). Fraction of tensor-parallel collectives hidden behind GEMMs: Megatron-LM overlaps the
backward input-gradient all-reduce with the weight-gradient GEMM; Transformer Engine's userbuffers hide more
in newer releases. TP collectives otherwise sit on the critical path."""

LAYER_OVERHEAD_S = 1.4e-4
"""*Fitted* (0.14 ms). Fixed seconds per block per forward pass (twice that backward) that do not shrink
with the micro-batch: kernel launches and host synchronisation between the ~30 kernels of a block."""

MOE_LAYER_OVERHEAD_S = 2.0e-3
"""*Fitted* (2 ms, on one MoE run). Extra fixed seconds per MoE block per pass: the router's top-k, the
host synchronisation for per-expert token counts, permutation and the grouped-GEMM set-up (Megatron-Core
``MoEAlltoAllTokenDispatcher``)."""

FLASH_BACKWARD_FACTOR = 2.5
"""FlashAttention's backward pass executes 2.5x the forward's FLOPs (it recomputes the attention matrix;
Dao 2023, arXiv:2307.08691, Sec. 3.1.2: five matrix products against two)."""

CAUSAL_FRACTION = 0.5
"""Causal FlashAttention skips the masked upper triangle: half of the dense ``4 T d`` attention FLOPs run."""


# ------------------------------------------------------------------ kernel efficiency


def constants_family(gpu: GpuSpec) -> str:
    """The family whose constants a GPU uses: its own when fitted (Ampere, Hopper, Blackwell), else the one
    ``BORROWED_FAMILY`` names."""
    family = gpu_family(gpu)
    return family if family in CALIBRATED_FAMILIES else BORROWED_FAMILY.get(family, "hopper")


def time_model_label(gpu: GpuSpec) -> str:
    """How a GPU's step time is modelled, for reports: its fitted family, or the borrowed one."""
    calibrated = gpu_family(gpu) in CALIBRATED_FAMILIES
    return f"modelled, {constants_family(gpu)} constants" + ("" if calibrated else f" assumed for {gpu_family(gpu)}")


def gemm_efficiency(gpu: GpuSpec, precision: str, rows: float, cols: float, inner: float) -> float:
    """Fraction of the dense peak a GEMM of ``rows x inner`` times ``inner x cols`` sustains on one GPU."""
    return sustained_gemm_efficiency(gpu, precision) * gemm_shape_factor(rows, cols, inner)


def sustained_gemm_efficiency(gpu: GpuSpec, precision: str) -> float:
    """``GEMM_EFFICIENCY`` of the GPU's constants family at the precision's operand width (a large GEMM)."""
    width = "fp8" if COMPUTE_DTYPE[precision] == "fp8" else "16-bit"
    return GEMM_EFFICIENCY.get((constants_family(gpu), width), GEMM_EFFICIENCY[("hopper", width)])


def gemm_shape_factor(rows: float, cols: float, inner: float) -> float:
    """What narrow dimensions cost a GEMM: ``x / (x + GEMM_HALF_DIMENSION)`` per dimension."""
    factor = 1.0
    for size in (rows, cols, inner):
        factor *= size / (size + GEMM_HALF_DIMENSION)
    return factor


@dataclass(frozen=True)
class Gemm:
    """``count`` identical GEMMs of ``rows x inner`` by ``inner x cols`` per micro-batch, forward."""

    rows: float
    cols: float
    inner: float
    count: float = 1.0

    @property
    def flops(self) -> float:
        return 2.0 * self.rows * self.cols * self.inner * self.count


def _layer_gemms(arch: ModelArchitecture, layer: int, tokens: int, layout: TrainingLayout) -> list[Gemm]:
    """The forward GEMMs of one block on one GPU: shapes from the per-GPU tensor shards (Megatron column/row
    splits; experts whole on ``ep`` GPUs or TP-split), active experts only, tokens split by TP for experts."""
    shard = ServingLayout(tp=layout.tp, ep=layout.ep, dp=max(1, layout.ep // layout.tp))
    gemms = []
    for tensor in layer_tensors(arch, layer):
        if tensor.role is Role.VECTOR:
            continue
        per_gpu = tensor_bytes_per_gpu(tensor, arch, shard) // 2
        if tensor.role is Role.EXPERT:
            local_experts = max(1, math.ceil(arch.num_experts / layout.ep))
            # each token's k routed copies; with EP the TP ranks split the (sequence-parallel) tokens
            routed_tokens = tokens * arch.experts_per_token / (layout.tp if layout.ep > 1 else 1)
            gemms.append(Gemm(routed_tokens / local_experts, per_gpu / local_experts / tensor.cols, tensor.cols, local_experts))
        else:
            gemms.append(Gemm(tokens, per_gpu / tensor.cols, tensor.cols))
    return gemms


@lru_cache(maxsize=4096)
def _layer_gemm_terms(arch: ModelArchitecture, layer: int, tokens: int, tp: int, ep: int) -> tuple[tuple[float, float], ...]:
    """(FLOPs, ``gemm_shape_factor``) of each of ``_layer_gemms``: GPU-independent, so cached for every GPU type."""
    layout = TrainingLayout(tp=tp, dp=max(1, ep // tp), ep=ep)
    return tuple((g.flops, gemm_shape_factor(g.rows, g.cols, g.inner)) for g in _layer_gemms(arch, layer, tokens, layout))


def _head_gemm(arch: ModelArchitecture, tokens: int, tp: int) -> Gemm:
    head = next(t for t in embedding_tensors(arch) if t.role is (Role.EMBEDDING if arch.tie_word_embeddings else Role.LM_HEAD))
    return Gemm(tokens, math.ceil(head.rows / tp), head.cols)


def _elementwise_elements_per_token(arch: ModelArchitecture, layer: int, layout: TrainingLayout, dropout: bool) -> float:
    """16-bit elements read + written per token by one block's element-wise kernels, forward, on one GPU.

    Counted from the block: two norms (in + out), two residual adds (2 in + 1 out), dropout on both branches
    (in + out), the activation (gated: 2 in + 1 out of width f; GeLU 1 + 1) and rotary on q and k (in + out);
    an MoE layer also permutes and un-permutes ``k`` copies of each token. Norm, residual and dropout work is
    replicated over TP unless sequence parallelism splits it (Korthikanti et al. 2022, Sec. 4.2.2)."""
    h = arch.hidden_size
    replicated = 4 * h + 6 * h + (4 * h if dropout else 0)
    if arch.is_moe_layer(layer):
        shared = (arch.shared_expert_intermediate_size or arch.expert_intermediate_size) * arch.num_shared_experts
        width = arch.experts_per_token * arch.expert_intermediate_size + shared
        split = (3 if arch.gated_mlp else 2) * width + 4 * arch.experts_per_token * h
    else:
        split = (3 if arch.gated_mlp else 2) * arch.intermediate_size
    split += 2 * (attention_width(arch) + arch.kv_heads * arch.attention_head_dim)
    tp = layout.tp
    return (replicated / tp if layout.sequence_parallel else replicated) + split / tp


# ------------------------------------------------------------------ one micro-batch on one stage


@dataclass(frozen=True)
class MicroBatchTime:
    """Seconds one GPU of a stage spends on one micro-batch, by kernel class and pass."""

    forward_s: float
    backward_s: float  # recomputation included
    tp_s: float  # tensor-parallel collectives, forward + backward (+ recomputed forward)
    ep_s: float  # expert-parallel all-to-alls
    gemm_s: float
    attention_s: float
    elementwise_s: float

    @property
    def compute_s(self) -> float:
        return self.forward_s + self.backward_s


def clear_caches() -> None:
    """Forget cached micro-batch times (after changing a calibrated constant, as the fit does)."""
    stage_micro_batch.cache_clear()
    pipeline_micro_batch.cache_clear()
    _layer_gemm_terms.cache_clear()


def compute_layout(layout: TrainingLayout, micro_batch: int | None = None) -> TrainingLayout:
    """The parts of a layout one micro-batch's compute depends on (not dp, ZeRO, offload or the schedule), so
    layouts that differ only there share ``stage_micro_batch``'s cache; at ``micro_batch`` when given."""
    return TrainingLayout(tp=layout.tp, pp=layout.pp, dp=max(1, layout.ep // layout.tp), micro_batch=micro_batch or layout.micro_batch,
                          sequence_length=layout.sequence_length, recompute=layout.recompute,
                          sequence_parallel=layout.sequence_parallel, ep=layout.ep)


@lru_cache(maxsize=16384)
def pipeline_micro_batch(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, gpu: GpuSpec,
                         topology: NodeTopology) -> tuple[MicroBatchTime, ...]:
    """``stage_micro_batch`` of every stage (pass ``compute_layout(layout)``; cached). Stages with equal
    ``_stage_signature`` take equal times, so each signature is timed once (the middle stages of a pipeline)."""
    first_with: dict[_StageSignature, int] = {}
    return tuple(stage_micro_batch(arch, recipe, layout, gpu, topology, first_with.setdefault(signature, stage))
                 for stage, signature in enumerate(_stage_signatures(arch, recipe, layout.pp, layout.sequence_length)))


_BlockKind = tuple[bool, int]
"""A block's kind: (MoE, attention span in tokens)."""
_StageSignature = tuple[tuple[tuple[_BlockKind, int, tuple[Tensor, ...]], ...], float, bool, bool]
"""What ``stage_micro_batch`` reads of a stage besides its index: (blocks as (kind, count, shapes), backward share,
first stage, last stage)."""


@lru_cache(maxsize=1024)
def _stage_signatures(arch: ModelArchitecture, recipe: TrainingRecipe, pp: int, sequence_length: int) -> tuple[_StageSignature, ...]:
    """Per stage, all ``stage_micro_batch`` reads of the stage besides its index: its blocks grouped by kind in
    order, each kind with its count and the tensors of its first block (the one timed), the layers a frozen
    backbone trains, and whether it is the first or the last stage."""
    signatures: list[_StageSignature] = []
    for stage, layers in enumerate(stage_layer_ranges(arch.num_layers, pp)):
        blocks = tuple((kind, count, _block_shapes(arch, first)) for kind, first, count in _stage_blocks(arch, pp, stage, sequence_length))
        signatures.append((blocks, _stage_backward_share(arch, recipe, layers), stage == 0, stage == pp - 1))
    return tuple(signatures)


@lru_cache(maxsize=4096)
def _stage_blocks(arch: ModelArchitecture, pp: int, stage: int, sequence_length: int) -> tuple[tuple[_BlockKind, int, int], ...]:
    """The stage's blocks grouped by kind (MoE or dense, attention span) in order: (kind, first block, count)."""
    kinds: dict[_BlockKind, list[int]] = {}
    for layer in stage_layer_ranges(arch.num_layers, pp)[stage]:
        kinds.setdefault((arch.is_moe_layer(layer), layer_context(arch, layer, sequence_length)), []).append(layer)
    return tuple((kind, members[0], len(members)) for kind, members in kinds.items())


@lru_cache(maxsize=4096)
def _block_shapes(arch: ModelArchitecture, layer: int) -> tuple[Tensor, ...]:
    """A block's tensors without their module paths: blocks with equal shapes take equal times."""
    return tuple(replace(t, module="") for t in layer_tensors(arch, layer))


@lru_cache(maxsize=65536)
def stage_micro_batch(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, gpu: GpuSpec,
                      topology: NodeTopology, stage: int) -> MicroBatchTime:
    """One micro-batch on one GPU of ``stage`` (pass ``compute_layout(layout)``; cached)."""
    layers = stage_layer_ranges(arch.num_layers, layout.pp)[stage]
    tokens = layout.micro_batch * layout.sequence_length
    peak = peak_flops_per_second(gpu, recipe.precision) or 0.0
    attention_precision = {"fp16-mixed": "fp16-mixed", "fp32": "fp32"}.get(recipe.precision, "bf16-mixed")
    peak16 = peak_flops_per_second(gpu, attention_precision) or peak  # FlashAttention runs in 16 bits (fp32: CUDA cores)
    bandwidth = gpu.memory_bandwidth_gbps * 1e9
    full = recipe.method == "full"

    gemm_fwd = 0.0
    attention_fwd_flops = 0.0
    attention_fwd = 0.0
    elements = 0.0
    blocks = _stage_blocks(arch, layout.pp, stage, layout.sequence_length)
    sustained = sustained_gemm_efficiency(gpu, recipe.precision)
    for (_, context), layer, count in blocks:  # blocks of one kind (dense or MoE, attention span) cost the same
        for flops, shape_factor in _layer_gemm_terms(arch, layer, tokens, layout.tp, layout.ep):
            gemm_fwd += count * flops / (peak * (sustained * shape_factor))
        elements += count * tokens * _elementwise_elements_per_token(arch, layer, layout, recipe.dropout)
        if recipe.flash_attention:
            attention_fwd_flops += count * CAUSAL_FRACTION * 4 * context * attention_width(arch) * tokens / layout.tp
        else:
            attention_fwd += count * _eager_attention_s(arch, recipe, layout, gpu, context, tokens, peak16, bandwidth)
    loss_bytes = 0.0
    if stage == layout.pp - 1:
        head = _head_gemm(arch, tokens, layout.tp)
        gemm_fwd += head.flops / (peak * gemm_efficiency(gpu, recipe.precision, head.rows, head.cols, head.inner))
        loss_bytes = 16.0 * tokens * arch.vocab_size / layout.tp  # fp32 logits: softmax, loss and its gradient
    attention_fwd += attention_fwd_flops / (peak16 * ATTENTION_EFFICIENCY) if peak16 else 0.0
    elementwise_fwd = ELEMENTWISE_PASSES * (recipe.activation_bytes * elements) / bandwidth
    loss = ELEMENTWISE_PASSES * loss_bytes / bandwidth

    backward_share = _stage_backward_share(arch, recipe, layers)  # a frozen backbone stops early
    gemm_bwd = gemm_fwd * (2.0 if full or recipe.method == "frozen" else 1.0) * backward_share
    if recipe.method in ("lora", "qlora"):
        gemm_bwd += gemm_fwd * 3 * _adapter_fraction(arch, recipe)
    attention_bwd = attention_fwd * (FLASH_BACKWARD_FACTOR if recipe.flash_attention else 2.0) * backward_share
    elementwise_bwd = 2.0 * elementwise_fwd * backward_share
    moe_layers = sum(count for (moe, _), _, count in blocks if moe)
    overhead = len(layers) * LAYER_OVERHEAD_S + moe_layers * MOE_LAYER_OVERHEAD_S
    recompute = 0.0
    if layout.recompute == "full":
        recompute = gemm_fwd + attention_fwd + elementwise_fwd + overhead
    elif layout.recompute == "selective":
        recompute = attention_fwd
    forward = gemm_fwd + attention_fwd + elementwise_fwd + overhead
    backward = gemm_bwd + attention_bwd + elementwise_bwd + recompute + loss + 2 * overhead

    tp_s = _tensor_parallel_s(arch, layout, topology, len(layers), tokens, stage)
    ep_s = _expert_parallel_s(arch, layout, topology, layers, tokens)
    gemm_total = gemm_fwd + gemm_bwd + (gemm_fwd if layout.recompute == "full" else 0.0)
    attention_total = attention_fwd + attention_bwd + (attention_fwd if layout.recompute != "none" else 0.0)
    elementwise_total = elementwise_fwd * (3 + (1 if layout.recompute == "full" else 0)) + loss
    return MicroBatchTime(forward, backward, tp_s, ep_s, gemm_total, attention_total, elementwise_total)


def _eager_attention_s(arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout, gpu: GpuSpec,
                       context: int, tokens: int, peak: float, bandwidth: float) -> float:
    """Forward attention core without FlashAttention (Megatron-LM before 2023): the two batched GEMMs over the
    full ``s x s`` scores (masking wastes the upper triangle) and the memory-bound scale-mask-softmax and
    dropout over ``a s^2 b`` elements (2 B in + 2 B out each, plus a 1-byte mask: the ``5as^2b`` of
    Korthikanti et al. 2022, Sec. 4.1, read and written)."""
    heads = arch.num_attention_heads / layout.tp
    head_dim = attention_width(arch) / arch.num_attention_heads
    scores = Gemm(context, context, head_dim, 2 * heads * tokens / context)
    gemm = scores.flops / (peak * gemm_efficiency(gpu, recipe.precision, context, context, head_dim))
    score_elements = heads * context * tokens
    softmax_bytes = score_elements * (4 + (5 if recipe.dropout else 0))
    return gemm + ELEMENTWISE_PASSES * softmax_bytes / bandwidth


def _stage_backward_share(arch: ModelArchitecture, recipe: TrainingRecipe, layers: range) -> float:
    """Share of a stage's blocks the backward pass runs through (a frozen backbone trains only the last ones)."""
    if recipe.method != "frozen" or not len(layers):
        return 1.0
    first_trained = arch.num_layers - min(recipe.trainable_layers, arch.num_layers)
    return sum(1 for layer in layers if layer >= first_trained) / len(layers)


@lru_cache(maxsize=256)
def _adapter_fraction(arch: ModelArchitecture, recipe: TrainingRecipe) -> float:
    """LoRA adapter parameters per base matrix parameter (their GEMMs are timed as that share of the base's)."""
    return adapter_parameters(arch, recipe) / max(1, matmul_parameters(arch))


def tensor_parallel_collectives_per_layer(recompute: str) -> int:
    """All-reduces (or, with sequence parallelism, all-gather + reduce-scatter pairs of the same cost) per
    block per micro-batch: 2 forward and 2 backward (Korthikanti et al. 2022, Sec. 4.2.2, Fig. 5), and the
    2 forward ones again when the block is recomputed."""
    return 6 if recompute == "full" else 4


def _tensor_parallel_s(arch: ModelArchitecture, layout: TrainingLayout, topology: NodeTopology, layers: int,
                       tokens: int, stage: int) -> float:
    if layout.tp == 1:
        return 0.0
    link = topology.link_for_group(layout.tp)
    activation_bytes = 2.0 * tokens * arch.hidden_size
    count = layers * tensor_parallel_collectives_per_layer(layout.recompute)
    if stage in (0, layout.pp - 1):
        count += 1  # vocab-parallel embedding (forward) / LM-head input gradient (backward)
    return (1.0 - TP_OVERLAP) * count * all_reduce_s(activation_bytes, layout.tp, link)


def _expert_parallel_s(arch: ModelArchitecture, layout: TrainingLayout, topology: NodeTopology, layers: range,
                       tokens: int) -> float:
    """Dispatch and combine all-to-alls of every MoE block, forward and backward (and the recomputed forward):
    each GPU sends its tokens' ``k`` routed copies (Lepikhin et al. 2020, GShard, arXiv:2006.16668, Sec. 2.2)."""
    if layout.ep == 1:
        return 0.0
    moe_layers = sum(1 for layer in layers if arch.is_moe_layer(layer))
    per_gpu = 2.0 * tokens * arch.experts_per_token * arch.hidden_size / layout.tp
    count = moe_layers * (6 if layout.recompute == "full" else 4)
    return count * all_to_all_s(per_gpu, layout.ep, topology.link_for_group(layout.ep))
