"""The `flexmetal` Pulumi provider plugin: `flexmetal:index:Server` and `flexmetal:index:SshKey`.

Written on `pulumi.provider.experimental` rather than as a dynamic provider so that
`pulumi import` works and deletes run the current code (a dynamic provider's code is pickled
into the state). The engine starts it through `bin/pulumi-resource-flexmetal` (Pulumi.yaml
`plugins.providers`).

Server changes: location or instance type replace the server; OS, SSH keys, post-install
script or name reinstall it in place (PATCH); tags change in place.
"""

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)

from stacks.providers.flexmetal import servers as lifecycle
from stacks.providers.flexmetal.client import FlexMetalClient, FlexMetalError, RetryPolicy
from stacks.providers.properties import (
    COMPUTED,
    off_the_loop,
    plain_map,
    property_diff,
    provider_settings,
    serve,
    type_of,
    wrap_map,
)

SERVER = "flexmetal:index:Server"
SSH_KEY = "flexmetal:index:SshKey"
VERSION = "0.1.0"

REPLACE_ON = ("location", "instanceType")
REINSTALL_ON = ("name", "osSlug", "sshKeys", "postInstallScript")
IN_PLACE = ("tags", "identityTag")
REQUIRED = ("name", "location", "instanceType", "osSlug", "sshKeys", "identityTag")
SERVER_OUTPUTS = (
    "uuid",
    "status",
    "statusMessage",
    "ipAddresses",
    "primaryIp",
    "createdAt",
    "deliveredAt",
    "installation",
)

T = TypeVar("T")


# --- the provider ---------------------------------------------------------------------------


class FlexMetalProvider(Provider):
    def __init__(self) -> None:
        self._client: FlexMetalClient | None = None
        self._waiting: lifecycle.Waiting | None = None
        self._endpoint = ""

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        setting = provider_settings(request, "flexmetal")
        self._endpoint = setting("endpoint") or os.environ.get("FLEXMETAL_ENDPOINT", "")
        token = setting("token") or os.environ.get("FLEXMETAL_TOKEN", "")
        timings = {name: setting(name) for name in TIMINGS}
        configured = self._endpoint and token and all(timings.values())
        self._client = (
            FlexMetalClient(self._endpoint, token, RetryPolicy(float(timings["requestTimeoutS"])))
            if configured
            else None
        )
        self._waiting = _waiting(timings) if configured else None
        return ConfigureResponse(accept_secrets=True, supports_preview=True)

    @property
    def waiting(self) -> lifecycle.Waiting:
        if self._waiting is None:
            raise _not_configured()
        return self._waiting

    @property
    def client(self) -> FlexMetalClient:
        if self._client is None:
            raise _not_configured()
        return self._client

    async def _io(self, work: Callable[[], T]) -> T:
        return await off_the_loop(work)

    # --- check / diff ---------------------------------------------------------------------

    async def check(self, request: CheckRequest) -> CheckResponse:
        news = plain_map(request.new_inputs)
        required = REQUIRED if type_of(request.urn) == SERVER else ("name", "publicKey")
        failures = [
            CheckFailure(prop, f"{prop} is required")
            for prop in required
            if news.get(prop) in (None, "", [])
        ]
        return CheckResponse(inputs=request.new_inputs, failures=failures)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        olds, news = plain_map(request.old_state), plain_map(request.new_inputs)
        if type_of(request.urn) == SSH_KEY:
            changed = [k for k in ("name", "publicKey") if olds.get(k) != news.get(k)]
            return property_diff(changed, replace_on=changed)
        keys = (*REPLACE_ON, *REINSTALL_ON, *IN_PLACE)
        changed = [
            key
            for key in keys
            if key not in request.ignore_changes and _differs(olds.get(key), news.get(key), key)
        ]
        return property_diff(changed, replace_on=[key for key in changed if key in REPLACE_ON])

    # --- create / read / update / delete --------------------------------------------------

    async def create(self, request: CreateRequest) -> CreateResponse:
        inputs = plain_map(request.properties)
        if type_of(request.urn) == SSH_KEY:
            if request.preview:
                return CreateResponse(properties=wrap_map({**inputs, "uuid": None}))
            key = await self._io(
                lambda: self.client.create_ssh_key(inputs["name"], inputs["publicKey"])
            )
            return CreateResponse(key["uuid"], wrap_map({**inputs, "uuid": key["uuid"]}))
        if request.preview:
            unknown = {key: COMPUTED for key in SERVER_OUTPUTS}
            return CreateResponse(properties=_outputs(inputs, unknown))
        spec, waiting = _server_spec(inputs), self.waiting
        timeout = _timeout(request.timeout, waiting.delivery_timeout_s)

        server = await self._io(
            lambda: lifecycle.create_delivered(self.client, spec, waiting, timeout)
        )
        observed = {**_observed(server), "installation": _installation("delivered")}
        return CreateResponse(server["uuid"], _outputs(inputs, observed))

    async def read(self, request: ReadRequest) -> ReadResponse:
        if type_of(request.urn) == SSH_KEY:
            return await self._read_ssh_key(request)
        try:
            server = await self._io(lambda: self.client.get_server(request.resource_id))
        except FlexMetalError as error:
            if error.status == 404:
                return ReadResponse()
            raise
        if server["status"] == "released":
            return ReadResponse()  # released out of band: gone from the state
        old_inputs = plain_map(request.inputs)
        identity = next(
            (t for t in server["tags"] if t.startswith(lifecycle.IDENTITY_TAG_PREFIX)),
            old_inputs.get("identityTag", ""),
        )
        observed_inputs = {
            **old_inputs,
            "name": server["name"],
            "location": server["location"]["name"],
            "instanceType": server["instanceType"]["name"],
            "osSlug": server["os"]["slug"],
            "tags": [t for t in server["tags"] if t != identity],
            "identityTag": identity,
            "sshKeys": old_inputs.get("sshKeys", []),  # the API does not return keys
        }
        old_state = plain_map(request.properties)
        state = _outputs({**old_state, **observed_inputs}, _observed(server))
        return ReadResponse(server["uuid"], state, wrap_map(observed_inputs))

    async def _read_ssh_key(self, request: ReadRequest) -> ReadResponse:
        try:
            key = await self._io(lambda: self.client.get_ssh_key(request.resource_id))
        except FlexMetalError as error:
            if error.status == 404:
                return ReadResponse()
            raise
        inputs = {"name": key["name"], "publicKey": key["publicKey"]}
        return ReadResponse(
            key["uuid"], wrap_map({**inputs, "uuid": key["uuid"]}), wrap_map(inputs)
        )

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        olds, news = plain_map(request.olds), plain_map(request.news)
        reinstall = any(_differs(olds.get(k), news.get(k), k) for k in REINSTALL_ON)
        if request.preview:
            observed = {k: olds.get(k) for k in SERVER_OUTPUTS}
            if reinstall:  # a new installation: what depends on it shows as changing
                observed.update(status=COMPUTED, installation=COMPUTED)
            return UpdateResponse(_outputs(news, observed))
        spec, waiting = _server_spec(news), self.waiting
        timeout = _timeout(request.timeout, waiting.delivery_timeout_s)

        def update() -> dict[str, Any]:
            server = self.client.get_server(request.resource_id)
            if reinstall:
                server = lifecycle.reinstall(self.client, server["uuid"], spec, waiting, timeout)
            return lifecycle.converge_tags(self.client, server, spec.all_tags)

        server = await self._io(update)
        installation = _installation("reinstalled") if reinstall else olds.get("installation")
        return UpdateResponse(_outputs(news, {**_observed(server), "installation": installation}))

    async def delete(self, request: DeleteRequest) -> None:
        if type_of(request.urn) == SSH_KEY:

            def delete_key() -> None:
                try:
                    self.client.delete_ssh_key(request.resource_id)
                except FlexMetalError as error:
                    if error.status != 404:
                        raise

            await self._io(delete_key)
            return
        waiting = self.waiting
        timeout = _timeout(request.timeout, waiting.release_timeout_s)
        await self._io(
            lambda: lifecycle.release(self.client, request.resource_id, waiting, timeout)
        )


