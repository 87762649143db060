"""The predicted performance of one serving configuration, as ``planner perf`` shows it (no solver involved).

The configuration is resolved exactly as ``planner memory`` resolves it (model, formats, layout, engine and
its defaults for the GPU, the KV-cache capacity from the memory bill); ``planner.performance.serving``
predicts throughput and latencies under the requested load. Times are in milliseconds and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog
from ..engines import ENGINES
from ..errors import InfeasibleError, InputError, Issue
from ..performance.efficiency import efficiency_for
from ..performance.serving import (
    Concurrency,
    Load,
    Offline,
    RequestMix,
    RequestRate,
    ServingPerformance,
    ServingShape,
    StaticBatch,
    predict,
    shape_steps,
)
from ..plans.serving import latencies
from ..schema.outputs_configuration import (
    BatchSizeLoad,
    ConcurrencyLoad,
    EfficiencyOutput,
    OfflineLoad,
    RequestRateLoad,
    ServingPerfOutput,
)
from .flags import check
from .memory import MemoryRequest, unchecked_memory_bill

LOAD_FLAGS = {"batch_size": "--batch-size", "concurrency": "--concurrency", "request_rate": "--request-rate",
              "offline": "--offline"}
DEFAULT_OFFLINE_REQUESTS = 1000

_KNOBS = {  # generic perf flags -> each engine's own knob (planner.engines.EngineChoice)
    "vllm": {"max_num_batched_tokens": "max_num_batched_tokens", "max_num_seqs": "max_num_seqs"},
    "sglang": {"max_num_batched_tokens": "chunked_prefill_size"},  # SGLang runs as many requests as its KV pool holds
    "trtllm": {"max_num_batched_tokens": "max_num_tokens", "max_num_seqs": "max_batch_size"},
    "llamacpp": {"max_num_batched_tokens": "n_ubatch"},
}


@dataclass(frozen=True)
class PerfRequest:
    """One ``planner perf`` question: a model, GPU, layout, engine, request lengths and a load."""

    model_id: str | None = None
    config_path: str | None = None
    architecture_path: str | None = None
    gpu_id: str | None = None
    tp: int = 1
    pp: int = 1
    ep: int = 1
    replicas: int = 1
    precision: str | None = None
    kv_cache_dtype: str = "auto"
    engine: str | None = None
    engine_version: str | None = None
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    prefix_cache_hit_rate: float = 0.0
    batch_size: int | None = None
    concurrency: int | None = None
    request_rate: float | None = None
    offline: bool = False
    num_requests: int | None = None

    def load(self) -> Load:
        """The one load the flags state; bad input when none or several are given."""
        given = [flag for key, flag in LOAD_FLAGS.items() if getattr(self, key) not in (None, False)]
        if len(given) != 1:
            raise InputError("give exactly one load", [Issue(f"given: {', '.join(given) or 'none'}", field_path="load",
                                                             suggestion="--batch-size B, --concurrency C, --request-rate R or --offline")])
        if self.num_requests is not None and not self.offline:
            raise InputError("--num-requests needs --offline", [Issue(f"given with {given[0]}", field_path="--num-requests")])
        if self.batch_size is not None:
            return StaticBatch(self.batch_size)
        if self.concurrency is not None:
            return Concurrency(self.concurrency)
        if self.request_rate is not None:
            return RequestRate(self.request_rate)
        return Offline(self.num_requests or DEFAULT_OFFLINE_REQUESTS)

    def mix(self) -> RequestMix:
        missing = [flag for flag, value in (("--input-tokens", self.input_tokens), ("--output-tokens", self.output_tokens))
                   if value is None]
        if missing:
            raise InputError("request lengths are required", [Issue(f"missing: {', '.join(missing)}", field_path=missing[0],
                                                                    suggestion="e.g. --input-tokens 1000 --output-tokens 200")])
        return RequestMix.single(int(self.input_tokens or 0), int(self.output_tokens or 0), self.prefix_cache_hit_rate)

    def memory_request(self, context_tokens: int) -> MemoryRequest:
        """The same configuration as ``planner memory`` flags: one sequence of the mix's mean context."""
        engine = self.engine or "vllm"
        from ..engines import canonical_engine

        name = canonical_engine(engine, self.engine_version, field_path="--engine")[0]
        knobs: dict[str, Any] = {}
        for flag, value in (("max_num_batched_tokens", self.max_num_batched_tokens), ("max_num_seqs", self.max_num_seqs)):
            if value is None:
                continue
            knob = _KNOBS[name].get(flag)
            if knob is None:
                raise InputError("option not available for this engine", [Issue(
                    f"--{flag.replace('_', '-')} has no {ENGINES[name].label} counterpart", field_path=f"--{flag.replace('_', '-')}")])
            knobs[knob] = value
        return MemoryRequest(model_id=self.model_id, config_path=self.config_path, architecture_path=self.architecture_path,
                             gpu_id=self.gpu_id, precision=self.precision, kv_cache_dtype=self.kv_cache_dtype, tp=self.tp,
                             pp=self.pp, ep=self.ep, batch=1, context=context_tokens, engine=engine,
                             engine_version=self.engine_version, **knobs)


