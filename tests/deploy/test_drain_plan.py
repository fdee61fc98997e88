"""What a deploy does about a host's service before it changes anything (deploy/runner.py),
with the host's answers stood in for (the real path: tests/e2e)."""

import io
from typing import Any

import pytest

from deploy import drain, runner
from deploy.results import DrainPlan
from roles.anycast.config import DRAIN_COMMAND
from tests.pop_specs import an_entry


def test_a_host_whose_first_run_failed_before_the_anycast_role_is_not_drained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen on `make up`: the first run failed in the SFU role, so the host has a deploy record
    but no voicepop-drain; the re-run restarts the SFU and tried to drain it ("No such file"),
    failing again. Nothing was announced: there is nothing to drain."""
    asked: list[str] = []

    def run_on(host: Any, command: str) -> tuple[int, str]:
        asked.append(command)
        return runner.COMMAND_NOT_FOUND, "bash: /usr/local/sbin/voicepop-drain: No such file"

    monkeypatch.setattr(drain, "run_on", run_on)
    plan = DrainPlan(deployed_before=True, restarts_sfu=True)
    held = runner._out_of_service(an_entry(), plan, lambda _: None, io.StringIO())
    assert held == (False, "in-service")
    assert asked == [f"{DRAIN_COMMAND} status"]  # asked, never told to drain
