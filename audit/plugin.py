"""The pytest plugin of the audit (`pytest -p audit.plugin`): every verification check gets
its control's properties (from its @control: they reach the JUnit XML; a check without one
fails the collection), and each result is written with them, as it comes, to the file named
by VOICEPOP_AUDIT_RESULTS (JSON lines), on the controller also under xdist."""

import json
import os
from typing import Any

import pytest

from verify.controls import control_of, host_of

RESULTS_ENV = "VOICEPOP_AUDIT_RESULTS"
CONTROL_PROPERTIES = ("control_id", "title", "severity", "rationale", "host")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        control = control_of(item)
        item.user_properties += [
            ("control_id", control.id),
            ("title", control.title),
            ("severity", control.severity),
            ("rationale", control.rationale),
            ("host", host_of(item.nodeid)),
        ]


def outcome_of(report: pytest.TestReport) -> str | None:
    """The control's result once known: setup failures and skips count, teardown does not."""
    if report.when == "call" or (report.when == "setup" and not report.passed):
        return str(report.outcome)  # passed, failed or skipped
    return None


MESSAGE_CHARS = 400


def message_of(report: pytest.TestReport) -> str:
    """Why a control failed or did not apply: the assertion's first line, bounded (the full
    traceback stays in the JUnit XML)."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        text = str(crash.message) if crash else str(report.longrepr)
        first = text.strip().splitlines()[0] if text.strip() else ""
        return first if len(first) <= MESSAGE_CHARS else first[: MESSAGE_CHARS - 1] + "…"
    return ""


IS_WORKER = False


def pytest_configure(config: pytest.Config) -> None:
    """An xdist worker of this run, by its config, never by PYTEST_XDIST_WORKER: an audit run
    from within an xdist worker (the project's own tests run in two) inherits that variable."""
    global IS_WORKER
    IS_WORKER = hasattr(config, "workerinput")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    outcome = outcome_of(report)
    path = os.environ.get(RESULTS_ENV)
    if outcome is None or not path:
        return
    if IS_WORKER:
        return  # the controller writes every worker's results
    properties: dict[str, Any] = dict(report.user_properties)
    record = {
        "nodeid": report.nodeid,
        "status": outcome,
        "message": message_of(report),
        "run_time": round(report.duration, 3),
        **{k: properties.get(k, "") for k in (*CONTROL_PROPERTIES, "expected", "observed")},
    }
    with open(path, "a") as results:
        results.write(json.dumps(record) + "\n")
