"""The stand-in's contract: i3D.net's published OpenAPI document of the FlexMetal API
(openapi-v3.json, written by tools/extract_flexmetal_openapi.py), with the few places where the
real API differs from it written down once, here. Every request is validated against it before
it is handled and every answer before it is sent, with openapi-core; the property-based
contract test generates requests from the same document."""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

import jsonschema
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.validation.request.exceptions import (
    InvalidRequestBody,
    MissingRequiredRequestBody,
    ParameterValidationError,
)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict

PUBLISHED_DOCUMENT = Path(__file__).with_name("openapi-v3.json")
ERROR = {"$ref": "#/components/schemas/Error"}
JSON = "application/json"
SERVER_PATH = "/v3/flexMetal/servers/{uuid}"

# A reinstall in place (newer Terraform providers): PATCH the server, follow its command.
REINSTALL_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["os", "sshKey"],
    "properties": {
        "name": {"type": "string"},
        "os": {"$ref": "#/components/schemas/FlexMetalOperatingSystemRequest"},
        "sshKey": {"type": "array", "items": {"type": "string"}},
        "postInstallScript": {"type": "string"},
    },
}
SERVER_COMMAND = {  # snake_case on the real API, unlike the rest of it
    "type": "object",
    "required": ["uuid", "server_uuid", "type", "state", "created_at", "updated_at"],
    "properties": {
        "uuid": {"type": "string"},
        "server_uuid": {"type": "string"},
        "type": {"type": "string"},
        "payload": {"type": "object"},
        "state": {"type": "string", "enum": ["pending", "running", "finished", "failed"]},
        "created_at": {"type": "integer"},
        "updated_at": {"type": "integer"},
    },
}
UUID_PARAMETER = {"name": "uuid", "in": "path", "required": True, "schema": {"type": "string"}}


def _array_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": schema}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
    ]


SCHEMA_KEYS = ("type", "items", "format", "enum", "default", "minimum", "maximum", "pattern")


def _parameter_schema_as_openapi_3(parameter: dict[str, Any]) -> None:
    if "schema" not in parameter:
        parameter["schema"] = {key: parameter.pop(key) for key in SCHEMA_KEYS if key in parameter}
    if parameter["schema"].get("type") == "array":
        parameter.setdefault("explode", False)  # tag=a,b as the API takes it


def _declare_path_parameters(template: str, operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    declared = {p["name"] for p in parameters if p.get("in") == "path"}
    for name in re.findall(r"{(\w+)}", template):
        if name not in declared:
            parameters.append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            )


