"""The site deploy (base, kernel tuning, firewall, SFU) run for real on a container host and a
VM host of the sandbox spec, then proven by the verification suites; a second run changes
nothing; a host broken by hand is caught by the suites and mended by the next run; the firewall
is tested from outside too."""

import ast
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml

from stacks.host_data import host_data
from stacks.spec import PopSpec, parse_pop
from stacks.spec.checks import StackContext
from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import SandboxUnderTest, changed_pop

pytestmark = [pytest.mark.roles, pytest.mark.verify]

TUNING = {"rmem_max_bytes": 26_214_400, "somaxconn": 8192}
HOSTS = (("sbx1-sfu01", "bm7.std.8", "network-namespace"), ("sbx1-sfu02", "bm9.std.16", "full"))


def sandbox_spec(sandbox: SandboxUnderTest) -> PopSpec:
    raw = yaml.safe_load(sandbox.config(changed_pop(tuning={"kernel": TUNING})).read_text())
    context = StackContext(stack="sandbox", config_keys={"bgpMd5Upstream": True})
    return parse_pop(raw["config"]["voicepop:pop"], context, "Pulumi.sandbox.yaml")


@pytest.fixture(scope="module")
def inventory(test_sandbox: SandboxUnderTest) -> dict[str, Path]:
    spec = sandbox_spec(test_sandbox)
    declared = []
    for name, instance_type, scope in HOSTS:
        server = test_sandbox.deliver(name, instance_type)
        declared.append({
            "name": name, "address": server["ipAddresses"][0]["ipAddress"],
            "ssh_key": str(test_sandbox.ssh_key), **host_data(spec, name, scope),
        })  # fmt: skip
    folder = test_sandbox.root
    (folder / "declared.json").write_text(json.dumps(declared))
    ssh = {"ssh_user": "root", "ssh_strict_host_key_checking": "off",
           "ssh_known_hosts_file": "/dev/null"}  # fmt: skip
    pyinfra_hosts = [
        (host["address"], {**ssh, **{k: v for k, v in host.items() if k != "address"}})
        for host in declared
    ]
    (folder / "inventory.py").write_text(f"sfu = {pyinfra_hosts!r}\n")
    return {"declared": folder / "declared.json", "pyinfra": folder / "inventory.py"}


def declared_host(inventory: dict[str, Path], name: str) -> dict[str, Any]:
    return next(h for h in json.loads(inventory["declared"].read_text()) if h["name"] == name)


def deploy(inventory: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    """pyinfra's log (the results table too) goes to stderr: both land in stdout here."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("pyinfra")), "-y", "--no-wait",
         str(inventory["pyinfra"]), "roles/site.py"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        check=False, timeout=600,
    )  # fmt: skip


def verify(inventory: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    """The suites over every host at once (one xdist worker per host)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(len(HOSTS)),
         "tests/verify"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "VOICEPOP_VERIFY_INVENTORY": str(inventory["declared"])},
    )  # fmt: skip


def changed_operations(output: str) -> int:
    """pyinfra's results table ends with `Grand total  <ops> <success> <error> <no change>`;
    "success" counts the operations that changed something ("-" for none)."""
    match = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert match, f"no pyinfra results table in: {output[-1500:]}"
    _, changed, errors, _ = match.groups()
    assert errors == "-", f"pyinfra reports errors: {output[-1500:]}"
    return 0 if changed == "-" else int(changed)


# the VM tier proves these NIC knobs; a container's veth has neither rings nor flow hashing
# nor IRQs, and its sysfs is read-only (no RPS/XPS)
NIC_KNOBS_PROVED_ON_THE_VM = ("rx_ring_entries", "tx_ring_entries", "udp_flow_hash.udp4",
                              "udp_flow_hash.udp6", "xps", "irq_affinity")  # fmt: skip
NIC_KNOBS_SKIPPED_ON_A_CONTAINER = ("rx_ring_entries", "udp_flow_hash.udp4", "rps.rx-0", "xps",
                                    "irq_affinity")  # fmt: skip


