"""The stand-in is as strict as the provider: hostile or malformed requests get the API's error
body with the status the provider answers, nothing is stored from them, and no request is
ever met with a silently closed connection."""

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.flexmetal.api import FlexMetalApi
from sandbox.flexmetal.server import MAX_BODY_BYTES
from tests.standin_fixture import SSH_KEY, TOKEN, StandInUnderTest, create_body, start_standin

pytestmark = pytest.mark.servers

SERVERS = "/flexMetal/servers"


def post_raw(standin: StandInUnderTest, body: bytes, content_type: str) -> requests.Response:
    headers = {"Content-Type": content_type}
    return standin.call("POST", SERVERS, data=body, headers=headers)


def error_of(answer: requests.Response, status: int) -> dict[str, Any]:
    """The API's error body, checked to be the one its document describes."""
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    body = dict(answer.json())
    assert set(body) == {"errorCode", "errorMessage", "errors"} and body["errorCode"] == status
    return body


def properties_at_fault(answer: requests.Response) -> set[str]:
    return {error["property"] for error in error_of(answer, 422)["errors"]}


def nothing_was_created(standin: StandInUnderTest) -> bool:
    return standin.servers() == []


@pytest.mark.parametrize(
    ("change", "at_fault"),
    [
        ({"contractId": 12345}, {"contractId"}),
        ({"tags": "abc"}, {"tags"}),
        ({"sshKey": [SSH_KEY, 42]}, {"sshKey.1"}),
        ({"os": {"slug": "debian-12", "flavour": "x"}}, {"os.flavour"}),
        ({"colour": "blue"}, {"colour"}),
        ({"name": None}, {"name"}),
    ],
)
def test_a_create_request_of_the_wrong_shape_is_refused_naming_the_property(
    standin: StandInUnderTest, change: dict[str, Any], at_fault: set[str]
) -> None:
    answer = standin.call("POST", SERVERS, json=create_body(**change))
    assert properties_at_fault(answer) == at_fault
    assert nothing_was_created(standin)


def test_a_missing_required_property_is_named(standin: StandInUnderTest) -> None:
    body = create_body()
    del body["sshKey"]
    answer = standin.call("POST", SERVERS, json=body)
    assert "sshKey" in json.dumps(error_of(answer, 422)["errors"])


def test_nan_is_refused_and_every_later_answer_stays_valid_json(standin: StandInUnderTest) -> None:
    answer = post_raw(standin, b'{"name": NaN}', "application/json")
    assert "NaN" in error_of(answer, 400)["errorMessage"]
    listed = standin.call("GET", SERVERS)
    assert json.loads(listed.text, parse_constant=pytest.fail) == []


def test_a_body_that_is_not_utf8_gets_an_answer(standin: StandInUnderTest) -> None:
    answer = post_raw(standin, b'{"name": "\xff\xfe"}', "application/json")
    assert error_of(answer, 400)["errorMessage"] == "request body is not UTF-8"


def test_a_body_that_is_not_json_gets_an_answer(standin: StandInUnderTest) -> None:
    answer = post_raw(standin, b"name=ams1-sfu01", "application/json")
    assert "not valid JSON" in error_of(answer, 400)["errorMessage"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_refused(
    standin: StandInUnderTest, content_type: str
) -> None:
    answer = post_raw(standin, json.dumps(create_body()).encode(), content_type)
    assert "application/json" in error_of(answer, 415)["errorMessage"]
    assert nothing_was_created(standin)


def test_a_body_over_the_limit_is_refused_unread(standin: StandInUnderTest) -> None:
    script = "#" * (MAX_BODY_BYTES + 1)
    answer = standin.call("POST", SERVERS, json=create_body(postInstallScript=script))
    error_of(answer, 413)
    assert nothing_was_created(standin)


@pytest.fixture
def impatient_standin(tmp_path: Path) -> Iterator[StandInUnderTest]:
    under_test = start_standin(tmp_path / "standin.db", read_timeout_s=0.5)
    yield under_test
    under_test.running.stop()


def test_a_client_that_stops_sending_its_body_is_answered_408(
    impatient_standin: StandInUnderTest,
) -> None:
    with socket.create_connection(("127.0.0.1", impatient_standin.running.port), timeout=5) as s:
        s.sendall(
            b"POST /v3/flexMetal/servers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"PRIVATE-TOKEN: {TOKEN}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"name": '
        )
        received = b""
        while chunk := s.recv(65536):  # the stand-in closes the connection after its answer
            received += chunk
    answer = received.decode()
    assert answer.startswith("HTTP/1.1 408 "), answer
    assert '"errorCode": 408' in answer


def test_the_admin_api_needs_the_token_but_its_health_check_does_not(
    standin: StandInUnderTest,
) -> None:
    base = f"{standin.base}/_standin"
    for method, path in (("GET", "faults"), ("POST", "faults"), ("PUT", "settings")):
        refused = requests.request(method, f"{base}/{path}", json={"kind": "error"}, timeout=5)
        error_of(refused, 403)
    assert standin.admin("GET", "faults").json() == []
    assert requests.get(f"{base}/health", timeout=5).json() == {"ok": True}


def test_a_request_the_stand_in_cannot_handle_still_gets_an_answer(
    standin: StandInUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug in the stand-in")

    monkeypatch.setattr(FlexMetalApi, "list_servers", broken)
    answer = standin.call("GET", SERVERS)
    assert "a bug in the stand-in" in error_of(answer, 500)["errorMessage"]


def test_an_answer_that_breaks_the_contract_is_never_sent(
    standin: StandInUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FlexMetalApi, "list_servers", lambda *_: [{"uuid": "x"}])
    monkeypatch.setattr("sandbox.flexmetal.server.public_view", lambda server: server)
    answer = standin.call("GET", SERVERS)
    assert "breaks the API contract" in error_of(answer, 500)["errorMessage"]
