"""Time of one forward step of a serving replica: decode tokens and prefill tokens batched together.

Per GPU of the slowest pipeline stage, one step that carries ``b`` decoding sequences (one new token each, at
context ``c``) and ``p`` prefill tokens costs (a sum of per-operator rooflines, as in Yuan et al. 2024,
"LLM Inference Unveiled: Survey and Roofline Model Insights", arXiv:2402.16363, Sec. 3):

- linear layers: ``max(F_lin / (peak x e_c), W / (BW x e_m)) + k x min(...)``, with ``F_lin = 2 N_active x
  (b + p)`` over the GPU's share of the active parameters (Kaplan et al. 2020, arXiv:2001.08361, Sec. 2.1:
  2 FLOPs per parameter per token) and ``W`` the weight bytes streamed once per step; for MoE only the
  experts the step's tokens touch are read: of E experts with top-k routing, ``T`` tokens touch
  ``E (1 - (1 - k/E)^T)`` in expectation (uniform independent routing). ``k`` (``overlap``) is how much of
  the smaller of the two times is not hidden behind the larger one (0: ideal roofline, 1: no overlap).
- decode attention: the KV cache of the running batch is read once per step:
  ``b x c x bytes_per_token_per_layer x layers``, local-attention layers capped at their window;
  its FLOPs ``4 x c x heads x head_dim`` per token per layer (QK^T and PV; Dao et al. 2022,
  FlashAttention, arXiv:2205.14135);
- prefill attention: ``4 x c_p x heads x head_dim`` per prompt token per layer with ``c_p`` its causal context
  (previous chunks plus half the chunk), compute-bound;
- tensor parallelism: two all-reduces of the step's activations per layer (Megatron-LM, Shoeybi et al. 2019,
  arXiv:1909.08053, Sec. 3: after attention and after the MLP), over the link ``NodeTopology`` gives the TP
  group; expert parallelism: a dispatch and a combine all-to-all per MoE layer instead of the MLP all-reduce
  (GShard, Lepikhin et al. 2020, arXiv:2006.16668, Sec. 2.2); costs from ``collectives`` (alpha-beta);
- fixed engine time per step, per layer and per running sequence (``efficiency.EngineProfile``).

Pipeline parallelism splits the batch into ``m = min(pp, b)`` micro-batches in flight; every micro-batch
crosses all ``pp`` stages for each token, so a token step takes ``pp x stage_time(b/m) + (pp - 1) x hand-off``
plus the engine's CPU work for the micro-batch
(vLLM's virtual engines, one per stage; GPipe, Huang et al. 2019, arXiv:1811.06965, for the bubble when
``b < pp``): PP adds latency, and throughput is set by the slowest stage.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache

from ..catalog import GpuSpec
from ..memory.parameters import Role, Split, Tensor, embedding_tensors, layer_tensors
from ..memory.serving import ServingLayout, kv_cache_bytes_per_token_per_layer, kv_heads_per_gpu, stage_layer_ranges, tensor_bytes_per_gpu
from ..model.architecture import ModelArchitecture
from ..model.formats import WeightFormat
from .collectives import all_reduce_s, all_to_all_s, point_to_point_s
from .efficiency import Efficiency
from .topology import NodeTopology

ACTIVATION_BYTES = 2
"""Activations travel between GPUs in 16-bit (bf16/fp16) in every engine modelled."""

LOW_PRECISION_FORMATS = {"fp8": "fp8", "fp8-per-tensor": "fp8", "fp8-block": "fp8", "fp8-mlp": "fp8", "nvfp4": "fp4",
                         "mxfp4": "fp4", "int8": "int8"}
"""Formats whose GEMMs run on low-precision tensor cores (weights and activations quantized). FP4 formats
use FP4 tensor cores on Blackwell (twice the FP8 rate: NVIDIA B200 datasheet, 9 PFLOPS dense FP4 vs 4.5 FP8)
and fall back to 16 bits elsewhere (weight-only, as MXFP4 experts on Hopper). Weight-only formats (GPTQ/AWQ
int4, NF4, GGUF) dequantize to 16 bits and compute at the 16-bit rate."""


def compute_precision(weight_format: WeightFormat, gpu: GpuSpec, family: str = "") -> str:
    """The tensor-core precision the linear layers run at on ``gpu`` (fp4, fp8, int8 or 16-bit)."""
    low = LOW_PRECISION_FORMATS.get(weight_format.name)
    if low == "fp4" and family == "blackwell" and gpu.dense_tflops("fp8"):
        return low
    if low in ("fp8", "int8") and gpu.dense_tflops(low):
        return low
    return "bf16" if gpu.supports_bf16 and gpu.dense_tflops("bf16") else "fp16"


def peak_flops_per_s(gpu: GpuSpec, precision: str) -> float:
    """Dense tensor peak of ``gpu`` at ``precision``, FLOP/s (FP4 = 2 x FP8 on Blackwell)."""
    if precision == "fp4":
        return 2.0 * (gpu.dense_tflops("fp8") or 0.0) * 1e12
    return (gpu.dense_tflops(precision) or gpu.dense_tflops("fp16") or 1.0) * 1e12


@dataclass(frozen=True)
class StepModel:
    """Per-GPU constants of the slowest stage of one replica shape; ``stage_time_s`` is the formula."""

    dense_weight_bytes: float
    expert_weight_bytes: float
    num_experts: int
    experts_per_token: int
    dense_flops_per_token: float
    expert_flops_per_token: float
    kv_bytes_full: float
    kv_bytes_window: float
    window_tokens: float
    attention_flops_full: float
    attention_flops_window: float
    linear_flops_per_s: float
    expert_flops_per_s: float
    attention_flops_per_s: float
    bytes_per_s: float
    tp_comm_fixed_s: float
    tp_comm_per_token_s: float
    pp: int
    handoff_fixed_s: float
    handoff_per_token_s: float
    layer_overhead_s: float  # per stage step: kernel launches of the stage's layers
    overhead_fixed_s: float  # per token step: scheduling, input preparation, sampling (CPU, once per micro-batch)
    overhead_per_sequence_s: float
    overlap: float
    dp: int
    precision: str
    tp_link: str
    pp_link: str

    def touched_expert_fraction(self, tokens: float) -> float:
        """Expected share of routed experts that ``tokens`` tokens touch: 1 - (1 - k/E)^T."""
        if not self.num_experts:
            return 0.0
        return 1.0 - math.pow(1.0 - self.experts_per_token / self.num_experts, max(tokens, 0.0))

    def _roof(self, compute_s: float, memory_s: float) -> float:
        return max(compute_s, memory_s) + self.overlap * min(compute_s, memory_s)

    def stage_time_s(self, decode_seqs: float, prefill_tokens: float, context: float, prefill_context: float) -> float:
        """One stage's forward step for one micro-batch."""
        tokens = decode_seqs + prefill_tokens
        rank_tokens = tokens / self.dp
        linear = self._roof(
            self.dense_flops_per_token * rank_tokens / self.linear_flops_per_s
            + self.expert_flops_per_token * tokens / self.expert_flops_per_s,
            (self.dense_weight_bytes + self.expert_weight_bytes * self.touched_expert_fraction(tokens)) / self.bytes_per_s)
        rank_seqs = decode_seqs / self.dp
        windowed = min(context, self.window_tokens)
        decode_attention = self._roof(
            rank_seqs * (self.attention_flops_full * context + self.attention_flops_window * windowed) / self.attention_flops_per_s,
            rank_seqs * (self.kv_bytes_full * context + self.kv_bytes_window * windowed) / self.bytes_per_s)
        prefill_attention = prefill_tokens / self.dp * (
            self.attention_flops_full * prefill_context + self.attention_flops_window * min(prefill_context, self.window_tokens)
        ) / self.attention_flops_per_s
        communication = self.tp_comm_fixed_s + self.tp_comm_per_token_s * rank_tokens if tokens > 0 else 0.0
        return linear + decode_attention + prefill_attention + communication + self.layer_overhead_s

    def micro_batches(self, decode_seqs: float) -> float:
        return min(float(self.pp), max(1.0, decode_seqs))

    def token_time_s(self, decode_seqs: float, prefill_tokens: float, context: float, prefill_context: float) -> float:
        """Time between two tokens of one sequence: every stage, for its micro-batch, plus the hand-offs, plus the
        engine's CPU work for the micro-batch (once per token, not per stage)."""
        if self.pp == 1:
            return (self.stage_time_s(decode_seqs, prefill_tokens, context, prefill_context) + self.overhead_fixed_s
                    + self.overhead_per_sequence_s * decode_seqs / self.dp)
        m = self.micro_batches(decode_seqs)
        seqs, prefill = decode_seqs / m, prefill_tokens / m
        handoff = self.handoff_fixed_s + self.handoff_per_token_s * (seqs + prefill)
        return (self.pp * self.stage_time_s(seqs, prefill, context, prefill_context) + (self.pp - 1) * handoff
                + self.overhead_fixed_s + self.overhead_per_sequence_s * seqs / self.dp)

    def breakdown(self, decode_seqs: float, prefill_tokens: float, context: float, prefill_context: float) -> dict[str, float]:
        """The parts of ``token_time_s`` in seconds, before the roofline takes the larger of compute and memory
        (``compute_s`` and ``memory_bandwidth_s`` are both shown; the step pays the larger plus ``overlap``
        times the smaller, per operator)."""
        m = self.micro_batches(decode_seqs) if self.pp > 1 else 1.0
        seqs, prefill = decode_seqs / m, prefill_tokens / m
        tokens = seqs + prefill
        rank_tokens, rank_seqs = tokens / self.dp, seqs / self.dp
        windowed = min(context, self.window_tokens)
        weights_s = (self.dense_weight_bytes + self.expert_weight_bytes * self.touched_expert_fraction(tokens)) / self.bytes_per_s
        kv_s = rank_seqs * (self.kv_bytes_full * context + self.kv_bytes_window * windowed) / self.bytes_per_s
        linear_s = (self.dense_flops_per_token * rank_tokens / self.linear_flops_per_s
                    + self.expert_flops_per_token * tokens / self.expert_flops_per_s)
        attention_s = (rank_seqs * (self.attention_flops_full * context + self.attention_flops_window * windowed)
                       + prefill / self.dp * (self.attention_flops_full * prefill_context
                                              + self.attention_flops_window * min(prefill_context, self.window_tokens))
                       ) / self.attention_flops_per_s
        tp_s = self.tp_comm_fixed_s + self.tp_comm_per_token_s * rank_tokens if tokens > 0 else 0.0
        handoff_s = (self.handoff_fixed_s + self.handoff_per_token_s * tokens) * (self.pp - 1) / self.pp if self.pp > 1 else 0.0
        overhead_s = self.layer_overhead_s + (self.overhead_fixed_s + self.overhead_per_sequence_s * rank_seqs) / self.pp
        total = self.token_time_s(decode_seqs, prefill_tokens, context, prefill_context)
        scale = float(self.pp)
        return {
            "weights_read_s": weights_s * scale,
            "kv_cache_read_s": kv_s * scale,
            "linear_compute_s": linear_s * scale,
            "attention_compute_s": attention_s * scale,
            "communication_s": (tp_s + handoff_s) * scale,
            "overhead_s": overhead_s * scale,
            "compute_s": (linear_s + attention_s) * scale,
            "memory_bandwidth_s": (weights_s + kv_s) * scale,
            "step_s": total,
        }

    def bound(self, decode_seqs: float, prefill_tokens: float, context: float, prefill_context: float) -> str:
        """Which resource the step spends most of its time on: compute, memory-bandwidth or communication."""
        parts = self.breakdown(decode_seqs, prefill_tokens, context, prefill_context)
        options = {"compute": parts["compute_s"], "memory-bandwidth": parts["memory_bandwidth_s"],
                   "communication": parts["communication_s"]}
        return max(options, key=lambda key: options[key])


