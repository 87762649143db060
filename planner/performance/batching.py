"""Continuous batching with chunked prefill, in steady state: the batch a replica runs at a load.

The engine repeats forward steps (``serving_steps``); each carries one token of every running sequence and
prefill chunks of admitted prompts, within ``max_num_batched_tokens`` (vLLM/SGLang chunked prefill, Sarathi-
Serve, Agrawal et al. 2024, arXiv:2403.02310, Sec. 4: stall-free batching; TensorRT-LLM in-flight batching).
Let ``x`` be the requests admitted per token step. In steady state (fluid limit):

- each step decodes ``B = x (O - 1)`` sequences and prefills ``P = x I_eff`` prompt tokens (``O`` output and
  ``I_eff`` uncached input tokens, averaged over the request mix), so ``t(x) = step_time(B, P)``;
- Little's law (Little 1961; Kleinrock 1975, Sec. 2.1) ties the arrival rate to the step time:
  ``lambda = x / t(x)`` requests/s, and each sequence holds a slot ``O`` steps, ``x O`` slots in all;
- the mean TPOT is ``t(x)``: every step gives each running sequence one token; prefill chunks interleaved
  with its decode make its steps longer (the interference Sarathi-Serve and DistServe measure).

``lambda(x)`` increases with ``x`` (the step time grows less than linearly in the batch: weights are read once
per step), so a load fixes ``x`` by a one-dimensional root search, and the largest load a replica takes is at
``x_max``, where the slots (KV cache, ``max_num_seqs``) or the token budget run out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .queueing import (
    PERCENTILE_LEVEL,
    PERCENTILE_Z,
    exponential_tail_exceedance,
    exponential_tail_quantile_s,
    mixture_quantile,
    pollaczek_khinchine_wait_s,
    schweitzer_factor,
    slot_wait_s,
)
from .serving_steps import StepModel

PERCENTILES = ("p50", "p90", "p99")


@dataclass(frozen=True)
class MixStats:
    """The request mix as the fluid model needs it: weighted buckets and their means."""

    prefill_tokens: tuple[float, ...]  # uncached input tokens per bucket
    input_tokens: tuple[float, ...]
    output_tokens: tuple[float, ...]
    weights: tuple[float, ...]
    mean_prefill_tokens: float
    mean_output_tokens: float
    decode_context: float  # time-average context of a decoding sequence
    prefill_context: float  # average causal context of a prefilled token

    @classmethod
    def of(cls, buckets: tuple[tuple[int, int, float], ...], prefix_cache_hit_rate: float) -> MixStats:
        total = sum(w for _, _, w in buckets)
        weights = tuple(w / total for _, _, w in buckets)
        inputs = tuple(float(i) for i, _, _ in buckets)
        outputs = tuple(float(o) for _, o, _ in buckets)
        prefill = tuple(max(1.0, i * (1.0 - prefix_cache_hit_rate)) for i in inputs)
        mean_prefill = sum(w * p for w, p in zip(weights, prefill))
        mean_output = sum(w * o for w, o in zip(weights, outputs))
        decode_weight = sum(w * max(o - 1.0, 0.0) for w, o in zip(weights, outputs))
        decode_context = (sum(w * max(o - 1.0, 0.0) * (i + o / 2.0) for w, i, o in zip(weights, inputs, outputs)) / decode_weight
                          if decode_weight > 0 else max(inputs))
        prefill_context = sum(w * p * (i - p / 2.0) for w, i, p in zip(weights, inputs, prefill)) / max(mean_prefill, 1e-9)
        return cls(prefill, inputs, outputs, weights, mean_prefill, mean_output, decode_context, prefill_context)

    @property
    def single(self) -> bool:
        return len(self.weights) == 1


@dataclass(frozen=True)
class Limits:
    """What bounds a replica's batch: slots (KV cache and max_num_seqs) and the per-step token budget."""

    kv_sequences: float
    max_num_seqs: float
    token_budget: float
    scheduler_steps: int = 1
    mixed_prefill: bool = True

    @property
    def slots(self) -> float:
        return max(0.0, min(self.kv_sequences, self.max_num_seqs))

    def slot_limit(self) -> str:
        return "kv-capacity" if self.kv_sequences <= self.max_num_seqs else "max-num-seqs"


@dataclass(frozen=True)
class OperatingPoint:
    """A replica in steady state at ``x`` admitted requests per token step."""

    x: float
    decode_seqs: float
    prefill_tokens: float
    step_s: float
    decode_step_s: float
    arrival_rate: float
    slots_used: float


