"""The probing mesh's plan and load, offline, from inventories as the stacks write them; the
prober's bookkeeping (labels, the media gate on its own PoP only) without a network."""

import asyncio
import dataclasses
import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from quality.__main__ import main
from quality.exporter import Metrics
from quality.media_gate import new_pop_gate
from quality.mesh import (
    ANYCAST,
    UNICAST,
    MeshError,
    Service,
    check_load,
    mesh_calls,
    mesh_load,
    pop_end,
)
from quality.probe import Target
from quality.prober import Prober, plan, serve_http
from quality.report import CallReport, failed
from quality.rooms import Swept, rooms_to_destroy
from roles.anycast.media_agent import DRAINED, wanted_state
from roles.prober.defaults import ProbeLoad
from roles.sfu.access import PROBE_ROOM_DESCRIPTION, Credentials, probe_room_secret
from stacks.host_data import host_data
from stacks.spec import parse_pop
from tests.loopback import free_port
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.quality


def inventory(code: str, first_octet: int) -> list[dict[str, Any]]:
    """A PoP's inventory entries as ops/inventories.py writes them (the valid spec, renamed)."""
    raw = valid_pop()
    raw["code"] = code
    raw["dns"] = {**raw["dns"], "pop_record": code}
    context = dataclasses.replace(VALID_CONTEXT, stack=code)
    spec = parse_pop(raw, context, f"Pulumi.{code}.yaml")
    return [
        {"name": name, "address": f"192.0.2.{first_octet + i}", **host_data(spec, name)}
        for i, name in enumerate(spec.server_names)
    ]


AMS1, IAD1 = inventory("ams1", 10), inventory("iad1", 20)


def test_a_pop_end_has_its_servers_and_its_service_address() -> None:
    end = pop_end(IAD1, "inventories/iad1.json")
    assert end.pop == "iad1"
    assert [(t.server, t.address, t.name) for t in end.servers] == [
        ("iad1-sfu01", "192.0.2.20", "iad1-sfu01.voice.example.net"),
        ("iad1-sfu02", "192.0.2.21", "iad1-sfu02.voice.example.net"),
    ]
    # the first IPv4 prefix every server announces, named by the service's DNS name
    assert end.service == Service("198.51.100.1", "sfu.voice.example.net", 443)


def test_a_prober_calls_its_own_servers_and_the_other_pops_service_and_servers() -> None:
    ends = [pop_end(AMS1, "a"), pop_end(IAD1, "b")]
    calls = mesh_calls("ams1", ends)
    assert [(c.target_pop, c.path, c.target.server if c.target else None) for c in calls] == [
        ("ams1", UNICAST, "ams1-sfu01"),
        ("ams1", UNICAST, "ams1-sfu02"),
        ("iad1", ANYCAST, None),  # its own service address would be a local one: never
        ("iad1", UNICAST, "iad1-sfu01"),
        ("iad1", UNICAST, "iad1-sfu02"),
    ]
    assert calls[2].label == "ams1 -> iad1 service (anycast)"


def test_the_mesh_load_per_server_counts_every_prober_that_reaches_it() -> None:
    ends = [pop_end(AMS1, "a"), pop_end(IAD1, "b")]
    load = ProbeLoad(calls_per_minute=10, call_s=3, server_capacity_calls=500)
    loads = mesh_load({pop: mesh_calls(pop, ends) for pop in ("ams1", "iad1")}, load)
    first = loads[0]
    assert first.server == "ams1-sfu01"
    assert first.probers == 2  # its own PoP's and iad1's (by address and by the service)
    # each prober: 10 a minute over 5 targets; iad1's service calls land here half the time
    assert first.calls_per_minute == pytest.approx(10 / 5 + 10 / 5 + 10 / 5 / 2)
    assert first.calls_at_once == pytest.approx(5 * 3 / 60)
    assert first.share_pct == pytest.approx(100 * 0.25 / 500)
    assert first.peak_share_pct == pytest.approx(100 * 2 / 500)
    assert first.kbit_s == pytest.approx(0.25 * load.call_kbit_s)
    check_load(loads, load)  # 0.05 % of 500 calls: within 1 %