@dataclass(frozen=True)
class PerfReport:
    """A prediction and what it was made for."""

    model_name: str
    shape: ServingShape
    mix: RequestMix
    load: Load
    replicas: int
    max_sequences: int
    performance: ServingPerformance

    def to_dict(self) -> dict[str, Any]:
        """What ``planner perf --json`` writes (``ServingPerfOutput``)."""
        return self.output().model_dump()

    def output(self) -> ServingPerfOutput:
        layout, engine, perf = self.shape.layout, self.shape.engine, self.performance
        efficiency = efficiency_for(self.shape.gpu, self.shape.engine_id)
        steps = shape_steps(self.shape)
        return ServingPerfOutput(
            model=self.model_name,
            gpu=self.shape.gpu.id,
            gpu_family=efficiency.family,
            tp=layout.tp, pp=layout.pp, ep=layout.ep, replicas=self.replicas,
            gpus=layout.gpus_per_replica * self.replicas,
            weight_format=layout.weight_format.name,
            kv_cache_dtype=layout.kv_cache_dtype.name if layout.kv_cache_dtype else "fp16",
            compute_precision=steps.precision,
            engine=engine.engine, engine_version=engine.version,
            max_num_batched_tokens=engine.max_num_batched_tokens, max_num_seqs=engine.max_num_seqs,
            input_tokens=self.mix.buckets[0][0], output_tokens=self.mix.buckets[0][1],
            prefix_cache_hit_rate=self.mix.prefix_cache_hit_rate,
            load=_load_output(self.load),
            kv_cache_sequences_per_replica=self.max_sequences,
            tp_link=steps.tp_link, pp_link=steps.pp_link,
            efficiency=EfficiencyOutput(compute=round(efficiency.compute, 3), fp8_compute=round(efficiency.fp8_compute, 3),
                                        bandwidth=round(efficiency.bandwidth, 3), fitted=efficiency.fitted),
            output_tokens_per_s=_significant(perf.output_tokens_per_s),
            requests_per_s=_significant(perf.requests_per_s),
            ttft_ms=latencies(perf.ttft_ms),
            tpot_ms=latencies(perf.tpot_ms),
            e2e_latency_ms=latencies(perf.e2e_latency_ms),
            batch_size=round(perf.batch_size, 2),
            bound=perf.bound,
            breakdown={key: round(value, 4) for key, value in perf.breakdown_ms.items()},
            saturated=perf.saturated,
            max_requests_per_s_per_replica=_significant(perf.max_requests_per_s_per_replica),
            max_sequences_per_replica=round(perf.max_sequences, 1),
            batch_limit=perf.limit,
            output_tokens_per_s_per_user=round(perf.output_tokens_per_s_per_user, 2),
            notes=list(perf.notes),
        )