class Replica:
    """One replica shape under one request mix and its limits: the fluid model and its queues."""

    def __init__(self, steps: StepModel, mix: MixStats, limits: Limits):
        self.steps, self.mix, self.limits = steps, mix, limits
        out, pre = mix.mean_output_tokens, mix.mean_prefill_tokens
        decode_per_x = max(out - 1.0, 0.0)
        m = float(steps.pp)
        by_slots = limits.slots / out if out > 0 else math.inf
        by_budget = limits.token_budget * m / ((decode_per_x if limits.mixed_prefill else 0.0) + pre)
        self.x_max = max(0.0, min(by_slots, by_budget))
        self.limit_at_max = limits.slot_limit() if by_slots <= by_budget else "token-budget"
        self._min_decode = 1.0 if out > 1.0 else 0.0

    def step_s(self, decode_seqs: float, prefill_tokens: float) -> float:
        """Token-step time while the replica is busy: a decoding sequence always shares its step with at least
        itself (below one running sequence on average the replica idles between requests)."""
        mix = self.mix
        return self.steps.token_time_s(max(decode_seqs, self._min_decode), prefill_tokens, mix.decode_context,
                                       mix.prefill_context)

    def prefill_pass_s(self, tokens: float) -> float:
        """A forward pass of prompt tokens alone (engines that do not mix prefill into decode steps), split
        into budget-sized passes."""
        budget = self.limits.token_budget
        if tokens <= budget:
            return self.steps.token_time_s(0.0, tokens, 0.0, self.mix.prefill_context)
        return tokens / budget * self.steps.token_time_s(0.0, budget, 0.0, self.mix.prefill_context)

    def point(self, x: float) -> OperatingPoint:
        """The steady state at ``x``. Without mixing, the arrivals of a step (Poisson, mean ``x``) are prefilled
        together in one extra pass between decode steps, which happens with probability ``1 - exp(-x)``."""
        mix = self.mix
        decode = x * max(mix.mean_output_tokens - 1.0, 0.0)
        prefill = x * mix.mean_prefill_tokens
        decode_step = self.step_s(decode, 0.0)
        if self.limits.mixed_prefill or prefill <= 0.0:
            step = self.step_s(decode, prefill)
        else:
            passes = -math.expm1(-x)
            step = decode_step + passes * self.prefill_pass_s(prefill / passes)
        return OperatingPoint(x, decode, prefill, step, decode_step, x / step, x * mix.mean_output_tokens)

    def x_for_rate(self, arrival_rate: float) -> float:
        """The ``x`` whose arrival rate is ``arrival_rate`` (bisection on ln x: ``lambda(x)`` increases, and
        loads span many orders of magnitude)."""
        if arrival_rate <= 0.0 or self.x_max <= 0.0:
            return 0.0
        if self.point(self.x_max).arrival_rate <= arrival_rate:
            return self.x_max
        low, high = math.log(self.x_max) - 50.0, math.log(self.x_max)
        for _ in range(64):
            middle = 0.5 * (low + high)
            if self.point(math.exp(middle)).arrival_rate < arrival_rate:
                low = middle
            else:
                high = middle
            if high - low <= 1e-9:
                break
        return math.exp(0.5 * (low + high))

    @property
    def max_rate(self) -> float:
        return self.point(self.x_max).arrival_rate if self.x_max > 0 else 0.0

    # --- time to first token -------------------------------------------------------------------------
    def _budget_available(self, op: OperatingPoint) -> float:
        if not self.limits.mixed_prefill:
            return self.limits.token_budget
        m = self.steps.micro_batches(op.decode_seqs) if self.steps.pp > 1 else 1.0
        return max(self.limits.token_budget - op.decode_seqs / m, 1.0) * m

    def prefill_service_s(self, op: OperatingPoint) -> tuple[float, ...]:
        """Time from a prompt's admission to its first token, per bucket: its chunks, each a step that also
        carries the running batch."""
        available = self._budget_available(op)
        services = []
        for tokens in self.mix.prefill_tokens:
            chunk = min(tokens, available)
            step = self.step_s(op.decode_seqs, chunk) if self.limits.mixed_prefill else self.prefill_pass_s(chunk)
            services.append(math.ceil(tokens / chunk - 1e-9) * step)
        return tuple(services)

    def waits(self, op: OperatingPoint, clients: float | None = None) -> tuple[float, float, float]:
        """(mean residual of the step in flight, mean queueing wait, P(queueing wait > 0)).

        Queueing: the prefill queue (M/G/1 on the token budget) and, for open arrivals, the slot queue
        (M/G/c); a closed loop of ``clients`` sees ``(C - 1) / C`` of them (Schweitzer)."""
        mix, rate = self.mix, op.arrival_rate
        available = self._budget_available(op)
        full_step = self.step_s(op.decode_seqs, available) if self.limits.mixed_prefill else self.prefill_pass_s(available)
        shares = [p / available * full_step for p in mix.prefill_tokens]
        mean = sum(w * s for w, s in zip(mix.weights, shares))
        second = sum(w * s * s for w, s in zip(mix.weights, shares))
        prefill_wait = pollaczek_khinchine_wait_s(rate, mean, second)
        prefill_busy = min(1.0, rate * mean)
        slot_wait, slot_busy = 0.0, 0.0
        if clients is None:
            # a sequence holds its slot ~O token steps (x O slots in all, as ``x_max`` counts them)
            slot_wait, slot_busy = slot_wait_s(rate, self.limits.slots, mix.mean_output_tokens * op.step_s)
        occupied = op.slots_used
        seen = 1.0
        if clients is not None:
            seen = schweitzer_factor(clients)
            occupied *= seen
        residual = self.limits.scheduler_steps * op.step_s / 2.0 * (1.0 - math.exp(-occupied))
        wait = (prefill_wait + slot_wait) * seen
        busy = 1.0 - (1.0 - prefill_busy * seen) * (1.0 - slot_busy * seen)
        return residual, wait, busy

    def _ttft_parts(self, op: OperatingPoint, clients: float | None, extra_wait_s: float) -> tuple[list[float], float, float]:
        services = self.prefill_service_s(op)
        residual, wait, busy = self.waits(op, clients)
        return [residual + extra_wait_s + s for s in services], wait, busy

    def _ttft_quantile(self, name: str, fixed: list[float], wait: float, busy: float) -> float:
        level, mix = PERCENTILE_LEVEL[name], self.mix
        if mix.single:
            return fixed[0] + exponential_tail_quantile_s(wait, busy, level)

        def exceed(t: float) -> float:
            return sum(w * exponential_tail_exceedance(wait, busy, t - f) for w, f in zip(mix.weights, fixed))

        return mixture_quantile(level, exceed, min(fixed), max(fixed) + exponential_tail_quantile_s(wait, busy, 0.9999) + 1e-9)

    def ttft(self, op: OperatingPoint, clients: float | None = None, extra_wait_s: float = 0.0) -> dict[str, float]:
        """TTFT mean and percentiles (seconds): residual step + queueing wait + prefill service."""
        fixed, wait, busy = self._ttft_parts(op, clients, extra_wait_s)
        result = {"mean": wait + sum(w * f for w, f in zip(self.mix.weights, fixed))}
        for name in PERCENTILES:
            result[name] = self._ttft_quantile(name, fixed, wait, busy)
        return result

    def ttft_at(self, op: OperatingPoint, name: str) -> float:
        """One TTFT percentile of open (Poisson) arrivals, seconds."""
        return self._ttft_quantile(name, *self._ttft_parts(op, None, 0.0))

    # --- time per output token ----------------------------------------------------------------------
    def tpot_at(self, op: OperatingPoint, name: str) -> float:
        """One TPOT percentile (seconds): decode steps plus the prefill chunks of prompts that arrive during a
        request's decode, a Poisson number with mean ``lambda (O - 1) t`` (normal approximation)."""
        mix = self.mix
        extra = max(op.step_s - op.decode_step_s, 0.0)
        per_prompt = extra / op.x if op.x > 0 else 0.0
        decoding = [(w, o) for w, o in zip(mix.weights, mix.output_tokens) if o > 1.0]
        if not decoding:
            return op.step_s
        z = PERCENTILE_Z[name]
        if len(decoding) == 1:
            out = decoding[0][1]
            arrivals = op.arrival_rate * (out - 1.0) * op.step_s
            return max(op.decode_step_s, op.decode_step_s + (arrivals + z * math.sqrt(arrivals)) * per_prompt / (out - 1.0))
        total = sum(w for w, _ in decoding)

        def exceed(t: float) -> float:
            share = 0.0
            for w, out in decoding:
                arrivals = op.arrival_rate * (out - 1.0) * op.step_s
                if arrivals <= 0 or per_prompt <= 0:
                    share += w if t < op.decode_step_s else 0.0
                    continue
                count = (t - op.decode_step_s) * (out - 1.0) / per_prompt
                share += w * 0.5 * math.erfc((count - arrivals) / math.sqrt(2.0 * arrivals))
            return share / total

        high = max(op.decode_step_s + (op.arrival_rate * (out - 1.0) * op.step_s * 2 + 16.0) * per_prompt / (out - 1.0)
                   for _, out in decoding)
        return mixture_quantile(PERCENTILE_LEVEL[name], exceed, op.decode_step_s, max(high, op.decode_step_s) + 1e-9)

    def tpot(self, op: OperatingPoint) -> dict[str, float]:
        """TPOT mean and percentiles (seconds)."""
        return {"mean": op.step_s, **{name: self.tpot_at(op, name) for name in PERCENTILES}}

    def e2e(self, ttft: dict[str, float], op: OperatingPoint, clients: float | None = None) -> dict[str, float]:
        """End-to-end latency: TTFT plus (O - 1) token steps; percentiles over the buckets' output lengths."""
        mix = self.mix
        decode = [(o - 1.0) * op.step_s for o in mix.output_tokens]
        result = {"mean": ttft["mean"] + sum(w * d for w, d in zip(mix.weights, decode))}
        if mix.single:
            for name in PERCENTILES:
                result[name] = ttft[name] + decode[0]
            return result
        services = self.prefill_service_s(op)
        residual, wait, busy = self.waits(op, clients)
        fixed = [residual + s + d for s, d in zip(services, decode)]

        def exceed(t: float) -> float:
            return sum(w * exponential_tail_exceedance(wait, busy, t - f) for w, f in zip(mix.weights, fixed))

        high = max(fixed) + exponential_tail_quantile_s(wait, busy, 0.9999) + 1e-9
        for name in PERCENTILES:
            result[name] = mixture_quantile(PERCENTILE_LEVEL[name], exceed, min(fixed), high)
        return result