def test_deploy_then_verify_on_a_container_and_a_vm(inventory: dict[str, Path]) -> None:
    deployed = deploy(inventory)
    assert deployed.returncode == 0, deployed.stdout[-3000:]
    assert "kernel_tuning skips net.core.rmem_max" in deployed.stdout
    container = declared_host(inventory, "sbx1-sfu01")["address"]
    vm = declared_host(inventory, "sbx1-sfu02")["address"]
    for knob in NIC_KNOBS_SKIPPED_ON_A_CONTAINER:
        assert f"{container}: nic_tuning skips host0 {knob}:" in deployed.stdout
    for knob in NIC_KNOBS_PROVED_ON_THE_VM:
        assert f"{vm}: nic_tuning skips eth0 {knob}:" not in deployed.stdout
    assert changed_operations(deployed.stdout) > 0
    verified = verify(inventory)
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert "46 passed" in verified.stdout  # 23 checks on each of the 2 hosts


def test_a_second_run_changes_nothing(inventory: dict[str, Path]) -> None:
    again = deploy(inventory)
    assert again.returncode == 0, again.stdout[-3000:]
    assert changed_operations(again.stdout) == 0, again.stdout[-3000:]


def test_a_host_broken_by_hand_is_caught_and_mended(
    inventory: dict[str, Path], test_sandbox: SandboxUnderTest
) -> None:
    vm = declared_host(inventory, "sbx1-sfu02")
    test_sandbox.ssh(vm["address"], "sysctl -w net.core.rmem_max=212992")
    caught = verify(inventory)
    assert caught.returncode != 0
    assert "sbx1-sfu02" in caught.stdout
    assert "net.core.rmem_max" in caught.stdout
    # the drop-in is unchanged, so a plain re-run would not reload it: the role must notice
    mended = deploy(inventory)
    assert mended.returncode == 0, mended.stdout[-3000:]
    assert changed_operations(mended.stdout) == 1  # only the flipped key was set back
    assert verify(inventory).returncode == 0


def test_a_nic_retuned_by_hand_is_caught_and_mended(
    inventory: dict[str, Path], test_sandbox: SandboxUnderTest
) -> None:
    vm = declared_host(inventory, "sbx1-sfu02")
    irq = test_sandbox.ssh(vm["address"], "awk '/virtio0-input.0/ {print $1}' /proc/interrupts")
    test_sandbox.ssh(
        vm["address"],
        f"ethtool -G eth0 rx 256; ethtool -N eth0 rx-flow-hash udp4 "
        f"sd; echo 1 > /proc/irq/{irq.rstrip(':')}/smp_affinity_list",
    )
    caught = verify(inventory)
    assert caught.returncode != 0
    for control in ("eth0 rx_ring_entries: actual 256, declared 1024",
                    "eth0 udp_flow_hash.udp4: actual sd, declared sdfn",
                    "(virtio0-input.0): actual 1, declared 0"):  # fmt: skip
        assert control in caught.stdout, caught.stdout[-3000:]
    mended = deploy(inventory)
    assert mended.returncode == 0, mended.stdout[-3000:]
    assert changed_operations(mended.stdout) == 1  # the unit re-applied the tuning
    assert verify(inventory).returncode == 0


def tcp_answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def test_the_firewall_lets_in_only_what_the_spec_opens(
    inventory: dict[str, Path], test_sandbox: SandboxUnderTest
) -> None:
    for name in ("sbx1-sfu01", "sbx1-sfu02"):
        host = declared_host(inventory, name)
        address = host["address"]
        # listeners on BGP's port and an unlisted one; this machine is an admin, not a peer
        test_sandbox.ssh(address, "for p in 179 9999; do (python3 -m http.server $p "
                                  ">/dev/null 2>&1 &) ; done; sleep 1")  # fmt: skip
        assert test_sandbox.ssh(address, "hostname") == name  # SSH from the admin range
        assert not tcp_answers(address, 179), f"{name}: BGP open to a non-peer"
        assert not tcp_answers(address, 9999), f"{name}: an unlisted port is open"


def test_a_firewall_flushed_by_hand_is_caught_and_reloaded(
    inventory: dict[str, Path], test_sandbox: SandboxUnderTest
) -> None:
    container = declared_host(inventory, "sbx1-sfu01")
    test_sandbox.ssh(container["address"], "nft flush ruleset")
    caught = verify(inventory)
    assert caught.returncode != 0
    assert "sbx1-sfu01" in caught.stdout
    mended = deploy(inventory)
    assert mended.returncode == 0, mended.stdout[-3000:]
    assert verify(inventory).returncode == 0
    assert not tcp_answers(container["address"], 9999)


