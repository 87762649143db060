"""Where a GPU group's traffic flows: the scale-up domain, PCIe inside a node, or the network between nodes.

A node holds ``gpus_per_node`` GPUs; inside it, groups of up to ``nvlink_domain_size`` GPUs share the scale-up
link (NVSwitch, an NVLink bridge, AMD Infinity Fabric); larger groups inside the node talk over PCIe (through a
PCIe switch, or host memory where the cards have no peer-to-peer); groups that span nodes cross the scale-out
network, one NIC share per GPU. A collective over a group runs at the speed of the slowest link it crosses,
which is how NCCL's ring and tree algorithms behave when every GPU has its own path to the next tier
(NCCL rail-optimised topologies; Jeaugey, "NCCL 2.0", GTC 2017).

Figures come from the catalog (``catalogs/gpus.yaml``, per GPU, one direction) and can be overridden by a
scenario for its own cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..catalog import DEFAULT_NODE_NETWORK_GB_PER_S, GpuSpec
from ..schema.base import TopologyOverride

LinkKind = Literal["nvswitch", "nvlink-bridge", "xgmi", "pcie", "pcie-host", "network"]

PCIE_X16_GB_PER_S = {3: 15.75, 4: 31.5, 5: 63.0, 6: 121.0, 7: 242.0}
"""PCIe x16 payload bandwidth per direction by generation, GB/s (PCI-SIG: 8, 16, 32, 64, 128 GT/s per lane with
128b/130b encoding; Gen 6/7 FLIT mode ~ same ratio)."""

LINK_EFFICIENCY: dict[str, float] = {
    "nvswitch": 0.80,
    "nvlink-bridge": 0.80,
    "xgmi": 0.70,
    "pcie": 0.47,
    "pcie-host": 0.35,
    "network": 0.90,
}
"""Achievable bus bandwidth as a fraction of the link's peak (nccl-tests' ``busbw``, NVIDIA nccl-tests
doc/PERFORMANCE.md, which normalises every collective to the link speed). Defaults from published nccl-tests
runs: 8 x A100 SXM all-reduce ~230-240 GB/s of 300 and 8 x H100 SXM ~360-370 GB/s of 450 without NVLS (0.8);
rail-optimised InfiniBand ~0.9 of the NIC rate; GeForce cards without peer-to-peer stage every transfer through
host memory. PCIe peer-to-peer (0.47 of x16) was fitted by the serving performance model on TensorRT-LLM
0.13's L40S TP4 calibration case (``benchmarks/calibrate_performance.py``); it matches nccl-tests' 10-20 GB/s
all-reduce bus bandwidth on PCIe Gen4 servers without a PCIe switch, where traffic crosses the CPU root
complex."""

LINK_LATENCY_S: dict[str, float] = {
    "nvswitch": 1.0e-6,
    "nvlink-bridge": 1.0e-6,
    "xgmi": 1.0e-6,
    "pcie": 5.0e-6,
    "pcie-host": 10.0e-6,
    "network": 6.0e-6,
}
"""Per-step start-up latency (the alpha of the alpha-beta model, Hockney 1994), seconds: a small all-reduce
over 8 NVSwitch-connected GPUs takes ~10-15 us (nccl-tests small-size rows; vLLM's and TensorRT-LLM's custom
one-shot all-reduce kernels, which serving uses for decode-size messages, ~5-10 us), i.e. ~1 us per ring
step; xGMI's 1 us was fitted by the serving performance model on two MI300X TP 8 decode-latency cases (AMD's
vLLM results, 70B FP8; ``benchmarks/calibrate_performance.py``); PCIe and the network add a few microseconds
per hop. Serving decode at TP 8 pays 160 of these per step
for a 80-layer model, which is why the value matters there; training's large messages are bandwidth-bound."""


@dataclass(frozen=True)
class Link:
    """One tier of the topology: peak bandwidth per GPU and direction, achievable fraction, per-step latency."""

    kind: LinkKind
    peak_gb_per_s: float
    efficiency: float
    latency_s: float

    @property
    def bytes_per_s(self) -> float:
        """Achievable bandwidth per GPU and direction (bus bandwidth), bytes per second."""
        return self.peak_gb_per_s * 1e9 * self.efficiency


