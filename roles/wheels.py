"""The wheels of a role's Python tools (anycast-healthchecker, certbot), built once on the
control machine and cached outside the work tree by their requirements' content (hosts have
no route to a package index): each role pins its own in a requirements file beside it, and
installs them with `venv_from_wheels` into a venv of the tool's own on the host."""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyinfra.api.facts import FactBase
from pyinfra.context import host
from pyinfra.operations import files, server

from roles.python_tools import PythonTool

HOST_WHEELS = "/opt/voicepop/wheels"  # where the hosts' pip finds them


def cache_root() -> Path:
    base = (
        os.environ.get("VOICEPOP_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voicepop"
    )
    return Path(base) / "wheels"


def wheelhouse(requirements: Path) -> Path:
    """The folder of wheels for `requirements`, built with this Python's pip if not cached."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    folder = cache_root() / digest
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / ".lock").open("w") as lock:
        wait_for_lock(lock.fileno())  # one build, however many hosts and runs ask at once
        if not folder.is_dir():
            build(folder, requirements)
    return folder


def wait_for_lock(fd: int) -> None:
    """pyinfra prepares its hosts in gevent greenlets: a blocking wait would stop the greenlet
    holding the lock too, so poll and yield."""
    pause = sys.modules["gevent"].sleep if "gevent" in sys.modules else time.sleep
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pause(0.1)


def index_environment() -> dict[str, str]:
    """pip's environment: its trust is its own (PIP_CERT, pip.conf's `cert`, or the system's
    roots). A REQUESTS_CA_BUNDLE here names the roots of the SFUs' ACME CA, which the deploy's
    callers trust (deploy/runner.py, the sandbox's tests), and which no package index chains
    to; requests lets it override pip's own setting, so it is left out."""
    return {key: value for key, value in os.environ.items() if key != "REQUESTS_CA_BUNDLE"}


def build(folder: Path, requirements: Path) -> None:
    scratch = tempfile.mkdtemp(dir=folder.parent)
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "-r",
                str(requirements),
                "-w",
                scratch,
            ],
            check=True,
            env=index_environment(),
        )
        os.rename(scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class VenvPackageVersion(FactBase[str]):
    """The version of `package` installed in the venv at `venv` ("": none, or no venv)."""

    def command(self, venv: str, package: str) -> str:
        query = f"import importlib.metadata as m; print(m.version('{package}'))"
        return f'{venv}/bin/python -c "{query}" 2>/dev/null || true'

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else ""


def venv_from_wheels(tool: PythonTool, fresh: bool = False) -> None:
    """The tool at its pinned version in its venv, from the wheels of its requirements;
    nothing done when that version is there already, unless `fresh` (its other pins moved)."""
    installed = host.get_fact(VenvPackageVersion, venv=tool.venv, package=tool.package)
    if installed == tool.version and not fresh:
        return
    files.directory(name="Wheels folder", path=HOST_WHEELS)
    for wheel in sorted(wheelhouse(tool.requirements).glob("*.whl")):
        files.put(name=f"Wheel {wheel.name}", src=str(wheel), dest=f"{HOST_WHEELS}/{wheel.name}")
    server.shell(
        name=f"{tool.package} {tool.version} in its own venv",
        commands=tool.install_commands(HOST_WHEELS),
    )
