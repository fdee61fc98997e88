"""The Grafana dashboard and the Prometheus config, offline: valid JSON, panels that do not
overlap, every panel's query parsed by Prometheus's own parser (`promtool check rules` on the
queries as recording rules) and reading only metrics that something exports."""

from pathlib import Path

import pytest
import yaml

from tests.monitoring.queries import (
    MONITORING,
    OTHER_EXPORTERS,
    dashboard,
    dashboard_queries,
    exported_by_the_prober,
    metrics_read,
    promtool,
)


def as_recording_rules(exprs: dict[str, str]) -> str:
    rules = [
        {"record": f"voicepop_dashboard:panel_{key.replace('/', '_')}", "expr": expr}
        for key, expr in exprs.items()
    ]
    return yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})


def test_the_dashboard_is_grafana_json_with_unique_panels_that_do_not_overlap() -> None:
    board = dashboard()
    assert board["uid"] == "voicepop-quality" and board["panels"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], int] = {}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]  # Grafana's grid is 24 wide
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]
    matrix = board["panels"][0]
    assert matrix["transformations"][0]["options"]["rowField"] == "source_pop"


def test_every_panels_query_parses_with_promtool(tmp_path: Path) -> None:
    (tmp_path / "panels.yml").write_text(as_recording_rules(dashboard_queries()))
    checked = promtool("check", "rules", "panels.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(dashboard_queries())} rules found" in checked.stdout


def test_a_query_that_does_not_parse_is_caught(tmp_path: Path) -> None:
    (tmp_path / "panels.yml").write_text(as_recording_rules({"1/A": "avg by (pop voicepop_x"}))
    checked = promtool("check", "rules", "panels.yml", cwd=tmp_path)
    assert checked.returncode != 0
    assert "parse error" in checked.stdout + checked.stderr


@pytest.mark.parametrize(("key", "expr"), sorted(dashboard_queries().items()))
def test_every_metric_a_panel_reads_is_exported(key: str, expr: str) -> None:
    read = metrics_read(expr)
    assert read, expr
    assert read - exported_by_the_prober() - set(OTHER_EXPORTERS) == set(), key


def test_the_prometheus_config_and_the_provisioning_files_load() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    provisioning = MONITORING / "grafana" / "provisioning"
    board_provider = yaml.safe_load((provisioning / "dashboards" / "voicepop.yaml").read_text())
    assert board_provider["providers"][0]["type"] == "file"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    assert sources["datasources"][0]["type"] == "prometheus"
