"""Small probes shared by the host tiers: is a process alive, does SSH answer, a log's end."""

import contextlib
import os
import socket
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