def test_a_mesh_over_its_share_is_refused_naming_the_knob_and_the_server() -> None:
    ends = [pop_end(AMS1, "a"), pop_end(IAD1, "b")]
    load = ProbeLoad(calls_per_minute=20, call_s=3, server_capacity_calls=50)
    plans = {f"{p}/{i}": mesh_calls(p, ends) for p in ("ams1", "iad1") for i in range(2)}
    with pytest.raises(MeshError) as refused:
        check_load(mesh_load(plans, load), load)
    assert str(refused.value) == (
        "probing.load.max_share_pct: ams1-sfu01 would carry 1.00 probe calls at once on average "
        "(20.0 a minute of 3 s), 2.00 % of its 50 calls; allowed: at most 1.0 % (fewer calls a "
        "minute, shorter calls, or a higher share)"
    )


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ([], "x.json: expected a list of hosts"),
        ([{"name": "a", "address": "192.0.2.1"}], "x.json: host [0] has no pop"),
        (AMS1[:1] + IAD1[:1], "x.json: hosts of several PoPs (ams1, iad1); allowed: one PoP"),
        ([{**AMS1[0], "address": ""}], "x.json: host [0] has no address"),
    ],
)
def test_an_inventory_the_mesh_cannot_use_is_refused_by_name(
    hosts: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(MeshError, match=re.escape(message)):
        pop_end(hosts, "x.json")


def test_the_prober_refuses_a_source_pop_without_an_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ams1.json").write_text(json.dumps(AMS1))
    assert main(["prober", "--source-pop", "fra1", "--inventory", str(tmp_path / "ams1.json")]) == 2
    assert "--source-pop fra1: no inventory of it; allowed: ['ams1']" in capsys.readouterr().err
    external = ["--external", "--source-pop", "ams1", "--inventory", str(tmp_path / "ams1.json")]
    assert main(["prober", *external]) == 2
    assert "--source-pop ams1: a PoP of the mesh" in capsys.readouterr().err


def test_plan_checks_the_whole_meshs_load() -> None:
    ends = [pop_end(AMS1, "a"), pop_end(IAD1, "b")]
    # one prober a PoP: 10 calls a minute of 3 s reach a server, 0.5 at once: 1 % of 50
    tight = ProbeLoad(calls_per_minute=20, call_s=3, server_capacity_calls=50)
    assert len(plan("ams1", ends, tight, probers_per_pop=1)) == 5
    with pytest.raises(MeshError, match=r"1\.00 probe calls at once"):
        plan("ams1", ends, tight, probers_per_pop=2)


def test_the_prober_judges_only_its_own_pops_servers_on_their_own_addresses() -> None:
    ends = [pop_end(AMS1, "a"), pop_end(IAD1, "b")]
    calls = mesh_calls("ams1", ends)
    registry = CollectorRegistry()
    credentials = Credentials(("secret",))
    gate = new_pop_gate(["ams1-sfu01", "ams1-sfu02"], floor=1)
    prober = Prober("ams1", calls, credentials, Metrics(registry), gate=gate)
    for _ in range(3):
        for call in calls:  # every call to its own PoP fails: no media; iad1's are good
            server = call.target.server if call.target else "iad1-sfu01"
            if call.target_pop == "ams1":
                prober.record(call, failed(server, "192.0.2.1", "media: no packet"))
            else:
                prober.record(call, CallReport(server, "192.0.2.9", ok=True, mos=4.4))
    assert prober.gate is not None
    assert prober.gate.drained() == ["ams1-sfu01"]  # the floor keeps the other
    assert prober.gate.held() == ["ams1-sfu02"]
    assert set(prober.gate.servers) == {"ams1-sfu01", "ams1-sfu02"}  # iad1's are not its own
    text = generate_latest(registry).decode()
    assert (
        'voicepop_calls_total{path="anycast",result="ok",source_pop="ams1",'
        'target_pop="iad1",target_server="iad1-sfu01"} 3.0' in text
    )
    assert 'voicepop_media_gate_held{pop="ams1",server="ams1-sfu02"} 1.0' in text
    assert 'voicepop_prober_path_suspect{pop="ams1"} 0.0' in text


def test_a_prober_whose_calls_fail_everywhere_suspects_its_own_path_and_drains_none() -> None:
    """Its calls to another PoP fail as its own PoP's do: the fault is more likely its own
    (its server's link) than every server's; once they are good again, the gate judges."""
    calls = mesh_calls("ams1", [pop_end(AMS1, "a"), pop_end(IAD1, "b")])
    registry = CollectorRegistry()
    gate = new_pop_gate(["ams1-sfu01", "ams1-sfu02"], floor=1)
    prober = Prober("ams1", calls, Credentials(("secret",)), Metrics(registry), gate=gate)
    for _ in range(3):
        for call in calls:
            server = call.target.server if call.target else "iad1-sfu01"
            prober.record(call, failed(server, "192.0.2.1", "media: no packet"))
    assert prober.gate is not None and prober.path.suspect
    assert prober.gate.drained() == [] and prober.gate.held() == []
    assert 'voicepop_prober_path_suspect{pop="ams1"} 1.0' in generate_latest(registry).decode()
    for _ in range(2):  # iad1 good again (5 calls in a row): ams1-sfu01's next bad call drains it
        for call in calls:
            if call.target_pop == "iad1":
                server = call.target.server if call.target else "iad1-sfu01"
                prober.record(call, CallReport(server, "192.0.2.9", ok=True, mos=4.4))
    assert not prober.path.suspect
    prober.record(calls[0], failed("ams1-sfu01", "192.0.2.1", "media: no packet"))
    assert prober.gate.drained() == ["ams1-sfu01"]


def test_an_external_vantage_point_calls_every_pop_and_counts_in_the_load() -> None:
    ends = [pop_end(AMS1, "a")]
    calls = plan("callers", ends, ProbeLoad(), probers_per_pop=1, external=True)
    assert [(c.path, c.target.server if c.target else None) for c in calls] == [
        (ANYCAST, None),
        (UNICAST, "ams1-sfu01"),
        (UNICAST, "ams1-sfu02"),
    ]
    # ams1's prober: 20 a minute over its 2 servers; the vantage point's: 20 over 3, and half
    # of its service calls: 10 + 6.7 + 3.3 = 20 a minute of 3 s, 1 call at once: 2 % of 50
    tight = ProbeLoad(calls_per_minute=20, call_s=3, server_capacity_calls=50)
    with pytest.raises(MeshError, match=r"1\.00 probe calls at once"):
        plan("callers", ends, tight, probers_per_pop=1, external=True)


def test_the_prober_serves_its_metrics_and_signed_verdicts_the_servers_follow() -> None:
    calls = mesh_calls("ams1", [pop_end(AMS1, "a")])
    registry = CollectorRegistry()
    prober = Prober("ams1", calls, Credentials(("secret",)), Metrics(registry),
                    gate=new_pop_gate(["ams1-sfu01", "ams1-sfu02"], floor=1))  # fmt: skip
    for _ in range(3):
        prober.record(calls[0], failed("ams1-sfu01", "192.0.2.10", "media: no packet"))
    port = free_port()
    serve_http(prober, registry, "127.0.0.1", port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/verdicts", timeout=5) as answer:
        document = json.load(answer)
    assert document["drained"] == ["ams1-sfu01"] and document["pop"] == "ams1"
    assert time.time() - document["issued_at"] < 10  # when it judged the last call
    follows = wanted_state([document], "ams1-sfu01", ["secret"], time.time(), 120)
    assert follows == DRAINED
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert b'voicepop_media_gate_drained{pop="ams1",server="ams1-sfu01"} 1.0' in answer.read()
    external = Prober("callers", calls, Credentials(("secret",)), Metrics(CollectorRegistry()))
    assert external.verdicts() is None  # no PoP of its own: nothing to follow


def test_a_server_out_of_service_otherwise_counts_against_the_floor() -> None:
    """A server an operator drained (its health endpoint answers 503 to the prober, as to
    Route 53) still carries the prober's calls well; it is out all the same, so another
    server's bad media is held by the floor, not drained, until it is back."""
    hosts = [{**host, "name": f"ams1-sfu0{n}"} for n, host in enumerate(AMS1 * 2, start=1)][:3]
    calls = mesh_calls("ams1", [pop_end(hosts, "a")])
    registry = CollectorRegistry()
    gate = new_pop_gate([h["name"] for h in hosts], floor=2)
    prober = Prober("ams1", calls, Credentials(("secret",)), Metrics(registry), gate=gate)
    prober.note_health("ams1-sfu03", 503)
    prober.note_health("ams1-sfu02", 200)
    for _ in range(3):
        prober.record(calls[0], failed("ams1-sfu01", "192.0.2.1", "media: no packet"))
    assert prober.gate is not None
    assert prober.gate.drained() == [] and prober.gate.held() == ["ams1-sfu01"]
    assert 'voicepop_pop_servers_in_service{pop="ams1"} 2.0' in generate_latest(registry).decode()
    prober.note_health("ams1-sfu03", 200)  # undrained
    prober.record(calls[0], failed("ams1-sfu01", "192.0.2.1", "media: no packet"))
    assert prober.gate.drained() == ["ams1-sfu01"]
    prober.note_health("ams1-sfu02", None)  # its front does not answer at all: out too
    assert prober.out_otherwise == {"ams1-sfu02"}


def test_the_probers_inventory_names_the_health_endpoint_it_reads() -> None:
    ends = pop_end([{**AMS1[0], "sfu": {"tls": {"port": 443}, "health": {
        "protocol": "https", "port": 443, "path": "/janus/info"}}}], "a")  # fmt: skip
    [target] = ends.servers
    assert target.health_url == f"https://{target.name}:443/janus/info"
    elsewhere = {"protocol": "https", "port": 8443, "path": "/janus/info"}  # not on the front
    [other] = pop_end([{**AMS1[0], "sfu": {"health": elsewhere}}], "a").servers
    assert other.health_url == ""
    # a path Janus does not serve: the front answers 404 there, never the server's state
    unserved = {"protocol": "https", "port": 443, "path": "/healthz"}
    [healthz] = pop_end([{**AMS1[0], "sfu": {"health": unserved}}], "a").servers
    assert healthz.health_url == ""


def test_only_probe_rooms_empty_at_two_sweeps_in_a_row_are_destroyed() -> None:
    listed = [
        {"room": 1, "description": PROBE_ROOM_DESCRIPTION, "num_participants": 0},
        {"room": 2, "description": PROBE_ROOM_DESCRIPTION, "num_participants": 1},  # a call
        {"room": 3, "description": "a backend's", "num_participants": 0},
        {"room": 4, "description": PROBE_ROOM_DESCRIPTION},  # being made: nobody yet
    ]
    assert rooms_to_destroy(listed, frozenset()) == ([], frozenset({1, 4}))
    assert rooms_to_destroy(listed, frozenset({1, 2, 3})) == ([1], frozenset({1, 4}))
    # each room its own secret, which only the token secret's holders derive
    assert probe_room_secret("s" * 32, 1) == probe_room_secret("s" * 32, 1)
    assert probe_room_secret("s" * 32, 1) != probe_room_secret("s" * 32, 2)
    assert probe_room_secret("s" * 32, 1) != probe_room_secret("t" * 32, 1)


def test_the_prober_sweeps_each_server_every_so_often_and_counts_what_it_destroyed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, frozenset[int]]] = []
    answers = iter([Swept((), frozenset({7})), Swept((7,), frozenset())])

    async def fake_sweep(target: Any, credentials: Any, before: frozenset[int]) -> Swept:
        asked.append((target.server, before))
        return next(answers)

    monkeypatch.setattr("quality.prober.sweep", fake_sweep)
    registry = CollectorRegistry()
    prober = Prober("ams1", [], Credentials(("secret",)), Metrics(registry), room_sweep_s=600)
    target = Target("ams1-sfu01", "192.0.2.11", 443, "ams1-sfu01.voice.example.net")
    for now in (0.0, 300.0, 600.0):
        asyncio.run(prober.sweep_rooms(target, now))
    assert asked == [("ams1-sfu01", frozenset()), ("ams1-sfu01", frozenset({7}))]
    text = generate_latest(registry).decode()
    assert 'voicepop_probe_rooms_swept_total{pop="ams1",server="ams1-sfu01"} 1.0' in text
