"""The hosts to an independent auditor's bar: Lynis run on a deployed host of the PoP (the
folder's other tests prove every service still works with the same deploy), and its logs in
the sandbox's collector."""

import json
import os
import subprocess
import sys
import time

import pytest

from audit.lynis import TARGET_INDEX
from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import Inventory

pytestmark = pytest.mark.compliance


def test_lynis_rates_a_deployed_host_80_or_more_with_every_suggestion_answered(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    host = inventory.hosts()[0]["name"]
    audited = subprocess.run(
        [sys.executable, "-m", "audit.lynis", "--inventory", str(inventory.declared),
         "--host", host, "--json"],
        cwd=PROJECT_ROOT, env={**os.environ, **test_sandbox.env}, capture_output=True,
        text=True, check=False, timeout=900,
    )  # fmt: skip
    [result] = json.loads(audited.stdout)
    assert audited.returncode == 0, (result, audited.stderr[-2000:])
    assert result["host"] == host
    assert result["hardening_index"] >= TARGET_INDEX, result
    assert result["unanswered"] == [], result
    assert result["waived"] > 0  # what the waiver list answers is really suggested


def test_a_hosts_logs_reach_the_collector(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    """A message logged on the host arrives in the collector's log, with the host's name."""
    host = inventory.hosts()[1]
    marker = f"voicepop-collector-check-{time.monotonic_ns()}"
    test_sandbox.ssh(host["address"], f"logger -t voicepop-test {marker}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        collected = test_sandbox.collected_log.read_text().splitlines()
        arrived = [line for line in collected if marker in line]
        if arrived:
            break
        time.sleep(0.2)
    assert arrived, f"{marker} never reached {test_sandbox.collected_log}"
    assert f" {host['name']} voicepop-test " in arrived[0], arrived[0]
