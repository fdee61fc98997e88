"""The lifecycle of a FlexMetal server, apart from Pulumi: find-or-create by identity tag,
wait for delivery, converge tags, reinstall in place, release.

Every server carries an identity tag derived from project, stack and logical name. A create
whose answer was lost (timeout, dropped connection, 5xx) is followed by a look-up of that tag
before any new attempt, so a retried or re-run create adopts the server already rented
instead of renting a second one. A lost request can still land after that look-up (it was
slow, not lost); so once a create had an ambiguous attempt, it waits for such stragglers and
then settles duplicates: the oldest server with the identity stays, the others are released.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from plugins.errors import PlainError, unless_gone
from plugins.flexmetal.client import (
    FlexMetalClient,
    FlexMetalUnavailable,
    is_gone,
)

# Statuses of a server that is gone or cannot be used: never adopted.
DEAD_STATUSES = frozenset({"failed", "releasing", "released"})
STRAGGLER_MARGIN_S = 5.0


class ServerFailed(PlainError):
    """The provider reports the server failed, or it did not get there in time."""


@dataclass(frozen=True)
class ServerSpec:
    """What a server should be: the resource's inputs."""

    name: str
    location: str
    instance_type: str
    os_slug: str
    ssh_keys: tuple[str, ...]
    identity_tag: str
    tags: tuple[str, ...] = ()
    post_install_script: str = ""

    @property
    def all_tags(self) -> list[str]:
        return list(dict.fromkeys([*self.tags, self.identity_tag]))

    def create_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "name": self.name,
            "location": self.location,
            "instanceType": self.instance_type,
            "os": {"slug": self.os_slug},
            "sshKey": list(self.ssh_keys),
            "tags": self.all_tags,
        }
        if self.post_install_script:
            request["postInstallScript"] = self.post_install_script
        return request

    def reinstall_request(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "os": {"slug": self.os_slug},
            "sshKey": list(self.ssh_keys),
            "postInstallScript": self.post_install_script,
        }


T = TypeVar("T")


@dataclass
class Waiting:
    """How long and how often to poll: the PoP spec's provider section (stacks/spec/models.py,
    defaults like the official Terraform provider's)."""

    delivery_poll_s: float
    delivery_timeout_s: float
    release_poll_s: float
    release_timeout_s: float
    create_attempts: int = 6
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)


def live_with_identity(client: FlexMetalClient, tag: str) -> list[dict[str, Any]]:
    """Live servers carrying this identity tag, oldest first (the one that is kept)."""
    live = [s for s in client.list_servers(tags=(tag,)) if s["status"] not in DEAD_STATUSES]
    return sorted(live, key=lambda s: (s["createdAt"], s["uuid"]))


@dataclass(frozen=True)
class Ensured:
    server: dict[str, Any]
    ambiguous: bool  # some create attempt may have taken effect without our knowing


def ensure_server(client: FlexMetalClient, spec: ServerSpec, waiting: Waiting) -> Ensured:
    """The server for this spec, adopted if it exists, else created; not yet delivered."""
    last_failure: Exception | None = None
    for attempt in range(waiting.create_attempts):
        if attempt:
            waiting.sleep(random.uniform(0, min(15.0, 0.5 * 2**attempt)))
        live = live_with_identity(client, spec.identity_tag)
        if live:
            return Ensured(live[0], ambiguous=last_failure is not None)
        try:
            return Ensured(client.create_server(spec.create_request()), last_failure is not None)
        except FlexMetalUnavailable as error:
            last_failure = error  # the server may exist now: look again before retrying
    raise FlexMetalUnavailable(
        f"could not create server {spec.name} after {waiting.create_attempts} attempts: "
        f"{last_failure}"
    )


def settle_duplicates(
    client: FlexMetalClient, spec: ServerSpec, waiting: Waiting, timeout_s: float
) -> dict[str, Any]:
    """Keeps the oldest live server with the identity, delivered; releases the others."""
    live = live_with_identity(client, spec.identity_tag)
    if not live:
        raise ServerFailed(f"no live server with identity {spec.identity_tag} for {spec.name}")
    keep, *extra = live
    for duplicate in extra:
        try:
            wait_until_delivered(client, duplicate, waiting, timeout_s)
        except ServerFailed:
            continue  # a failed duplicate cannot be released, and is not billed as a server
        release(client, duplicate["uuid"], waiting, waiting.release_timeout_s)
    return wait_until_delivered(client, keep, waiting, timeout_s)


