"""A PoP's rolling deploy, offline: the waves from the spec's knob, the knob's errors, which
deploys drain their server, what the deploy verifies while drained, and the preview's line."""

from pathlib import Path
from typing import Any

import pytest

from deploy.command import DeployRequest, nothing_to_do
from deploy.record import HostRecord, drain_plan
from deploy.runner import expecting
from ops.preview.comment import rollout_line
from ops.preview.events import PropertyChange, ResourceChange
from roles.host import HostEntry
from stacks.host_data import host_entry
from stacks.rollout.trigger import sfu_digest
from stacks.rollout.waves import rollout_waves, wave_of, waves_line
from stacks.spec import SpecInvalid, parse_pop
from stacks.spec.capacity import batch_size
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.fleet

SERVERS = [f"ams1-sfu{n:02d}" for n in range(1, 5)]
SERVER_TYPE = "flexmetal:index:Server"


def test_a_canary_then_batches_of_two_over_four_servers() -> None:
    waves = rollout_waves(SERVERS, canary=1, batch="2")
    assert [w.servers for w in waves] == [
        ("ams1-sfu01",),
        ("ams1-sfu02", "ams1-sfu03"),
        ("ams1-sfu04",),
    ]
    assert [w.canary for w in waves] == [True, False, False]
    assert waves[0].label(3) == "wave 1 of 3 (canary)"
    assert wave_of(waves, "ams1-sfu03").label(3) == "wave 2 of 3"
    assert waves_line(waves) == "canary ams1-sfu01 → ams1-sfu02, ams1-sfu03 → ams1-sfu04"


@pytest.mark.parametrize(
    ("batch", "servers", "size"),
    [("25%", 20, 5), ("25%", 3, 1), ("10%", 50, 5), ("1%", 5, 1), ("100%", 7, 7), ("3", 7, 3)],
)
def test_a_share_of_the_pop_is_rounded_up_and_never_zero(
    batch: str, servers: int, size: int
) -> None:
    assert batch_size(batch, servers) == size


def test_every_server_is_in_exactly_one_wave_in_order() -> None:
    names = [f"iad1-sfu{n:02d}" for n in range(1, 51)]
    for canary, batch in [(0, "100%"), (1, "25%"), (3, "7"), (10, "1"), (60, "2")]:
        waves = rollout_waves(names, canary, batch)
        assert [s for w in waves for s in w.servers] == names
        assert [w.number for w in waves] == list(range(1, len(waves) + 1))
    assert len(rollout_waves(names, 0, "100%")) == 1


def test_the_sandbox_deploys_every_server_at_once_production_in_waves() -> None:
    default = parse_pop(valid_pop(), VALID_CONTEXT, "Pulumi.ams1.yaml").deploy.rollout
    assert (default.canary, default.batch) == (1, "25%")


@pytest.mark.parametrize("batch", ["0", "0%", "101%", "25 %", "a quarter", "-1", "1000"])
def test_a_bad_batch_names_the_field_and_what_is_allowed(batch: str) -> None:
    raw = valid_pop()
    raw["deploy"] = {"rollout": {"batch": batch}}
    with pytest.raises(SpecInvalid) as raised:
        parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    (error,) = raised.value.errors
    assert error.path == "voicepop:pop.deploy.rollout.batch"
    assert error.value == batch
    assert "a number of servers" in error.allowed and "25%" in error.allowed


def test_a_batch_may_be_written_as_a_number() -> None:
    raw = valid_pop()
    raw["servers"] = {"count": 20}
    raw["deploy"] = {"rollout": {"canary": 2, "batch": 3}}
    rollout = parse_pop(raw, VALID_CONTEXT, "x").deploy.rollout
    assert (rollout.canary, rollout.batch) == (2, "3")


def host(**sfu: Any) -> dict[str, Any]:
    return {"name": "ams1-sfu01", "address": "192.0.2.11", "sfu": {"media_ports": sfu}}


def test_only_what_the_sfu_is_made_of_moves_its_digest() -> None:
    base = sfu_digest(host(first=10000), "code")
    assert sfu_digest({**host(first=10000), "kernel_tuning": {"x": 1}}, "code") == base
    assert sfu_digest(host(first=10001), "code") != base
    assert sfu_digest(host(first=10000), "other sfu role code") != base
    # a rotation of the token secret restarts the SFU: its server is drained first
    rotated = sfu_digest(host(first=10000), "code", token_secret="b" * 64)
    assert sfu_digest(host(first=10000), "code", token_secret="a" * 64) not in (base, rotated)
    assert "b" * 64 not in rotated


def entry(drain_wait_s: int = 30) -> HostEntry:
    raw = valid_pop()
    raw["bgp"]["drain_wait_s"] = drain_wait_s
    spec = parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    return host_entry(spec, "ams1-sfu01", "192.0.2.11", Path("/repo"))


def test_a_drained_host_is_verified_drained_and_announcing_nothing() -> None:
    assert expecting(entry(), "in-service").drain_expected == "in-service"
    assert expecting(entry(), "drained").drain_expected == "drained"


def request(**changes: Any) -> DeployRequest:
    fields: dict[str, Any] = {
        "host_json": '{"name": "ams1-sfu01"}', "trigger": "t", "sfu_digest": "s",
        "settle_s": 60.0, "timeout_s": 1800.0, "simulate": False,
        "redeploy": "", "secrets": {"bgpMd5": "k1"}, "attempt": "a1",
    }  # fmt: skip
    return DeployRequest(**{**fields, **changes})


