"""The audit's reports from results (pure), and the HTML page as a real browser renders it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.plugin import RESULTS_ENV
from audit.report import html_report, json_report, mandatory_failures, results_from
from tests.pop_specs import an_entry
from tests.project import PROJECT_ROOT
from verify.controls import catalogue, host_of
from verify.inventory import render_verify

pytestmark = pytest.mark.compliance

CHROMIUM = "/usr/bin/chromium"
# As root and offline: no sandbox, no background connections (this machine has no internet).
HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
META = {"target": "sandbox", "generated_at": "2026-12-03T12:00:00+00:00", "duration_s": 7.5}


CONTROLS = catalogue(PROJECT_ROOT / "verify")


def record(test: str, host: str, status: str, **extra: str) -> dict[str, str]:
    """One result as the audit's plugin writes it, with the check's control."""
    control = CONTROLS[test]
    return {
        "nodeid": f"verify/{test}[{host}]",
        "status": status,
        "control_id": control.id,
        "title": control.title,
        "rationale": control.rationale,
        "severity": control.severity,
        "host": host,
        **extra,
    }


RECORDS = [
    record("test_kernel_tuning.py::test_every_declared_sysctl_is_in_force", "sfu01", "passed"),
    record(
        "test_kernel_tuning.py::test_every_declared_sysctl_is_in_force",
        "sfu02",
        "failed",
        expected='{"net.ipv4.conf.all.accept_redirects": "0"}',
        observed='{"net.ipv4.conf.all.accept_redirects": "1"}',
        message="AssertionError: sysctl",
    ),
    record("test_base.py::test_journald_is_bounded", "sfu01", "passed"),
    record("test_base.py::test_journald_is_bounded", "sfu02", "failed", message="too big"),
    record("test_hardening.py::test_core_dumps_are_off", "sfu01", "skipped", message="allowed"),
    record("test_hardening.py::test_core_dumps_are_off", "sfu02", "passed"),
]


def test_every_control_has_a_stable_unique_id_and_a_known_severity() -> None:
    ids = [control.id for control in CONTROLS.values()]
    assert len(ids) == len(set(ids))
    assert all(c.severity in ("mandatory", "advisory") and c.rationale for c in CONTROLS.values())


def test_every_check_of_the_suites_carries_its_control() -> None:
    import ast

    checks = {
        f"{path.name}::{node.name}"
        for path in (PROJECT_ROOT / "verify").glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }
    assert checks == set(CONTROLS)


def test_a_test_id_names_its_host() -> None:
    assert host_of("verify/test_base.py::test_journald_is_bounded[sbx1-sfu02]") == "sbx1-sfu02"
    assert CONTROLS["test_base.py::test_journald_is_bounded"].id == "VP-BASE-03"


def test_the_audit_refuses_a_check_without_its_control(tmp_path: Path) -> None:
    """A check added without @control fails the audit's collection, naming it."""
    (tmp_path / "test_new.py").write_text("def test_something_new():\n    assert True\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "audit.plugin", "-p", "no:cacheprovider",
         f"--rootdir={tmp_path}", "-c", "/dev/null", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "test_something_new: no @control(...) on the check" in result.stdout + result.stderr


def test_the_json_report_is_inspec_shaped_and_counts_only_mandatory_failures() -> None:
    results = results_from(RECORDS)
    report = json_report(results, META)
    assert report["statistics"] == {
        "controls": 3,
        "hosts": 2,
        "passed": 3,
        "failed": 2,
        "skipped": 1,
        "mandatory_failed": 1,
    }
    kern = next(c for c in report["controls"] if c["id"] == "VP-KERN-01")
    assert kern["impact"] == 1.0 and kern["tags"] == {"severity": "mandatory"}
    failed = next(r for r in kern["results"] if r["status"] == "failed")
    assert failed["host"] == "sfu02"
    assert failed["observed"] == '{"net.ipv4.conf.all.accept_redirects": "1"}'
    assert [r.control.id for r in mandatory_failures(results)] == ["VP-KERN-01"]
    json.dumps(report)  # serialisable as it is


def test_the_html_report_lists_failures_mandatory_first_with_expected_and_observed() -> None:
    page = html_report(results_from(RECORDS), META)
    failures = page.split('id="failures"')[1].split("</table>")[0]
    assert failures.index("VP-KERN-01") < failures.index("VP-BASE-03")
    assert "net.ipv4.conf.all.accept_redirects&#34;: &#34;1&#34;" in failures  # escaped
    assert "<b>FAIL</b>" in page


@pytest.mark.browser
def test_chromium_renders_the_report_with_its_summary_matrix_and_failures(tmp_path: Path) -> None:
    page = tmp_path / "audit.html"
    page.write_text(html_report(results_from(RECORDS), META))
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [CHROMIUM, *HEADLESS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "Host audit — sandbox" in dom
    matrix = dom.split('id="matrix"')[1].split("</table>")[0]
    assert matrix.count("<tr>") == 4  # the header and three controls
    assert matrix.count('class="failed"') == 2
    shot = tmp_path / "audit.png"
    subprocess.run(
        [
            CHROMIUM,
            *HEADLESS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1280,900",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_the_audit_loads_the_suites_conftest_and_not_the_test_suites(tmp_path: Path) -> None:
    """`make audit` on production hosts runs the verification suites alone: the test suite's
    conftest (tiers, sandbox fixtures) must not load (collected only: no host is reached)."""
    from audit.__main__ import pytest_command

    inventory = tmp_path / "hosts.json"
    inventory.write_text(render_verify([an_entry("ams1-sfu01")]))
    command = [*pytest_command(1, tmp_path / "junit.xml"), "--co", "--trace-config"]
    collected = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env={**os.environ, "VOICEPOP_VERIFY_INVENTORY": str(inventory)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    registered = [line for line in collected.stdout.splitlines() if "conftest.py" in line]
    assert any("verify/conftest.py" in line for line in registered), registered
    assert not any("tests/conftest.py" in line for line in registered), registered
    assert "test_base.py::test_sshd_runs_with_keys_only[ams1-sfu01]" in collected.stdout


def test_an_audit_run_from_an_xdist_worker_still_writes_its_results(tmp_path: Path) -> None:
    """The audit's pytest inherits PYTEST_XDIST_WORKER when it runs under a worker (`make
    test` runs two): it is the controller of its own run all the same and writes the results
    (it wrote none, and the audit said the suites did not run)."""
    (tmp_path / "test_checked.py").write_text(
        "from verify.controls import control\n\n"
        "@control('VP-TEST-01', 'A check', 'Why it matters.')\n"
        "def test_checked():\n    assert True\n"
    )
    results = tmp_path / "results.jsonl"
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "audit.plugin", "-p", "no:cacheprovider",
         f"--rootdir={tmp_path}", "-c", "/dev/null", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, RESULTS_ENV: str(results), "PYTEST_XDIST_WORKER": "gw1"},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [record] = [json.loads(line) for line in results.read_text().splitlines()]
    assert record["status"] == "passed" and record["control_id"] == "VP-TEST-01"
