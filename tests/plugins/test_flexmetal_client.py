"""The FlexMetal client over real HTTP against the stand-in: retries, errors, paging."""

import pytest

from plugins.flexmetal.client import (
    FlexMetalError,
    FlexMetalUnavailable,
    RetryPolicy,
    single,
)
from tests.standin_fixture import TOKEN, StandInUnderTest

pytestmark = pytest.mark.servers

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBu6vfDlsDmDNDgwYrLztXTn0q3 test"
BODY = {
    "name": "ams1-sfu01",
    "location": "EU: Rotterdam",
    "instanceType": "bm7.std.8",
    "os": {"slug": "debian-12"},
    "sshKey": [SSH_KEY],
}


def fault_hits(standin: StandInUnderTest) -> list[int]:
    return [rule.hits for rule in standin.api.faults()]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_statuses_are_retried(standin: StandInUnderTest, status: int) -> None:
    standin.fault("error", status=status, count=2, method="GET")
    assert len(standin.client(attempts=4).locations()) > 3
    assert fault_hits(standin) == [2]


def test_dropped_connections_are_retried(standin: StandInUnderTest) -> None:
    standin.fault("drop", count=2, method="GET")
    assert standin.client(attempts=4).operating_systems()
    assert fault_hits(standin) == [2]


def test_gives_up_after_its_attempts_without_showing_the_token(standin: StandInUnderTest) -> None:
    standin.fault("error", status=503, count=-1)
    with pytest.raises(FlexMetalUnavailable) as raised:
        standin.client(attempts=3).locations()
    assert "gave up after 3 attempt(s)" in str(raised.value)
    assert "HTTP 503" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert fault_hits(standin) == [3]


def test_creating_a_server_is_never_retried_blindly(standin: StandInUnderTest) -> None:
    standin.fault("drop_after", method="POST", path="/v3/flexMetal/servers")
    with pytest.raises(FlexMetalUnavailable):
        standin.client(attempts=5).create_server(BODY)
    # the request took effect once, and only once
    assert len(standin.servers()) == 1


def test_client_errors_carry_the_providers_message_and_field(standin: StandInUnderTest) -> None:
    with pytest.raises(FlexMetalError) as raised:
        standin.client().create_server({**BODY, "location": "EU: Atlantis"})
    error = raised.value
    assert error.status == 422
    assert error.field_errors == [("location", "unknown location 'EU: Atlantis'")]
    assert "POST /flexMetal/servers: HTTP 422" in str(error)
    assert "location: unknown location" in str(error)


def test_a_wrong_token_is_a_clear_403(standin: StandInUnderTest) -> None:
    from plugins.flexmetal.client import FlexMetalClient

    client = FlexMetalClient(
        standin.endpoint, "wrong-token", RetryPolicy(request_timeout_s=5.0, attempts=1)
    )
    with pytest.raises(FlexMetalError) as raised:
        client.list_servers()
    assert raised.value.status == 403
    assert "wrong-token" not in str(raised.value)
    assert "wrong-token" not in repr(client)


def test_an_empty_token_is_refused_before_any_request() -> None:
    from plugins.flexmetal.client import FlexMetalClient

    with pytest.raises(ValueError, match="FLEXMETAL_TOKEN"):
        FlexMetalClient("http://127.0.0.1:1/v3", "", RetryPolicy(request_timeout_s=1.0))


def test_lists_are_read_page_by_page(standin: StandInUnderTest) -> None:
    standin.settings(quota_per_instance_type=200)
    client = standin.client()
    for index in range(120):
        client.create_server({**BODY, "name": f"s{index:03d}", "tags": ["bulk"]})
    names = [server["name"] for server in client.list_servers(tags=("bulk",))]
    assert names == [f"s{index:03d}" for index in range(120)]


def test_tag_filter_needs_every_tag(standin: StandInUnderTest) -> None:
    client = standin.client()
    client.create_server({**BODY, "name": "a", "tags": ["pop:ams1", "role:sfu"]})
    client.create_server({**BODY, "name": "b", "tags": ["pop:ams1"]})
    assert [s["name"] for s in client.list_servers(tags=("pop:ams1", "role:sfu"))] == ["a"]


def test_single_accepts_the_array_and_the_bare_object() -> None:
    assert single([{"uuid": "u"}]) == {"uuid": "u"}
    assert single({"uuid": "u"}) == {"uuid": "u"}
    with pytest.raises(ValueError):
        single([])


def test_backoff_is_capped_jittered_and_honours_retry_after() -> None:
    policy = RetryPolicy(request_timeout_s=5.0, base_delay_s=1.0, max_delay_s=4.0)
    delays = [policy.delay(attempt) for attempt in range(10) for _ in range(20)]
    assert max(delays) <= 4.0
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed schedule
    assert policy.delay(0, retry_after="3") >= 3.0
    assert policy.delay(0, retry_after="30") == 4.0  # still capped
