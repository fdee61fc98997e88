"""The media gate's agent (roles/anycast/media_agent.py), offline: verdicts signed and
verified, stale ones ignored (a silent prober keeps no server out), the drain's steps in BIRD's
state and the out-of-service flag, run as the host runs it against a stand-in for birdc and a
prober serving its verdicts on loopback."""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from roles.anycast import config as rendered
from roles.anycast import media_agent
from roles.anycast.media_agent import DRAINED, DRAINING, IN_SERVICE, sign, wanted_state

pytestmark = pytest.mark.anycast

SECRET = "the-pops-token-secret"
NOW = 1_800_000_000.0


def verdict(drained: list[str], issued_at: float = NOW, secret: str = SECRET) -> dict[str, Any]:
    return sign({"pop": "ams1", "issued_at": issued_at, "drained": drained}, secret)


def test_the_agent_sets_the_variable_bird_reads() -> None:
    """The agent stands alone on the host (standard library only): its variable is the role's."""
    assert rendered.MEDIA.variable == media_agent.VARIABLE


def test_a_fresh_signed_verdict_is_followed() -> None:
    assert wanted_state([verdict(["ams1-sfu01"])], "ams1-sfu01", [SECRET], NOW + 5, 120) == DRAINED
    assert wanted_state([verdict([])], "ams1-sfu01", [SECRET], NOW + 5, 120) == IN_SERVICE


@pytest.mark.parametrize(
    "document",
    [
        verdict(["ams1-sfu01"], secret="another-pops-secret"),  # not signed with ours
        {**verdict(["ams1-sfu02"]), "drained": ["ams1-sfu01"]},  # changed after signing
        verdict(["ams1-sfu01"], issued_at=NOW - 121),  # stale
        verdict(["ams1-sfu01"], issued_at=NOW + 60),  # from the future
        {"drained": ["ams1-sfu01"]},  # unsigned
        None,  # the prober did not answer
    ],
)
def test_a_verdict_not_fresh_or_not_ours_leaves_the_server_in_service(document: Any) -> None:
    assert wanted_state([document], "ams1-sfu01", [SECRET], NOW, 120) == IN_SERVICE


def test_the_first_fresh_verdict_counts_and_a_rotations_previous_secret_verifies() -> None:
    documents = [None, verdict(["ams1-sfu01"], secret="old"), verdict([])]
    assert wanted_state(documents, "ams1-sfu01", [SECRET, "old"], NOW, 120) == DRAINED


@pytest.fixture
def birdc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `birdc` on PATH that records each call and answers as BIRD does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "birdc.log"
    (bin_dir / "birdc").write_text(f'#!/bin/sh\necho "$@" >> {log}\necho Reconfigured\n')
    (bin_dir / "birdc").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_a_drain_tags_waits_then_withdraws_and_raises_the_flag(tmp_path: Path, birdc: Path) -> None:
    state, flag = tmp_path / "media.conf", tmp_path / "run" / "out-of-service"
    state.write_text("define VOICEPOP_MEDIA = 0;\n")
    seen: list[str] = []

    def waited(seconds: float) -> None:  # what BIRD holds while the drain waits
        seen.append(f"{state.read_text().strip()} for {seconds:g} s, flag {flag.exists()}")

    media_agent.apply(DRAINED, state, flag, 30, sleep=waited)
    assert seen == ["define VOICEPOP_MEDIA = 1; for 30 s, flag False"]
    assert media_agent.current_state(state) == DRAINED and flag.exists()
    media_agent.apply(DRAINED, state, flag, 30, sleep=waited)  # already drained: nothing
    assert len(seen) == 1 and birdc.read_text().count("configure") == 2
    flag.unlink()  # a reboot empties /run: the flag follows the state again
    media_agent.apply(DRAINED, state, flag, 30, sleep=waited)
    assert flag.exists() and len(seen) == 1
    media_agent.apply(IN_SERVICE, state, flag, 30, sleep=waited)
    assert media_agent.current_state(state) == IN_SERVICE and not flag.exists()
    assert birdc.read_text().count("configure") == 3
    assert DRAINING == 1


class Prober(BaseHTTPRequestHandler):
    document: ClassVar[dict[str, Any]] = {}  # what the prober serves now

    def do_GET(self) -> None:
        body = json.dumps(Prober.document).encode()
        self.send_response(200 if self.path == "/verdicts" else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def eventually(condition: Callable[[], bool], limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


@pytest.fixture
def prober() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Prober)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_agent_as_the_host_runs_it_drains_on_a_verdict_and_returns(
    tmp_path: Path, birdc: Path, prober: str
) -> None:
    state, flag, secret = tmp_path / "media.conf", tmp_path / "run" / "flag", tmp_path / "key"
    state.write_text("define VOICEPOP_MEDIA = 0;\n")
    secret.write_text(f"{SECRET}\n")
    Prober.document = verdict(["ams1-sfu01"], issued_at=time.time())
    agent = subprocess.Popen(
        [sys.executable, media_agent.__file__, "run", "--server", "ams1-sfu01", "--source",
         prober, "--secret-file", str(secret), "--state", str(state), "--flag", str(flag),
         "--drain-wait-s", "0.5", "--poll-s", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def drained() -> bool:
        return media_agent.current_state(state) == DRAINED and flag.exists()

    def in_service() -> bool:  # the flag goes first, then BIRD's state: both, not one
        return media_agent.current_state(state) == IN_SERVICE and not flag.exists()

    try:
        assert eventually(drained, 20)
        Prober.document = verdict([], issued_at=time.time())
        assert eventually(in_service, 20)
    finally:
        agent.terminate()
        output, _ = agent.communicate(timeout=5)
    assert "draining (65535:0)" in output and "in service" in output
    status = [sys.executable, media_agent.__file__, "status", "--state", str(state)]
    assert subprocess.run(status, capture_output=True, text=True).stdout == "in-service\n"
