"""The stand-in's answers and the client's requests checked against i3D.net's published
OpenAPI document (the FlexMetal part, in flexmetal-openapi-v3.json).

Where the real API differs from its document, the stand-in follows the real API and the test
says so: POST /flexMetal/servers answers with a one-element array, as every single-object
answer does."""

import json
from functools import cache
from typing import Any

import jsonschema
import pytest

from plugins.flexmetal.servers import ServerSpec
from sandbox.flexmetal.contract import PUBLISHED_DOCUMENT
from tests.standin_fixture import SSH_KEY, StandInUnderTest, create_body

pytestmark = pytest.mark.servers

DOCUMENT = PUBLISHED_DOCUMENT


@cache
def document() -> dict[str, Any]:
    return dict(json.loads(DOCUMENT.read_text()))


def validate(instance: Any, schema: dict[str, Any]) -> None:
    root = {**schema, "components": document()["components"]}
    jsonschema.Draft7Validator(root).validate(instance)


def response_schema(path: str, method: str, status: str) -> dict[str, Any]:
    responses = document()["paths"][path][method]["responses"]
    return dict(responses[status]["content"]["application/json"]["schema"])


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": schema(name)}


def delivered_server(standin: StandInUnderTest) -> dict[str, Any]:
    created = standin.call("POST", "/flexMetal/servers", json=create_body()).json()[0]
    client = standin.client()
    for _ in range(200):
        server = client.get_server(created["uuid"])
        if server["status"] == "delivered":
            return server
        import time

        time.sleep(0.01)
    raise AssertionError("not delivered")


def test_catalogue_answers_match_the_document(standin: StandInUnderTest) -> None:
    locations = standin.call("GET", "/flexMetal/location").json()
    validate(locations, response_schema("/v3/flexMetal/location", "get", "200"))
    rotterdam = next(loc for loc in locations if loc["name"] == "EU: Rotterdam")
    types = standin.call("GET", f"/flexMetal/location/{rotterdam['id']}/instanceTypes").json()
    path = "/v3/flexMetal/location/{locationId}/instanceTypes"
    validate(types, response_schema(path, "get", "200"))
    assert "bm7.std.8" in [t["name"] for t in types]
    validate(standin.call("GET", "/operatingsystem").json(), array_of("OperatingSystem"))


def test_server_answers_match_the_document(standin: StandInUnderTest) -> None:
    created = standin.call("POST", "/flexMetal/servers", json=create_body())
    assert created.status_code == 200
    # the document says a bare FlexMetalServer; the real API (and its official client) use
    # a one-element array, as for every single object
    validate(created.json(), array_of("FlexMetalServer"))
    uuid = created.json()[0]["uuid"]
    for answer, path, method in [
        (standin.call("GET", "/flexMetal/servers"), "/v3/flexMetal/servers", "get"),
        (standin.call("GET", f"/flexMetal/servers/{uuid}"), "/v3/flexMetal/servers/{uuid}", "get"),
    ]:
        assert answer.status_code == 200
        validate(answer.json(), response_schema(path, method, "200"))
    tagged = standin.call("POST", f"/flexMetal/servers/{uuid}/tag/extra")
    validate(
        tagged.json(), response_schema("/v3/flexMetal/servers/{uuid}/tag/{tag}", "post", "200")
    )
    validate(standin.call("GET", "/flexMetal/tags").json(), array_of("FlexMetalTag"))
    validate(
        standin.call("GET", "/flexMetal/quota/usage").json(),
        response_schema("/v3/flexMetal/quota/usage", "get", "200"),
    )


def test_release_answer_matches_the_document(standin: StandInUnderTest) -> None:
    server = delivered_server(standin)
    released = standin.call("DELETE", f"/flexMetal/servers/{server['uuid']}")
    assert released.status_code == 200
    validate(released.json(), response_schema("/v3/flexMetal/servers/{uuid}", "delete", "200"))


def test_ssh_key_answers_match_the_document(standin: StandInUnderTest) -> None:
    created = standin.call("POST", "/sshKey", json={"name": "ops", "publicKey": SSH_KEY})
    validate(created.json(), response_schema("/v3/sshKey", "post", "200"))
    uuid = created.json()[0]["uuid"]
    validate(standin.call("GET", "/sshKey").json(), response_schema("/v3/sshKey", "get", "200"))
    validate(standin.call("GET", f"/sshKey/{uuid}").json(), array_of("SshKey"))
    deleted = standin.call("DELETE", f"/sshKey/{uuid}")
    assert deleted.status_code == 204
    assert deleted.content == b""


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/flexMetal/servers/no-such-uuid", {}, 404),
        ("POST", "/flexMetal/servers", {"json": {"name": "x"}}, 422),
        ("POST", "/flexMetal/servers", {"json": create_body(location="EU: Atlantis")}, 422),
        ("GET", "/flexMetal/servers", {"headers": {"PRIVATE-TOKEN": "wrong"}}, 403),
    ],
)
def test_error_answers_match_the_document(
    standin: StandInUnderTest, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    answer = standin.call(method, path, **kwargs)
    assert answer.status_code == status
    validate(answer.json(), schema("Error"))


def test_validation_errors_name_the_property(standin: StandInUnderTest) -> None:
    answer = standin.call("POST", "/flexMetal/servers", json=create_body(tags=["bad tag!"]))
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["property"] == "tags"


def test_the_clients_create_request_matches_the_document() -> None:
    spec = ServerSpec(
        name="ams1-sfu01",
        location="EU: Rotterdam",
        instance_type="bm7.std.8",
        os_slug="debian-12",
        ssh_keys=(SSH_KEY,),
        identity_tag="vpid-0123456789abcdef01234567",
        tags=("vp-pop:ams1",),
        post_install_script="#!/bin/sh\ntrue\n",
    )
    request = spec.create_request()
    validate(request, schema("FlexMetalServerRequest"))
    assert request["tags"][-1] == spec.identity_tag


def test_paging_header(standin: StandInUnderTest) -> None:
    for index in range(5):
        standin.call("POST", "/flexMetal/servers", json=create_body(name=f"s{index}"))
    page = standin.call("GET", "/flexMetal/servers", headers={"RANGED-DATA": "start=2,results=2"})
    assert [s["name"] for s in page.json()] == ["s2", "s3"]
    assert page.headers["RANGED-DATA"] == "start=2,results=2,total=5"
