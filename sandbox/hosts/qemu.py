"""Test hosts as QEMU virtual machines (TCG: this machine's KVM device boots no stock kernel),
for the instance types whose tests need what a container cannot change: global sysctls
(net.core.rmem_max, netdev_max_backlog, ...), NIC rings, channels and IRQ affinity.

Each VM: a qcow2 overlay over the shared base disk, a config drive with its keys and address,
and a multi-queue tap on the sandbox bridge. Its files live in HOSTS_DIR/<server uuid>/.
"""

import hashlib
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox import settings
from sandbox.hosts.backend import HostRequest
from sandbox.hosts.delivery import write_delivered_files
from sandbox.hosts.probes import running_pid, terminate, wait_for_ssh
from sandbox.hosts.vm_image import VmImage, ensure_vm_image

MEMORY_MB = 512
CPUS = 2
QUEUES = 2
STOP_WAIT_S = 10.0
SSH_WAIT_S = 240.0  # boot under TCG: ~15-20 s alone, a minute with several at once


@dataclass(frozen=True)
class VmPaths:
    root: Path

    @property
    def disk(self) -> Path:
        return self.root / "disk.qcow2"

    @property
    def config_drive(self) -> Path:
        return self.root / "config.img"

    @property
    def pid_file(self) -> Path:
        return self.root / "qemu.pid"

    @property
    def console(self) -> Path:
        return self.root / "console.log"

    @property
    def tap_file(self) -> Path:
        return self.root / "tap"


def mac_address(server_uuid: str) -> str:
    """Unique per VM on the bridge (QEMU's default MAC is the same for every VM)."""
    digest = hashlib.sha256(server_uuid.encode()).digest()
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def tap_name(server_uuid: str) -> str:
    return f"vpt{server_uuid[:8]}"  # at most 15 characters


class QemuHosts:
    def __init__(self, hosts_dir: Path, image: VmImage) -> None:
        self.hosts_dir = hosts_dir
        self.image = image

    @classmethod
    def from_environment(cls) -> "QemuHosts":
        settings.LOGS_DIR.mkdir(parents=True, exist_ok=True)
        return cls(settings.HOSTS_DIR, ensure_vm_image(settings.LOGS_DIR / "vm-image.log"))

    def paths(self, server_uuid: str) -> VmPaths:
        return VmPaths(self.hosts_dir / server_uuid)

    def start(self, host: HostRequest) -> None:
        paths = self.paths(host.server_uuid)
        if running_pid(paths.pid_file) is None:
            paths.root.mkdir(parents=True, exist_ok=True)
            if not paths.disk.exists():
                subprocess.run(
                    [
                        "qemu-img",
                        "create",
                        "-q",
                        "-f",
                        "qcow2",
                        "-F",
                        "qcow2",
                        "-b",
                        str(self.image.disk),
                        str(paths.disk),
                    ],
                    check=True,
                )
            self._write_config_drive(paths, host)
            self._spawn(paths, host)
        wait_for_ssh(
            host.address,
            lambda: running_pid(paths.pid_file) is not None,
            paths.console,
            SSH_WAIT_S,
            poll_s=0.5,
        )

    def stop(self, server_uuid: str) -> None:
        stop_vm(self.paths(server_uuid).root)

    def reinstall(self, host: HostRequest) -> None:
        self.stop(host.server_uuid)
        self.start(host)

    def _write_config_drive(self, paths: VmPaths, host: HostRequest) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            write_delivered_files(Path(scratch) / "root", host, interface="eth0")
            paths.config_drive.unlink(missing_ok=True)
            subprocess.run(
                ["mkfs.ext4", "-q", "-L", "vpconfig", "-d", scratch, str(paths.config_drive), "8M"],
                check=True,
            )

    def _spawn(self, paths: VmPaths, host: HostRequest) -> None:
        tap = tap_name(host.server_uuid)
        subprocess.run(["ip", "link", "del", tap], check=False, capture_output=True)
        subprocess.run(
            ["ip", "tuntap", "add", "dev", tap, "mode", "tap", "multi_queue"], check=True
        )
        subprocess.run(["ip", "link", "set", tap, "master", host.bridge, "up"], check=True)
        paths.tap_file.write_text(tap)
        command = [
            "qemu-system-x86_64",
            "-name",
            host.name,
            "-accel",
            "tcg,tb-size=128",
            "-cpu",
            "max",
            "-machine",
            "q35",
            "-smp",
            str(CPUS),
            "-m",
            str(MEMORY_MB),
            "-kernel",
            str(self.image.kernel),
            "-initrd",
            str(self.image.initrd),
            "-append",
            "root=LABEL=vproot rw console=ttyS0 net.ifnames=0 quiet",
            "-drive",
            f"file={paths.disk},if=virtio,format=qcow2",
            "-drive",
            f"file={paths.config_drive},if=virtio,format=raw,readonly=on",
            "-netdev",
            f"tap,id=data,ifname={tap},script=no,downscript=no,queues={QUEUES},vhost=off",
            "-device",
            f"virtio-net-pci,netdev=data,mac={mac_address(host.server_uuid)},"
            f"mq=on,vectors={2 * QUEUES + 2},"
            "rx_queue_size=1024,tx_queue_size=256,rss=on,hash=on",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            f"file:{paths.console}",
            "-pidfile",
            str(paths.pid_file),
        ]
        with (paths.root / "qemu.log").open("ab") as log:
            subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not paths.pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def is_vm(root: Path) -> bool:
    return VmPaths(root).disk.exists()


def vm_running(root: Path) -> bool:
    return running_pid(VmPaths(root).pid_file) is not None


def stop_vm(root: Path) -> None:
    """Stops the VM whose files are in `root`, removes its tap and files. Idempotent."""
    paths = VmPaths(root)
    if not root.exists():
        return
    pid = running_pid(paths.pid_file)
    if pid is not None:
        terminate(pid, STOP_WAIT_S)
    if paths.tap_file.exists():
        subprocess.run(
            ["ip", "link", "del", paths.tap_file.read_text()], check=False, capture_output=True
        )
    shutil.rmtree(root, ignore_errors=True)
