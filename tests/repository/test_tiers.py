"""Each test is marked with what it needs, from the fixtures it uses: `make test-offline`
selects exactly the tests that need nothing."""

import ipaddress
import subprocess
import sys

from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import worker_sandbox_settings
from tests.scheduling import rank, unit_of

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


def test_a_worker_is_given_whole_sandboxes_longest_first() -> None:
    """`make test`'s two workers: a package whose modules share a sandbox goes to one worker
    whole, any other module whole; the VM tier and the main job start first."""
    assert unit_of("tests/roles/anycast/test_calls.py::test_x") == "tests/roles/anycast/"
    assert unit_of("tests/roles/anycast/test_access.py::test_y[a]") == "tests/roles/anycast/"
    assert unit_of("tests/ops/fleet/test_pending.py::test_z") == "tests/ops/fleet/"
    assert unit_of("tests/roles/test_site_deploy.py::test_a") == "tests/roles/test_site_deploy.py"
    ranked = sorted(
        ["tests/audit/test_audit_report.py::t", "tests/e2e/test_main_job.py::t",
         "tests/roles/anycast/test_calls.py::t", "tests/roles/test_site_deploy.py::t"],
        key=rank,
    )  # fmt: skip
    assert [unit_of(nodeid) for nodeid in ranked] == [
        "tests/roles/test_site_deploy.py",
        "tests/e2e/test_main_job.py",
        "tests/roles/anycast/",
        "tests/audit/test_audit_report.py",
    ]


def test_each_worker_has_a_sandbox_of_its_own() -> None:
    first, second = worker_sandbox_settings("gw0"), worker_sandbox_settings("gw1")
    assert worker_sandbox_settings("") == first  # a run without workers: the first's
    assert all(first[key] != second[key] for key in first)
    assert ipaddress.ip_network(second["VOICEPOP_SANDBOX_NETWORK"]) != ipaddress.ip_network(
        "172.30.205.0/24"
    )  # the benchmarks' (bench/bench_sandbox.py)
