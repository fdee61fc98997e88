"""Which sandbox holds a bridge and its ports. Two sandboxes can share neither: the second would
start "successfully", then talk to the first one's stand-in (a test run killed before its
teardown leaves its sandbox running). `up` claims the bridge in a machine-wide registry (under
/run, so a reboot, which stops every sandbox, forgets every claim) and refuses to start beside
a live sandbox or any other holder of its ports, naming it and how to stop it. `sweep` stops a
sandbox whose owning process (a test run) is gone.

A claim is the settings the sandbox was started with, so its `down` can be run from anywhere.
"""

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from sandbox import settings
from sandbox.hosts import probes

REGISTRY = Path(os.environ.get("VOICEPOP_SANDBOX_REGISTRY", "/run/voicepop-sandboxes"))
SETTINGS_PREFIX = "VOICEPOP_SANDBOX_"
# The process whose life the sandbox belongs to (a test run sets its own PID); none: a
# developer's sandbox, which lives until `make down`.
OWNER_PID = os.environ.get("VOICEPOP_SANDBOX_OWNER_PID")


@dataclass(frozen=True)
class Claim:
    bridge: str
    state_dir: str
    owner_pid: int | None
    environment: dict[str, str]  # the VOICEPOP_SANDBOX_* settings it was started with

    @property
    def orphaned(self) -> bool:
        """Its owning process is gone: nobody will tear it down."""
        return self.owner_pid is not None and not probes.process_alive(self.owner_pid)

    def down_command(self) -> str:
        assignments = " ".join(f"{k}={v}" for k, v in sorted(self.environment.items()))
        return f"{assignments} python -m sandbox down"


def claim_path(bridge: str) -> Path:
    return REGISTRY / f"{bridge}.json"


def current_claim() -> Claim:
    environment = {k: v for k, v in os.environ.items() if k.startswith(SETTINGS_PREFIX)}
    environment["VOICEPOP_SANDBOX_DIR"] = str(settings.STATE_DIR)
    environment.pop("VOICEPOP_SANDBOX_OWNER_PID", None)
    owner = int(OWNER_PID) if OWNER_PID else None
    return Claim(settings.BRIDGE, str(settings.STATE_DIR), owner, environment)


def read_claim(bridge: str) -> Claim | None:
    try:
        return Claim(**json.loads(claim_path(bridge).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_claim(claim: Claim) -> None:
    REGISTRY.mkdir(parents=True, exist_ok=True)
    claim_path(claim.bridge).write_text(json.dumps(asdict(claim), indent=1) + "\n")


def release_claim(bridge: str) -> None:
    mine = read_claim(bridge)
    if mine is not None and mine.state_dir == str(settings.STATE_DIR):
        claim_path(bridge).unlink(missing_ok=True)


def port_holder(listen: str) -> tuple[int | None, str] | None:
    """Who listens on `host:port`: its PID (None if this user cannot see it) and a
    description; None when the port is free."""
    host, port = listen.rsplit(":", 1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
            return None
        except OSError:
            pass
    listing = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    pid = re.search(r"pid=(\d+)", listing)
    if not pid:
        return None, f"port {port}: in use by a process this user cannot see"
    holder = int(pid.group(1))
    return holder, f"port {port}: PID {holder} ({command_line(holder)})"


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "gone"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def conflicts(claim: Claim, ours: Mapping[str, int | None]) -> list[str]:
    """Why this sandbox cannot start: another live sandbox on its bridge, or another process
    on one of its ports (`ours`: each port's daemon of this sandbox, by its listen address,
    and its PID if it runs: our own daemon on its port is no conflict). Empty when it may."""
    found = []
    other = read_claim(claim.bridge)
    if other is not None and other.state_dir != claim.state_dir:
        why = "its test run is gone" if other.orphaned else "it is live"
        found.append(
            f"bridge {claim.bridge} belongs to the sandbox in {other.state_dir} ({why}); "
            f"stop it with: {other.down_command()}"
            + ("  (or: python -m sandbox sweep)" if other.orphaned else "")
        )
    for listen, our_pid in ours.items():
        holder = port_holder(listen)
        if holder is not None and (our_pid is None or holder[0] != our_pid):
            found.append(
                f"{holder[1]}; stop it, or give this sandbox other ports (a stand-in of this "
                "sandbox that was restarted by hand: python -m sandbox restart-standin)"
            )
    return found


def sweep() -> list[Claim]:
    """The orphaned sandbox claiming this sandbox's bridge, stopped; a live one is left."""
    other = read_claim(settings.BRIDGE)
    if other is None or other.state_dir == str(settings.STATE_DIR) or not other.orphaned:
        return []
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIX)}
    subprocess.run(
        [sys.executable, "-m", "sandbox", "down"],
        cwd=settings.PROJECT_DIR,
        env={**inherited, **other.environment},
        check=True,
    )
    claim_path(other.bridge).unlink(missing_ok=True)
    return [other]