def _load_output(load: Load) -> BatchSizeLoad | ConcurrencyLoad | RequestRateLoad | OfflineLoad:
    if isinstance(load, StaticBatch):
        return BatchSizeLoad(kind="batch_size", batch_size=load.batch_size)
    if isinstance(load, Concurrency):
        return ConcurrencyLoad(kind="concurrency", clients=load.clients)
    if isinstance(load, RequestRate):
        return RequestRateLoad(kind="request_rate", requests_per_s=load.requests_per_s)
    return OfflineLoad(kind="offline", num_requests=load.num_requests)


def _significant(value: float, digits: int = 6) -> float:
    """``value`` to ``digits`` significant digits (rates span 1e-6 to 1e6 requests/s)."""
    return float(f"{value:.{digits}g}")


def performance_report(request: PerfRequest, catalog: Catalog) -> PerfReport:
    """Resolve ``request`` as ``planner memory`` would, then predict its performance under its load."""
    check("perf", False, request)
    if request.gpu_id is None:
        raise InputError("--gpu is required", [Issue("the performance model needs the GPU's bandwidth and FLOP rates",
                                                     field_path="--gpu", suggestion="see 'planner catalog gpus'")])
    mix = request.mix()
    load = request.load()
    bill = unchecked_memory_bill(request.memory_request(mix.mean_context_tokens), catalog)
    gpu = catalog.gpu(request.gpu_id)
    shape = ServingShape(bill.arch, gpu, bill.layout, bill.engine)
    max_sequences = bill.memory.max_concurrency()
    if max_sequences < 1:
        raise InfeasibleError("no sequence fits", [Issue(
            f"the KV cache left on each {gpu.id} holds no sequence of {mix.mean_context_tokens:,} tokens "
            f"({bill.memory.kv_budget_bytes / 2**30:.2f} GiB budget)", field_path="--tp",
            suggestion="more GPUs per replica (--tp/--pp), a smaller --precision or --kv-cache-dtype fp8")])
    if isinstance(load, StaticBatch) and load.batch_size > max_sequences:
        raise InfeasibleError("the batch does not fit", [Issue(
            f"--batch-size {load.batch_size} needs {load.batch_size} sequences of {mix.mean_context_tokens:,} tokens; the KV "
            f"cache of one replica holds {max_sequences}", field_path="--batch-size")])
    performance = predict(shape, mix, load, max_sequences, replicas=request.replicas)
    return PerfReport(bill.model_name, shape, mix, load, request.replicas, max_sequences, performance)


BREAKDOWN_LINES = (
    ("weights_read_ms", ("weights streamed once per step: per-GPU weight bytes (MoE: experts the step's tokens touch, "
                         "E(1-(1-k/E)^T)) / (HBM bandwidth x efficiency)")),
    ("kv_cache_read_ms", "KV cache of the running batch: sequences x context x KV bytes per token per GPU / (bandwidth x efficiency)"),
    ("linear_compute_ms", "2 x active parameters per GPU x tokens in the step / (dense peak at the compute precision x efficiency)"),
    ("attention_compute_ms", "4 x context x heads x head_dim per token per layer (prefill causal, decode full) "
                             "/ (16-bit peak x efficiency)"),
    ("communication_ms", ("TP: 2 ring all-reduces of the step's activations per layer; EP: 2 all-to-alls per MoE layer; "
                          "PP: a hand-off per stage (alpha-beta over the link the group crosses)")),
    ("overhead_ms", "engine time per step: scheduler and sampling + per layer launches + per running sequence"),
    ("step_ms", ("per operator max(compute, memory) + overlap x min(...), plus communication and overhead; "
                 "x PP stages for one token")),
)
