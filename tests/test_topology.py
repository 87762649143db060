"""Topology tiers and collective costs: which link a GPU group uses, and the alpha-beta formulas."""

import math

import pytest

from planner.catalog import default_catalog
from planner.performance.collectives import all_gather_s, all_reduce_s, all_to_all_s, point_to_point_s, reduce_scatter_s
from planner.performance.topology import Link, TopologyOverride, node_topology
from planner.schema import validate_scenario


def gpu(gpu_id):
    return default_catalog().gpu(gpu_id)


def test_every_catalog_gpu_has_a_topology_with_positive_bandwidths():
    for g in default_catalog().gpus:
        topo = node_topology(g)
        assert topo.pcie.bytes_per_s > 0 and topo.network.bytes_per_s > 0
        assert (topo.scale_up is None) == (g.nvlink_domain_size == 1 or g.scale_up_link == "none")


def test_h100_sxm_group_of_eight_uses_nvswitch_and_sixteen_cross_the_network():
    topo = node_topology(gpu("h100-sxm"))
    assert topo.link_for_group(8).kind == "nvswitch"
    assert topo.link_for_group(8).peak_gb_per_s == 450  # NVLink 4: 900 GB/s bidirectional
    assert topo.link_for_group(16).kind == "network"
    assert topo.link_for_group(16).peak_gb_per_s == 50  # one 400 Gb/s NIC per GPU
    assert not topo.crosses_network(8) and topo.crosses_network(16)


def test_bridged_pairs_use_nvlink_for_two_and_pcie_for_four():
    topo = node_topology(gpu("a100-80gb-pcie"))
    assert topo.link_for_group(2).kind == "nvlink-bridge"
    assert topo.link_for_group(4).kind == "pcie"


def test_geforce_cards_without_peer_to_peer_go_through_host_memory():
    topo = node_topology(gpu("rtx-4090"))
    assert topo.link_for_group(4).kind == "pcie-host"
    assert topo.link_for_group(4).bytes_per_s < node_topology(gpu("l40s")).link_for_group(4).bytes_per_s


def test_nvl72_domain_spans_compute_trays_without_the_network():
    topo = node_topology(gpu("gb200"))
    assert topo.gpus_per_node == 4
    assert topo.link_for_group(72).kind == "nvswitch"
    assert topo.link_for_group(144).kind == "network"


def test_scenario_override_replaces_the_catalog_network_and_node_size():
    topo = node_topology(gpu("h100-sxm"), TopologyOverride(gpus_per_node=4, inter_node_bandwidth_gb_per_s=12.5))
    assert topo.gpus_per_node == 4 and topo.scale_up_domain == 4
    assert topo.link_for_group(8).peak_gb_per_s == 12.5


def test_scenario_gpu_mapping_accepts_topology_overrides():
    scenario = validate_scenario({
        "model": "llama-3.1-8b", "workload": {"concurrency": 1, "context_tokens": 1024},
        "gpus": {"h100-sxm": {"gpus_per_node": 4, "inter_node_bandwidth_gb_per_s": 25}},
    })
    override = scenario.topology_override("h100-sxm")
    assert (override.gpus_per_node, override.inter_node_bandwidth_gb_per_s) == (4, 25)
    assert scenario.topology_override("h100-sxm@owned").gpus_per_node == 4


LINK = Link("network", peak_gb_per_s=10.0, efficiency=1.0, latency_s=0.0)


def test_ring_all_reduce_moves_two_n_minus_one_over_n_of_the_buffer():
    """Thakur et al. 2005: 2 (n-1)/n x S / B for the bandwidth term."""
    assert all_reduce_s(8e9, 8, LINK) == pytest.approx(2 * 7 / 8 * 8e9 / 10e9)


def test_all_gather_and_reduce_scatter_move_n_minus_one_over_n():
    assert all_gather_s(8e9, 4, LINK) == pytest.approx(3 / 4 * 0.8)
    assert reduce_scatter_s(8e9, 4, LINK) == all_gather_s(8e9, 4, LINK)
    assert all_to_all_s(8e9, 4, LINK) == pytest.approx(3 / 4 * 0.8)


def test_latency_term_counts_the_ring_steps():
    link = Link("nvswitch", 1.0, 1.0, latency_s=1e-6)
    assert all_reduce_s(1, 8, link) == pytest.approx(14e-6, rel=1e-3)
    assert point_to_point_s(1e9, link) - 1.0 == pytest.approx(1e-6)


def test_a_group_of_one_or_an_empty_buffer_costs_nothing():
    assert all_reduce_s(1e9, 1, LINK) == 0.0
    assert all_gather_s(0, 8, LINK) == 0.0
    assert point_to_point_s(0, LINK) == 0.0


def test_collective_time_never_beats_the_links_peak_bandwidth():
    for g in default_catalog().gpus:
        topo = node_topology(g)
        for n in (2, 8, 64):
            link = topo.link_for_group(n)
            assert all_reduce_s(1e9, n, link) >= 2 * (n - 1) / n * 1e9 / (link.peak_gb_per_s * 1e9)
            assert math.isfinite(all_reduce_s(1e9, n, link))


def test_a_user_catalog_entry_without_topology_gets_marked_assumptions():
    from planner.catalog import GpuSpec

    base = gpu("h100-sxm").model_dump(exclude={"scale_up_link", "inter_node_bandwidth_gb_per_s", "inter_node_network",
                                               "inter_node_estimated"})
    spec = GpuSpec.model_validate(base)
    assert spec.scale_up_link == "nvswitch"
    assert spec.inter_node_estimated and spec.inter_node_bandwidth_gb_per_s == pytest.approx(12.5 / 8)
