"""Time of the collectives that parallel training and inference issue, in the alpha-beta model.

Source: Thakur, Rabenseifner and Gropp, "Optimization of Collective Communication Operations in MPICH",
IJHPCA 19(1), 2005, Sec. 4: over ``n`` GPUs, with per-step latency alpha and per-byte time beta,

- ring all-reduce of S bytes:            2 (n - 1) alpha + 2 (n - 1) / n * S * beta
- all-gather / reduce-scatter (S = the full, gathered buffer):  (n - 1) alpha + (n - 1) / n * S * beta
- all-to-all, each GPU holding S bytes:  (n - 1) alpha + (n - 1) / n * S * beta  (pairwise exchange)
- point-to-point of S bytes:             alpha + S * beta

with beta = 1 / bus bandwidth (``Link.bytes_per_s``), the convention of NVIDIA's nccl-tests
(doc/PERFORMANCE.md: busbw = algbw x 2(n-1)/n for all-reduce, (n-1)/n for all-gather, reduce-scatter and
all-to-all), so one efficiency per link type covers every collective. Sizes are bytes; times seconds.
"""

from __future__ import annotations

from .topology import Link


def all_reduce_s(size_bytes: float, group_size: int, link: Link) -> float:
    """Ring all-reduce of ``size_bytes`` (each GPU's buffer) over ``group_size`` GPUs."""
    if group_size <= 1 or size_bytes <= 0:
        return 0.0
    steps = group_size - 1
    return 2 * steps * link.latency_s + 2 * steps / group_size * size_bytes / link.bytes_per_s


def all_gather_s(gathered_bytes: float, group_size: int, link: Link) -> float:
    """All-gather whose result (every GPU's shard together) is ``gathered_bytes``."""
    if group_size <= 1 or gathered_bytes <= 0:
        return 0.0
    steps = group_size - 1
    return steps * link.latency_s + steps / group_size * gathered_bytes / link.bytes_per_s


def reduce_scatter_s(input_bytes: float, group_size: int, link: Link) -> float:
    """Reduce-scatter of a ``input_bytes`` buffer into ``group_size`` shards (same cost as an all-gather)."""
    return all_gather_s(input_bytes, group_size, link)


def all_to_all_s(bytes_per_gpu: float, group_size: int, link: Link) -> float:
    """All-to-all in which each GPU holds ``bytes_per_gpu`` and keeps 1/n of it."""
    if group_size <= 1 or bytes_per_gpu <= 0:
        return 0.0
    steps = group_size - 1
    return steps * link.latency_s + steps / group_size * bytes_per_gpu / link.bytes_per_s


def point_to_point_s(size_bytes: float, link: Link) -> float:
    """One send of ``size_bytes`` to a neighbour (pipeline stage hand-off)."""
    if size_bytes <= 0:
        return 0.0
    return link.latency_s + size_bytes / link.bytes_per_s
