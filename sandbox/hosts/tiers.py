"""The sandbox's host backend: a container for most instance types, a QEMU virtual machine
for those whose tests need global kernel and NIC knobs (settings.VM_INSTANCE_TYPES)."""

from pathlib import Path

from sandbox import settings
from sandbox.hosts.backend import HostRequest
from sandbox.hosts.nspawn import NspawnHosts, container_running, stop_container
from sandbox.hosts.qemu import QemuHosts, is_vm, stop_vm, vm_running


class TieredHosts:
    def __init__(self, hosts_dir: Path, vm_instance_types: frozenset[str]) -> None:
        self.hosts_dir = hosts_dir
        self.vm_instance_types = vm_instance_types
        self._containers: NspawnHosts | None = None
        self._vms: QemuHosts | None = None

    @property
    def containers(self) -> NspawnHosts:
        if self._containers is None:
            self._containers = NspawnHosts.from_environment()
        return self._containers

    @property
    def vms(self) -> QemuHosts:
        """Built on first use: the VM image takes minutes the first time."""
        if self._vms is None:
            self._vms = QemuHosts.from_environment()
        return self._vms

    def start(self, host: HostRequest) -> None:
        if host.instance_type in self.vm_instance_types:
            self.vms.start(host)
        else:
            self.containers.start(host)

    def stop(self, server_uuid: str) -> None:
        root = self.hosts_dir / server_uuid
        if is_vm(root):
            stop_vm(root)
        else:
            stop_container(root)

    def reinstall(self, host: HostRequest) -> None:
        self.stop(host.server_uuid)
        self.start(host)

    def stop_all(self) -> None:
        if self.hosts_dir.exists():
            for root in self.hosts_dir.iterdir():
                self.stop(root.name)

    def running(self) -> list[str]:
        """The server uuids whose host, container or VM, is up."""
        if not self.hosts_dir.exists():
            return []
        return sorted(
            root.name
            for root in self.hosts_dir.iterdir()
            if vm_running(root) or container_running(root)
        )


def sandbox_hosts() -> TieredHosts:
    return TieredHosts(settings.HOSTS_DIR, settings.VM_INSTANCE_TYPES)
