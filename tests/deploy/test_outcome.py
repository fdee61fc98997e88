"""What the deploy step reads from pyinfra's and pytest's output, and when it runs again:
offline, on output captured from real runs."""

from pathlib import Path

import pytest

from deploy.outcome import (
    deploy_failure,
    failed_checks,
    failed_controls,
    grand_total,
    passed_checks,
)
from stacks.rollout.trigger import deploy_trigger, deployed_code_digest, deployed_files
from tests.project import PROJECT_ROOT

pytestmark = pytest.mark.spec

DATA = Path(__file__).parent / "data"
HOST = {"name": "sbx1-sfu01", "address": "192.0.2.10", "kernel_tuning": {"somaxconn": 4096}}


def test_the_results_table_gives_changed_and_failed_operations() -> None:
    output = (DATA / "pyinfra-failed-firewall.txt").read_text()
    totals = grand_total(output)
    assert totals is not None and (totals.changed, totals.errors) == (23, 35)
    clean = "    Grand total            52      -         -       52   \n"
    assert grand_total(clean) == type(totals)(0, 0)
    assert grand_total("--> pyinfra error: no hosts remaining\n") is None


def test_a_failed_deploy_names_the_operation_and_its_error_lines() -> None:
    failure = deploy_failure((DATA / "pyinfra-failed-firewall.txt").read_text())
    assert failure.step == "Firewall | Check, then load the ruleset in one transaction"
    assert any("syntax error" in line for line in failure.detail)
    assert failure.detail[-1].endswith("Error: executed 0 commands")


def test_a_failure_before_any_operation_is_named_as_such() -> None:
    failure = deploy_failure("--> Loading inventory...\n--> pyinfra error: could not connect\n")
    assert failure.step.startswith("preparing the deploy")
    assert failure.detail == ["--> pyinfra error: could not connect"]


def test_failed_controls_are_listed_with_their_host_and_reason() -> None:
    output = (
        "..F.\n=========================== short test summary info ===\n"
        "FAILED verify/test_kernel_tuning.py::test_sysctl[sbx1-sfu02]"
        " - assert 16384 == 32768\n"
        "ERROR verify/test_sfu.py::test_health[sbx1-sfu02]\n"
        "1 failed, 27 passed in 3.1s\n"
    )
    assert failed_controls(output) == [
        "test_kernel_tuning.py::test_sysctl[sbx1-sfu02] - assert 16384 == 32768",
        "test_sfu.py::test_health[sbx1-sfu02]",
    ]


def test_a_settle_loop_runs_again_the_checks_that_failed_each_once() -> None:
    output = (
        "\x1b[31mFAILED verify/test_anycast.py::test_every_session_is_established[h1]\x1b[0m"
        " - assert 'Active' == 'Established'\n"
        "ERROR verify/test_sfu.py::test_health[h2] - ConnectionResetError\n"
        "FAILED verify/test_anycast.py::test_every_session_is_established[h1]\n"
        "1 failed, 1 error, 36 passed, 6 skipped in 4.0s\n"
    )
    assert failed_checks(output) == [
        "verify/test_anycast.py::test_every_session_is_established[h1]",
        "verify/test_sfu.py::test_health[h2]",
    ]
    assert passed_checks(output) == 36
    assert passed_checks("ERROR: file or directory not found: verify/x.py\n") == 0


def test_the_trigger_follows_the_host_and_the_roles_only() -> None:
    same = deploy_trigger(dict(HOST), "roles-a")
    assert deploy_trigger(dict(reversed(HOST.items())), "roles-a") == same  # key order
    assert deploy_trigger({**HOST, "kernel_tuning": {"somaxconn": 8192}}, "roles-a") != same
    assert deploy_trigger({**HOST, "address": "192.0.2.11"}, "roles-a") != same
    assert deploy_trigger(HOST, "roles-b") != same
    reinstalled = "uuid/reinstalled@2026-11-30T15:00:00Z"
    assert deploy_trigger(HOST, "roles-a", installation=reinstalled) != same


def test_the_code_digest_changes_with_any_role_file(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "sfu"
    (role / "__pycache__").mkdir(parents=True)
    (role / "deploy.py").write_text("print('v1')\n")
    first = deployed_code_digest(tmp_path)
    (role / "__pycache__" / "deploy.cpython-311.pyc").write_bytes(b"\0")
    assert deployed_code_digest(tmp_path) == first, "compiled files do not count"
    (role / "template.conf").write_text("x = 1\n")
    second = deployed_code_digest(tmp_path)
    assert second != first
    (role / "deploy.py").write_text("print('v2')\n")
    assert deployed_code_digest(tmp_path) != second


def test_a_change_to_a_verification_suite_alone_changes_the_trigger(tmp_path: Path) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "roles" / "site.py").write_text("deploy()\n")
    suites = tmp_path / "verify"
    suites.mkdir(parents=True)
    (suites / "test_sfu.py").write_text("def test_a(): ...\n")
    before = deploy_trigger(HOST, deployed_code_digest(tmp_path))
    (suites / "test_sfu.py").write_text("def test_a(): ...\ndef test_b(): ...\n")
    assert deploy_trigger(HOST, deployed_code_digest(tmp_path)) != before
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "unit.py").write_text("other tests do not count\n")
    after = deploy_trigger(HOST, deployed_code_digest(tmp_path))
    (tmp_path / "tests" / "unit.py").write_text("changed\n")
    assert deploy_trigger(HOST, deployed_code_digest(tmp_path)) == after


def test_the_real_suites_are_part_of_the_deployed_code() -> None:
    files = {str(path.relative_to(PROJECT_ROOT)) for path in deployed_files(PROJECT_ROOT)}
    assert "verify/test_sfu.py" in files and "roles/site.py" in files
    assert not any(name.startswith("tests/") for name in files)