def last_run(**changes: Any) -> dict[str, Any]:
    before = request()
    return {
        "trigger": before.trigger,
        "sfu_digest": before.sfu_digest,
        "attempt": before.attempt,
        "redeploy": "",
        **changes,
    }


def test_a_deploy_knob_alone_has_nothing_to_do_on_the_host() -> None:
    assert nothing_to_do(request(settle_s=120.0), last_run())
    assert not nothing_to_do(request(trigger="u"), last_run())
    assert not nothing_to_do(request(sfu_digest="r"), last_run())
    # a new MD5 key, or a failed run since (the marker's new attempt, which no run took)
    assert not nothing_to_do(request(attempt="a2"), last_run())


def deploy_change(server: str, wave: str, *, restarts_sfu: bool) -> ResourceChange:
    properties = [PropertyChange("trigger", "a", "b")]
    if restarts_sfu:
        properties.append(PropertyChange("sfu_digest", "c", "d"))
    return ResourceChange(
        urn=f"urn:pulumi:ams1::voicepop::command:local:Command::{server}-deploy",
        type="command:local:Command",
        op="update",
        properties=tuple(properties),
        wave=wave,
    )


def test_the_preview_labels_each_deploy_with_the_programs_wave() -> None:
    from ops.preview.run import with_waves

    waves = rollout_waves(SERVERS, canary=1, batch="2")
    changes = [
        deploy_change("ams1-sfu03", "", restarts_sfu=False),
        ResourceChange(
            "urn:pulumi:ams1::voicepop::flexmetal:index:Server::ams1-sfu03", SERVER_TYPE, "update"
        ),
    ]
    labelled = with_waves(changes, waves)
    assert [c.wave for c in labelled] == ["wave 2 of 3", ""]


def test_the_preview_says_which_waves_run_and_which_drain() -> None:
    changes = [
        deploy_change("ams1-sfu04", "wave 3 of 3", restarts_sfu=True),
        deploy_change("ams1-sfu01", "wave 1 of 3 (canary)", restarts_sfu=True),
        deploy_change("ams1-sfu03", "wave 2 of 3", restarts_sfu=True),
        deploy_change("ams1-sfu02", "wave 2 of 3", restarts_sfu=True),
    ]
    line = rollout_line(changes)
    assert (
        line.index("wave 1 of 3 (canary): `ams1-sfu01`")
        < line.index("wave 2 of 3: `ams1-sfu02`, `ams1-sfu03`")
        < line.index("wave 3 of 3: `ams1-sfu04`")
    )
    assert line.count("drained first") == 3
    sysctl = [deploy_change("ams1-sfu01", "wave 1 of 1", restarts_sfu=False)]
    assert "drained first" not in rollout_line(sysctl)
    assert rollout_line([]) == ""


@pytest.mark.parametrize(
    ("recorded", "owner", "drained"),
    [
        ("abc", "abc", True),  # the deploy that owns the host is leaving: drained
        ("", "abc", True),  # a host deployed before owners were recorded
        ("", None, True),  # a state from before owners, on such a host (destroy)
        ("def", "abc", False),  # a newer deploy owns it (--replace): left in service
        ("def", None, False),  # a state from before owners, replaced by a newer deploy
    ],
)
def test_a_deploy_drains_its_host_on_delete_only_while_it_owns_it(
    monkeypatch: pytest.MonkeyPatch, recorded: str, owner: str | None, drained: bool
) -> None:
    from deploy import drain
    from deploy.runner import SUPERSEDED, drain_host

    commands: list[str] = []

    def run_on(host: HostEntry, command: str) -> tuple[int, str]:
        commands.append(command)
        return 0, f"owner={recorded}" if "deploy-owner" in command else "drained"

    monkeypatch.setattr(drain, "run_on", run_on)
    outcome = drain_host(entry(drain_wait_s=5), lambda _: None, owner)
    assert any("voicepop-drain drain 5" in c for c in commands) is drained
    assert (SUPERSEDED in outcome) is not drained


def test_only_a_new_redeploy_token_reruns_and_drains_a_deploy() -> None:
    taken = last_run(redeploy="repair-1")
    assert nothing_to_do(request(), taken)  # a run without a repair
    assert nothing_to_do(request(redeploy="repair-1"), taken)
    assert not nothing_to_do(request(redeploy="repair-2"), taken)
    record = HostRecord(owner="o", sfu_digest="s", redeploy_token="repair-1")
    assert drain_plan(record, "s", "repair-2").restarts_sfu
    assert not drain_plan(record, "s", "repair-1").restarts_sfu
    assert not drain_plan(record, "s").restarts_sfu


def test_the_repair_names_only_servers_of_the_pop() -> None:
    from stacks.rollout.redeploy import UnknownServers, redeploy_requests

    servers = ["sbx1-sfu01", "sbx1-sfu02"]
    assert redeploy_requests("sbx1-sfu02, sbx1-sfu01", servers) == set(servers)
    assert redeploy_requests("", servers) == frozenset()
    with pytest.raises(UnknownServers, match="sbx1-sfu09: not a server of this PoP"):
        redeploy_requests("sbx1-sfu09", servers)
