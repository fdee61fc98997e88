"""A killed test run must not poison the next one: a sandbox whose bridge or ports are held is
refused with the holder named, and a sandbox whose test run died is swept."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import API_TOKEN, SandboxUnderTest

pytestmark = pytest.mark.servers

# a bridge, network and ports of their own: the module sandboxes of other tests never meet these
CLAIMS_SANDBOX = {
    "VOICEPOP_SANDBOX_BRIDGE": "vptest9",
    "VOICEPOP_SANDBOX_NETWORK": "172.30.209.0/24",
    "VOICEPOP_SANDBOX_STANDIN_PORT": "18797",
    "VOICEPOP_SANDBOX_ROUTE53_PORT": "18798",
    "VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT": "15009",
    "VOICEPOP_SANDBOX_DNS_PORT": "18059",
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


def test_a_stand_in_that_died_is_started_again_and_one_restarted_by_hand_is_stopped(
    tmp_path: Path, sandbox_machine: None
) -> None:
    """`up` after the stand-in died: this sandbox's own Route 53 on its port is no conflict.
    `down` after the stand-in was restarted by hand, outside a process group of its own:
    stopped within its grace period (it used to wait for ever)."""
    sandbox = sandbox_in(tmp_path / "only", owner_pid=1)
    pid_file = sandbox.root / "sandbox" / "pids" / "flexmetal-standin.pid"
    try:
        assert sandbox.sandbox("up").returncode == 0
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        again = sandbox.sandbox("up")
        assert again.returncode == 0, again.stdout + again.stderr
        assert sandbox.client().list_servers() == []

        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        by_hand = subprocess.Popen(  # in this test's process group, as a shell's job would be
            [sys.executable, "-m", "sandbox.flexmetal", "serve", "--state",
             str(tmp_path / "by-hand.db"), "--listen", "127.0.0.1:18797"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "FLEXMETAL_TOKEN": API_TOKEN},
        )  # fmt: skip
        pid_file.write_text(str(by_hand.pid))
        for _ in range(100):
            if answers("http://127.0.0.1:18797/_standin/health"):
                break
            time.sleep(0.1)
        began = time.monotonic()
        stopped = sandbox.sandbox("down")
        assert stopped.returncode == 0, stopped.stderr
        assert time.monotonic() - began < 60
        assert by_hand.wait(timeout=5) is not None
    finally:
        sandbox.sandbox("down")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False
