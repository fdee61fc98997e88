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

from plugins.errors import unless_gone
from plugins.flexmetal import servers as lifecycle
from plugins.flexmetal.client import FlexMetalClient, RetryPolicy, is_gone
from plugins.plugin import Call, Observed, PluginProvider, ResourceHandlers, Setting
from plugins.properties import COMPUTED, off_the_loop, serve
from stacks.resources.flexmetal.schema import (
    IDENTITY_TAG_PREFIX,
    PACKAGE,
    SERVER,
    SERVER_REINSTALL_ON,
    SERVER_REPLACE_ON,
    SSH_KEY,
    TIMINGS,
)

VERSION = "0.1.0"
T = TypeVar("T")


class Connection:
    """The API client and the provider's timings, once the engine configured the provider."""

    def __init__(self) -> None:
        self._client: FlexMetalClient | None = None
        self._waiting: lifecycle.Waiting | None = None

    def configure(self, setting: Setting) -> None:
        endpoint = setting("endpoint") or os.environ.get("FLEXMETAL_ENDPOINT", "")
        token = setting("token") or os.environ.get("FLEXMETAL_TOKEN", "")
        timings = {name: setting(name) for name in TIMINGS}
        configured = endpoint and token and all(timings.values())
        self._client = (
            FlexMetalClient(endpoint, token, RetryPolicy(float(timings["request_timeout_s"])))
            if configured
            else None
        )
        self._waiting = waiting_of(timings) if configured else None

    @property
    def client(self) -> FlexMetalClient:
        if self._client is None:
            raise not_configured()
        return self._client

    @property
    def waiting(self) -> lifecycle.Waiting:
        if self._waiting is None:
            raise not_configured()
        return self._waiting

    async def io(self, work: Callable[[FlexMetalClient], T]) -> T:
        client = self.client
        return await off_the_loop(lambda: work(client))


