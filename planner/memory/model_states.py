"""Model states per GPU: parameters, gradients and optimizer states of a parameter count, with ZeRO sharding.

The ZeRO paper (Rajbhandari et al. 2019, arXiv:1910.02054, Sec. 3.1 and 5, Table 1): with mixed-precision Adam
every parameter costs 2 bytes (16-bit weights) + 2 (16-bit gradients) + K = 12 (fp32 master weights, momentum and
variance); ZeRO stage 1 shards the K bytes over the data-parallel degree N_d, stage 2 also the gradients, stage 3
also the parameters. The byte split is a *convention* chosen by the user: the paper's 16 bytes, Megatron-LM's 18
(fp32 gradient buffer) or DeepSpeed's memory estimator. Each line is a sum of ``bill.Term`` values, so the bill's
formula is written from the numbers that make it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..units import ceil_div
from .bill import Term
from .parameters import Role, Tensor

ADAM8BIT_BLOCK = 2048
"""bitsandbytes block-wise quantization: one fp32 absmax per 2048 values (Dettmers et al. 2021, arXiv:2110.02861, Sec. 2.1)."""

def optimizer_moment_bytes_per_parameter(optimizer: str) -> float:
    """Bytes of optimizer moments per trainable parameter in fp32 (Adafactor is per tensor, see below).

    AdamW: momentum + variance, 4 + 4 (Loshchilov & Hutter 2019). 8-bit Adam: two 1-byte states plus a fp32
    absmax per block of 2048 (arXiv:2110.02861). SGD with momentum: one fp32 buffer.
    """
    if optimizer == "adamw":
        return 8.0
    if optimizer == "adam8bit":
        return 2 * (1 + 4 / ADAM8BIT_BLOCK)
    if optimizer == "sgd":
        return 4.0
    raise ValueError(f"optimizer {optimizer!r} has no per-parameter moment size (Adafactor is factored per tensor)")


def adafactor_moment_bytes(tensors: tuple[Tensor, ...] | list[Tensor], tp: int = 1) -> int:
    """Adafactor's factored second moment: one fp32 row and one column vector per matrix, the full vector for
    1-D tensors, no first moment (beta1 = 0). Source: Shazeer & Stern 2018, arXiv:1804.04235, Sec. 3, Alg. 4.
    """
    total = 0
    for tensor in tensors:
        if tensor.role is Role.VECTOR or tensor.rows == 1:
            total += 4 * tensor.parameters
        else:
            total += 4 * (tensor.rows + tensor.cols) * tensor.copies
    return ceil_div(total, tp)


@dataclass(frozen=True)
class StateBytes:
    """Bytes per parameter of each model-state line, and which ZeRO stage starts sharding it.

    ``parameter`` is sharded from stage 3, ``gradient`` from stage 2 (DeepSpeed's estimator keeps the fp16
    gradients whole until stage 3, where it stops keeping them), ``gradient_partition`` (an fp32 gradient copy for
    the local optimizer partition) and ``optimizer`` (fp32 master + moments) from stage 1.
    """

    parameter: float
    gradient: float
    optimizer: float
    gradient_partition: float = 0.0
    gradient_sharded_at_stage2: bool = True
    gradient_kept_at_stage3: bool = True

    @property
    def unsharded_total(self) -> float:
        return self.parameter + self.gradient + self.gradient_partition + self.optimizer


def state_bytes(convention: str = "zero-paper", precision: str = "bf16-mixed", optimizer: str = "adamw",
                moment_bytes: float | None = None) -> StateBytes:
    """Per-parameter bytes of the model states under a convention.

    - ``zero-paper`` (arXiv:1910.02054, Sec. 3.1): 2 (fp16 weights) + 2 (fp16 gradients) + K, K = 4 (fp32
      master) + moments; 16 bytes for Adam.
    - ``megatron`` (Megatron-LM ``theoretical_memory_usage.py``; NVIDIA/Megatron-LM#654): gradients accumulate
      in an fp32 buffer, 2 + 4 + 12 = 18 bytes; the distributed optimizer (stage 1) gives 6 + 12/DP.
    - ``deepspeed`` (DeepSpeed ``estimate_zero2/3_model_states_mem_needs``): fp16 weights and gradients
      replicated (4 bytes) plus an fp32 gradient partition with the 12 optimizer bytes (16/N) at stages 1-2;
      at stage 3 the fp16 gradients are reduce-scattered straight into the partition, 18/N in all.
    ``fp8-mixed`` adds the 1-byte FP8 weight copy Transformer Engine caches between micro-batches; ``bf16``
    (pure) keeps no master copy and its moments in bf16; ``fp32`` (pure single precision) keeps 4-byte weights,
    gradients and moments and no master copy: 4 + 4 + 8 = 16 bytes for Adam under every convention.
    """
    moments = optimizer_moment_bytes_per_parameter(optimizer) if moment_bytes is None else moment_bytes
    if precision == "fp32":
        return StateBytes(parameter=4.0, gradient=4.0, optimizer=moments)
    if precision == "bf16":
        pure_moments = moments if optimizer == "adam8bit" else moments / 2
        return StateBytes(parameter=2.0, gradient=2.0, optimizer=pure_moments)
    parameter = 3.0 if precision == "fp8-mixed" else 2.0
    optimizer_bytes = 4.0 + moments
    if convention == "megatron":
        return StateBytes(parameter=parameter, gradient=4.0, optimizer=optimizer_bytes)
    if convention == "deepspeed":
        return StateBytes(parameter=parameter, gradient=2.0, optimizer=optimizer_bytes, gradient_partition=4.0,
                          gradient_sharded_at_stage2=False, gradient_kept_at_stage3=False)
    if convention == "zero-paper":
        return StateBytes(parameter=parameter, gradient=2.0, optimizer=optimizer_bytes)
    raise ValueError(f"unknown convention {convention!r}")


@dataclass(frozen=True)
class ModelStates:
    """Model-state bytes on one GPU, and the bytes moved to host memory by offloading."""

    parameters_bytes: int
    gradients_bytes: int
    optimizer_states_bytes: int
    cpu_offload_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.parameters_bytes + self.gradients_bytes + self.optimizer_states_bytes


def model_state_terms(parameter_count: int | float, per_parameter: StateBytes, dp: int = 1, zero_stage: int = 0,
                      offload: str = "none", over_label: str = "DP ranks", what: str = "") -> dict[str, tuple[Term, ...]]:
    """The terms of each model-state line on one GPU: ``parameters``, ``gradients``, ``optimizer_states`` and
    ``cpu_offload`` (what offloading moves to the host), each ``ceil(count x bytes/param / N_d)`` when sharded.

    ZeRO-DP (arXiv:1910.02054, Sec. 5.1-5.3): P_os = 4Ψ + KΨ/N_d, P_os+g = 2Ψ + (2+K)Ψ/N_d,
    P_os+g+p = (2+2+K)Ψ/N_d. ZeRO-Offload (Ren et al. 2021, arXiv:2101.06840, Sec. 4.1) keeps only the 16-bit
    parameters on the GPU and moves gradients and optimizer states to the host; ZeRO-Infinity also the parameters.
    """
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError("zero_stage must be 0, 1, 2 or 3")

    def term(label: str, bytes_per_parameter: float, sharded: bool) -> Term:
        over = dp if sharded else 1
        return Term(what + label, parameter_count, bytes_per_parameter, "params", over, f"{over_label} (ZeRO-{zero_stage})")

    parameters: tuple[Term, ...] = (term("weights", per_parameter.parameter, zero_stage >= 3),)
    gradients: tuple[Term, ...] = ()
    if zero_stage < 3 or per_parameter.gradient_kept_at_stage3:
        sharded = zero_stage >= 3 or (zero_stage == 2 and per_parameter.gradient_sharded_at_stage2)
        gradients = (term("gradients", per_parameter.gradient, sharded),)
    gradients += (term("fp32 gradient partition", per_parameter.gradient_partition, zero_stage >= 1),)
    optimizer: tuple[Term, ...] = (term("optimizer states (master weights, moments)", per_parameter.optimizer, zero_stage >= 1),)
    cpu: tuple[Term, ...] = ()
    if offload in ("optimizer", "optimizer_and_parameters"):
        cpu, gradients, optimizer = gradients + optimizer, (), ()
    if offload == "optimizer_and_parameters":
        cpu, parameters = parameters + cpu, ()
    return {"parameters": parameters, "gradients": gradients, "optimizer_states": optimizer, "cpu_offload": cpu}


def model_state_bytes(parameter_count: int | float, per_parameter: StateBytes, dp: int = 1, zero_stage: int = 0,
                      offload: str = "none") -> ModelStates:
    """Parameters, gradients and optimizer states of ``parameter_count`` parameters on one GPU: the sums of
    ``model_state_terms``."""
    terms = model_state_terms(parameter_count, per_parameter, dp, zero_stage, offload)
    return ModelStates(*(sum(t.bytes for t in terms[name]) for name in ("parameters", "gradients", "optimizer_states", "cpu_offload")))


def zero3_gather_term(largest_layer_parameter_count: int, tp: int = 1, trains_weights: bool = True) -> Term:
    """ZeRO-3's temporary buffer: the largest layer gathered in 16-bit with its 16-bit gradients, 4 bytes per
    parameter (DeepSpeed ``estimate_zero3_model_states_mem_needs``: ``largest_layer_memory = 4 * largest_layer_params``);
    2 bytes when the weights are frozen (LoRA: no gradients to reduce-scatter)."""
    label = "ZeRO-3 gather of the largest layer (16-bit weights" + (" and gradients)" if trains_weights else ", frozen, no gradients)")
    return Term(label, ceil_div(largest_layer_parameter_count, tp), 4 if trains_weights else 2, "params")


def zero3_gather_bytes(largest_layer_parameter_count: int, tp: int = 1, trains_weights: bool = True) -> int:
    """Bytes of ``zero3_gather_term``."""
    return zero3_gather_term(largest_layer_parameter_count, tp, trains_weights).bytes
