"""Each test is marked with what it needs, from the fixtures it uses: `make test-offline`
selects exactly the tests that need nothing."""

import subprocess
import sys

from tests.project import PROJECT_ROOT


def collected(marker: str) -> set[str]:
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("::")[0] for line in listing.splitlines() if "::" in line}


def test_offline_leaves_out_every_module_with_hosts_or_the_engine() -> None:
    offline = collected("offline")
    assert "tests/unit/test_spec.py" in offline
    assert "tests/servers/test_lifecycle.py" in offline  # the stand-in is a local process
    for module in (
        "e2e/test_main_job",
        "roles/test_site_deploy",
        "anycast/test_announcements",
        "dns/test_route53",
        "engine/test_preview",
        "servers/test_sandbox_stack",
    ):
        assert f"tests/{module}.py" not in offline


def test_the_vm_tier_is_what_asks_for_a_vm_host() -> None:
    assert collected("vm") == {
        "tests/roles/test_site_deploy.py",
        "tests/servers/test_host_tiers.py",
    }
    assert "tests/e2e/test_main_job.py" in collected("hosts and not vm")
