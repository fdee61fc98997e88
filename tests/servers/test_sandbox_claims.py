"""A killed test run must not poison the next one: a sandbox whose bridge or ports are held is
refused with the holder named, and a sandbox whose test run died is swept."""

import subprocess
from pathlib import Path

import pytest

from tests.sandbox_fixture import SandboxUnderTest

pytestmark = pytest.mark.servers

# a bridge, network and ports of their own: the module sandboxes of other tests never meet these
CLAIMS_SANDBOX = {
    "VOICEPOP_SANDBOX_BRIDGE": "vptest9",
    "VOICEPOP_SANDBOX_NETWORK": "172.30.209.0/24",
    "VOICEPOP_SANDBOX_STANDIN_PORT": "18797",
    "VOICEPOP_SANDBOX_ROUTE53_PORT": "18798",
}


def sandbox_in(folder: Path, owner_pid: int) -> SandboxUnderTest:
    folder.mkdir()
    return SandboxUnderTest(folder, settings=dict(CLAIMS_SANDBOX), owner_pid=owner_pid)


def test_a_sandbox_left_by_a_dead_test_run_is_refused_then_swept(
    tmp_path: Path, sandbox_machine: None
) -> None:
    test_run = subprocess.Popen(["sleep", "600"])  # stands in for a test run that gets killed
    first = sandbox_in(tmp_path / "first", test_run.pid)
    second = sandbox_in(tmp_path / "second", owner_pid=1)  # a live owner: PID 1
    try:
        assert first.sandbox("up").returncode == 0
        test_run.kill()
        test_run.wait()

        refused = second.sandbox("up")
        assert refused.returncode != 0
        message = refused.stdout + refused.stderr
        assert f"bridge vptest9 belongs to the sandbox in {first.root / 'sandbox'}" in message
        assert "its test run is gone" in message and "python -m sandbox down" in message
        assert "python -m sandbox sweep" in message

        swept = second.sandbox("sweep")
        assert swept.returncode == 0, swept.stderr
        assert f"stopped the orphaned sandbox in {first.root / 'sandbox'}" in swept.stdout
        assert first.sandbox("status").returncode == 0
        started = second.sandbox("up")
        assert started.returncode == 0, started.stdout + started.stderr
        assert second.client().list_servers() == []  # its own, empty stand-in
    finally:
        second.sandbox("down")
        first.sandbox("down")


def test_a_live_sandbox_is_never_swept_and_its_holder_is_named(
    tmp_path: Path, sandbox_machine: None
) -> None:
    first = sandbox_in(tmp_path / "first", owner_pid=1)
    second = sandbox_in(tmp_path / "second", owner_pid=1)
    try:
        assert first.sandbox("up").returncode == 0
        assert second.sandbox("sweep").stdout == ""
        refused = second.sandbox("up")
        assert refused.returncode != 0
        assert "it is live" in refused.stdout + refused.stderr
        assert first.client().list_servers() == []  # still serving
    finally:
        first.sandbox("down")
    assert second.sandbox("up").returncode == 0
    second.sandbox("down")


def test_a_port_held_by_another_process_is_named(tmp_path: Path, sandbox_machine: None) -> None:
    holder = subprocess.Popen(["python3", "-m", "http.server", "-b", "127.0.0.1", "18797"])
    sandbox = sandbox_in(tmp_path / "only", owner_pid=1)
    try:
        for _ in range(50):
            if subprocess.run(
                ["ss", "-Hltn", "sport = :18797"], capture_output=True, text=True, check=False
            ).stdout:
                break
            subprocess.run(["sleep", "0.1"], check=False)
        refused = sandbox.sandbox("up")
        assert refused.returncode != 0
        assert f"port 18797: PID {holder.pid} (python3 -m http.server" in refused.stderr
    finally:
        holder.kill()
        sandbox.sandbox("down")
