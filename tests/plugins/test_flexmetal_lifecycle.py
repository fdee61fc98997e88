"""The server lifecycle against the stand-in with faults: no orphans, no duplicates, clear
errors, and a re-run that converges."""

import time
from pathlib import Path

import pytest

from plugins.flexmetal import servers as lifecycle
from plugins.flexmetal.client import FlexMetalError, FlexMetalUnavailable
from stacks.resources.flexmetal.schema import identity_tag
from tests.standin_fixture import StandInUnderTest, start_standin

pytestmark = pytest.mark.servers

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBu6vfDlsDmDNDgwYrLztXTn0q3 test"
FAST = lifecycle.Waiting(
    delivery_poll_s=0.01,
    delivery_timeout_s=10,
    release_poll_s=0.01,
    release_timeout_s=10,
    sleep=lambda _: time.sleep(0.01),
)


def spec(name: str = "ams1-sfu01", **overrides: object) -> lifecycle.ServerSpec:
    values: dict[str, object] = {
        "name": name,
        "location": "EU: Rotterdam",
        "instance_type": "bm7.std.8",
        "os_slug": "debian-12",
        "ssh_keys": (SSH_KEY,),
        "identity_tag": identity_tag("voicepop", "ams1", name),
        "tags": ("vp-pop:ams1",),
    }
    values.update(overrides)
    return lifecycle.ServerSpec(**values)  # type: ignore[arg-type]


def deliver(standin: StandInUnderTest, server_spec: lifecycle.ServerSpec) -> dict[str, object]:
    return lifecycle.create_delivered(standin.client(), server_spec, FAST, timeout_s=10)


def live_servers_named(standin: StandInUnderTest, name: str) -> list[dict[str, object]]:
    return [s for s in standin.servers() if s["name"] == name and s["status"] != "released"]


def test_identity_tag_is_stable_short_and_valid() -> None:
    tag = identity_tag("voicepop", "ams1", "ams1-sfu01")
    assert tag == identity_tag("voicepop", "ams1", "ams1-sfu01")
    assert tag != identity_tag("voicepop", "lon1", "ams1-sfu01")
    assert len(tag) <= 64
    assert identity_tag("p", "s", "x" * 300).startswith("vpid-")


def test_a_server_is_created_and_delivered_with_its_tags(standin: StandInUnderTest) -> None:
    server = deliver(standin, spec())
    assert server["status"] == "delivered"
    assert server["tags"] == ["vp-pop:ams1", spec().identity_tag]
    assert server["ipAddresses"]


def test_an_answer_lost_after_create_adopts_instead_of_renting_twice(
    standin: StandInUnderTest,
) -> None:
    standin.fault("drop_after", method="POST", path="/v3/flexMetal/servers")
    deliver(standin, spec())
    assert len(live_servers_named(standin, "ams1-sfu01")) == 1


def test_a_5xx_burst_during_create_leaves_exactly_one_server(standin: StandInUnderTest) -> None:
    standin.fault("error", status=503, count=3, method="POST", path="/v3/flexMetal/servers")
    deliver(standin, spec())
    assert len(live_servers_named(standin, "ams1-sfu01")) == 1


def test_a_client_timeout_during_create_leaves_exactly_one_server(
    standin: StandInUnderTest,
) -> None:
    # the stand-in answers after the client's 2 s request timeout, but creates the server
    standin.fault("slow", delay_s=2.5, method="POST", path="/v3/flexMetal/servers")
    server = deliver(standin, spec())
    # the late request either was adopted, or landed after the retry and was released
    assert [s["uuid"] for s in live_servers_named(standin, "ams1-sfu01")] == [server["uuid"]]
    others = [s["status"] for s in standin.servers() if s["uuid"] != server["uuid"]]
    assert set(others) <= {"released"}


def test_a_rerun_adopts_the_server_of_a_run_that_died(standin: StandInUnderTest) -> None:
    first = lifecycle.ensure_server(standin.client(), spec(), FAST).server
    again = deliver(standin, spec())
    assert again["uuid"] == first["uuid"]
    assert len(standin.servers()) == 1


def test_failed_provisioning_is_a_clear_error_and_a_rerun_converges(
    standin: StandInUnderTest,
) -> None:
    standin.fault("fail_provisioning", message="provisioning failed: disk 2 did not answer")
    with pytest.raises(lifecycle.ServerFailed) as raised:
        deliver(standin, spec())
    message = str(raised.value)
    assert "server ams1-sfu01 (" in message
    assert "disk 2 did not answer" in message
    # the re-run does not adopt the failed server; it rents a working one
    server = deliver(standin, spec())
    statuses = sorted(str(s["status"]) for s in standin.servers())
    assert statuses == ["delivered", "failed"]
    assert server["status"] == "delivered"


def test_a_network_with_no_address_left_fails_the_server_instead_of_stalling_it(
    standin: StandInUnderTest,
) -> None:
    """Found running a fleet of 1,000 simulated servers in the sandbox's /24: the 254th
    server stayed `provisioning` for ever (the address allocation raised in the stand-in's
    background worker). A provider fails such a server, and says why."""
    standin.settings(host_network="192.0.2.0/29", first_host_index=1)  # six addresses
    for index in range(6):
        deliver(standin, spec(f"ams1-sfu{index:02d}"))
    with pytest.raises(lifecycle.ServerFailed, match=r"no free address left in 192\.0\.2\.0/29"):
        deliver(standin, spec("ams1-sfu06"))


