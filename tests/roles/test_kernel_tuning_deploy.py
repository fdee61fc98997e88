"""The kernel_tuning role deployed for real to a container host and a VM host, then proven by
the verification suite; a second run changes nothing; a host broken by hand is caught by the
suite and mended by the next run."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import SandboxUnderTest

pytestmark = [pytest.mark.roles, pytest.mark.verify]

TUNING = {"rmem_max_bytes": 26_214_400, "somaxconn": 8192}


def deliver(sandbox: SandboxUnderTest, name: str, instance_type: str) -> dict[str, Any]:
    client = sandbox.client()
    key = sandbox.ssh_key.with_suffix(".pub").read_text().strip()
    server = client.create_server({
        "name": name, "location": "EU: Rotterdam", "instanceType": instance_type,
        "os": {"slug": "debian-12"}, "sshKey": [key],
    })  # fmt: skip
    deadline = time.monotonic() + 300
    while (server := client.get_server(server["uuid"]))["status"] != "delivered":
        assert server["status"] != "failed" and time.monotonic() < deadline, server
        time.sleep(0.5)
    return server


@pytest.fixture(scope="module")
def inventory(test_sandbox: SandboxUnderTest) -> dict[str, Path]:
    hosts = [
        (deliver(test_sandbox, "roles-ct", "bm7.std.8"), "network-namespace"),
        (deliver(test_sandbox, "roles-vm", "bm9.std.16"), "full"),
    ]
    declared = [
        {"name": server["name"], "address": server["ipAddresses"][0]["ipAddress"],
         "ssh_key": str(test_sandbox.ssh_key), "kernel_scope": scope, "kernel_tuning": TUNING}
        for server, scope in hosts
    ]  # fmt: skip
    folder = test_sandbox.root
    (folder / "declared.json").write_text(json.dumps(declared))
    ssh = {"ssh_user": "root", "ssh_strict_host_key_checking": "off",
           "ssh_known_hosts_file": "/dev/null"}  # fmt: skip
    pyinfra_hosts = [
        (host["address"], {**ssh, "ssh_key": host["ssh_key"], "kernel_scope": host["kernel_scope"],
                           "kernel_tuning": TUNING})
        for host in declared
    ]  # fmt: skip
    (folder / "inventory.py").write_text(f"sfu = {pyinfra_hosts!r}\n")
    return {"declared": folder / "declared.json", "pyinfra": folder / "inventory.py"}


def deploy(inventory: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    """pyinfra's log (the results table too) goes to stderr: both land in stdout here."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("pyinfra")), "-y", "--no-wait",
         str(inventory["pyinfra"]), "roles/site.py"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        check=False, timeout=600,
    )  # fmt: skip


def verify(inventory: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/verify"],
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


def test_deploy_then_verify_on_a_container_and_a_vm(inventory: dict[str, Path]) -> None:
    deployed = deploy(inventory)
    assert deployed.returncode == 0, deployed.stdout[-3000:]
    assert "kernel_tuning skips net.core.rmem_max" in deployed.stdout
    assert changed_operations(deployed.stdout) > 0
    verified = verify(inventory)
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert "4 passed" in verified.stdout


def test_a_second_run_changes_nothing(inventory: dict[str, Path]) -> None:
    again = deploy(inventory)
    assert again.returncode == 0, again.stdout[-3000:]
    assert changed_operations(again.stdout) == 0, again.stdout[-3000:]


def test_a_host_broken_by_hand_is_caught_and_mended(
    inventory: dict[str, Path], test_sandbox: SandboxUnderTest
) -> None:
    vm = next(h for h in json.loads(inventory["declared"].read_text()) if h["name"] == "roles-vm")
    test_sandbox.ssh(vm["address"], "sysctl -w net.core.rmem_max=212992")
    caught = verify(inventory)
    assert caught.returncode != 0
    assert "roles-vm" in caught.stdout
    assert "net.core.rmem_max" in caught.stdout
    # the drop-in is unchanged, so a plain re-run would not reload it: the role must notice
    mended = deploy(inventory)
    assert mended.returncode == 0, mended.stdout[-3000:]
    assert changed_operations(mended.stdout) == 1  # only the flipped key was set back
    assert verify(inventory).returncode == 0