def _shard_parameters(tensor: Tensor, arch: ModelArchitecture, tp: int) -> float:
    """Parameters of ``tensor`` one GPU of a TP group multiplies with (Megatron splits)."""
    if tensor.split in (Split.COLUMN, Split.ROW, Split.VOCAB):
        return tensor.parameters / tp
    if tensor.split is Split.KV_HEADS:
        return tensor.parameters * kv_heads_per_gpu(arch, tp) / arch.kv_heads
    return float(tensor.parameters)


@dataclass(frozen=True)
class _StageSums:
    dense_bytes: float
    expert_bytes: float
    dense_params: float
    expert_params_per_token: float
    full_layers: int
    window_layers: int


@lru_cache(maxsize=4096)
def _layer_sums(arch: ModelArchitecture, layout: ServingLayout, moe_layer: bool, edge: bool) -> tuple[float, float, float, float]:
    """(dense bytes, expert bytes, dense multiply parameters, expert parameters per token) of one block on one
    GPU; blocks differ only by being MoE or not and by sitting at the edge a format leaves unquantized."""
    expert_split = layout.tp if layout.ep == 1 else layout.ep
    dense_bytes = expert_bytes = dense_params = expert_params = 0.0
    index = arch.num_layers - 1 if moe_layer else 0
    for tensor in layer_tensors(arch, index):
        if tensor.role is Role.VECTOR:
            dense_bytes += tensor_bytes_per_gpu(tensor, arch, layout, edge)
        elif tensor.role is Role.EXPERT:
            expert_bytes += tensor_bytes_per_gpu(tensor, arch, layout, edge)
            expert_params += tensor.parameters / tensor.copies * arch.experts_per_token / expert_split
        else:
            dense_bytes += tensor_bytes_per_gpu(tensor, arch, layout, edge)
            dense_params += _shard_parameters(tensor, arch, layout.tp)
    return dense_bytes, expert_bytes, dense_params, expert_params


