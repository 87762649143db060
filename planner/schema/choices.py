"""The closed vocabularies of the planner's inputs, as ``Literal`` types: ``planner schema`` shows them as enums,
and the memory, performance and engine models name their cases with the same words.

The ``...Choice`` types wrap a ``Literal`` with a before-validator (``normaliser``) that normalises the spelling (case, blanks,
aliases) and refuses an unknown word with the nearest known ones.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator

from ..errors import did_you_mean

Method = Literal["full", "lora", "qlora", "frozen"]
"""Training: full (pre-training / full fine-tune), LoRA, QLoRA, or a frozen backbone with the last blocks trained."""
Precision = Literal["bf16-mixed", "fp16-mixed", "fp8-mixed", "bf16", "fp32"]
"""Training precision: mixed (16/8-bit compute, fp32 master weights) or pure."""
Optimizer = Literal["adamw", "adam8bit", "sgd", "adafactor"]
Convention = Literal["zero-paper", "megatron", "deepspeed"]
"""Bytes-per-parameter convention of the training memory model (16, 18 or DeepSpeed's estimator)."""
Recompute = Literal["none", "selective", "full"]
Offload = Literal["none", "optimizer", "optimizer_and_parameters"]
LoraTarget = Literal["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head", "all-linear"]
Attention = Literal["flash", "eager"]
TrainingObjective = Literal["cost", "time"]

EngineName = Literal["vllm", "sglang", "trtllm", "llamacpp",
                     "vllm-v1", "vllm-v0", "tensorrt-llm", "tensorrt_llm", "trt-llm", "llama.cpp", "llama-cpp"]
"""Serving engines and their other spellings (``planner.engines.ENGINES`` and ``ALIASES``)."""
Entrypoint = Literal["server", "offline"]
MemoryMode = Literal["engine", "formula"]
Percentile = Literal["p50", "p90", "p99"]

Tier = Literal["hyperscaler", "gpu_cloud", "marketplace"]
"""Rental market tiers of the offers file."""
Market = Literal["on_demand", "reserved", "spot"]
PricingObjective = Literal["hourly", "tco"]
OfferChoice = Literal["default", "all"]
CommitmentAccounting = Literal["book", "cash"]
PeriodName = Literal["hour", "day", "week", "month", "quarter", "year"]
SweepCombination = Literal["separate", "grid"]


def values_of(choice: Any) -> tuple[str, ...]:
    """The words of a ``Literal`` (or of a ``named_choice`` around one)."""
    args = get_args(choice)
    if args and not isinstance(args[0], str):
        return values_of(args[0])
    return tuple(args)


def normaliser(choice: Any, what: str, aliases: dict[str, str] | None = None) -> BeforeValidator:
    """Reads a word of ``choice`` (a ``Literal``) case- and blank-insensitively, ``aliases`` mapped to their word
    first; an unknown word is refused as 'unknown <what> ...; did you mean ...?'."""
    known = values_of(choice)

    def normalise(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # the Literal refuses it with its type
        name = value.strip().lower()
        name = (aliases or {}).get(name, name)
        if name not in known:
            raise ValueError(f"unknown {what} {value!r}; {did_you_mean(name, known) or 'known: ' + ', '.join(known)}")
        return name

    return BeforeValidator(normalise)


MethodChoice = Annotated[Method, normaliser(Method, "method")]
PrecisionChoice = Annotated[Precision, normaliser(Precision, "precision")]
OptimizerChoice = Annotated[Optimizer, normaliser(Optimizer, "optimizer")]
ConventionChoice = Annotated[Convention, normaliser(Convention, "convention")]
RecomputeChoice = Annotated[Recompute, normaliser(Recompute, "recomputation mode")]
OffloadChoice = Annotated[Offload, normaliser(Offload, "offload mode")]
LoraTargetChoice = Annotated[LoraTarget, normaliser(LoraTarget, "LoRA target module")]
EngineNameChoice = Annotated[EngineName, normaliser(EngineName, "serving engine")]
