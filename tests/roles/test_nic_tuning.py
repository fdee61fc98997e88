"""The NIC tuning program's pure half: parsing what a host reports (captured from the
sandbox's virtio VM and a container's veth) and planning what to change or skip, and why."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from roles.nic_tuning import tune
from roles.nic_tuning.defaults import NicTuning
from roles.nic_tuning.facts import UnitInstalled
from roles.nic_tuning.files import render_config

pytestmark = pytest.mark.roles

DATA = Path(__file__).with_name("data")


def state(name: str, interface: str) -> tune.NicState:
    return tune.parse_state(interface, (DATA / f"nic-state-{name}.txt").read_text())


@pytest.fixture
def virtio() -> tune.NicState:
    return state("virtio-2-queues", "eth0")


@pytest.fixture
def veth() -> tune.NicState:
    return state("veth-container", "host0")


def config(**knobs: object) -> dict[str, object]:
    return dict(json.loads(render_config(NicTuning.model_validate(knobs), ["eth0"])))


def knobs(plan: tune.Plan) -> dict[str, str]:
    return {c.knob: c.wanted for c in plan.changes}


def test_a_virtio_nic_is_read_as_it_reports() -> None:
    nic = state("virtio-2-queues", "eth0")
    assert nic.driver == "virtio_net"
    assert nic.rings == {"rx_max": 1024, "tx_max": 256, "rx": 1024, "tx": 256}
    assert (nic.combined_max, nic.combined) == (2, 2)
    assert nic.flow_hash == {"udp4": "sdfn", "udp6": "sdfn"}
    assert nic.cpus == [0, 1]
    assert nic.rx_queues == ["rx-0", "rx-1"] and nic.tx_queues == ["tx-0", "tx-1"]
    assert {irq.name: irq.queue for irq in nic.irqs} == {
        "virtio0-config": None,
        "virtio0-input.0": 0,
        "virtio0-output.0": 0,
        "virtio0-input.1": 1,
        "virtio0-output.1": 1,
    }


def test_a_virtio_nic_as_the_driver_left_it_needs_nothing(virtio: tune.NicState) -> None:
    plan = tune.plan_all(config(), virtio)
    assert plan.changes == []
    assert plan.skipped == []


def test_rings_go_to_the_maximum_unless_set(virtio: tune.NicState) -> None:
    shrunk = replace(virtio, rings={**virtio.rings, "rx": 256})
    assert knobs(tune.plan_all(config(), shrunk)) == {"rx_ring_entries": "1024"}
    change = tune.plan_all(config(rx_ring_entries=512), virtio).changes[0]
    assert change.command == ["ethtool", "-G", "eth0", "rx", "512"]


def test_a_ring_larger_than_the_nic_takes_is_skipped_with_its_maximum(
    virtio: tune.NicState,
) -> None:
    plan = tune.plan_all(config(tx_ring_entries=4096), virtio)
    assert plan.changes == []
    assert plan.skipped == [
        tune.Skip("eth0", "tx_ring_entries", "4096 asked, the NIC's maximum is 256: left at 256")
    ]


def test_channels_change_only_when_declared(virtio: tune.NicState) -> None:
    assert "combined_channels" not in knobs(tune.plan_all(config(), virtio))
    plan = tune.plan_all(config(combined_channels=1), virtio)
    assert plan.changes[0].command == ["ethtool", "-L", "eth0", "combined", "1"]
    assert [s.knob for s in tune.plan_all(config(combined_channels=8), virtio).skipped] == [
        "combined_channels"
    ]


def test_udp_flows_are_hashed_over_addresses_and_ports(virtio: tune.NicState) -> None:
    addresses_only = replace(virtio, flow_hash={"udp4": "sd", "udp6": "sdfn"})
    change = tune.plan_all(config(), addresses_only).changes[0]
    assert (change.knob, change.current, change.wanted) == ("udp_flow_hash.udp4", "sd", "sdfn")
    assert change.command == ["ethtool", "-N", "eth0", "rx-flow-hash", "udp4", "sdfn"]
    assert tune.plan_all(config(udp_flow_hash=False), addresses_only).changes == []


def test_rps_spreads_a_nic_with_fewer_queues_than_cpus(virtio: tune.NicState) -> None:
    one_queue = replace(virtio, queues={"rx-0": (0, True), "tx-0": (3, True)})
    plan = tune.plan_all(config(), one_queue)
    assert [(c.knob, c.write) for c in plan.changes] == [
        ("rps.rx-0", ("/sys/class/net/eth0/queues/rx-0/rps_cpus", "3"))
    ]
    assert tune.Skip("eth0", "xps", "one transmit queue: nothing to steer") in plan.skipped
    assert tune.plan_all(config(rps="off"), one_queue).changes == []


def test_rps_is_turned_off_where_hardware_queues_suffice(virtio: tune.NicState) -> None:
    steered = replace(virtio, queues={**virtio.queues, "rx-1": (3, True)})
    assert knobs(tune.plan_all(config(), steered)) == {"rps.rx-1": "0"}


def test_xps_maps_each_cpu_to_one_transmit_queue(virtio: tune.NicState) -> None:
    assert tune.xps_masks(2, [0, 1, 2, 3]) == [0b0101, 0b1010]
    crossed = replace(virtio, queues={**virtio.queues, "tx-0": (2, True), "tx-1": (1, True)})
    assert knobs(tune.plan_all(config(), crossed)) == {"xps.tx-0": "1", "xps.tx-1": "2"}
    assert tune.plan_all(config(xps="leave"), crossed).changes == []


def test_queue_irqs_are_spread_and_other_irqs_left_alone(virtio: tune.NicState) -> None:
    moved = replace(virtio, irqs=[replace(irq, cpus=[1]) for irq in virtio.irqs])
    plan = tune.plan_all(config(), moved)
    assert [(c.knob, c.write) for c in plan.changes] == [
        ("irq_affinity.28(virtio0-input.0)", ("/proc/irq/28/smp_affinity_list", "0")),
        ("irq_affinity.29(virtio0-output.0)", ("/proc/irq/29/smp_affinity_list", "0")),
    ]
    assert tune.plan_all(config(irq_affinity="leave"), moved).changes == []


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        ("eth0-TxRx-3", 3),
        ("mlx5_comp7@pci:0000:3b:00.0", 7),
        ("i40e-eth0-TxRx-0", 0),
        ("mlx5_async0@pci:0000:3b:00.0", None),
        ("eth0", None),
        ("virtio0-config", None),
    ],
)
def test_an_irq_serves_the_queue_its_name_ends_with(name: str, queue: int | None) -> None:
    assert tune.Irq(1, name, [0]).queue == queue


def test_offloads_change_only_when_configured_and_not_when_fixed(virtio: tune.NicState) -> None:
    plan = tune.plan_all(config(offloads={"gro": False, "lro": True, "bogus": True}), virtio)
    assert [c.command for c in plan.changes] == [
        ["ethtool", "-K", "eth0", "generic-receive-offload", "off"]
    ]
    assert {s.knob: s.reason for s in plan.skipped} == {
        "offloads.bogus": "virtio_net has no feature bogus",
        "offloads.lro": "large-receive-offload is fixed off by virtio_net",
    }


def test_a_knob_the_driver_refused_before_is_skipped_with_that_reason(
    virtio: tune.NicState,
) -> None:
    assert knobs(tune.plan_all(config(rx_coalesce_usecs=50), virtio)) == {"rx_coalesce_usecs": "50"}
    refused = replace(virtio, unsupported={"rx_coalesce_usecs": "virtio_net refused it"})
    plan = tune.plan_all(config(rx_coalesce_usecs=50), refused)
    assert plan.changes == []
    assert plan.skipped == [tune.Skip("eth0", "rx_coalesce_usecs", "virtio_net refused it")]


def test_a_containers_veth_skips_every_knob_with_a_reason(veth: tune.NicState) -> None:
    plan = tune.plan_all(config(combined_channels=2, rx_coalesce_usecs=10), veth)
    assert plan.changes == []
    reasons = {s.knob: s.reason for s in plan.skipped}
    assert set(reasons) == {
        "rx_ring_entries",
        "tx_ring_entries",
        "combined_channels",
        "udp_flow_hash.udp4",
        "udp_flow_hash.udp6",
        "rx_coalesce_usecs",
        "rps.rx-0",
        "xps",
        "irq_affinity",
    }
    assert "read-only" in reasons["rps.rx-0"]
    assert reasons["combined_channels"] == "veth has no combined channels"
    assert all(reasons.values())


@pytest.mark.parametrize(
    ("cpus", "mask"),
    [
        ([0, 1], "3"),
        ([], "0"),
        ([0, 33], "2,00000001"),
        ([40], "100,00000000"),
    ],
)
def test_cpu_masks_are_written_as_sysfs_takes_them(cpus: list[int], mask: str) -> None:
    assert tune.render_mask(tune.cpus_mask(cpus)) == mask
    assert tune.parse_mask(mask) == tune.cpus_mask(cpus)


def test_cpu_lists_are_read_with_ranges() -> None:
    assert tune.parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]


def test_the_config_names_the_resolved_interfaces_and_every_knob() -> None:
    rendered = json.loads(render_config(NicTuning(interfaces=("ens1",)), ["ens1", "ens2"]))
    assert rendered["interfaces"] == ["ens1", "ens2"]
    assert set(rendered) == {"interfaces"} | (set(NicTuning.model_fields) - {"interfaces"})


def test_irqbalance_is_stopped_only_where_systemd_knows_its_unit() -> None:
    """`systemctl show --property LoadState --value` as systemd 252 answers it."""
    installed = UnitInstalled()
    assert installed.command("irqbalance.service").endswith("--value irqbalance.service")
    assert installed.process(["loaded"]) is True
    assert installed.process(["not-found"]) is False
    assert installed.process(["masked"]) is False
    assert installed.process([]) is False