@lru_cache(maxsize=4096)
def _stage_sums(arch: ModelArchitecture, layout: ServingLayout) -> tuple[_StageSums, ...]:
    """Streamed weight bytes and per-token multiply parameters on one GPU of each stage (GPU-independent, so
    cached once for every GPU type a solve considers)."""
    edges = layout.weight_format.unquantized_edge_blocks
    ranges = stage_layer_ranges(arch.num_layers, layout.pp)
    stages = []
    for stage, layers in enumerate(ranges):
        totals = [0.0, 0.0, 0.0, 0.0]
        for index in layers:
            edge = edges > 0 and (index < edges or index >= arch.num_layers - edges)
            for position, value in enumerate(_layer_sums(arch, layout, arch.is_moe_layer(index), edge)):
                totals[position] += value
        if stage == len(ranges) - 1:
            for tensor in embedding_tensors(arch):
                if tensor.role is Role.LM_HEAD or (tensor.role is Role.EMBEDDING and arch.tie_word_embeddings):
                    totals[0] += tensor_bytes_per_gpu(tensor, arch, layout)
                    totals[2] += _shard_parameters(tensor, arch, layout.tp)
        window_layers = sum(1 for i in layers if arch.is_sliding_layer(i))
        stages.append(_StageSums(totals[0], totals[1], totals[2], totals[3], len(layers) - window_layers, window_layers))
    return tuple(stages)


