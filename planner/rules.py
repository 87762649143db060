"""Structural rules: which layouts the serving engines and training frameworks run, and which formats a GPU runs.

One home for every rule a layout must obey, asked by candidate enumeration, verification, explanations and the
``memory`` / ``perf`` commands alike; each broken rule comes back as a :class:`Breach` naming the :class:`Rule`
and the figures that break it. Sources:

- Tensor parallelism stays inside a node or a rack-scale NVLink domain (its per-layer all-reduces never cross
  the scale-out network): vLLM docs, "Distributed inference and serving" (TP inside a node, PP across nodes);
  Megatron-LM, Narayanan et al., SC'21, Sec. 3.3.
- TP splits the attention heads; KV heads are split, or replicated when TP is a multiple of them (vLLM
  ``get_num_kv_heads``; MLA's latent is replicated): ``ModelArchitecture.tp_is_valid``.
- A pipeline stage holds at least one layer (vLLM ``get_pp_indices``).
- Megatron-LM / DeepSpeed: no pipeline with ZeRO-2/3 (DeepSpeed ``PipelineEngine`` asserts ZeRO stage < 2);
  MoE with TP needs sequence parallelism (Megatron-Core); expert parallelism divides the experts and is a
  multiple of TP dividing TP x DP (Megatron-Core); the interleaved schedule needs pp > 1 and the layers to split
  evenly into pp x v chunks (Megatron-LM); CPU offload needs ZeRO (ZeRO-Offload), parameters ZeRO-3.
- FP8 weights need FP8 tensor cores (Hopper, Ada, Blackwell, MI300); bf16 needs BF16 support (Ampere on).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import GpuSpec
    from .model.architecture import ModelArchitecture
    from .model.formats import WeightFormat
    from .performance.topology import NodeTopology


class Rule(str, Enum):
    """A structural rule; the value says it in words (also the reason a rejected candidate gives)."""

    TP_CROSSES_NETWORK = "tensor-parallel group larger than a node (TP stays inside a node or NVLink domain)"
    TP_DOES_NOT_DIVIDE_HEADS = "tensor-parallel degree does not divide the attention heads"
    PP_EXCEEDS_LAYERS = "pipeline degree exceeds the number of layers"
    TOO_MANY_GPUS = "more GPUs per replica than allowed"
    FORMAT_UNSUPPORTED = "weight format not supported by the GPU"
    PP_WITH_ZERO_2_3 = "pipeline parallelism with ZeRO-2/3 (DeepSpeed and Megatron-LM refuse it)"
    EP_INVALID = "expert-parallel degree must divide the experts and be a multiple of TP dividing TP x DP (Megatron-Core)"
    MOE_TP_WITHOUT_SP = "MoE with tensor parallelism needs sequence parallelism (Megatron-Core)"
    INTERLEAVING_INVALID = "interleaved schedule needs pp > 1 and the layers to split evenly into pp x v chunks (Megatron-LM)"
    OFFLOAD_WITHOUT_ZERO = "CPU offload needs ZeRO stage 1 or more, offloading parameters ZeRO-3 (ZeRO-Offload)"


@dataclass(frozen=True)
class Breach:
    """A rule a layout breaks, with the figures that break it ('8 GPUs per node')."""

    rule: Rule
    detail: str = ""

    def describe(self) -> str:
        return f"{self.rule.value} ({self.detail})" if self.detail else self.rule.value


def tensor_parallel_breach(arch: ModelArchitecture, tp: int, topology: NodeTopology | None = None) -> Breach | None:
    """TP inside a node (or rack-scale NVLink domain; not checked without a ``topology``), dividing the attention
    and KV heads."""
    if topology is not None and topology.crosses_network(tp):
        return Breach(Rule.TP_CROSSES_NETWORK, f"{topology.max_group_without_network} GPUs per node")
    if not arch.tp_is_valid(tp):
        return Breach(Rule.TP_DOES_NOT_DIVIDE_HEADS, f"{arch.num_attention_heads} heads, {arch.kv_heads} KV heads")
    return None


def pipeline_breach(arch: ModelArchitecture, pp: int) -> Breach | None:
    """At least one layer per pipeline stage."""
    return Breach(Rule.PP_EXCEEDS_LAYERS, f"{arch.num_layers} layers") if pp > arch.num_layers else None


def shape_breach(arch: ModelArchitecture, tp: int, pp: int, topology: NodeTopology, max_gpus: int | None) -> Breach | None:
    """The first rule a (TP, PP) replica or pipeline breaks: TP placement and heads, PP within the layers, GPUs."""
    breach = tensor_parallel_breach(arch, tp, topology) or pipeline_breach(arch, pp)
    if breach is None and max_gpus is not None and tp * pp > max_gpus:
        breach = Breach(Rule.TOO_MANY_GPUS, f"{tp * pp} > {max_gpus}")
    return breach


def format_breach(gpu: GpuSpec, fmt: WeightFormat) -> Breach | None:
    """Weights in ``fmt`` run on ``gpu``: FP8 formats need FP8 tensor cores, bf16 needs BF16 support."""
    if fmt.needs_fp8_hardware and not gpu.supports_fp8:
        return Breach(Rule.FORMAT_UNSUPPORTED, "no FP8 tensor cores")
    if fmt.needs_bf16_hardware and not gpu.supports_bf16:
        return Breach(Rule.FORMAT_UNSUPPORTED, "no BF16 support; use fp16")
    return None


def valid_tp_degrees(arch: ModelArchitecture, largest: int) -> list[int]:
    """Every TP degree up to ``largest`` that divides the model's heads (for suggestions)."""
    return [t for t in range(1, largest + 1) if arch.tp_is_valid(t)]


