"""What a serving scenario asks to serve: concurrent sequences, a request rate under latency targets, or an
offline job with a deadline.

Three ways to state the load (exactly one):

- ``concurrency``: sequences held at once, each of ``context_tokens`` (memory sizing; no time in the model
  beyond the latency tie-break at equal cost);
- ``request_rate``: requests per second arriving (Poisson), each of ``prompt_tokens`` in and ``output_tokens``
  out, or a small ``length_mix`` of request classes; optionally under service-level objectives ``slo``;
- ``offline``: a batch job of ``requests`` (or ``total_tokens``) to finish within ``deadline_hours``; the
  engine runs the largest batch it can and the plan is priced per million tokens.

The engine knobs that shape the time model (chunked-prefill token budget ``engine.max_num_batched_tokens``,
largest batch ``engine.max_num_seqs``) live in the scenario's ``engine`` section, not here; the prefix-cache
hit rate is a property of the traffic and lives here.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, StrictInt, model_validator

from .base import Number, StrictModel
from .choices import Percentile

MAX_TOKENS = 10_000_000
MAX_CONCURRENCY = 10_000_000
MAX_REQUEST_RATE = 1_000_000.0
MAX_LENGTH_BUCKETS = 16
SECONDS_PER_HOUR = 3600


class Slo(StrictModel):
    """Latency targets every replica must meet at its load, at the stated percentile of requests.

    ``percentile`` defaults to p99, the percentile MLPerf Inference sets its LLM server-scenario TTFT and
    TPOT limits at (MLPerf Inference rules, "Llama2-70B" latency constraints).
    """

    ttft_ms: Number | None = Field(None, gt=0, le=3_600_000, description="Time to first token, ms (includes queueing)")
    tpot_ms: Number | None = Field(None, gt=0, le=600_000, description="Time per output token after the first, ms")
    percentile: Percentile = Field("p99", description="Percentile of requests the targets hold for")
    min_output_tokens_per_s_per_user: Number | None = Field(
        None, gt=0, le=1_000_000, description="Per-request decode speed floor, output tokens/s (1000 / TPOT)")

    @model_validator(mode="after")
    def _some_target(self) -> Slo:
        if self.ttft_ms is None and self.tpot_ms is None and self.min_output_tokens_per_s_per_user is None:
            raise ValueError("give at least one target: ttft_ms, tpot_ms or min_output_tokens_per_s_per_user")
        return self

    @property
    def tpot_limit_ms(self) -> float | None:
        """The tighter of ``tpot_ms`` and ``1000 / min_output_tokens_per_s_per_user`` (None: no TPOT target)."""
        limits = [x for x in (self.tpot_ms, 1000.0 / self.min_output_tokens_per_s_per_user
                              if self.min_output_tokens_per_s_per_user else None) if x is not None]
        return min(limits) if limits else None

    def describe(self) -> str:
        parts = []
        if self.ttft_ms is not None:
            parts.append(f"TTFT ≤ {self.ttft_ms:g} ms")
        if self.tpot_limit_ms is not None:
            parts.append(f"TPOT ≤ {self.tpot_limit_ms:g} ms")
        return f"{' and '.join(parts)} at {self.percentile}"


class LengthBucket(StrictModel):
    """One class of requests in a mix: its prompt and output lengths and its share of the requests."""

    prompt_tokens: StrictInt = Field(..., ge=1, le=MAX_TOKENS)
    output_tokens: StrictInt = Field(..., ge=1, le=MAX_TOKENS)
    weight: Number = Field(..., gt=0, le=1_000_000, description="Relative share of requests (normalised over the mix)")


class OfflineJob(StrictModel):
    """A batch job: every request queued at once, all finished within the deadline."""

    requests: StrictInt | None = Field(None, ge=1, le=10_000_000_000, description="Requests in the job")
    total_tokens: StrictInt | None = Field(None, ge=1, le=10**15,
                                     description="Prompt + output tokens in the job (instead of requests)")
    deadline_hours: Number = Field(..., gt=0, le=24 * 366, description="Hours to finish the whole job in")

    @model_validator(mode="after")
    def _one_size(self) -> OfflineJob:
        if (self.requests is None) == (self.total_tokens is None):
            raise ValueError("give exactly one of 'requests' or 'total_tokens'")
        return self


class Workload(StrictModel):
    """Serving demand: sequences held at once, a request rate with latency targets, or an offline job."""

    concurrency: StrictInt | None = Field(None, ge=1, le=MAX_CONCURRENCY, description="Simultaneous sequences to serve")
    request_rate: Number | None = Field(None, gt=0, le=MAX_REQUEST_RATE, description="Requests per second (Poisson arrivals)")
    offline: OfflineJob | None = Field(None, description="A batch job with a deadline instead of live traffic")
    context_tokens: StrictInt | None = Field(None, ge=1, le=MAX_TOKENS, description="Tokens per sequence (prompt + output)")
    prompt_tokens: StrictInt | None = Field(None, ge=1, le=MAX_TOKENS, description="Prompt (input) tokens per request, mean")
    output_tokens: StrictInt | None = Field(None, ge=1, le=MAX_TOKENS, description="Output tokens per request, mean")
    length_mix: list[LengthBucket] | None = Field(
        None, description=f"Request classes with weights instead of one prompt/output length (at most {MAX_LENGTH_BUCKETS})")
    slo: Slo | None = Field(None, description="Latency targets (with request_rate)")
    prefix_cache_hit_rate: Number = Field(0.0, ge=0.0, lt=1.0, description="Fraction of prompt tokens served from the prefix cache")

    @model_validator(mode="after")
    def _consistent(self) -> Workload:
        modes = [name for name in ("concurrency", "request_rate", "offline") if getattr(self, name) is not None]
        if len(modes) != 1:
            raise ValueError("state the load one way: give exactly one of 'concurrency', 'request_rate' or 'offline'"
                             + (f" (got {', '.join(modes)})" if modes else ""))
        if self.length_mix is not None:
            if not self.length_mix or len(self.length_mix) > MAX_LENGTH_BUCKETS:
                raise ValueError(f"length_mix needs 1 to {MAX_LENGTH_BUCKETS} buckets")
            if self.concurrency is not None:
                raise ValueError("length_mix is for request_rate or offline; with concurrency give context_tokens")
            if any(getattr(self, name) is not None for name in ("context_tokens", "prompt_tokens", "output_tokens")):
                raise ValueError("give either length_mix or prompt_tokens/output_tokens, not both")
        elif self.concurrency is not None:
            if self.context_tokens is None and (self.prompt_tokens is None or self.output_tokens is None):
                raise ValueError("give context_tokens, or both prompt_tokens and output_tokens")
            if (self.context_tokens is not None and (self.prompt_tokens or self.output_tokens)
                    and (self.prompt_tokens or 0) + (self.output_tokens or 0) != self.context_tokens):
                raise ValueError("context_tokens must equal prompt_tokens + output_tokens when all are given")
        else:
            if self.prompt_tokens is None or self.output_tokens is None:
                raise ValueError("traffic needs prompt_tokens and output_tokens per request (or a length_mix)")
            if self.context_tokens is not None and self.context_tokens != self.prompt_tokens + self.output_tokens:
                raise ValueError("context_tokens must equal prompt_tokens + output_tokens when all are given")
        if self.slo is not None and self.request_rate is None:
            raise ValueError("slo needs request_rate: an offline job has a deadline instead, and concurrency sizes memory only")
        return self

    @property
    def kind(self) -> Literal["concurrency", "request_rate", "offline"]:
        return "concurrency" if self.concurrency is not None else "request_rate" if self.request_rate is not None else "offline"

    @property
    def is_traffic(self) -> bool:
        """Demand in requests per second (live traffic or an offline job), covered by each shape's sustainable rate."""
        return self.concurrency is None

    @property
    def buckets(self) -> tuple[LengthBucket, ...]:
        """The request classes with weights normalised to 1 (one class when lengths are given as means)."""
        if self.length_mix is not None:
            total = sum(b.weight for b in self.length_mix)
            return tuple(b.model_copy(update={"weight": b.weight / total}) for b in self.length_mix)
        if self.prompt_tokens is not None and self.output_tokens is not None:
            return (LengthBucket(prompt_tokens=self.prompt_tokens, output_tokens=self.output_tokens, weight=1.0),)
        return (LengthBucket(prompt_tokens=max(1, self.tokens_per_sequence - 1), output_tokens=1, weight=1.0),)

    @property
    def mean_prompt_tokens(self) -> float:
        return sum(b.weight * b.prompt_tokens for b in self.buckets)

    @property
    def mean_output_tokens(self) -> float:
        return sum(b.weight * b.output_tokens for b in self.buckets)

    @property
    def tokens_per_sequence(self) -> int:
        """Tokens one sequence holds in the KV cache for memory sizing: the context, or the request-weighted mean
        prompt + output length of the traffic (rounded up)."""
        if self.context_tokens is not None:
            return self.context_tokens
        if self.length_mix is None:
            return int(self.prompt_tokens or 0) + int(self.output_tokens or 0)
        return math.ceil(sum(b.weight * (b.prompt_tokens + b.output_tokens) for b in self.buckets) - 1e-9)

    @property
    def longest_sequence_tokens(self) -> int:
        """The longest request (prompt + output): every replica must hold at least one of it."""
        if self.length_mix is None:
            return self.tokens_per_sequence
        return max(b.prompt_tokens + b.output_tokens for b in self.length_mix)

    @property
    def offline_requests(self) -> int | None:
        """Requests in the offline job (from ``total_tokens`` at the mean request length, rounded up)."""
        if self.offline is None:
            return None
        if self.offline.requests is not None:
            return self.offline.requests
        assert self.offline.total_tokens is not None
        return math.ceil(self.offline.total_tokens / (self.mean_prompt_tokens + self.mean_output_tokens) - 1e-9)

    @property
    def demand_requests_per_s(self) -> float | None:
        """The request rate the fleet must sustain: the stated rate, or the offline job over its deadline."""
        if self.request_rate is not None:
            return self.request_rate
        if self.offline is not None:
            return self.offline_requests / (self.offline.deadline_hours * SECONDS_PER_HOUR)  # type: ignore[operator]
        return None

    def describe(self) -> str:
        """One line for reports: the load and its lengths."""
        if self.concurrency is not None:
            return f"{self.concurrency:,} concurrent sequences × {self.tokens_per_sequence:,} tokens"
        lengths = (f"{self.prompt_tokens:,} in / {self.output_tokens:,} out tokens" if self.length_mix is None
                   else f"a mix of {len(self.length_mix)} request classes (mean {self.mean_prompt_tokens:,.0f} in / "
                        f"{self.mean_output_tokens:,.0f} out tokens)")
        if self.request_rate is not None:
            slo = f", {self.slo.describe()}" if self.slo is not None else ""
            return f"{self.request_rate:g} requests/s of {lengths}{slo}"
        assert self.offline is not None
        return (f"offline job of {self.offline_requests:,} requests of {lengths} within {self.offline.deadline_hours:g} h "
                f"({self.demand_requests_per_s:.3g} requests/s)")
