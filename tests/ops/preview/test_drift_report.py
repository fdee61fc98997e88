"""The drift report and its exit status, from what the three checks found (pure); the checks
themselves run for real in the e2e (a sysctl and a provider tag) and the sandbox stack module
(a server released at the provider)."""

import pytest

from ops.drift import DRIFT, DRIFT_MARKER, ERROR, NO_DRIFT, DriftReport, render_drift
from ops.preview.events import HostChange, PropertyChange, ResourceChange, StackPreview

pytestmark = pytest.mark.preview

TAGGED = ResourceChange(
    "urn:pulumi:sandbox::voicepop::flexmetal:index:Server::sbx1-sfu02",
    "flexmetal:index:Server",
    "update",
    (PropertyChange("tags", ["vp-pop:sbx1"], ["vp-pop:sbx1", "oob:someone"]),),
)


def test_nothing_found_is_no_drift() -> None:
    report = DriftReport("sandbox", StackPreview("sandbox"), hosts_verified=3)
    assert report.exit_status == NO_DRIFT
    text = render_drift(report)
    assert text.startswith(DRIFT_MARKER) and "✅ **No drift**" in text
    assert "| Verification (3 host(s)) | 0 failed control(s) |" in text


def test_each_kind_of_finding_is_drift_and_is_listed() -> None:
    found = StackPreview(
        "sandbox",
        changes=[TAGGED],
        host_changes=[HostChange("sbx1-sfu01", "Kernel tuning", "Set net.ipv4.udp_rmem_min")],
    )
    report = DriftReport("sandbox", found, ["test_kernel.py::test_x[sbx1-sfu01]"], 3)
    assert report.exit_status == DRIFT
    text = render_drift(report)
    assert "⚠️ **Drift found**" in text
    assert "| 🟡 update | `sbx1-sfu02` | `flexmetal:index:Server` | `tags` |" in text
    assert "| Kernel tuning | Set net.ipv4.udp_rmem_min | `sbx1-sfu01` |" in text
    assert "- `test_kernel.py::test_x[sbx1-sfu01]`" in text
    only_a_control = DriftReport("sandbox", StackPreview("sandbox"), ["c[h]"], 1)
    assert only_a_control.exit_status == DRIFT


def test_what_could_not_be_checked_is_an_error_not_a_clean_bill() -> None:
    found = StackPreview("sandbox", host_errors=["the roles' dry run failed: no route to host"])
    report = DriftReport("sandbox", found)
    assert report.exit_status == ERROR
    assert "❌ **Could not check all of it**" in render_drift(report)


def test_without_hosts_the_report_says_they_were_not_checked() -> None:
    report = DriftReport("sandbox", StackPreview("sandbox", changes=[TAGGED]), hosts_checked=False)
    assert report.exit_status == DRIFT
    assert "| Hosts | not checked (`--no-hosts`) |" in render_drift(report)


def test_the_repair_takes_the_hosts_the_plan_or_the_controls_name() -> None:
    from ops.repair import drifted_hosts

    found = StackPreview(
        "sandbox", host_changes=[HostChange("sbx1-sfu01", "Firewall", "Load the ruleset")]
    )
    controls = [
        "test_kernel_tuning.py::test_sysctl[sbx1-sfu03-net.ipv4.udp_rmem_min] - 8192",
        "test_sfu.py::test_config[sbx1-sfu1] - another host's name is no match",
    ]
    report = DriftReport("sandbox", found, controls, 3)
    hosts = ["sbx1-sfu01", "sbx1-sfu02", "sbx1-sfu03"]
    assert drifted_hosts(report, hosts) == ["sbx1-sfu01", "sbx1-sfu03"]
    assert "`make repair STACK=sandbox`" in render_drift(report)
    assert "make repair" not in render_drift(DriftReport("sandbox", StackPreview("sandbox")))
