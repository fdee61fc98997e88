"""The two host tiers the stand-in delivers: containers for most instance types, QEMU virtual
machines for those whose tests need global kernel and NIC knobs. Each is proven by what it
lets the host change, which is why both exist."""

from typing import Any

import pytest

from sandbox import settings
from tests.sandbox_fixture import SandboxUnderTest

pytestmark = pytest.mark.servers

VM_TYPE = "bm9.std.16"
CONTAINER_TYPE = "bm7.std.8"


def address(server: dict[str, Any]) -> str:
    return str(server["ipAddresses"][0]["ipAddress"])


def test_the_vm_instance_type_is_configured(vm_instance_type: str) -> None:
    assert vm_instance_type == VM_TYPE in settings.VM_INSTANCE_TYPES
    assert CONTAINER_TYPE not in settings.VM_INSTANCE_TYPES


def test_a_vm_host_takes_global_kernel_and_nic_knobs(
    test_sandbox: SandboxUnderTest, vm_instance_type: str
) -> None:
    vm = test_sandbox.deliver("tier-vm", vm_instance_type)
    container = test_sandbox.deliver("tier-ct", CONTAINER_TYPE)
    try:
        on_vm = test_sandbox.ssh(
            address(vm),
            "sysctl -w net.core.rmem_max=26214400 >/dev/null && sysctl -n net.core.rmem_max;"
            " ls /sys/class/net/eth0/queues | grep -c rx; ethtool -G eth0 tx 256 && echo rings-ok",
        ).split()
        assert on_vm == ["26214400", "2", "rings-ok"]
        # a container shares the machine's kernel: the same global knob is refused there
        on_container = test_sandbox.ssh(
            address(container), "sysctl -w net.core.rmem_max=26214400 2>&1"
        )
        assert 'setting key "net.core.rmem_max": Invalid argument' in on_container
        assert test_sandbox.ssh(address(vm), "hostname") == "tier-vm"
    finally:
        for server in (vm, container):
            test_sandbox.client().release_server(server["uuid"])
