"""Test hosts as systemd-nspawn containers: one overlay over the shared image per host, on the
sandbox bridge, in cgroups of its own, reachable over SSH with the keys the server was
ordered with.

A host's files live in STATE_DIR/hosts/<server uuid>/; its nspawn process id is kept there, so
any process (the stand-in, `sandbox down`) can stop it.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox import settings
from sandbox.hosts.backend import HostRequest
from sandbox.hosts.image import APT_PROXY_CONF, apt_proxy_conf, ensure_image
from sandbox.hosts.probes import log_tail, process_alive, ssh_answers

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


def net_env(host: HostRequest, interface: str) -> str:
    return f"IFACE={interface}\nADDRESS={host.address}\nPREFIX_LENGTH={host.prefix_length}\n"


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
        if _running_pid(paths) is None:
            self._prepare(paths, host)
            self._spawn(paths, host)
        self._wait_for_ssh(paths, host.address)

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
            ["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={self.rootfs},upperdir={paths.upper},workdir={paths.work}",
             str(paths.merged)],
            check=True, capture_output=True,
        )  # fmt: skip
        root = paths.merged
        (root / "etc/hostname").write_text(f"{host.name}\n")
        (root / "etc/hosts").write_text(
            f"127.0.0.1 localhost\n{host.address} {host.name}\n::1 localhost ip6-localhost\n"
        )
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text("".join(f"{k}\n" for k in host.ssh_public_keys))
        (ssh_dir / "authorized_keys").chmod(0o600)
        (root / "etc/voicepop/net.env").write_text(net_env(host, interface="host0"))
        (root / APT_PROXY_CONF).write_text(apt_proxy_conf())
        if host.post_install_script:
            (root / "root/post-install.sh").write_text(host.post_install_script)
        subprocess.run(["ssh-keygen", "-A", "-f", str(root)], check=True, capture_output=True)

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
            f"--keep-unit --network-bridge={settings.BRIDGE} --console=read-only"
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
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        paths.pid_file.write_text(str(process.pid))

    def _wait_for_ssh(self, paths: HostPaths, address: str) -> None:
        deadline = time.monotonic() + SSH_WAIT_S
        while time.monotonic() < deadline:
            if _running_pid(paths) is None:
                raise RuntimeError(f"host exited during boot: {log_tail(paths.log)}")
            if ssh_answers(address):
                return
            time.sleep(0.2)
        raise RuntimeError(f"no SSH at {address} after {SSH_WAIT_S:.0f} s: {log_tail(paths.log)}")


def _running_pid(paths: HostPaths) -> int | None:
    try:
        pid = int(paths.pid_file.read_text())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


def container_running(root: Path) -> bool:
    return _running_pid(HostPaths(root)) is not None


def stop_container(root: Path) -> None:
    """Stops the container whose files are in `root` and removes all it used. Idempotent."""
    paths = HostPaths(root)
    if not root.exists():
        return
    pid = _running_pid(paths)
    if pid is not None:
        _terminate(pid)
    machine = paths.machine_file.read_text() if paths.machine_file.exists() else ""
    _unmount(paths.merged)
    if machine:
        _remove_cgroups(machine)
    shutil.rmtree(root, ignore_errors=True)


def _terminate(pid: int) -> None:
    """Asks nspawn to shut the container down cleanly, then insists."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while process_alive(pid):
            time.sleep(0.05)


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