def _attention_width_per_gpu(arch: ModelArchitecture, tp: int) -> float:
    """Query-key plus value width of the heads one GPU holds: FLOPs per context token = 2 x this."""
    heads = arch.num_attention_heads / tp
    if arch.uses_mla:
        return heads * ((arch.qk_nope_head_dim or 0) + (arch.qk_rope_head_dim or 0) + (arch.v_head_dim or arch.attention_head_dim))
    return heads * 2 * arch.attention_head_dim


def _linear_cost(cost: Callable[[float], float], size_unit: float) -> tuple[float, float]:
    """(fixed, per-unit) of an alpha-beta cost that is affine in its size."""
    one, two = cost(size_unit), cost(2 * size_unit)
    return one - (two - one), two - one


@lru_cache(maxsize=4096)
def _layout_terms(arch: ModelArchitecture, layout: ServingLayout) -> tuple[_StageSums, int, int, float, float]:
    """What ``step_model`` needs of the model and layout alone, the same for every GPU type (cached): the worst
    stage's sums field by field, the most blocks and MoE blocks a stage holds, KV bytes per token per layer and
    the attention width one GPU holds."""
    ranges = stage_layer_ranges(arch.num_layers, layout.pp)
    sums = _stage_sums(arch, layout)
    worst = _StageSums(*(max(getattr(s, f.name) for s in sums) for f in fields(_StageSums)))
    layers = max(len(r) for r in ranges)
    moe_layers = max(sum(1 for i in r if arch.is_moe_layer(i)) for r in ranges)
    return worst, layers, moe_layers, kv_cache_bytes_per_token_per_layer(arch, layout), _attention_width_per_gpu(arch, layout.tp)


