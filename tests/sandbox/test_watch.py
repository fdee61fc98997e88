"""The sandbox watch's pieces, offline: its Prometheus config loads with `promtool` (the
project's rules included), its probers' commands are the mesh's."""

import json
from pathlib import Path

from sandbox import watch
from tests.monitoring.queries import promtool


def test_the_watchs_prometheus_config_loads_with_the_rules(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    bird = ["172.30.203.10:9324"]
    config.write_text(watch.prometheus_config(["127.0.0.1:9108", "127.0.0.1:9109"], 15, bird))
    checked = promtool("check", "config", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 14 rules found" in checked.stdout


def test_the_probers_are_one_inside_the_pop_and_one_behind_the_upstream() -> None:
    inside = watch.prober_command(Path("inv.json"), "sbx1", "127.0.0.1:9108", floor=2)
    assert inside[1:4] == ["-m", "quality", "prober"]
    assert inside[inside.index("--source-pop") + 1] == "sbx1"
    assert inside[inside.index("--floor") + 1] == "2"
    outside = watch.external_prober_command(Path("inv.json"), "vp-callers-vpbr0", 10109)
    assert outside[:4] == ["ip", "netns", "exec", "vp-callers-vpbr0"]
    assert "--external" in outside and outside[-1] == "127.0.0.1:10109"
    both = watch.external_prober_command(
        Path("a.json"), "vp-callers-vpbr0", 10109, others=(Path("b.json"),)
    )
    assert [both[i + 1] for i, flag in enumerate(both) if flag == "--inventory"] == [
        "a.json", "b.json",
    ]  # the sandbox's second PoP too  # fmt: skip
    relay = watch.relay_command("vp-callers-vpbr0", 9109, 10109)
    assert relay[1] == "TCP-LISTEN:9109,bind=127.0.0.1,reuseaddr,fork"


def test_prometheus_reads_the_bird_exporter_of_each_announcing_server(tmp_path: Path) -> None:
    inventory = tmp_path / "sandbox.json"
    announcing = {"bgp": {"prefixes": ["198.18.10.0/24"]}}
    port = {"bird_exporter_port": 9400}
    inventory.write_text(json.dumps([
        {"name": "a", "address": "192.0.2.1", "anycast": port, **announcing},
        {"name": "b", "address": "192.0.2.2", "anycast": {"bird_exporter": False}, **announcing},
        {"name": "c", "address": "192.0.2.3", "anycast": {}, "bgp": {"prefixes": []}},
        {"name": "d", "address": "192.0.2.4", "anycast": {}, **announcing},
    ]))  # fmt: skip
    assert watch.bird_exporters(inventory) == ["192.0.2.1:9400", "192.0.2.4:9324"]


def test_the_pops_own_probers_are_the_ones_the_role_runs(tmp_path: Path) -> None:
    inventory = tmp_path / "sandbox.json"
    inventory.write_text(json.dumps([
        {"name": "a", "address": "192.0.2.1", "prober": {"listen": "192.0.2.1", "port": 9108}},
        {"name": "b", "address": "192.0.2.2"},
    ]))  # fmt: skip
    assert watch.role_probers(inventory) == ["192.0.2.1:9108"]