def rewrite_inventory(inventory: dict[str, Path], change: Any) -> None:
    """Applies `change(host_data)` to every host, in both the declared and the pyinfra file."""
    declared = json.loads(inventory["declared"].read_text())
    for host in declared:
        change(host)
    inventory["declared"].write_text(json.dumps(declared))
    text = inventory["pyinfra"].read_text()
    hosts = ast.literal_eval(text.removeprefix("sfu = "))
    for _, data in hosts:
        change(data)
    inventory["pyinfra"].write_text(f"sfu = {hosts!r}\n")


def janus_pid(sandbox: SandboxUnderTest, address: str) -> str:
    return sandbox.ssh(address, "systemctl show -p MainPID --value janus")


def test_a_stopped_sfu_is_caught_and_started_again(
    inventory: dict[str, Path], test_sandbox: SandboxUnderTest
) -> None:
    container = declared_host(inventory, "sbx1-sfu01")
    test_sandbox.ssh(container["address"], "systemctl stop janus")
    caught = verify(inventory)
    assert caught.returncode != 0
    assert "test_the_sfu_runs_and_starts_at_boot[sbx1-sfu01]" in caught.stdout
    mended = deploy(inventory)
    assert changed_operations(mended.stdout) == 1, mended.stdout[-3000:]
    assert verify(inventory).returncode == 0


def test_one_knob_changes_only_that_and_the_sfu_restarts_only_for_its_own_config(
    inventory: dict[str, Path], test_sandbox: SandboxUnderTest
) -> None:
    addresses = [declared_host(inventory, name)["address"] for name, _, _ in HOSTS]
    before = [janus_pid(test_sandbox, address) for address in addresses]

    rewrite_inventory(inventory, lambda host: host["kernel_tuning"].update(somaxconn=16384))
    kernel_change = deploy(inventory)
    assert kernel_change.returncode == 0, kernel_change.stdout[-3000:]
    assert changed_operations(kernel_change.stdout) == 4  # drop-in and the key, on each host
    assert [janus_pid(test_sandbox, address) for address in addresses] == before

    # channels: the VM's NIC takes it (and RPS then spreads its one queue); a veth cannot
    rewrite_inventory(inventory, lambda host: host["nic_tuning"].update(combined_channels=1))
    nic_change = deploy(inventory)
    assert nic_change.returncode == 0, nic_change.stdout[-3000:]
    assert changed_operations(nic_change.stdout) == 3  # the config on each, the unit on the VM
    vm, container = addresses[1], addresses[0]
    assert f"{vm}: nic_tuning changes eth0 combined_channels: 2 -> 1" in nic_change.stdout
    assert f"{container}: nic_tuning skips host0 combined_channels: veth has no combined " \
           "channels" in nic_change.stdout  # fmt: skip
    assert test_sandbox.ssh(vm, "cat /sys/class/net/eth0/queues/rx-0/rps_cpus") == "3"
    assert [janus_pid(test_sandbox, address) for address in addresses] == before

    rewrite_inventory(inventory, lambda host: host["sfu"].update(log_level=5))
    sfu_change = deploy(inventory)
    assert sfu_change.returncode == 0, sfu_change.stdout[-3000:]
    assert changed_operations(sfu_change.stdout) == 4  # janus.jcfg and the restart, on each
    after = [janus_pid(test_sandbox, address) for address in addresses]
    assert all(new != old for new, old in zip(after, before, strict=True))
    assert verify(inventory).returncode == 0


def pid1_started(sandbox: SandboxUnderTest, address: str) -> str:
    """When the host's init started: changes with every boot, container or VM."""
    return sandbox.ssh(address, "ps -o lstart= -p 1")


def test_everything_declared_survives_a_reboot(
    inventory: dict[str, Path], test_sandbox: SandboxUnderTest
) -> None:
    addresses = [declared_host(inventory, name)["address"] for name, _, _ in HOSTS]
    booted = {address: pid1_started(test_sandbox, address) for address in addresses}
    for address in addresses:
        test_sandbox.ssh(address, "(sleep 1; systemctl reboot) >/dev/null 2>&1 &")
    deadline = time.monotonic() + 300
    for address in addresses:
        while True:
            assert time.monotonic() < deadline, f"{address} did not come back after reboot"
            time.sleep(2)
            try:
                if pid1_started(test_sandbox, address) != booted[address]:
                    break
            except (OSError, EOFError, paramiko.SSHException):  # down while it reboots
                continue
    # sysctls from the drop-in, the firewall from nftables.service, the SFU and chrony enabled,
    # the NIC from its unit (the VM's virtio NIC boots with 2 channels; 1 is declared by now)
    verified = verify(inventory)
    assert verified.returncode == 0, verified.stdout[-3000:]
