"""The sandbox's log collector: octet-counted syslog over TCP (RFC 6587), as rsyslog's omfwd
sends it; the framing as pure logic, then the collector as a process on loopback."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.collector import FramingError, frames
from tests.project import PROJECT_ROOT


def test_complete_frames_are_taken_and_a_partial_one_waits() -> None:
    buffer = bytearray(b"5 hello11 hello world3 ab")
    assert frames(buffer) == [b"hello", b"hello world"]
    assert buffer == b"3 ab"  # one octet short
    buffer += b"c"
    assert frames(buffer) == [b"abc"] and buffer == b""


def test_a_message_may_hold_spaces_and_newlines_within_its_count() -> None:
    assert frames(bytearray(b"7 a b\nc d")) == [b"a b\nc d"]


@pytest.mark.parametrize(
    "sent",
    [b"<13>hello there", b"abc def", b"007 padded", b"99999999 too long", b"1234567"],
)
def test_what_is_not_octet_counted_is_refused(sent: bytes) -> None:
    with pytest.raises(FramingError):
        frames(bytearray(sent))


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "collected.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.collector", "127.0.0.1", str(port), str(log)],
        cwd=PROJECT_ROOT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the collector never listened"
                time.sleep(0.05)
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=10)


def lines_of(log: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{count} lines never arrived: {log.read_text() if log.exists() else ''}")


def octet_counted(message: str) -> bytes:
    data = message.encode()
    return str(len(data)).encode() + b" " + data


def test_the_collector_writes_each_message_a_line_whatever_the_segments(
    collector: tuple[int, Path],
) -> None:
    port, log = collector
    first = "<38>1 2026-12-07T06:00:00Z sbx1-sfu01 sshd 412 - - Accepted publickey for root"
    second = "<30>1 2026-12-07T06:00:01Z sbx1-sfu01 systemd 1 - - Started\nsession"
    stream = octet_counted(first) + octet_counted(second)
    with socket.create_connection(("127.0.0.1", port)) as sender:
        for at in range(0, len(stream), 7):  # in pieces that split counts and messages
            sender.sendall(stream[at : at + 7])
            time.sleep(0.001)
    assert lines_of(log, 2) == [first, second.replace("\n", " ")]


def test_a_broken_sender_is_dropped_and_the_others_still_heard(
    collector: tuple[int, Path],
) -> None:
    port, log = collector
    with socket.create_connection(("127.0.0.1", port)) as broken:
        broken.sendall(b"<13>not counted at all\n")
        broken.settimeout(5)
        assert broken.recv(1) == b""  # closed by the collector
    with socket.create_connection(("127.0.0.1", port)) as good:
        good.sendall(octet_counted("<14>still heard"))
    assert lines_of(log, 1) == ["<14>still heard"]