class SshKeys(ResourceHandlers):
    schema = SSH_KEY
    replace_on = SSH_KEY.inputs

    def __init__(self, api: Connection) -> None:
        self.api = api

    async def create(self, call: Call, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key = await self.api.io(lambda c: c.create_ssh_key(inputs["name"], inputs["public_key"]))
        return key["uuid"], {"uuid": key["uuid"]}

    async def read(
        self, resource_id: str, state: dict[str, Any], inputs: dict[str, Any]
    ) -> Observed | None:
        key = await self.api.io(lambda c: unless_gone(lambda: c.get_ssh_key(resource_id), is_gone))
        if key is None:
            return None
        observed = {"name": key["name"], "public_key": key["publicKey"]}
        return Observed(observed, {"uuid": key["uuid"]})

    async def delete(self, call: Call, resource_id: str, state: dict[str, Any]) -> None:
        await self.api.io(lambda c: unless_gone(lambda: c.delete_ssh_key(resource_id), is_gone))


class Servers(ResourceHandlers):
    schema = SERVER
    replace_on = SERVER_REPLACE_ON

    def __init__(self, api: Connection) -> None:
        self.api = api

    def comparable(self, name: str, value: Any) -> Any:
        return sorted(value or []) if name in ("tags", "ssh_keys") else value

    async def create(self, call: Call, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        spec, waiting = server_spec(inputs), self.api.waiting
        timeout = call.timeout(waiting.delivery_timeout_s)
        server = await self.api.io(lambda c: lifecycle.create_delivered(c, spec, waiting, timeout))
        return server["uuid"], {**observed(server), "installation": installation("delivered")}

    async def read(
        self, resource_id: str, state: dict[str, Any], inputs: dict[str, Any]
    ) -> Observed | None:
        server = await self.api.io(
            lambda c: unless_gone(lambda: c.get_server(resource_id), is_gone)
        )
        if server is None or server["status"] == "released":
            return None  # released out of band: gone from the state
        identity = next(
            (t for t in server["tags"] if t.startswith(IDENTITY_TAG_PREFIX)),
            inputs.get("identity_tag", ""),
        )
        now = {
            "name": server["name"],
            "location": server["location"]["name"],
            "instance_type": server["instanceType"]["name"],
            "os_slug": server["os"]["slug"],
            "tags": [t for t in server["tags"] if t != identity],
            "identity_tag": identity,
            "ssh_keys": inputs.get("ssh_keys", []),  # the API does not return keys
        }
        return Observed(now, observed(server))

    def _reinstalls(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
        return bool(self.changed_inputs(olds, news, SERVER_REINSTALL_ON))

    def planned_update(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        outputs = self.kept_outputs(olds)
        if self._reinstalls(olds, news):  # a new installation: what depends on it changes
            outputs.update(status=COMPUTED, installation=COMPUTED)
        return outputs

    async def update(
        self, call: Call, resource_id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> dict[str, Any]:
        reinstall = self._reinstalls(olds, news)
        spec, waiting = server_spec(news), self.api.waiting
        timeout = call.timeout(waiting.delivery_timeout_s)

        def update(client: FlexMetalClient) -> dict[str, Any]:
            server = client.get_server(resource_id)
            if reinstall:
                server = lifecycle.reinstall(client, server["uuid"], spec, waiting, timeout)
            return lifecycle.converge_tags(client, server, spec.all_tags)

        server = await self.api.io(update)
        kept = installation("reinstalled") if reinstall else olds.get("installation")
        return {**observed(server), "installation": kept}

    async def delete(self, call: Call, resource_id: str, state: dict[str, Any]) -> None:
        waiting = self.api.waiting
        timeout = call.timeout(waiting.release_timeout_s)
        await self.api.io(lambda c: lifecycle.release(c, resource_id, waiting, timeout))


def server_spec(inputs: Mapping[str, Any]) -> lifecycle.ServerSpec:
    return lifecycle.ServerSpec(
        name=inputs["name"],
        location=inputs["location"],
        instance_type=inputs["instance_type"],
        os_slug=inputs["os_slug"],
        ssh_keys=tuple(inputs["ssh_keys"]),
        identity_tag=inputs["identity_tag"],
        tags=tuple(inputs.get("tags") or ()),
        post_install_script=inputs.get("post_install_script") or "",
    )


def not_configured() -> ValueError:
    return ValueError(
        "the flexmetal provider needs `endpoint`, a token (provider input `token`, or "
        f"FLEXMETAL_TOKEN in the environment) and its timings ({', '.join(TIMINGS)}), "
        "as the PoP's spec gives them (stacks/pop.py)"
    )


def waiting_of(timings: Mapping[str, Any]) -> lifecycle.Waiting:
    return lifecycle.Waiting(
        delivery_poll_s=float(timings["delivery_poll_interval_s"]),
        delivery_timeout_s=float(timings["delivery_timeout_s"]),
        release_poll_s=float(timings["release_poll_interval_s"]),
        release_timeout_s=float(timings["release_timeout_s"]),
    )


def observed(server: Mapping[str, Any]) -> dict[str, Any]:
    addresses = [entry["ipAddress"] for entry in server.get("ipAddresses") or []]
    return {
        "uuid": server["uuid"],
        "status": server["status"],
        "status_message": server.get("statusMessage", ""),
        "ip_addresses": addresses,
        "primary_ip": addresses[0] if addresses else "",
        "created_at": server.get("createdAt", 0),
        "delivered_at": server.get("deliveredAt", 0),
    }


def installation(how: str) -> str:
    """Names the OS installation on the server: changes with each reinstall (which keeps the
    server, its address and its delivery time), so a deploy can follow it."""
    return f"{how}@{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"


def plugin() -> PluginProvider:
    api = Connection()
    return PluginProvider(PACKAGE, [Servers(api), SshKeys(api)], configure=api.configure)


def main() -> None:
    serve(plugin(), VERSION)


if __name__ == "__main__":
    main()
