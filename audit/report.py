"""The audit's reports from its results, pure: the JSON report in the spirit of InSpec's
(controls with id, title, impact, tags, results with status, message, host, expected and
observed) and an HTML page an auditor opens (a summary, controls by hosts, every failure with
what was expected and what the host showed)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader

from verify.controls import Control

IMPACT = {"mandatory": 1.0, "advisory": 0.5}  # InSpec's impact for the JSON report


@dataclass(frozen=True)
class Result:
    control: Control
    host: str
    status: str  # passed, failed, skipped
    message: str = ""
    expected: str = ""
    observed: str = ""
    run_time: float = 0.0


def results_from(records: Sequence[dict[str, Any]]) -> list[Result]:
    return [
        Result(
            Control(r["control_id"], r["title"], r["rationale"], r["severity"]),
            r["host"],
            r["status"],
            r.get("message", ""),
            r.get("expected", ""),
            r.get("observed", ""),
            float(r.get("run_time", 0.0)),
        )
        for r in records
    ]


def mandatory_failures(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if r.status == "failed" and r.control.severity == "mandatory"]


def controls_in_order(results: Sequence[Result]) -> list[Control]:
    return sorted({r.control for r in results}, key=lambda c: c.id)


def json_report(results: Sequence[Result], meta: dict[str, Any]) -> dict[str, Any]:
    controls = []
    for control in controls_in_order(results):
        own = sorted((r for r in results if r.control == control), key=lambda r: r.host)
        controls.append(
            {
                "id": control.id,
                "title": control.title,
                "desc": control.rationale,
                "impact": IMPACT[control.severity],
                "tags": {"severity": control.severity},
                "results": [
                    {
                        "status": r.status,
                        "code_desc": f"{control.id} on {r.host}",
                        "host": r.host,
                        "message": r.message,
                        "expected": r.expected,
                        "observed": r.observed,
                        "run_time": r.run_time,
                    }
                    for r in own
                ],
            }
        )
    return {
        **meta,
        "statistics": statistics(results),
        "hosts": sorted({r.host for r in results}),
        "controls": controls,
    }


def statistics(results: Sequence[Result]) -> dict[str, int]:
    return {
        "controls": len({r.control for r in results}),
        "hosts": len({r.host for r in results}),
        "passed": sum(r.status == "passed" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        "mandatory_failed": len(mandatory_failures(results)),
    }


def html_report(results: Sequence[Result], meta: dict[str, Any]) -> str:
    environment = Environment(
        loader=PackageLoader("audit", "templates"),
        autoescape=True,  # host output is text
    )
    hosts = sorted({r.host for r in results})
    cells = {(r.control.id, r.host): r for r in results}
    return environment.get_template("report.html.j2").render(
        meta=meta,
        stats=statistics(results),
        hosts=hosts,
        controls=controls_in_order(results),
        cells=cells,
        failures=sorted(
            (r for r in results if r.status == "failed"),
            key=lambda r: (r.control.severity != "mandatory", r.control.id, r.host),
        ),
    )
