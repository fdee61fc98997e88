"""Each test is marked with what it needs, from the fixtures it uses: `make test-offline`
selects exactly the tests that need nothing."""

import subprocess
import sys

from tests.project import PROJECT_ROOT

# the modules whose tiers the assertions name (the contract modules import schemathesis,
# which makes a collection slow, and hold only offline tests)
MODULES = ("tests/unit/test_spec.py", "tests/servers", "tests/e2e", "tests/roles", "tests/engine")


def collected(marker: str) -> set[str]:
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker, *MODULES],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("::")[0] for line in listing.splitlines() if "::" in line}


def test_the_tiers_follow_the_fixtures_a_test_uses() -> None:
    offline = collected("offline")
    assert "tests/unit/test_spec.py" in offline
    assert "tests/servers/test_lifecycle.py" in offline  # the stand-in is a local process
    for module in (
        "e2e/test_main_job",
        "roles/test_site_deploy",
        "engine/test_preview",
        "servers/test_sandbox_stack",
        "servers/test_sandbox_claims",
    ):
        assert f"tests/{module}.py" not in offline
    assert collected("vm") == {"tests/roles/test_site_deploy.py"}
