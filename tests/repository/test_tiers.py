"""Each test is marked with what it needs, from the fixtures it uses: `make test-offline`
selects exactly the tests that need nothing."""

import subprocess
import sys

from tests.project import PROJECT_ROOT

# the modules whose tiers the assertions name (the contract modules import schemathesis,
# which makes a collection slow, and hold only offline tests)
MODULES = (
    "tests/stacks/test_spec.py",
    "tests/stacks/test_engine_preview.py",
    "tests/plugins/test_flexmetal_lifecycle.py",
    "tests/plugins/test_flexmetal_on_the_engine.py",
    "tests/sandbox/test_sandbox_claims.py",
    "tests/e2e",
    "tests/roles",
)


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
    assert "tests/stacks/test_spec.py" in offline
    assert "tests/plugins/test_flexmetal_lifecycle.py" in offline  # the stand-in is a local process
    for module in (
        "e2e/test_main_job",
        "roles/test_site_deploy",
        "stacks/test_engine_preview",
        "plugins/test_flexmetal_on_the_engine",
        "sandbox/test_sandbox_claims",
    ):
        assert f"tests/{module}.py" not in offline
    assert collected("vm") == {"tests/roles/test_site_deploy.py"}
