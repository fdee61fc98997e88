"""The probing mesh on the folder's PoP, watched by a real Prometheus with the project's alert
rules. One prober inside the PoP (this machine on the PoP's bridge, where a server of sbx1
would run it) calls each server on its own address and judges it; one prober behind the
upstream router, where callers are (an external vantage point), calls the PoP's service
address and its servers. Every dashboard panel's query returns data; the rules evaluate
without error and none fires on a healthy PoP; the scorecard reads the same Prometheus. Loss
on one server's media drains it (the prober's verdict, its agent's GRACEFUL_SHUTDOWN then
withdrawal, its health endpoint failing) and callers land on the other; the loss removed, it
returns. The same loss on both drains one only (the floor) and the floor's alert fires."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import settings as sandbox_settings
from sandbox import watch
from sandbox.upstream import learned_routes_of
from tests.loopback import free_port, wait_for
from tests.loopback import prometheus_query as query
from tests.monitoring.queries import dashboard_queries as queries
from tests.monitoring.test_alert_rules import alerts
from tests.project import PROJECT_ROOT
from tests.roles.anycast.pop import HOSTS
from tests.roles.anycast.test_calls import callers_calls
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import Inventory, media_loss, verify

pytestmark = [pytest.mark.quality]

GRACEFUL_SHUTDOWN = (65535, 0)
HEALTH_PATH = "/janus/info"  # the spec's sfu.health.path
ANYCAST_SERVICE = "198.18.10.1"  # the sandbox's anycast prefix's service address

# a call of 3 s every 3 s (the SFU reports the round trip after ~1 s): each of the PoP's two
# servers is called every ~8 s
LOAD = ("--calls-per-minute", "20", "--call-seconds", "3")
LOSS = media_loss(25)  # 25 % of the server's UDP dropped on its way out


@pytest.fixture(scope="module")
def prometheus(
    inventory: Inventory, test_sandbox: SandboxUnderTest, media_gate_source: str
) -> Iterator[str]:
    """The sandbox's watch (sandbox/watch.py), scraping every second: both probers (the one
    inside the PoP on the bridge, where the servers' media gate agents ask for its verdicts;
    the PoP's floor 1 of its 2 servers), the relay, Prometheus with the rules."""
    env = {**os.environ, **test_sandbox.env, **sandbox_settings.SFU_TOKEN_ENVIRONMENT}
    inside, outside, relay = media_gate_source, free_port(), free_port()
    namespace = f"vp-callers-{test_sandbox.settings['VOICEPOP_SANDBOX_BRIDGE']}"
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "prometheus.yml"
        targets = [inside, f"127.0.0.1:{outside}"]
        bird = watch.bird_exporters(inventory.declared)
        config.write_text(watch.prometheus_config(targets, 1, bird))
        web = f"127.0.0.1:{free_port()}"
        commands = [
            watch.prober_command(inventory.declared, "sbx1", inside, 1, LOAD),
            watch.external_prober_command(inventory.declared, namespace, relay, LOAD),
            watch.relay_command(namespace, outside, relay),
            watch.prometheus_command(config, Path(folder) / "data", web),
        ]
        logs = [Path(folder) / f"{name}.log" for name in ("inside", "outside", "relay", "prom")]
        processes = [
            subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=log.open("w"))
            for command, log in zip(commands, logs, strict=True)
        ]  # fmt: skip
        try:
            yield f"http://{web}"
        finally:
            for log in logs[:2]:  # the probers' calls, shown with a failed test's output
                print(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:]))
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=10)


def test_every_dashboard_panel_has_data_after_a_few_rounds_of_both_probers(
    prometheus: str,
) -> None:
    paths = 'count by (source_pop, path) (voicepop_call_up{source_pop=~"sbx1|callers"} == 1)'

    def both_probers_called() -> bool:
        seen = {(s["metric"]["source_pop"], s["metric"]["path"]) for s in query(prometheus, paths)}
        return seen == {("sbx1", "unicast"), ("callers", "unicast"), ("callers", "anycast")}

    wait_for(both_probers_called, 90, "calls of both probers on both paths")
    wait_for(lambda: query(prometheus, "voicepop_call_tls_not_after_seconds"), 30, "expiry")
    empty = {}
    wait_for(lambda: query(prometheus, 'bird_protocol_up{proto="BGP"} == 1'), 30, "BIRD's")
    for key, promql in queries().items():
        if not query(prometheus, promql):
            empty[key] = promql
    assert empty == {}, "panels without data"
    matrix = query(prometheus, queries()["1/A"])
    assert [(s["metric"]["source_pop"], s["metric"]["target_pop"]) for s in matrix] == [
        ("callers", "sbx1")
    ]
    assert float(matrix[0]["value"][1]) >= 4.0, matrix


