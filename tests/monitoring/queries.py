"""What the monitoring tests share: the metrics the project's prober exports, those other
exporters serve, the metric names a PromQL expression reads, and `promtool`."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from quality.exporter import Metrics
from tests.project import PROJECT_ROOT

MONITORING = PROJECT_ROOT / "monitoring"
PROMTOOL = shutil.which("promtool") or "promtool"
# metrics the rules and panels read that other exporters serve: not the project's prober
OTHER_EXPORTERS = {
    "up": "Prometheus itself, for every scrape",
    "bird_protocol_up": "bird_exporter on each server (BIRD's protocols)",
}


def exported_by_the_prober() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    return {
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in registry.collect()
    }


def metrics_read(expr: str) -> set[str]:
    return set(re.findall(r"\b(?:voicepop|bird)_\w+|\bup(?=\{)", expr))


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


DASHBOARD = MONITORING / "dashboards" / "voicepop.json"
# what Grafana puts for the template variables before it sends a query
VARIABLES = {"$pop": ".*", "${datasource}": "prometheus"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_queries() -> dict[str, str]:
    """`panel id/refId` -> its PromQL, the template variables filled in as Grafana does."""
    found = {}
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in VARIABLES.items():
                expr = expr.replace(variable, value)
            found[f"{panel['id']}/{target['refId']}"] = expr
    return found
