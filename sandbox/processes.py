"""The sandbox's daemons (stand-in, package proxy): started detached with a PID file, stopped
by that PID, so any later command can stop what an earlier one started; and a process's tree
(what a benchmark measures, what a test kills as a dead machine would)."""

import os
import subprocess
from pathlib import Path

from sandbox import settings
from sandbox.hosts import probes


def pid_file(name: str) -> Path:
    return settings.PIDS_DIR / f"{name}.pid"


def running_pid(name: str) -> int | None:
    return probes.running_pid(pid_file(name))


def start(name: str, command: list[str], env: dict[str, str] | None = None) -> int:
    existing = running_pid(name)
    if existing is not None:
        return existing
    settings.PIDS_DIR.mkdir(parents=True, exist_ok=True)
    settings.LOGS_DIR.mkdir(parents=True, exist_ok=True)
    with (settings.LOGS_DIR / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=settings.PROJECT_DIR,
        )
    pid_file(name).write_text(str(process.pid))
    return process.pid


def stop(name: str, wait_s: float = 10.0) -> None:
    pid = running_pid(name)
    if pid is not None:
        probes.terminate(pid, wait_s, group=True)
    pid_file(name).unlink(missing_ok=True)


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (read from /proc; a process gone meanwhile is left
    out). Plugins of a Pulumi engine run in process groups of their own, so their group does
    not find them."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree = [root]
    for pid in tree:
        tree += [child for child, parent in parents.items() if parent == pid]
    return tree