def _link(kind: LinkKind, peak_gb_per_s: float) -> Link:
    return Link(kind, peak_gb_per_s, LINK_EFFICIENCY[kind], LINK_LATENCY_S[kind])


@dataclass(frozen=True)
class NodeTopology:
    """The three tiers a GPU type's groups can use, and how many GPUs each tier spans."""

    gpus_per_node: int
    scale_up_domain: int
    scale_up: Link | None
    pcie: Link
    network: Link

    def link_for_group(self, group_size: int) -> Link:
        """The slowest link a group of ``group_size`` GPUs, packed into as few domains and nodes as possible,
        crosses; a group of one needs no link (callers skip the collective)."""
        if group_size <= self.scale_up_domain and self.scale_up is not None:
            return self.scale_up
        if group_size <= self.max_group_without_network:
            return self.pcie
        return self.network

    @property
    def max_group_without_network(self) -> int:
        """The largest group that never crosses the scale-out network: a node, or a rack-scale NVLink domain
        (GB200/GB300 NVL72) that spans several nodes."""
        return max(self.gpus_per_node, self.scale_up_domain if self.scale_up is not None else 1)

    def crosses_network(self, group_size: int) -> bool:
        return group_size > self.max_group_without_network

    def link_for_strided_group(self, group_size: int, stride: int = 1) -> Link:
        """The bus link of a ring over ``group_size`` GPUs placed ``stride`` ranks apart (a data-parallel group
        with TP innermost: stride = TP degree).

        Inside a node (or NVL domain) it is ``link_for_group`` of the span. Across nodes, NCCL runs one ring
        per rail, so the ``k`` members a node holds send through ``k`` NICs at once and the ring's bus
        bandwidth is ``k`` x the per-GPU network share, capped by the link inside the node that the ring's
        intra-node hops use (NVIDIA nccl-tests: 8 x 200 Gb/s DGX A100 nodes reach ~185 GB/s all-reduce bus
        bandwidth across nodes, about 8 x 25 GB/s x 0.9)."""
        span = group_size * stride
        if not self.crosses_network(span):
            return self.link_for_group(span)
        per_node = max(1, min(group_size, self.gpus_per_node // max(1, stride)))
        if per_node == 1:
            return self.network
        inside = self.link_for_group(per_node * stride)
        aggregated = per_node * self.network.peak_gb_per_s
        if inside.bytes_per_s < aggregated * 1e9 * self.network.efficiency:
            return inside
        return Link("network", aggregated, self.network.efficiency, self.network.latency_s)


def node_topology(gpu: GpuSpec, override: TopologyOverride | None = None) -> NodeTopology:
    """The topology of nodes of ``gpu``, from the catalog entry and an optional scenario override."""
    override = override or TopologyOverride()
    gpus_per_node = override.gpus_per_node or gpu.gpus_per_node
    domain = min(gpu.nvlink_domain_size, gpus_per_node) if gpu.nvlink_domain_size <= gpu.gpus_per_node else gpu.nvlink_domain_size
    scale_up_gb = override.scale_up_bandwidth_gb_per_s or gpu.scale_up_bandwidth_gb_per_s
    scale_up = None
    link = gpu.scale_up_link
    if domain > 1 and scale_up_gb is not None and link is not None and link != "none":
        scale_up = _link(link, scale_up_gb)
    pcie = _link("pcie" if gpu.pcie_peer_to_peer else "pcie-host", PCIE_X16_GB_PER_S[gpu.pcie_gen])
    network_gb = (override.inter_node_bandwidth_gb_per_s or gpu.inter_node_bandwidth_gb_per_s
                  or DEFAULT_NODE_NETWORK_GB_PER_S / gpus_per_node)
    network = _link("network", network_gb)
    return NodeTopology(gpus_per_node, domain, scale_up, pcie, network)
