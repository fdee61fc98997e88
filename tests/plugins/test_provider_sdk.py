"""What the project's provider plugins rely on in the Pulumi SDK, pinned: an SDK upgrade that
breaks it fails here, in a second, not in a deploy. The plugins' servicer wraps the SDK's
(plugins/properties.py) and is driven here as the engine drives it, in process."""

import asyncio
import inspect
from types import CodeType
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.provider.experimental import server
from pulumi.provider.experimental.property_value import PropertyValue, PropertyValueType
from pulumi.provider.experimental.provider import CreateRequest, CreateResponse, Provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, status_pb2

from plugins.errors import PartialState, PlainError
from plugins.properties import COMPUTED, plain, plain_error_servicer, wrap

URN = "urn:pulumi:sandbox::voicepop::vpdeploy:index:HostDeploy::sbx1-sfu01-deploy"


class Aborted(Exception):
    pass


class EngineContext:
    """The grpc.aio context as the SDK's servicer uses it: abort records and ends the call."""

    def __init__(self) -> None:
        self.aborted: tuple[Any, str, Any] | None = None

    async def abort(self, code: Any, details: str, trailing_metadata: Any = ()) -> None:
        self.aborted = (code, details, trailing_metadata)
        raise Aborted(details)

    async def abort_with_status(self, status: Any) -> None:
        raise Aborted(status.details)


class Failing(Provider):
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def create(self, request: CreateRequest) -> CreateResponse:
        raise self.error


def create_through_the_servicer(provider: Provider) -> EngineContext:
    servicer = plain_error_servicer()([], "0.0.0", provider, engine_address="127.0.0.1:1")
    context = EngineContext()
    request = provider_pb2.CreateRequest(urn=URN, properties=struct_pb2.Struct())
    with pytest.raises(Exception):  # noqa: B017 (aborted, or the SDK's own wrapper)
        asyncio.run(servicer.Create(request, context))
    return context


def names_used(code: CodeType) -> set[str]:
    nested = [const for const in code.co_consts if isinstance(const, CodeType)]
    return {*code.co_names, *(name for inner in nested for name in names_used(inner))}


def test_the_sdk_servicer_has_what_the_plugins_override() -> None:
    for method in ("Create", "Update", "Delete"):
        handler = getattr(server.ProviderServicer, method)
        assert inspect.iscoroutinefunction(handler), method
        assert list(inspect.signature(handler).parameters) == ["self", "request", "context"]
    constructor = inspect.signature(server.ProviderServicer.__init__).parameters
    assert list(constructor) == ["self", "args", "version", "provider", "engine_address"]
    # server.main (its nested serve()) looks the servicer class up by this name when it serves
    assert "ProviderServicer" in names_used(server.main.__code__)
    assert list(inspect.signature(server.main).parameters) == ["args", "version", "provider"]


def test_a_plain_error_reaches_the_engine_as_its_message_with_the_partial_state() -> None:
    partial = PartialState("uuid-1", {"host": "x", "secrets": {"k": "v"}}, {}, ("secrets",))
    error = PlainError("sbx1-sfu01: site deploy failed at step 'SFU | Install janus'")
    error.partial = partial
    context = create_through_the_servicer(Failing(error))
    assert context.aborted is not None
    _, details, metadata = context.aborted
    assert details == str(error)  # no traceback appended
    [(key, value)] = metadata
    assert key == "grpc-status-details-bin"
    status = status_pb2.Status.FromString(value)
    failed = provider_pb2.ErrorResourceInitFailed()
    assert status.details[0].Unpack(failed)
    assert failed.id == "uuid-1" and list(failed.reasons) == [str(error)]


def test_any_other_error_still_gets_the_sdks_own_handling() -> None:
    context = create_through_the_servicer(Failing(RuntimeError("a bug")))
    assert context.aborted is None


def test_the_wire_values_the_plugins_read_and_write() -> None:
    assert plain(PropertyValue.computed()) is COMPUTED
    # the engine's wire form of an unknown, as the SDK unmarshals it: a plain string
    sent = PropertyValue.unmarshal(struct_pb2.Value(string_value=rpc.UNKNOWN))
    assert sent.type == PropertyValueType.STRING and plain(sent) is COMPUTED
    assert PropertyValue.computed().type == PropertyValueType.COMPUTED
    assert wrap(COMPUTED).value == rpc.UNKNOWN
    marshalled = PropertyValue.marshal_map({"n": wrap(3), "s": wrap("x", secret=True)})
    unmarshalled = PropertyValue.unmarshal_map(marshalled)
    assert plain(unmarshalled["n"]) == 3.0 and unmarshalled["s"].is_secret
