"""What the monitoring tests share: the metrics the project's prober exports, those other
exporters serve, the metric names a PromQL expression reads, and `promtool`."""

import re
import shutil
import subprocess
from pathlib import Path

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