def test_the_scorecard_reads_the_meshs_calls_from_prometheus(
    prometheus: str, tmp_path: Path
) -> None:
    # a few calls to the service address (the counters' increase needs two samples apart)
    placed = 'sum(voicepop_calls_total{path="anycast"}) >= 4'
    wait_for(lambda: query(prometheus, placed), 90, "four calls to the service address")
    scorecard = subprocess.run(
        [sys.executable, "-m", "ops.scorecard", "--prometheus", prometheus, "--last", "10m",
         "--step", "3", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert scorecard.returncode == 0, scorecard.stderr
    [row] = [line for line in scorecard.stdout.splitlines() if line.startswith("| sbx1 |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "flexmetal EU: Rotterdam" and float(cells[2]) >= 1, row
    assert cells[3] == "100.000 %" and cells[4] == "0 (0 s)", row  # a healthy PoP
    assert float(cells[5].split(" / ")[0]) >= 4.0, row  # its median MOS
    assert (tmp_path / "scorecard.html").read_text().count("<table>") == 2  # outages: none


def test_the_verification_passes_while_the_mesh_calls(
    prometheus: str, inventory: Inventory
) -> None:
    """The probers' rooms (private, made with the admin key for one call) are not the stock
    demo rooms VP-SFU's check looks for: an audit of a watched PoP passes."""
    calling = 'sum(voicepop_calls_total{source_pop="sbx1"}) >= 2'
    wait_for(lambda: query(prometheus, calling), 60, "the prober calling")
    verified = verify(inventory)
    assert verified.returncode == 0, verified.stdout[-3000:]


def test_the_rules_evaluate_and_none_fires_on_a_healthy_pop(prometheus: str) -> None:
    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=5) as answer:
        groups = json.load(answer)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert sorted(rule["name"] for rule in rules) == sorted(alert["alert"] for alert in alerts())
    assert {rule["health"] for rule in rules} == {"ok"}, [r for r in rules if r["health"] != "ok"]
    assert query(prometheus, 'ALERTS{alertstate="firing"}') == []


def announced_by(test_sandbox: SandboxUnderTest) -> dict[str, list[tuple[int, ...]]]:
    """The upstream router's paths to the anycast prefix: next hop -> its communities."""
    paths = learned_routes_of(test_sandbox.root / "sandbox")
    return {path.next_hop: [tuple(c) for c in path.communities] for path in paths}


def test_bad_media_drains_the_server_callers_move_and_it_returns(
    prometheus: str, inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    """Loss on one server's media: its prober's verdict drains it, its agent tags its routes
    GRACEFUL_SHUTDOWN then withdraws them and fails its health endpoint (Route 53 follows);
    calls on the service address land on the other server; the loss gone, it returns."""
    first, second = (inventory.host(name)["address"] for name, _ in HOSTS)
    wait_for(lambda: {first, second} <= set(announced_by(test_sandbox)), 30, "both announced")
    timeline: list[tuple[str, float]] = []
    started = time.monotonic()

    def mark(event: str) -> None:
        timeline.append((event, time.monotonic() - started))

    test_sandbox.ssh(first, LOSS)
    mark("25 % loss on sbx1-sfu01's media")
    try:
        drained = 'voicepop_media_gate_drained{server="sbx1-sfu01"} == 1'
        wait_for(lambda: query(prometheus, drained), 90, "the gate's verdict")
        mark("the prober's verdict: drained")
        wait_for(lambda: GRACEFUL_SHUTDOWN in announced_by(test_sandbox).get(first, []), 15,
                 "65535:0 on its path")  # fmt: skip
        mark("its path tagged 65535:0 upstream")
        wait_for(lambda: first not in announced_by(test_sandbox), 15, "its path withdrawn")
        mark("its path withdrawn upstream")
        assert second in announced_by(test_sandbox)
        health = f"curl -sk -o /dev/null -w '%{{http_code}}' https://127.0.0.1{HEALTH_PATH}"
        assert test_sandbox.ssh(first, health) == "503"  # Route 53's check fails: DNS follows
        assert test_sandbox.ssh(second, health) == "200"
        callers = callers_calls(test_sandbox, ANYCAST_SERVICE, "--service", "--name",
                                inventory.host(HOSTS[0][0])["dns_names"][-1])  # fmt: skip
        landed = {next(callers)["media_address"] for _ in range(3)}
        assert landed == {second}, landed
        mark("3 calls on the service address: all on sbx1-sfu02")
    finally:
        test_sandbox.ssh(first, "nft delete table inet vptest")
        mark("the loss removed")
    wait_for(lambda: not query(prometheus, drained), 120, "the verdict: in service")
    mark("the prober's verdict: in service (5 good calls)")
    wait_for(lambda: first in announced_by(test_sandbox), 30, "announced again")
    mark("its path announced again upstream")
    assert test_sandbox.ssh(first, health) == "200"
    print("\n".join(f"{at:6.1f} s  {event}" for event, at in timeline))


def test_the_same_loss_on_every_server_drains_none_beyond_the_floor_and_alerts(
    prometheus: str, inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    """Both servers bad, floor 1: one drains, the other is held in service, its alert pending."""
    addresses = [inventory.host(name)["address"] for name, _ in HOSTS]
    for address in addresses:
        test_sandbox.ssh(address, LOSS)
    try:
        held = "voicepop_media_gate_held == 1"
        wait_for(lambda: query(prometheus, held), 120, "one server held by the floor")
        [drained] = query(prometheus, "voicepop_media_gate_drained == 1")
        [kept] = query(prometheus, held)
        assert drained["metric"]["server"] != kept["metric"]["server"]
        [in_service] = query(prometheus, 'voicepop_pop_servers_in_service{pop="sbx1"}')
        assert in_service["value"][1] == "1"  # the floor, not below
        alert = 'ALERTS{alertname="VoicepopMediaGateHeldByFloor"}'
        wait_for(lambda: query(prometheus, alert), 10, "the floor's alert pending")
        kept_address = inventory.host(kept["metric"]["server"])["address"]
        assert kept_address in announced_by(test_sandbox)  # still carrying calls
    finally:
        for address in addresses:
            test_sandbox.ssh(address, "nft delete table inet vptest")
    wait_for(lambda: not query(prometheus, "voicepop_media_gate_drained == 1"), 120, "all back")
    wait_for(lambda: set(addresses) <= set(announced_by(test_sandbox)), 30, "both announced")
