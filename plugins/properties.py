"""What the project's provider plugins share: Pulumi's property values to plain Python values
and back, resource types from URNs, diffs, provider settings, blocking work off the loop."""

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pulumi.provider.experimental.property_value import PropertyValue, PropertyValueType
from pulumi.provider.experimental.provider import (
    ConfigureRequest,
    DiffResponse,
    PropertyDiff,
    PropertyDiffKind,
)
from pulumi.runtime import rpc

from plugins.errors import PlainError
from stacks.resources.schema import camel_case

T = TypeVar("T")


class _Computed:
    def __repr__(self) -> str:
        return "<computed>"


COMPUTED = _Computed()  # an input or output not known until the update


def plain(value: PropertyValue) -> Any:
    inner = value.value
    # The engine sends an unknown as a sentinel string, which the SDK unmarshals as a string
    if value.type == PropertyValueType.COMPUTED or inner == rpc.UNKNOWN:
        return COMPUTED
    if isinstance(inner, Mapping):
        return {key: plain(item) for key, item in inner.items()}
    if isinstance(inner, (list, tuple)):
        return [plain(item) for item in inner]
    return inner


def plain_map(values: Mapping[str, PropertyValue]) -> dict[str, Any]:
    return {key: plain(value) for key, value in values.items()}


def wrap(value: Any, secret: bool = False) -> PropertyValue:
    if value is COMPUTED:
        # The SDK's PropertyValue.computed() cannot be marshalled (it raises "Unsupported
        # value type"); the engine's wire form of an unknown is this sentinel string.
        return PropertyValue(rpc.UNKNOWN)
    if isinstance(value, list):
        return PropertyValue([wrap(item) for item in value], is_secret=secret)
    if isinstance(value, dict):
        return PropertyValue({k: wrap(v) for k, v in value.items()}, is_secret=secret)
    if isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # the wire has one number type
    return PropertyValue(value, is_secret=secret)


def engine_values(values: Mapping[str, Any], secret: Iterable[str] = ()) -> dict[str, Any]:
    """Values for the engine, those named in `secret` marked secret (the state encrypts them)."""
    secret = set(secret)
    return {key: wrap(value, secret=key in secret) for key, value in values.items()}


async def off_the_loop(work: Callable[[], T]) -> T:
    """Runs blocking API work off the event loop, so the engine's RPCs stay responsive."""
    return await asyncio.get_running_loop().run_in_executor(None, work)


def type_of(urn: str) -> str:
    """The resource's own type: a URN's type part also names its parents' types ($-joined)."""
    return urn.split("::")[-2].rsplit("$", 1)[-1]


def property_diff(
    changed: list[str], replace_on: list[str], renamed: Sequence[str] = ()
) -> DiffResponse:
    """`renamed`: properties whose value is the same under a new name (an update rewrites
    them in the state)."""
    detailed = {
        key: PropertyDiff(
            PropertyDiffKind.UPDATE_REPLACE if key in replace_on else PropertyDiffKind.UPDATE,
            input_diff=True,
        )
        for key in changed
    }
    detailed.update({key: PropertyDiff(PropertyDiffKind.UPDATE, False) for key in renamed})
    every = [*changed, *renamed]
    return DiffResponse(
        changes=bool(every), replaces=replace_on, diffs=every, detailed_diff=detailed
    )


def provider_settings(request: ConfigureRequest, package: str) -> Callable[[str], str]:
    """A provider setting by name: from the typed args when the engine sends them, else from
    the `<package>:config:NAME` variables it always sends (as strings); a provider recorded
    before the plugins' names were snake_case has it under its camelCase name."""
    args = plain_map(request.args)

    def setting(name: str) -> str:
        for key in dict.fromkeys((name, camel_case(name))):
            value = args.get(key)
            if value is None or value is COMPUTED:
                value = request.variables.get(f"{package}:config:{key}")
            if value is not None:
                return str(value)
        return ""

    return setting


def _status_details(error: PlainError) -> tuple[tuple[str, bytes], ...]:
    """gRPC trailing metadata carrying ErrorResourceInitFailed, as the engine reads it."""
    if error.partial is None:
        return ()
    secret = error.partial.secret
    from google.protobuf import any_pb2
    from pulumi.runtime.proto import provider_pb2, status_pb2  # the SDK's google.rpc.Status

    init_failed = provider_pb2.ErrorResourceInitFailed(
        id=error.partial.resource_id,
        properties=PropertyValue.marshal_map(engine_values(error.partial.properties, secret)),
        inputs=PropertyValue.marshal_map(engine_values(error.partial.inputs, secret)),
        reasons=[str(error)],
    )
    detail = any_pb2.Any()
    detail.Pack(init_failed)
    status = status_pb2.Status(code=2, message=str(error), details=[detail])  # 2: UNKNOWN
    return (("grpc-status-details-bin", status.SerializeToString()),)


def _exit_quietly(signum: int, frame: Any) -> None:
    """The engine's close: at once. The interpreter's own shutdown could hang in gRPC's (the
    old vpdeploy plugin, which held a channel to the engine's log, did in about one close of a
    hundred: the engine waited out its 5 s and killed it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def plain_error_servicer() -> type[Any]:
    """The SDK's provider servicer, except that a PlainError reaches `pulumi up` as its message
    alone (the SDK appends the plugin's Python traceback to every error, which buries a
    deploy's "host X failed at step Y"), with its partial state. What this relies on in the
    SDK is pinned by tests/plugins/test_provider_sdk.py."""
    import grpc
    from pulumi.provider.experimental import server

    class Servicer(server.ProviderServicer):
        async def Create(self, request: Any, context: Any) -> Any:
            return await _plainly(super().Create, request, context)

        async def Update(self, request: Any, context: Any) -> Any:
            return await _plainly(super().Update, request, context)

        async def Delete(self, request: Any, context: Any) -> Any:
            return await _plainly(super().Delete, request, context)

    async def _plainly(call: Callable[..., Any], request: Any, context: Any) -> Any:
        try:
            return await call(request, context)
        except Exception as wrapped:
            # the SDK's wrapper raised `wrapped` while handling the provider's own error
            error = wrapped.__context__
            if isinstance(error, PlainError):
                await context.abort(grpc.StatusCode.UNKNOWN, str(error), _status_details(error))
            raise

    return Servicer


def serve(provider: Any, version: str) -> None:
    """Runs a provider plugin like the SDK's server.main, with plain_error_servicer()."""
    from pulumi.provider.experimental import server

    # The engine closes a plugin with SIGINT. Started in the background by a non-interactive
    # shell (as CI jobs start commands), Python inherits SIGINT as ignored and keeps it so:
    # the engine would then wait 5 s and kill the plugin, on every run.
    signal.signal(signal.SIGINT, _exit_quietly)
    # server.main builds its servicer from this name
    server.ProviderServicer = plain_error_servicer()  # type: ignore[misc]
    server.main(sys.argv[1:], version, provider)