def create_delivered(
    client: FlexMetalClient, spec: ServerSpec, waiting: Waiting, timeout_s: float
) -> dict[str, Any]:
    """Exactly one delivered server for this spec, whatever the network did meanwhile."""
    ensured = ensure_server(client, spec, waiting)
    wait_until_delivered(client, ensured.server, waiting, timeout_s)
    if ensured.ambiguous:
        # a request whose answer was lost lands within the client's timeout, or never
        waiting.sleep(client.retry.request_timeout_s + STRAGGLER_MARGIN_S)
    return settle_duplicates(client, spec, waiting, timeout_s)


def poll(fetch: Callable[[], T], waiting: Waiting, deadline: float, interval_s: float) -> T:
    """One look of a wait: an API unreachable for a while (the client gave up on its own
    retries) does not end the wait; only the wait's deadline does."""
    while True:
        try:
            return fetch()
        except FlexMetalUnavailable:
            if waiting.clock() >= deadline:
                raise
            waiting.sleep(interval_s)


def wait_until_delivered(
    client: FlexMetalClient, server: dict[str, Any], waiting: Waiting, timeout_s: float
) -> dict[str, Any]:
    deadline = waiting.clock() + timeout_s
    server_uuid = server["uuid"]
    while True:
        if server["status"] == "delivered":
            return server
        if server["status"] == "failed":
            raise ServerFailed(
                f"server {server['name']} ({server['uuid']}) failed at the provider: "
                f"{server.get('statusMessage') or 'no message'}"
            )
        if server["status"] in DEAD_STATUSES:
            raise ServerFailed(f"server {server['name']} ({server['uuid']}) is {server['status']}")
        if waiting.clock() >= deadline:
            raise ServerFailed(
                f"server {server['name']} ({server['uuid']}) not delivered after "
                f"{timeout_s:.0f} s; still {server['status']}"
            )
        waiting.sleep(waiting.delivery_poll_s)
        server = poll(
            lambda: client.get_server(server_uuid), waiting, deadline, waiting.delivery_poll_s
        )


def converge_tags(
    client: FlexMetalClient, server: dict[str, Any], wanted: list[str]
) -> dict[str, Any]:
    for tag in wanted:
        if tag not in server["tags"]:
            server = client.add_tag(server["uuid"], tag)
    for tag in list(server["tags"]):
        if tag not in wanted:
            removed = unless_gone(partial(client.remove_tag, server["uuid"], tag), is_gone)
            server = removed or server
    return client.get_server(server["uuid"])


def reinstall(
    client: FlexMetalClient, server_uuid: str, spec: ServerSpec, waiting: Waiting, timeout_s: float
) -> dict[str, Any]:
    """Reinstalls in place (PATCH) and waits for the provider's command to finish."""
    command = client.reinstall_server(server_uuid, spec.reinstall_request())
    deadline = waiting.clock() + timeout_s
    interval_s = min(waiting.delivery_poll_s, 5.0)
    while True:
        listed = poll(
            lambda: client.commands(server_uuid, "update-server"), waiting, deadline, interval_s
        )
        state = {c["uuid"]: c for c in listed}.get(command["uuid"], command)["state"]
        if state == "finished":
            return poll(lambda: client.get_server(server_uuid), waiting, deadline, interval_s)
        if state == "failed":
            raise ServerFailed(f"reinstall of server {spec.name} ({server_uuid}) failed")
        if waiting.clock() >= deadline:
            raise ServerFailed(f"reinstall of {spec.name} ({server_uuid}) still {state}")
        waiting.sleep(interval_s)


def release(client: FlexMetalClient, server_uuid: str, waiting: Waiting, timeout_s: float) -> None:
    """Releases the server and waits until it is released; gone already is fine."""
    deadline = waiting.clock() + timeout_s
    server = unless_gone(
        lambda: poll(
            lambda: client.get_server(server_uuid), waiting, deadline, waiting.release_poll_s
        ),
        is_gone,
    )
    if server is None:
        return
    if server["status"] == "failed":
        raise ServerFailed(
            f"server {server['name']} ({server_uuid}) is failed and the provider cannot release "
            "it: ask the provider's support to remove it, then run `pulumi state delete` for it"
        )
    if server["status"] != "released":
        server = client.release_server(server_uuid)
    while server["status"] != "released":
        if waiting.clock() >= deadline:
            raise ServerFailed(f"server {server_uuid} not released after {timeout_s:.0f} s")
        waiting.sleep(waiting.release_poll_s)
        server = poll(
            lambda: client.get_server(server_uuid), waiting, deadline, waiting.release_poll_s
        )