def _differs(old: Any, new: Any, key: str) -> bool:
    if new is COMPUTED:
        return True
    if key in ("tags", "sshKeys"):
        return sorted(old or []) != sorted(new or [])
    return bool(old != new)


def _server_spec(inputs: Mapping[str, Any]) -> lifecycle.ServerSpec:
    return lifecycle.ServerSpec(
        name=inputs["name"],
        location=inputs["location"],
        instance_type=inputs["instanceType"],
        os_slug=inputs["osSlug"],
        ssh_keys=tuple(inputs["sshKeys"]),
        identity_tag=inputs["identityTag"],
        tags=tuple(inputs.get("tags") or ()),
        post_install_script=inputs.get("postInstallScript") or "",
    )


# How long and how often the provider polls, and how long one request may take: the PoP spec's
# provider section, given to the explicit provider (stacks/providers/flexmetal/resources.py).
# They are the provider's configuration, not a server's, so an imported server is released
# with them too; the plugin has no defaults of its own.
TIMINGS = (
    "requestTimeoutS",
    "deliveryPollIntervalS",
    "deliveryTimeoutS",
    "releasePollIntervalS",
    "releaseTimeoutS",
)


def _not_configured() -> ValueError:
    return ValueError(
        "the flexmetal provider needs `endpoint`, a token (provider input `token`, or "
        f"FLEXMETAL_TOKEN in the environment) and its timings ({', '.join(TIMINGS)}), "
        "as the PoP's spec gives them (stacks/pop.py)"
    )


def _waiting(timings: Mapping[str, Any]) -> lifecycle.Waiting:
    return lifecycle.Waiting(
        delivery_poll_s=float(timings["deliveryPollIntervalS"]),
        delivery_timeout_s=float(timings["deliveryTimeoutS"]),
        release_poll_s=float(timings["releasePollIntervalS"]),
        release_timeout_s=float(timings["releaseTimeoutS"]),
    )


def _timeout(engine_timeout_s: float, default_s: float) -> float:
    """A customTimeouts option on the resource wins over the provider's default."""
    return engine_timeout_s if engine_timeout_s and engine_timeout_s > 0 else default_s


def _observed(server: Mapping[str, Any]) -> dict[str, Any]:
    addresses = [entry["ipAddress"] for entry in server.get("ipAddresses") or []]
    return {
        "uuid": server["uuid"],
        "status": server["status"],
        "statusMessage": server.get("statusMessage", ""),
        "ipAddresses": addresses,
        "primaryIp": addresses[0] if addresses else "",
        "createdAt": server.get("createdAt", 0),
        "deliveredAt": server.get("deliveredAt", 0),
    }


def _installation(how: str) -> str:
    """Names the OS installation on the server: changes with each reinstall (which keeps the
    server, its address and its delivery time), so a deploy can follow it."""
    return f"{how}@{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"


def _outputs(inputs: Mapping[str, Any], observed: Mapping[str, Any]) -> dict[str, PropertyValue]:
    return wrap_map({**inputs, **observed})


def main() -> None:
    serve(FlexMetalProvider(), VERSION)


if __name__ == "__main__":
    main()
