"""Waiting times in front of a serving replica: closed forms from queueing theory.

Two queues stand before a request's first token:

- the *prefill queue*: a continuous-batching engine admits waiting prompts at each step boundary, up to its
  token budget, first come first served. Seen from the prompts, it is one server whose service time is the
  prompt's share of the budget-full steps, so an M/G/1 queue: Poisson arrivals (rate lambda), general
  service S. Mean wait by the Pollaczek-Khinchine formula, ``W = lambda E[S^2] / (2 (1 - rho))`` with
  ``rho = lambda E[S]`` (Kleinrock, *Queueing Systems* Vol. 1, 1975, Sec. 5.6, eq. 5.105); M/D/1 is the
  case of equal prompt lengths (DistServe, Zhong et al. 2024, arXiv:2401.09670, Sec. 3.1, models a prefill
  instance this way).
- the *slot queue*: at most ``c`` sequences run at once (KV-cache blocks, ``max_num_seqs``); each holds its
  slot for its whole life. That is an M/G/c queue; its probability of waiting is Erlang C, approximated for
  the large ``c`` of serving engines by Halfin and Whitt (Operations Research 29(3), 1981, Sec. 4):
  ``P(wait) = 1 / (1 + beta Phi(beta) / phi(beta))`` with ``beta = (1 - rho) sqrt(c)``; the mean wait by the
  Allen-Cunneen approximation ``W = P(wait) / (c mu (1 - rho)) x (1 + C_s^2) / 2`` (Allen, *Probability,
  Statistics and Queueing Theory*, 1990, Sec. 6.3).

Tails: waiting times of single-server queues have an atom at zero and an (asymptotically) exponential tail,
``P(W > x) = p exp(-p x / W)`` with ``p = P(W > 0)`` and mean ``W`` (Kingman, "The single server queue in
heavy traffic", Proc. Cambridge Phil. Soc. 57, 1961; exact for M/M/1), which gives percentiles in closed
form.

Closed loops of ``C`` clients (each sends its next request when the last one finished) are turned into
open queues by the arrival theorem with Schweitzer's approximation: an arriving request sees the queue
lengths of the population ``C - 1``, ``(C - 1) / C`` of the time averages (Schweitzer 1979, "Approximate
analysis of multiclass closed networks of queues"; Reiser and Lavenberg, JACM 27(2), 1980).
"""

from __future__ import annotations

import math
from collections.abc import Callable

PERCENTILE_Z = {"p50": 0.0, "p90": 1.2815515655446004, "p95": 1.6448536269514722, "p99": 2.3263478740408408}
"""Standard normal quantiles of the percentiles the model reports."""

PERCENTILE_LEVEL = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


def pollaczek_khinchine_wait_s(arrival_rate: float, mean_service_s: float, second_moment_s2: float) -> float:
    """Mean wait in an M/G/1 queue; infinite when the server is saturated."""
    rho = arrival_rate * mean_service_s
    if rho >= 1.0:
        return math.inf
    return arrival_rate * second_moment_s2 / (2.0 * (1.0 - rho))


def _normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def halfin_whitt_wait_probability(servers: float, utilisation: float) -> float:
    """P(an arrival waits) in an M/M/c queue with many servers (Halfin-Whitt approximation of Erlang C)."""
    if utilisation <= 0.0:
        return 0.0
    if utilisation >= 1.0:
        return 1.0
    beta = (1.0 - utilisation) * math.sqrt(max(servers, 1.0))
    if beta > 8.0:
        return 0.0
    return 1.0 / (1.0 + beta * _normal_cdf(beta) / _normal_pdf(beta))


def slot_wait_s(arrival_rate: float, slots: float, holding_time_s: float, service_cv2: float = 0.0) -> tuple[float, float]:
    """(mean wait, P(wait)) for a free slot among ``slots`` held ``holding_time_s`` each (M/G/c,
    Allen-Cunneen with Halfin-Whitt's Erlang C); infinite at or past saturation."""
    if arrival_rate <= 0.0 or slots <= 0.0:
        return 0.0, 0.0
    capacity = slots / holding_time_s
    rho = arrival_rate / capacity
    if rho >= 1.0:
        return math.inf, 1.0
    waits = halfin_whitt_wait_probability(slots, rho)
    return waits / (capacity * (1.0 - rho)) * (1.0 + service_cv2) / 2.0, waits


def exponential_tail_quantile_s(mean_wait_s: float, wait_probability: float, level: float) -> float:
    """The ``level`` quantile of a wait with ``P(W > x) = p exp(-p x / W)`` (Kingman's heavy-traffic form)."""
    if mean_wait_s <= 0.0 or wait_probability <= 0.0:
        return 0.0
    if math.isinf(mean_wait_s):
        return math.inf
    tail = 1.0 - level
    if tail >= wait_probability:
        return 0.0
    return mean_wait_s / wait_probability * math.log(wait_probability / tail)


def exponential_tail_exceedance(mean_wait_s: float, wait_probability: float, x: float) -> float:
    """P(W > x) of the same distribution."""
    if x < 0.0:
        return 1.0
    if mean_wait_s <= 0.0 or wait_probability <= 0.0:
        return 0.0
    if math.isinf(mean_wait_s):
        return 1.0
    return wait_probability * math.exp(-wait_probability * x / mean_wait_s)


def schweitzer_factor(clients: float) -> float:
    """Share of the time-average queue a closed-loop arrival sees: (C - 1) / C."""
    return max(0.0, (clients - 1.0) / clients) if clients > 0 else 0.0


def mixture_quantile(level: float, exceedance: Callable[[float], float], low: float, high: float, iterations: int = 40) -> float:
    """The smallest ``x`` in ``[low, high]`` with ``exceedance(x) <= 1 - level`` (bisection; exceedance is
    non-increasing)."""
    target = 1.0 - level
    if exceedance(low) <= target:
        return low
    if math.isinf(high) or exceedance(high) > target:
        return math.inf if math.isinf(high) else high
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if exceedance(middle) > target:
            low = middle
        else:
            high = middle
    return high
