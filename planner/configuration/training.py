"""One training configuration, no solver: its memory bill (``planner memory --training``) and its predicted
step time, throughput and MFU (``planner perf --training``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog, GpuSpec
from ..errors import InputError, Issue, did_you_mean
from ..memory.runtime import TrainingGpu, training_gpu
from ..memory.training import (
    CONVENTIONS,
    METHODS,
    OFFLOADS,
    OPTIMIZERS,
    PRECISIONS,
    RECOMPUTE,
    TrainingLayout,
    TrainingMemory,
    TrainingRecipe,
    training_memory,
)
from ..model.architecture import ModelArchitecture
from ..performance.topology import TopologyOverride, node_topology
from ..performance.training import assumed_mfu_step_time, peak_flops_per_second, pipeline_link, training_step_time
from ..performance.training_compute import time_model_label
from ..plans.training import memory_lines_gib
from ..rules import expert_parallel_breach, offload_breach, pipeline_breach, tensor_parallel_breach, training_layout_breaches
from ..schema.outputs_configuration import (
    KernelsOutput,
    LinksOutput,
    TopologyOutput,
    TrainingMemoryOutput,
    TrainingPerfOutput,
)
from ..units import BYTES_PER_GIB
from .flags import TRAINING_DEFAULTS, check


@dataclass(frozen=True)
class TrainingMemoryRequest:
    """One ``planner memory --training`` question: a model, a layout and a recipe (CLI defaults when None)."""

    model_id: str | None = None
    config_path: str | None = None
    architecture_path: str | None = None
    gpu_id: str | None = None
    gpu_memory_gib: float | None = None
    precision: str | None = None
    tp: int = 1
    pp: int = 1
    dp: int = 1
    zero_stage: int | None = None
    optimizer: str | None = None
    micro_batch: int | None = None
    sequence_length: int | None = None
    recompute: str | None = None
    sequence_parallel: bool = False
    training_method: str | None = None
    convention: str | None = None
    lora_rank: int | None = None
    offload: str | None = None
    attention: str | None = None
    trainable_layers: int | None = None
    ep: int = 1
    virtual_stages: int = 1


@dataclass(frozen=True)
class TrainingPerfRequest(TrainingMemoryRequest):
    """One ``planner perf --training`` question: the memory request plus the batch, the cluster and an optional
    assumed MFU (which replaces the model, as a scenario's ``mfu:`` does)."""

    global_batch: int | None = None  # sequences per optimizer step; default dp x micro-batch x pp
    gpus_per_node: int | None = None
    scale_up_bandwidth_gb_per_s: float | None = None
    inter_node_bandwidth_gb_per_s: float | None = None
    mfu: float | None = None


def _named(value: str | None, default: str, known: tuple[str, ...], flag: str) -> str:
    name = (value or default).strip().lower()
    if name not in known:
        raise InputError(f"unknown value for {flag}", [Issue(f"{value!r} is not one of {', '.join(known)}", field_path=flag,
                                                             suggestion=did_you_mean(name, known))])
    return name


def resolve_configuration(request: TrainingMemoryRequest,
                          catalog: Catalog) -> tuple[ModelArchitecture, str, TrainingRecipe, TrainingLayout]:
    """The architecture, recipe and layout a request names; inconsistent flags are bad input."""
    from .memory import MemoryRequest, resolve_bill_model

    arch, name, _ = resolve_bill_model(MemoryRequest(model_id=request.model_id, config_path=request.config_path,
                                                     architecture_path=request.architecture_path), catalog)
    default = TRAINING_DEFAULTS
    recipe = TrainingRecipe(method=_named(request.training_method, default["training_method"], METHODS, "--method"),
                            precision=_named(request.precision, default["precision"], PRECISIONS, "--precision"),
                            optimizer=_named(request.optimizer, default["optimizer"], OPTIMIZERS, "--optimizer"),
                            convention=_named(request.convention, default["convention"], CONVENTIONS, "--convention"),
                            lora_rank=request.lora_rank or default["lora_rank"],
                            flash_attention=(request.attention or default["attention"]) == "flash",
                            trainable_layers=request.trainable_layers or default["trainable_layers"])
    zero = default["zero_stage"] if request.zero_stage is None else request.zero_stage
    offload = _named(request.offload, default["offload"], OFFLOADS, "--offload")
    recompute = _named(request.recompute, default["recompute"], RECOMPUTE, "--recompute")
    checks = ((pipeline_breach(arch, request.pp), "--pp", f"--pp {request.pp} exceeds the model's {arch.num_layers} layers"),
              (tensor_parallel_breach(arch, request.tp), "--tp", f"--tp {request.tp} does not divide the "
               f"{arch.num_attention_heads} attention heads ({arch.kv_heads} KV heads)"),
              (offload_breach(zero, offload), "--offload", "offloading needs --zero 1, 2 or 3" if zero == 0
               else "offloading parameters needs --zero 3"),
              (expert_parallel_breach(arch, request.tp, request.ep), "--ep",
               f"--ep {request.ep} must divide the model's {arch.num_experts} routed experts and be a multiple of --tp"))
    issues = [Issue(message, field_path=flag) for breach, flag, message in checks if breach is not None]
    if issues:
        raise InputError("invalid training layout", issues)
    try:
        layout = TrainingLayout(tp=request.tp, pp=request.pp, dp=request.dp, zero_stage=zero,
                                micro_batch=request.micro_batch or default["micro_batch"],
                                sequence_length=request.sequence_length or default["sequence_length"], recompute=recompute,
                                sequence_parallel=request.sequence_parallel, offload=offload, ep=request.ep,
                                virtual_stages=request.virtual_stages)
    except ValueError as exc:
        flag = "--ep" if "ep" in str(exc) else "--virtual-stages"
        raise InputError("invalid training layout", [Issue(str(exc), field_path=flag)]) from None
    return arch, name, recipe, layout


def training_memory_bill(request: TrainingMemoryRequest, catalog: Catalog) -> dict[str, Any]:
    """The bill per GPU of the worst pipeline stage for one training configuration (no solver involved)."""
    check("memory", True, request)
    arch, name, recipe, layout = resolve_configuration(request, catalog)
    spec = catalog.gpu(request.gpu_id) if request.gpu_id is not None else None
    capacity: int | None
    if request.gpu_memory_gib is not None:
        capacity = int(request.gpu_memory_gib * BYTES_PER_GIB)
    else:
        capacity = spec.capacity_bytes if spec is not None else None
    gpu = runtime_of(spec) if spec else None
    return training_bill(name, arch, recipe, layout, training_memory(arch, recipe, layout, gpu), capacity, request.gpu_id)


def runtime_of(gpu: GpuSpec) -> TrainingGpu:
    """The measured-peak facts of a catalog GPU the memory model needs (generation, links)."""
    return training_gpu(gpu.id, gpu.release_year, gpu.scale_up_link, gpu.nvlink_domain_size)


def training_performance(request: TrainingPerfRequest, catalog: Catalog) -> dict[str, Any]:
    """Predicted step time (compute, exposed DP / TP / PP / EP communication, bubble, optimizer, offload),
    tokens/s, TFLOP/s per GPU and MFU of one training configuration on one GPU type and cluster."""
    check("perf", True, request)
    if request.gpu_id is None:
        raise InputError("planner perf --training needs --gpu",
                         [Issue("name a catalog GPU (see 'planner catalog gpus')", field_path="--gpu")])
    arch, name, recipe, layout = resolve_configuration(request, catalog)
    gpu = catalog.gpu(request.gpu_id)
    if peak_flops_per_second(gpu, recipe.precision) is None:
        raise InputError("the GPU does not support the precision", [Issue(f"{gpu.id} has no {recipe.precision} tensor throughput",
                                                                          field_path="--precision", suggestion="use fp16-mixed")])
    override = TopologyOverride(request.gpus_per_node, request.scale_up_bandwidth_gb_per_s, request.inter_node_bandwidth_gb_per_s)
    topology = node_topology(gpu, override)
    global_batch = request.global_batch or layout.dp * layout.micro_batch * layout.pp
    if global_batch % (layout.dp * layout.micro_batch):
        raise InputError("--global-batch must be a multiple of --dp x --micro-batch",
                         [Issue(f"{global_batch} sequences over {layout.dp} x {layout.micro_batch}", field_path="--global-batch")])
    problems = training_layout_breaches(arch, layout.tp, layout.pp, layout.dp, layout.ep, layout.virtual_stages,
                                        layout.zero_stage, layout.offload, layout.sequence_parallel,
                                        global_batch // (layout.dp * layout.micro_batch), topology)
    if problems:
        raise InputError("this layout is not one the frameworks run", [Issue(p.describe(), field_path="--tp/--pp/--zero/--ep")
                                                                     for p in problems])
    if request.mfu is not None:
        step = assumed_mfu_step_time(arch, recipe, layout, gpu, global_batch, request.mfu)
    else:
        step = training_step_time(arch, recipe, layout, gpu, topology, global_batch)
    memory = training_memory(arch, recipe, layout, runtime_of(gpu))
    dp_link = topology.link_for_strided_group(layout.dp, layout.tp) if layout.dp > 1 else None
    links = LinksOutput(tp=topology.link_for_group(layout.tp).kind if layout.tp > 1 else None,
                        dp=dp_link.kind if dp_link else None,
                        dp_bus_gb_per_s=round(dp_link.bytes_per_s / 1e9, 2) if dp_link else None,
                        pp=pipeline_link(layout, topology).kind if layout.pp > 1 else None,
                        ep=topology.link_for_group(layout.ep).kind if layout.ep > 1 else None)
    return TrainingPerfOutput(
        model=name, gpu=gpu.id, gpus=layout.gpus, method=recipe.method, precision=recipe.precision,
        tp=layout.tp, pp=layout.pp, dp=layout.dp, ep=layout.ep, virtual_stages=layout.virtual_stages,
        zero_stage=layout.zero_stage, recompute=layout.recompute, sequence_parallel=layout.sequence_parallel,
        offload=layout.offload, micro_batch=layout.micro_batch, sequence_length=layout.sequence_length,
        global_batch_sequences=global_batch, micro_batches_per_step=step.micro_batches,
        topology=TopologyOutput(gpus_per_node=topology.gpus_per_node, scale_up_domain=topology.scale_up_domain,
                                scale_up_gb_per_s=topology.scale_up.peak_gb_per_s if topology.scale_up else None,
                                inter_node_gb_per_s_per_gpu=topology.network.peak_gb_per_s, links=links),
        time_model="assumed MFU" if request.mfu is not None else time_model_label(gpu),
        step_seconds=round(step.step_s, 6),
        step_breakdown_s={k: round(v, 6) for k, v in step.breakdown().items()},
        kernels_s=KernelsOutput(gemm=round(step.gemm_s, 6), attention=round(step.attention_s, 6),
                                elementwise=round(step.elementwise_s, 6)),
        dp_traffic_s=round(step.dp_traffic_s, 6),
        tokens_per_second=round(step.tokens_per_s, 1),
        tokens_per_second_per_gpu=round(step.tokens_per_s_per_gpu, 1),
        model_tflops_per_gpu=round(step.model_tflops_per_gpu, 2),
        mfu=round(step.mfu, 4), hfu=round(step.hfu, 4),
        memory_per_gpu_gib=round(memory.total_bytes / BYTES_PER_GIB, 3),
        fits=memory.total_bytes <= gpu.capacity_bytes,
    ).model_dump()


def training_bill(model_name: str, arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout,
                  memory: TrainingMemory, capacity_bytes: int | None, gpu_id: str | None) -> dict[str, Any]:
    """What ``planner memory --training --json`` prints: the worst stage's bill per GPU and its inputs."""
    worst = memory.worst
    return TrainingMemoryOutput(
        model=model_name,
        gpu=gpu_id,
        method=recipe.method,
        precision=recipe.precision,
        optimizer=recipe.optimizer,
        convention=recipe.convention,
        attention="flash" if recipe.flash_attention else "eager",
        parameter_count=memory.parameter_count,
        trainable_parameter_count=memory.trainable_parameter_count,
        tp=layout.tp, pp=layout.pp, dp=layout.dp, zero_stage=layout.zero_stage,
        micro_batch=layout.micro_batch, sequence_length=layout.sequence_length, recompute=layout.recompute,
        sequence_parallel=layout.sequence_parallel, offload=layout.offload,
        worst_stage=worst.stage,
        fits=None if capacity_bytes is None else worst.total_bytes <= capacity_bytes,
        memory_per_gpu_gib=memory_lines_gib(worst, None, capacity_bytes),
        stages_total_gib=[round(s.total_bytes / 2**30, 3) for s in memory.stages],
        explain=dict(memory.explanations),
    ).model_dump()
