"""Lynis's report as the audit reads it, and the waivers (offline)."""

import io
import re
import tarfile

import pytest

from audit.lynis import (
    LYNIS_TREE,
    Finding,
    LynisReport,
    Waiver,
    load_waivers,
    lynis_tarball,
    parse_report,
    unanswered,
)

REPORT = """\
# Lynis Report
report_version_major=1
hardening_index=81
suggestion[]=FILE-6310|Place /var on a separate partition|-|-|
suggestion[]=SSH-7408|Consider hardening SSH configuration|AllowTcpForwarding (set YES to NO)|-|
suggestion[]=SSH-7408|Consider hardening SSH configuration|Port (set 22 to )|-|
warning[]=FIRE-4590|No firewall active|-|-|
"""


def test_the_report_gives_the_index_and_each_finding_with_its_details() -> None:
    report = parse_report(REPORT)
    assert report.hardening_index == 81
    assert report.suggestions[0] == Finding("FILE-6310", "Place /var on a separate partition")
    assert report.suggestions[1].details == "AllowTcpForwarding (set YES to NO)"
    assert report.warnings == [Finding("FIRE-4590", "No firewall active")]


def test_a_report_without_an_index_is_an_audit_that_did_not_finish() -> None:
    with pytest.raises(ValueError, match="Lynis did not finish"):
        parse_report("report_version_major=1\n")


def test_a_waiver_covers_its_test_or_only_the_details_it_names() -> None:
    report = parse_report(REPORT)
    waivers = [
        Waiver("FILE-6310", "a container host has one file system"),
        Waiver("SSH-7408", "22 is the deploy's port", details="Port (set 22 to )"),
    ]
    left = unanswered(report, waivers)
    assert [(found.test, found.details) for found in left] == [
        ("SSH-7408", "AllowTcpForwarding (set YES to NO)"),
        ("FIRE-4590", ""),
    ]
    assert unanswered(LynisReport(90), waivers) == []


def test_every_waiver_of_the_project_says_why() -> None:
    waivers = load_waivers()
    assert len({(w.test, w.details) for w in waivers}) == len(waivers)  # no duplicates
    for waiver in waivers:
        assert re.fullmatch(r"[A-Z]{3,5}-[0-9]{4}|LYNIS", waiver.test), waiver  # LYNIS: its own
        assert len(waiver.reason) > 20, waiver


def test_lynis_travels_as_a_standalone_tree_owned_by_root() -> None:
    with tarfile.open(fileobj=io.BytesIO(lynis_tarball())) as tar:
        members = tar.getmembers()
    names = {member.name.split("/")[0] for member in members}
    assert names == set(LYNIS_TREE)
    assert all(member.uid == 0 and member.gid == 0 for member in members)
    assert any(member.name == "include/tests_ssh" for member in members)