def real_api_document() -> dict[str, Any]:
    """The published document with the real API's known differences applied."""
    document: dict[str, Any] = json.loads(PUBLISHED_DOCUMENT.read_text())
    paths = document["paths"]
    schemas = document["components"]["schemas"]
    server = {"$ref": "#/components/schemas/FlexMetalServer"}

    # Every single-object answer is a one-element array, the create answer too (the official
    # client decodes it so); the document says a bare FlexMetalServer there.
    paths["/v3/flexMetal/servers"]["post"]["responses"]["200"] = _json(_array_of(server))
    # The document describes its parameters the Swagger 2 way (`type` beside `in`), which
    # OpenAPI 3 tools reject: each gets the `schema` OpenAPI 3 asks for.
    for operation in _operations(document):
        for parameter in operation.get("parameters", []):
            _parameter_schema_as_openapi_3(parameter)
    # ... and leaves some path parameters undeclared (/v3/sshKey/{uuid} on GET, tags/{tag}).
    for template, item in paths.items():
        for method, operation in item.items():
            if method != "parameters":
                _declare_path_parameters(template, operation)
    # Listing works without filters: `status` and `tag` narrow it (the document marks them
    # required).
    for parameter in paths["/v3/flexMetal/servers"]["get"].get("parameters", []):
        if parameter["in"] == "query":
            parameter["required"] = False
    # Reinstall in place and its commands, which the document does not list.
    schemas["FlexMetalServerReinstall"] = REINSTALL_REQUEST
    schemas["FlexMetalServerCommand"] = SERVER_COMMAND
    command = {"$ref": "#/components/schemas/FlexMetalServerCommand"}
    paths[SERVER_PATH]["patch"] = {
        "operationId": "reinstallFlexMetalServer",
        "parameters": [UUID_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": {"$ref": "#/components/schemas/FlexMetalServerReinstall"}}
            },
        },
        "responses": {"200": _json(_array_of(command))},
    }
    paths[f"{SERVER_PATH}/commands"] = {
        "get": {
            "operationId": "listFlexMetalServerCommands",
            "parameters": [
                UUID_PARAMETER,
                {"name": "type", "in": "query", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {"200": _json(_array_of(command))},
        }
    }
    # Every error answer carries the Error body, whatever its status; the document gives
    # most error statuses no content.
    for operation in _operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "45" and "content" not in response:
                response["content"] = {JSON: {"schema": ERROR}}
        operation["responses"].setdefault("default", _json(ERROR, "An error"))
    return document


@cache
def contract() -> OpenAPI:
    return OpenAPI.from_dict(real_api_document())


@dataclass
class ContractRequest:
    """An HTTP request as openapi-core reads one (its Request protocol)."""

    method_upper: str
    path: str
    query: dict[str, list[str]]
    request_headers: dict[str, str]
    body: bytes | None
    host_url: str = "http://stand-in"
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict([(k, v) for k, values in self.query.items() for v in values]),
            header=Headers(self.request_headers),
        )

    @property
    def method(self) -> str:
        return self.method_upper.lower()

    @property
    def content_type(self) -> str:
        return self.request_headers.get("Content-Type", "").lower()


@dataclass
class ContractResponse:
    """An answer as openapi-core reads one (its Response protocol)."""

    status_code: int
    data: bytes | None
    headers: dict[str, str]

    @property
    def content_type(self) -> str:
        return JSON if self.data else ""


@dataclass(frozen=True)
class Violation:
    """Why a request breaks the contract: the HTTP status the API answers it with, and the
    properties at fault (`{"property", "message"}`, as the API's error body lists them)."""

    status: int
    message: str
    errors: list[dict[str, str]]


def request_violation(request: ContractRequest) -> Violation | None:
    """The first way the request breaks the contract, if any (the API reports one problem
    class at a time, every property at fault within it)."""
    for error in contract().iter_request_errors(request):
        return _violation(error)
    return None


def response_problems(request: ContractRequest, response: ContractResponse) -> list[str]:
    """How an answer breaks the contract: empty for a faithful answer."""
    return [_described(error) for error in contract().iter_response_errors(request, response)]


def _violation(error: Exception) -> Violation:
    if isinstance(error, MediaTypeNotFound) or isinstance(error.__cause__, MediaTypeNotFound):
        return Violation(415, f"unsupported content type; allowed: {JSON}", [])
    if isinstance(error, MissingRequiredRequestBody):
        return Violation(400, "request body is required", [])
    cause = error.__cause__
    if isinstance(error, InvalidRequestBody) and isinstance(cause, InvalidSchemaValue):
        return Violation(422, "validation failed", _schema_errors(cause))
    if isinstance(error, ParameterValidationError):
        name = getattr(error, "name", "")
        return Violation(400, _described(error), [{"property": name, "message": _described(error)}])
    return Violation(400, _described(error), [])


def _schema_errors(invalid: InvalidSchemaValue) -> list[dict[str, str]]:
    found = []
    for problem in cast(Iterable[jsonschema.ValidationError], invalid.schema_errors):
        place = [str(part) for part in problem.absolute_path]
        if problem.validator == "additionalProperties" and isinstance(problem.instance, dict):
            known = problem.schema.get("properties", {})
            for extra in sorted(set(problem.instance) - set(known)):
                found.append({"property": ".".join([*place, extra]), "message": "unknown property"})
            continue
        found.append({"property": ".".join(place) or "(body)", "message": problem.message})
    return found


def _described(error: BaseException) -> str:
    cause = error.__cause__
    if isinstance(cause, InvalidSchemaValue):
        problems = cast(Iterable[jsonschema.ValidationError], cause.schema_errors)
        return f"{error}: " + "; ".join(problem.message for problem in problems)
    return f"{error}: {cause}" if cause else str(error)
