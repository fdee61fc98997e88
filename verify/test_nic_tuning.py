"""NIC tuning as the NIC reports it (ethtool, the queues' RPS/XPS masks, the queue IRQs'
affinity), against what the role declared for the host, and the unit that restores it at boot.

All of a host's reads are one round trip; the comparison is the role's own plan, run here on
the state read: a knob the plan would change is a knob not in force. Knobs the host cannot
take (a container's veth has no rings or IRQs) are skipped by the plan with their reason."""

import json
from typing import Any

import pytest

from roles.host import HostEntry
from roles.nic_tuning import files as rendered
from roles.nic_tuning import tune
from roles.nic_tuning.defaults import NicTuning
from verify.batch import Read, file_digest, read_all, sha256
from verify.controls import control

pytestmark = pytest.mark.verify


def interfaces_command(tuning: NicTuning, address: str) -> str:
    if tuning.interfaces:
        return "echo " + " ".join(tuning.interfaces)
    return f"ip -o addr show to {address} | awk '{{print $2}}' | head -n1"


@pytest.fixture(scope="module")
def nic(remote: Any, declared: HostEntry) -> dict[str, Any]:
    """The host's NIC state and the role's files, read in one round trip."""
    tuning = declared.nic_tuning
    state_of_each = (
        f"for IF in $({interfaces_command(tuning, declared.address)}); do "
        f'echo "@@interface $IF"; {tune.state_script("$IF")} done'
    )
    reads = read_all(
        remote,
        {
            "state": state_of_each,
            "unit": f"cat {rendered.UNIT_PATH}",
            "program": file_digest(rendered.PROGRAM_PATH),
            "config": f"cat {rendered.CONFIG_PATH}",
            "enabled": f"systemctl is-enabled {rendered.UNIT_NAME}",
            "failed": f"systemctl is-failed {rendered.UNIT_NAME}",
        },
    )
    states = [
        tune.parse_state(*chunk.split("\n", 1))
        for chunk in reads["state"].output.split("@@interface ")[1:]
    ]
    assert states, f"{declared.name}: no interface holds {declared.address}"
    config = rendered.render_config(tuning, [state.interface for state in states])
    plan = tune.Plan()
    for state in states:
        plan.extend(tune.plan_all(json.loads(config), state))
    return {"plan": plan, "config": config, "reads": reads}


def not_in_force(nic: dict[str, Any], *knobs: str) -> list[str]:
    return [
        f"{c.interface} {c.knob}: actual {c.current}, declared {c.wanted}"
        for c in nic["plan"].changes
        if c.knob.split(".")[0] in knobs
    ]


@control("VP-NIC-01", "NIC rings as declared", "Small rings drop media bursts.", "advisory")
def test_rings_are_as_declared_or_at_the_nics_maximum(
    nic: dict[str, Any], declared: HostEntry
) -> None:
    wrong = not_in_force(nic, "rx_ring_entries", "tx_ring_entries")
    assert wrong == [], f"{declared.name}: {wrong}"


@control("VP-NIC-02", "NIC channels as declared", "Queues spread media over CPUs.", "advisory")
def test_channels_are_as_declared(nic: dict[str, Any], declared: HostEntry) -> None:
    assert not_in_force(nic, "combined_channels") == [], declared.name


@control(
    "VP-NIC-03",
    "UDP flows hashed over addresses and ports",
    "Otherwise all media of one peer lands on one queue.",
    "advisory",
)
def test_udp_flows_are_hashed_over_addresses_and_ports(
    nic: dict[str, Any], declared: HostEntry
) -> None:
    wrong = not_in_force(nic, "udp_flow_hash")
    assert wrong == [], f"{declared.name}: {wrong}"


@control("VP-NIC-04", "RPS and XPS as declared", "Packet steering over CPUs.", "advisory")
def test_rps_and_xps_steer_as_declared(nic: dict[str, Any], declared: HostEntry) -> None:
    wrong = not_in_force(nic, "rps", "xps")
    assert wrong == [], f"{declared.name}: {wrong}"


@control("VP-NIC-05", "Queue IRQs spread over CPUs", "One CPU must not take every IRQ.", "advisory")
def test_queue_irqs_are_spread_over_the_nics_cpus(nic: dict[str, Any], declared: HostEntry) -> None:
    wrong = not_in_force(nic, "irq_affinity")
    assert wrong == [], f"{declared.name}: {wrong}"


@control(
    "VP-NIC-06",
    "Coalescing and offloads as declared",
    "Interrupt coalescing trades latency for CPU; it is declared, not left to chance.",
    "advisory",
)
def test_coalescing_and_offloads_are_as_declared(nic: dict[str, Any], declared: HostEntry) -> None:
    wrong = not_in_force(nic, "rx_coalesce_usecs", "offloads")
    assert wrong == [], f"{declared.name}: {wrong}"


@control("VP-NIC-07", "NIC tuning restored at boot", "A reboot must not undo it.", "advisory")
def test_a_unit_restores_the_tuning_at_boot(nic: dict[str, Any], declared: HostEntry) -> None:
    reads: dict[str, Read] = nic["reads"]
    name = declared.name
    assert reads["unit"].output == rendered.UNIT.removesuffix("\n"), f"{name}: unit file"
    assert reads["program"].output == sha256(rendered.PROGRAM_SOURCE.read_text()), name
    assert reads["config"].output == nic["config"].removesuffix("\n"), f"{name}: config"
    assert reads["enabled"].output == "enabled", f"{name}: {rendered.UNIT_NAME} not enabled"
    assert reads["failed"].output != "failed", f"{name}: {rendered.UNIT_NAME} failed"