def test_a_failed_server_cannot_be_released_and_says_what_to_do(
    standin: StandInUnderTest,
) -> None:
    standin.fault("fail_provisioning")
    with pytest.raises(lifecycle.ServerFailed):
        deliver(standin, spec())
    failed = standin.servers()[0]
    with pytest.raises(lifecycle.ServerFailed) as raised:
        lifecycle.release(standin.client(), str(failed["uuid"]), FAST, timeout_s=5)
    assert "cannot release" in str(raised.value)
    assert "pulumi state delete" in str(raised.value)


def test_release_waits_until_released_and_tolerates_a_server_already_gone(
    standin: StandInUnderTest,
) -> None:
    server = deliver(standin, spec())
    lifecycle.release(standin.client(), str(server["uuid"]), FAST, timeout_s=5)
    assert standin.client().get_server(str(server["uuid"]))["status"] == "released"
    lifecycle.release(standin.client(), str(server["uuid"]), FAST, timeout_s=5)
    lifecycle.release(standin.client(), "no-such-uuid", FAST, timeout_s=5)


def test_tags_converge_to_the_spec(standin: StandInUnderTest) -> None:
    server = deliver(standin, spec())
    client = standin.client()
    client.add_tag(str(server["uuid"]), "added-out-of-band")
    wanted = spec(tags=("vp-pop:ams1", "vp-role:sfu")).all_tags
    converged = lifecycle.converge_tags(client, client.get_server(str(server["uuid"])), wanted)
    assert converged["tags"] == ["vp-pop:ams1", spec().identity_tag, "vp-role:sfu"]


def test_reinstall_in_place_keeps_the_server(standin: StandInUnderTest) -> None:
    server = deliver(standin, spec())
    reinstalled = lifecycle.reinstall(
        standin.client(), str(server["uuid"]), spec(os_slug="debian-13"), FAST, timeout_s=5
    )
    assert reinstalled["uuid"] == server["uuid"]
    assert reinstalled["os"] == {"slug": "debian-13"}
    commands = standin.client().commands(str(server["uuid"]), "update-server")
    assert [c["state"] for c in commands] == ["finished"]


def test_quota_exhausted_is_a_clear_error(standin: StandInUnderTest) -> None:
    standin.settings(quota_per_instance_type=1)
    deliver(standin, spec("ams1-sfu01"))
    with pytest.raises(FlexMetalError) as raised:
        deliver(standin, spec("ams1-sfu02"))
    assert raised.value.status == 422
    assert "quota exceeded" in str(raised.value)
    assert "instanceType" in str(raised.value)


def test_duplicates_from_an_earlier_run_are_settled(standin: StandInUnderTest) -> None:
    client = standin.client()
    both = {client.create_server(spec().create_request())["uuid"] for _ in range(2)}
    kept = deliver(standin, spec())
    # the oldest is kept (createdAt has whole seconds; the uuid breaks a tie), the other released
    assert kept["uuid"] in both
    assert [s["uuid"] for s in live_servers_named(standin, "ams1-sfu01")] == [kept["uuid"]]
    assert {s["status"] for s in standin.servers() if s["uuid"] != kept["uuid"]} == {"released"}


def test_a_standin_restart_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    first = start_standin(tmp_path / "standin.db")
    first.settings(step_delay_s=0.1)
    created = lifecycle.ensure_server(first.client(), spec(), FAST).server
    time.sleep(0.35)
    first.running.stop()  # mid-walk: the server is somewhere between created and delivered

    second = start_standin(tmp_path / "standin.db")
    try:
        second.settings(step_delay_s=0.1)
        server = lifecycle.wait_until_delivered(second.client(), created, FAST, timeout_s=10)
        assert server["uuid"] == created["uuid"]
        assert len(second.servers()) == 1
    finally:
        second.running.stop()


def test_the_delivery_wait_outlasts_an_api_outage_longer_than_the_clients_retries(
    standin: StandInUnderTest,
) -> None:
    standin.settings(step_delay_s=0.3)  # delivery takes a few polls
    created = lifecycle.ensure_server(standin.client(), spec(), FAST).server
    # 12 answers of 503 to every look at the server: three whole calls of the client (4
    # attempts each) give up before the API answers again
    standin.fault("error", status=503, count=12, method="GET", path="/v3/flexMetal/servers/")
    delivered = lifecycle.wait_until_delivered(standin.client(), created, FAST, timeout_s=10)
    assert delivered["status"] == "delivered"
    faults = standin.admin("GET", "faults").json()
    assert [rule["hits"] for rule in faults] == [12]


def test_the_release_wait_outlasts_an_api_outage(standin: StandInUnderTest) -> None:
    server = deliver(standin, spec())
    standin.settings(release_delay_s=0.3)
    client = standin.client()
    client.release_server(str(server["uuid"]))
    standin.fault("error", status=503, count=12, method="GET", path="/v3/flexMetal/servers/")
    lifecycle.release(client, str(server["uuid"]), FAST, timeout_s=10)
    assert live_servers_named(standin, "ams1-sfu01") == []


def test_a_wait_still_ends_at_its_deadline_when_the_api_stays_away(
    standin: StandInUnderTest,
) -> None:
    created = lifecycle.ensure_server(standin.client(), spec(), FAST).server
    standin.fault("error", status=503, count=-1, method="GET", path="/v3/flexMetal/servers/")
    started = time.monotonic()
    with pytest.raises(FlexMetalUnavailable):
        lifecycle.wait_until_delivered(standin.client(), created, FAST, timeout_s=1)
    assert time.monotonic() - started < 8