@lru_cache(maxsize=8192)
def step_model(arch: ModelArchitecture, layout: ServingLayout, gpu: GpuSpec, topology: NodeTopology,
               efficiency: Efficiency) -> StepModel:
    """The step constants of one replica shape (cached: the solver asks for every candidate shape)."""
    worst, layers, moe_layers, kv_per_layer, width = _layout_terms(arch, layout)
    precision = compute_precision(layout.weight_format, gpu, efficiency.family)
    low = precision in ("fp4", "fp8", "int8")
    peak_linear = peak_flops_per_s(gpu, precision) * (efficiency.fp8_compute if low else efficiency.compute)
    peak_attention = (gpu.dense_tflops("bf16") or gpu.dense_tflops("fp16") or 1.0) * 1e12 * efficiency.compute
    hidden_bytes = arch.hidden_size * ACTIVATION_BYTES
    tp_link = topology.link_for_group(layout.tp) if layout.tp > 1 else None
    fixed = per_token = 0.0
    if tp_link is not None:
        reduce_fixed, reduce_token = _linear_cost(lambda s: all_reduce_s(s, layout.tp, tp_link), hidden_bytes)
        mlp_reduces = layers - (moe_layers if layout.ep > 1 else 0)
        fixed += (layers + mlp_reduces) * reduce_fixed
        per_token += (layers + mlp_reduces) * reduce_token
    if layout.ep > 1 and moe_layers:
        ep_link = topology.link_for_group(layout.ep)
        a2a_fixed, a2a_token = _linear_cost(lambda s: all_to_all_s(s, layout.ep, ep_link), hidden_bytes * arch.experts_per_token)
        fixed += 2 * moe_layers * a2a_fixed
        per_token += 2 * moe_layers * a2a_token * layout.dp
    handoff_fixed = handoff_token = 0.0
    pp_link = topology.link_for_group(layout.tp * layout.pp) if layout.pp > 1 else None
    if pp_link is not None:
        handoff_fixed, handoff_token = _linear_cost(lambda s: point_to_point_s(s, pp_link), hidden_bytes)
    profile = efficiency.profile
    window = float(arch.sliding_window) if arch.sliding_window else math.inf
    return StepModel(
        dense_weight_bytes=worst.dense_bytes,
        expert_weight_bytes=worst.expert_bytes,
        num_experts=arch.num_experts,
        experts_per_token=arch.experts_per_token,
        dense_flops_per_token=2 * worst.dense_params,
        expert_flops_per_token=2 * worst.expert_params_per_token,
        kv_bytes_full=kv_per_layer * worst.full_layers,
        kv_bytes_window=kv_per_layer * worst.window_layers,
        window_tokens=window,
        attention_flops_full=2 * width * worst.full_layers,
        attention_flops_window=2 * width * worst.window_layers,
        linear_flops_per_s=peak_linear,
        expert_flops_per_s=peak_linear * efficiency.moe,
        attention_flops_per_s=peak_attention,
        bytes_per_s=gpu.memory_bandwidth_gbps * 1e9 * efficiency.bandwidth,
        tp_comm_fixed_s=fixed,
        tp_comm_per_token_s=per_token,
        pp=layout.pp,
        handoff_fixed_s=handoff_fixed,
        handoff_per_token_s=handoff_token,
        layer_overhead_s=profile.per_layer_overhead_s * layers,
        overhead_fixed_s=profile.step_overhead_s,
        overhead_per_sequence_s=profile.per_sequence_overhead_s,
        overlap=profile.overlap,
        dp=layout.dp,
        precision=precision,
        tp_link=tp_link.kind if tp_link else "none",
        pp_link=pp_link.kind if pp_link else "none",
    )
