"""Test hosts as systemd-nspawn containers: one overlay over the shared image per host, on the
sandbox bridge, in cgroups of its own, reachable over SSH with the keys the server was
ordered with.

A host's files live in STATE_DIR/hosts/<server uuid>/; its nspawn process id is kept there, so
any process (the stand-in, `sandbox down`) can stop it.
"""

import contextlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sandbox import settings
from sandbox.hosts.backend import HostRequest
from sandbox.hosts.delivery import write_delivered_files
from sandbox.hosts.image import ensure_image
from sandbox.hosts.probes import running_pid, terminate, wait_for_ssh

CGROUP_HIERARCHIES = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))
SSH_WAIT_S = 60.0
STOP_WAIT_S = 15.0


@dataclass(frozen=True)
class HostPaths:
    root: Path

    @property
    def upper(self) -> Path:
        return self.root / "upper"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def pid_file(self) -> Path:
        return self.root / "nspawn.pid"

    @property
    def log(self) -> Path:
        return self.root / "console.log"

    @property
    def machine_file(self) -> Path:
        return self.root / "machine"


def machine_name(server_uuid: str) -> str:
    return f"vp-{server_uuid[:8]}"


class NspawnHosts:
    def __init__(self, hosts_dir: Path, rootfs: Path) -> None:
        self.hosts_dir = hosts_dir
        self.rootfs = rootfs

    @classmethod
    def from_environment(cls) -> "NspawnHosts":
        settings.LOGS_DIR.mkdir(parents=True, exist_ok=True)
        rootfs = ensure_image(settings.LOGS_DIR / "image.log")
        return cls(settings.HOSTS_DIR, rootfs)

    def paths(self, server_uuid: str) -> HostPaths:
        return HostPaths(self.hosts_dir / server_uuid)

    # --- the backend interface ------------------------------------------------------------

    def start(self, host: HostRequest) -> None:
        paths = self.paths(host.server_uuid)
        if running_pid(paths.pid_file) is None:
            self._prepare(paths, host)
            self._spawn(paths, host)
        wait_for_ssh(
            host.address,
            lambda: running_pid(paths.pid_file) is not None,
            paths.log,
            SSH_WAIT_S,
            poll_s=0.2,
        )

    def stop(self, server_uuid: str) -> None:
        stop_container(self.paths(server_uuid).root)

    def reinstall(self, host: HostRequest) -> None:
        self.stop(host.server_uuid)
        self.start(host)

    # --- starting -------------------------------------------------------------------------

    def _prepare(self, paths: HostPaths, host: HostRequest) -> None:
        _unmount(paths.merged)
        for folder in (paths.upper, paths.work, paths.merged):
            folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={self.rootfs},upperdir={paths.upper},workdir={paths.work}",
                str(paths.merged),
            ],
            check=True,
            capture_output=True,
        )
        write_delivered_files(paths.merged, host, interface="host0")
        subprocess.run(
            ["ssh-keygen", "-A", "-f", str(paths.merged)], check=True, capture_output=True
        )

    def _spawn(self, paths: HostPaths, host: HostRequest) -> None:
        machine = machine_name(host.server_uuid)
        paths.machine_file.write_text(machine)
        # nspawn --keep-unit needs a cgroup of its own, or units fail with 219/CGROUP.
        join_cgroups = ""
        for hierarchy in CGROUP_HIERARCHIES:
            if hierarchy.is_dir():
                (hierarchy / machine).mkdir(exist_ok=True)
                join_cgroups += f"echo $$ > {hierarchy / machine}/cgroup.procs; "
        nspawn = (
            f"systemd-nspawn --quiet -D {paths.merged} -M {machine} --boot --register=no "
            f"--keep-unit --network-bridge={host.bridge} --console=read-only"
        )
        # A container's reboot ends nspawn with 133: boot it again, as systemd-nspawn@.service
        # does. SIGTERM (stop) is passed on to nspawn, which shuts the container down cleanly.
        command = (
            f"{join_cgroups}trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM; "
            f"while true; do {nspawn} & child=$!; wait $child; rc=$?; "
            '[ "$rc" -eq 133 ] || exit "$rc"; done'
        )
        with paths.log.open("ab") as log:
            process = subprocess.Popen(
                ["bash", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        paths.pid_file.write_text(str(process.pid))


def container_running(root: Path) -> bool:
    return running_pid(HostPaths(root).pid_file) is not None


def stop_container(root: Path) -> None:
    """Stops the container whose files are in `root` and removes all it used. Idempotent."""
    paths = HostPaths(root)
    if not root.exists():
        return
    pid = running_pid(paths.pid_file)
    if pid is not None:  # nspawn shuts the container down cleanly on SIGTERM
        terminate(pid, STOP_WAIT_S)
    machine = paths.machine_file.read_text() if paths.machine_file.exists() else ""
    _unmount(paths.merged)
    if machine:
        _remove_cgroups(machine)
    shutil.rmtree(root, ignore_errors=True)


def _unmount(path: Path) -> None:
    if path.is_mount():
        result = subprocess.run(["umount", str(path)], capture_output=True, check=False)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=True)


def _remove_cgroups(machine: str) -> None:
    for hierarchy in CGROUP_HIERARCHIES:
        top = hierarchy / machine
        if not top.is_dir():
            continue
        for folder in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if folder.is_dir():
                with contextlib.suppress(OSError):
                    folder.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