def expert_parallel_breach(arch: ModelArchitecture, tp: int, ep: int) -> Breach | None:
    """Training EP (Megatron-Core): a MoE model's routed experts split ``ep`` ways, ``ep`` a multiple of TP."""
    if ep > 1 and (not arch.is_moe or arch.num_experts % ep or ep % tp):
        return Breach(Rule.EP_INVALID, f"ep {ep}, tp {tp}, {arch.num_experts} experts")
    return None


def training_shape_breach(arch: ModelArchitecture, tp: int, pp: int, ep: int, virtual_stages: int,
                          topology: NodeTopology, max_gpus: int | None) -> Breach | None:
    """The framework rule a (TP, PP, EP, v) training choice breaks before DP and ZeRO are known, if any."""
    breach = tensor_parallel_breach(arch, tp, topology) or pipeline_breach(arch, pp) or expert_parallel_breach(arch, tp, ep)
    if breach is not None:
        return breach
    if virtual_stages > 1 and (pp == 1 or arch.num_layers % (pp * virtual_stages)):
        return Breach(Rule.INTERLEAVING_INVALID, f"{arch.num_layers} layers, pp {pp}, v {virtual_stages}")
    if max_gpus is not None and tp * pp > max_gpus:
        return Breach(Rule.TOO_MANY_GPUS, f"{tp * pp} > {max_gpus}")
    return None


def data_parallel_breach(tp: int, dp: int, ep: int) -> Breach | None:
    """Experts spread over ``ep`` of the TP x DP ranks of a stage: ``ep`` divides TP x DP."""
    return Breach(Rule.EP_INVALID, f"{tp * dp} % {ep} != 0") if ep > 1 and (tp * dp) % ep else None


def pipeline_zero_breach(pp: int, zero_stage: int) -> Breach | None:
    """No pipeline with ZeRO-2/3 (gradients and parameters sharded while stages hold micro-batches in flight)."""
    return Breach(Rule.PP_WITH_ZERO_2_3, f"pp {pp}, ZeRO-{zero_stage}") if pp > 1 and zero_stage >= 2 else None


def offload_breach(zero_stage: int, offload: str) -> Breach | None:
    """ZeRO-Offload moves ZeRO's partitions to the CPU: optimizer states need ZeRO >= 1, parameters ZeRO-3."""
    if (offload != "none" and zero_stage == 0) or (offload == "optimizer_and_parameters" and zero_stage != 3):
        return Breach(Rule.OFFLOAD_WITHOUT_ZERO, f"offload {offload}, ZeRO-{zero_stage}")
    return None


def sequence_parallel_breach(arch: ModelArchitecture, tp: int, sequence_parallel: bool) -> Breach | None:
    """MoE layers with TP shard their tokens: Megatron-Core needs sequence parallelism there."""
    if arch.is_moe and tp > 1 and not sequence_parallel:
        return Breach(Rule.MOE_TP_WITHOUT_SP, f"tp {tp}, SP off")
    return None


def interleaving_breach(pp: int, virtual_stages: int, microbatches: int) -> Breach | None:
    """Megatron-LM's interleaved schedule runs micro-batches in groups of ``pp``."""
    if virtual_stages > 1 and microbatches % pp:
        return Breach(Rule.INTERLEAVING_INVALID, f"{microbatches} micro-batches, pp {pp}")
    return None


def training_layout_breaches(arch: ModelArchitecture, tp: int, pp: int, dp: int, ep: int, virtual_stages: int,
                             zero_stage: int, offload: str, sequence_parallel: bool, microbatches: int | None,
                             topology: NodeTopology, max_gpus: int | None = None) -> list[Breach]:
    """Every framework rule a complete training layout breaks (verification and ``planner perf --training``)."""
    found = [training_shape_breach(arch, tp, pp, ep, virtual_stages, topology, max_gpus), data_parallel_breach(tp, dp, ep),
             pipeline_zero_breach(pp, zero_stage), offload_breach(zero_stage, offload),
             sequence_parallel_breach(arch, tp, sequence_parallel),
             interleaving_breach(pp, virtual_stages, microbatches) if microbatches is not None else None]
    return [b for b in found if b is not None]
