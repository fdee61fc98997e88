"""The alert rules, offline with Prometheus's own `promtool` (Debian's, installed by `make
setup`): they load, their unit tests pass and can fail, every alert is tested fired and not
fired, has a severity and a runbook entry, and reads only metrics that something exports."""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring.queries import (
    MONITORING,
    OTHER_EXPORTERS,
    exported_by_the_prober,
    metrics_read,
    promtool,
)

RULES = MONITORING / "rules" / "voicepop.rules.yml"
RULE_TESTS = MONITORING / "rules" / "voicepop.test.yml"
RUNBOOK = MONITORING / "RUNBOOK.md"
SEVERITIES = {"page", "ticket"}


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def rules_tool(*args: str, cwd: Path = MONITORING / "rules") -> Any:
    return promtool(*args, cwd=cwd)


def test_the_rules_load() -> None:
    checked = rules_tool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in checked.stdout


def test_the_rules_unit_tests_pass() -> None:
    tested = rules_tool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_unit_tests_fail_when_a_bound_moves(tmp_path: Path) -> None:
    """The tests hold the rules to their bounds: a MOS bound moved from 3.6 to 3.0 fails."""
    moved = RULES.read_text().replace(
        'voicepop_call_mos{path="unicast"}[5m]) < 3.6',
        'voicepop_call_mos{path="unicast"}[5m]) < 3.0',
    )
    assert moved != RULES.read_text()
    (tmp_path / RULES.name).write_text(moved)
    shutil.copy(RULE_TESTS, tmp_path)
    tested = rules_tool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert tested.returncode != 0
    assert "alertname: VoicepopServerMosLow" in tested.stdout + tested.stderr


def test_every_alert_is_tested_fired_and_not_fired() -> None:
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    untested = {
        rule["alert"]: sorted(cases.get(rule["alert"], set()))
        for rule in alerts()
        if cases.get(rule["alert"]) != {True, False}
    }
    assert untested == {}, "alert -> the cases it has (True: fired)"
    assert set(cases) <= {rule["alert"] for rule in alerts()}, "a test of no rule"


def runbook_entries() -> list[str]:
    return re.findall(r"^### (\w+)$", RUNBOOK.read_text(), re.MULTILINE)


def test_every_alert_has_a_severity_and_its_runbook_entry() -> None:
    entries = runbook_entries()
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["runbook_url"] == f"monitoring/RUNBOOK.md#{name.lower()}"
        assert name in entries, f"{name}: no entry in {RUNBOOK.name}"
    assert sorted(entries) == sorted(rule["alert"] for rule in alerts()), "an entry of no rule"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_every_metric_a_rule_reads_is_exported(rule: dict[str, Any]) -> None:
    read = metrics_read(rule["expr"])
    assert read, rule["expr"]
    unknown = read - exported_by_the_prober() - set(OTHER_EXPORTERS)
    assert unknown == set(), f"{rule['alert']} reads metrics nothing exports"
