"""Small helpers shared by the host tiers and the sandbox's daemons: is a process alive (from
its pid file), stop it, does SSH answer, a log's end."""

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) is not alive
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def ssh_answers(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=0.5) as connection:
            connection.settimeout(1.0)
            return connection.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def running_pid(pid_file: Path) -> int | None:
    """The process id in `pid_file`, if that process is alive."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


KILL_WAIT_S = 10.0  # after SIGKILL a process is gone in milliseconds unless stuck in the kernel


def terminate(pid: int, wait_s: float, *, group: bool = False) -> None:
    """SIGTERM (to the process, or the whole group it leads), a grace period, then SIGKILL;
    returns once the process is gone, or raises if it outlives SIGKILL by KILL_WAIT_S. A
    process that leads no group (one restarted by hand) is signalled itself."""
    whole_group = group and leads_group(pid)
    send(pid, signal.SIGTERM, whole_group)
    if gone_within(pid, wait_s):
        return
    send(pid, signal.SIGKILL, whole_group)
    if not gone_within(pid, KILL_WAIT_S):
        raise RuntimeError(f"process {pid} still running {KILL_WAIT_S:.0f} s after SIGKILL")


def leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def send(pid: int, signum: signal.Signals, whole_group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if whole_group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def gone_within(pid: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def wait_for_ssh(
    address: str, alive: Callable[[], bool], log: Path, timeout_s: float, poll_s: float
) -> None:
    """Returns once SSH answers at `address`; fails at once if the host's process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"host exited during boot: {log_tail(log)}")
        if ssh_answers(address):
            return
        time.sleep(poll_s)
    raise RuntimeError(f"no SSH at {address} after {timeout_s:.0f} s: {log_tail(log)}")
