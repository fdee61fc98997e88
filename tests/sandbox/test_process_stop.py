"""Stopping the sandbox's daemons is bounded: a process that leads no process group (one
restarted by hand) is still stopped, one that ignores SIGTERM is killed after the grace
period, and the caller's own group is never signalled. Real processes, no root."""

import os
import subprocess
import sys
import time

import pytest

from sandbox.hosts import probes

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
)


def started(*, own_group: bool, ignore_sigterm: bool = False) -> subprocess.Popen[bytes]:
    code = IGNORES_SIGTERM if ignore_sigterm else "import time; time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=own_group)
    time.sleep(0.3)  # its signal handler is in place
    return process


@pytest.mark.parametrize("own_group", [True, False])
def test_a_daemon_is_stopped_whether_or_not_it_leads_its_group(own_group: bool) -> None:
    process = started(own_group=own_group)
    assert probes.leads_group(process.pid) is own_group
    began = time.monotonic()
    probes.terminate(process.pid, wait_s=5, group=True)
    assert not probes.process_alive(process.pid)  # (reaped by terminate: no exit code here)
    assert time.monotonic() - began < 5  # stopped by SIGTERM, not the grace period's end
    assert os.getpgid(0) == os.getpgrp()  # this test's own group was not signalled


def test_a_daemon_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    process = started(own_group=False, ignore_sigterm=True)
    began = time.monotonic()
    probes.terminate(process.pid, wait_s=0.5, group=True)
    assert not probes.process_alive(process.pid)
    assert 0.5 <= time.monotonic() - began < probes.KILL_WAIT_S


def test_a_process_already_gone_is_no_error() -> None:
    process = started(own_group=True)
    process.kill()
    process.wait()
    probes.terminate(process.pid, wait_s=0.5, group=True)
