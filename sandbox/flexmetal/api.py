"""What the FlexMetal stand-in does for each API call, apart from HTTP: validation, the
server status walk, release, tags, reinstall, quota and SSH keys, over the SQLite store.

Behaviour follows the real API where it differs from its published spec (see the domain
notes): single objects come back as one-element arrays, reinstall is PATCH plus commands.
"""

import ipaddress
import re
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sandbox import settings
from sandbox.flexmetal.faults import FaultRule, take_provisioning_fault
from sandbox.flexmetal.store import Store
from sandbox.hosts.backend import HostBackend, HostRequest
from sandbox.hosts.sites import HostSite, host_site
from stacks.spec.catalogue import ProviderCatalogue

STATUS_WALK = (
    "created",
    "discovering",
    "discovered",
    "allocating",
    "allocated",
    "configuring_network",
    "network_configured",
    "provisioning",
    "provisioned",
    "delivered",
)
IN_TRANSIT = (*STATUS_WALK[:-1], "releasing")  # what the provisioner still moves on
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_:-]{1,64}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$")
MAX_TAGS = 60

DEFAULT_SETTINGS: dict[str, Any] = {
    "step_delay_s": 0.5,  # time in each status of the walk before delivery
    "release_delay_s": 0.5,
    "quota_per_instance_type": 20,  # per location and instance type
    "host_network": settings.NETWORK,
    "first_host_index": settings.FIRST_HOST_INDEX,
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"errorCode": status, "errorMessage": message, "errors": errors or []}


def field_error(status: int, prop: str, message: str) -> ApiError:
    return ApiError(status, message, [{"property": prop, "message": message}])


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] | None = None


class FlexMetalApi:
    def __init__(
        self,
        store: Store,
        catalogue: ProviderCatalogue,
        hosts: HostBackend,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.location_ids = catalogue.location_ids
        self.hosts = hosts
        self.clock = clock
        self._host_work = ThreadPoolExecutor(max_workers=4, thread_name_prefix="host")
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()

    def setting(self, key: str) -> Any:
        return self.store.setting(key, DEFAULT_SETTINGS[key])

    # --- faults ---------------------------------------------------------------------------

    def faults(self) -> list[FaultRule]:
        return [FaultRule.from_json(raw) for raw in self.store.setting("faults", [])]

    def save_faults(self, rules: list[FaultRule]) -> None:
        self.store.set_setting("faults", [rule.to_json() for rule in rules])

    # --- servers --------------------------------------------------------------------------

    def list_servers(self, status: str | None, tags: list[str]) -> list[dict[str, Any]]:
        servers = self.store.all("server")
        if status:
            servers = [s for s in servers if s["status"] == status]
        return [s for s in servers if all(tag in s["tags"] for tag in tags)]

    def get_server(self, server_uuid: str) -> dict[str, Any]:
        server = self.store.get("server", server_uuid)
        if server is None:
            raise ApiError(404, f"FlexMetal server {server_uuid} not found")
        return server

    def create_server(self, body: Any) -> dict[str, Any]:
        request = self._valid_create_request(body)
        with self.store.transaction():
            self._check_quota(request["location"], request["instanceType"])
            now = int(self.clock())
            server_uuid = str(uuidlib.uuid4())
            faults = self.faults()
            failure = take_provisioning_fault(faults)
            self.save_faults(faults)
            server = {
                "uuid": server_uuid,
                "name": request["name"],
                "status": "created",
                "statusMessage": "",
                "location": {
                    "id": self.location_ids[request["location"]],
                    "name": request["location"],
                },
                "instanceType": {"id": 0, "name": request["instanceType"]},
                "os": {"slug": request["os"]["slug"]},
                "ipAddresses": [],
                "tags": list(dict.fromkeys(request.get("tags") or [])),
                "createdAt": now,
                "deliveredAt": 0,
                "releasedAt": 0,
                "contractId": request.get("contractId", ""),
                # stand-in bookkeeping, never returned to clients
                "_statusSince": self.clock(),
                "_sshKeys": self._resolve_ssh_keys(request["sshKey"]),
                "_postInstallScript": request.get("postInstallScript", ""),
                "_failWith": failure.message if failure else "",
            }
            self.store.put("server", server_uuid, server)
        return server

    def _valid_create_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """The provider's own rules for a request whose shape (required properties, types,
        unknown ones) the API contract already checked (sandbox/flexmetal/contract.py)."""
        errors = []
        if not NAME_PATTERN.match(body["name"]):
            errors.append({"property": "name", "message": "invalid server name"})
        location = body["location"]
        if location not in self.catalogue.instance_types_by_location:
            errors.append({"property": "location", "message": f"unknown location {location!r}"})
        elif body["instanceType"] not in self.catalogue.instance_types_by_location[location]:
            errors.append(
                {
                    "property": "instanceType",
                    "message": f"instance type {body['instanceType']!r} not available in "
                    f"{location!r}",
                }
            )
        os_slug = body["os"]["slug"]
        if os_slug not in self.catalogue.operating_systems:
            errors.append({"property": "os.slug", "message": f"unknown OS {os_slug!r}"})
        if not body["sshKey"]:
            errors.append({"property": "sshKey", "message": "at least one SSH key is required"})
        errors.extend(self._tag_errors(body.get("tags") or []))
        if errors:
            raise ApiError(422, "validation failed", errors)
        return body

    def _tag_errors(self, tags: list[Any]) -> list[dict[str, str]]:
        errors = [
            {
                "property": "tags",
                "message": f"invalid tag {tag!r}: must match {TAG_PATTERN.pattern}",
            }
            for tag in tags
            if not isinstance(tag, str) or not TAG_PATTERN.match(tag)
        ]
        if len(tags) > MAX_TAGS:
            errors.append({"property": "tags", "message": f"at most {MAX_TAGS} tags per server"})
        return errors

    def _resolve_ssh_keys(self, keys: list[str]) -> list[str]:
        resolved = []
        for key in keys:
            stored = self.store.get("sshkey", key)
            if stored is not None:
                resolved.append(stored["publicKey"])
            elif isinstance(key, str) and key.startswith(("ssh-", "ecdsa-")):
                resolved.append(key)
            else:
                raise field_error(
                    422, "sshKey", f"{key!r} is neither a stored key nor a public key"
                )
        return resolved

    def servers_in_use(self, location: str, instance_type: str) -> int:
        """What counts against the quota: servers neither released nor failed."""
        return sum(
            1
            for s in self.store.all("server")
            if s["location"]["name"] == location
            and s["instanceType"]["name"] == instance_type
            and s["status"] not in ("released", "failed")
        )

    def _check_quota(self, location: str, instance_type: str) -> None:
        quota = int(self.setting("quota_per_instance_type"))
        in_use = self.servers_in_use(location, instance_type)
        if in_use >= quota:
            raise field_error(
                422,
                "instanceType",
                f"quota exceeded: {in_use} of {quota} {instance_type} servers in use in {location}",
            )

    def release_server(self, server_uuid: str) -> dict[str, Any]:
        with self.store.transaction():
            server = self.get_server(server_uuid)
            if server["status"] == "failed":
                raise field_error(
                    422, "status", "a server in status failed cannot be released; contact support"
                )
            if server["status"] in ("releasing", "released"):
                return server
            if server["status"] != "delivered":
                raise field_error(
                    422, "status", f"server is {server['status']}; only delivered servers release"
                )
            self._set_status(server, "releasing")
            self.store.put("server", server_uuid, server)
        return server

    def add_tag(self, server_uuid: str, tag: str) -> dict[str, Any]:
        errors = self._tag_errors([tag])
        if errors:
            raise ApiError(422, "validation failed", errors)
        with self.store.transaction():
            server = self.get_server(server_uuid)
            if tag not in server["tags"]:
                if len(server["tags"]) >= MAX_TAGS:
                    raise field_error(422, "tags", f"at most {MAX_TAGS} tags per server")
                server["tags"].append(tag)
                self.store.put("server", server_uuid, server)
        return server

    def remove_tag(self, server_uuid: str, tag: str) -> dict[str, Any]:
        with self.store.transaction():
            server = self.get_server(server_uuid)
            if tag not in server["tags"]:
                raise field_error(404, "tag", f"server has no tag {tag!r}")
            server["tags"].remove(tag)
            self.store.put("server", server_uuid, server)
        return server

    def reinstall_server(self, server_uuid: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or "os" not in body or "sshKey" not in body:
            raise ApiError(
                422,
                "validation failed",
                [{"property": p, "message": f"{p} is required"} for p in ("os", "sshKey")],
            )
        with self.store.transaction():
            server = self.get_server(server_uuid)
            if server["status"] != "delivered":
                raise field_error(422, "status", f"server is {server['status']}, not delivered")
            os_slug = body["os"].get("slug") if isinstance(body["os"], dict) else None
            if os_slug not in self.catalogue.operating_systems:
                raise field_error(422, "os.slug", f"unknown OS {os_slug!r}")
            now = int(self.clock())
            command_uuid = str(uuidlib.uuid4())
            command: dict[str, Any] = {
                "uuid": command_uuid,
                "server_uuid": server_uuid,
                "type": "update-server",
                "payload": body,
                "state": "pending",
                "created_at": now,
                "updated_at": now,
            }
            server["os"] = {"slug": os_slug}
            server["name"] = body.get("name", server["name"])
            server["_sshKeys"] = self._resolve_ssh_keys(body["sshKey"])
            server["_postInstallScript"] = body.get("postInstallScript", "")
            self.store.put("server", server_uuid, server)
            self.store.put("command", command_uuid, command)
        return command

    def list_commands(self, server_uuid: str, command_type: str | None) -> list[dict[str, Any]]:
        self.get_server(server_uuid)
        return [
            c
            for c in self.store.all("command")
            if c["server_uuid"] == server_uuid and command_type in (None, c["type"])
        ]

    # --- SSH keys -------------------------------------------------------------------------

    def create_ssh_key(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("name") or not body.get("publicKey"):
            raise ApiError(
                422,
                "validation failed",
                [{"property": p, "message": f"{p} is required"} for p in ("name", "publicKey")],
            )
        if not str(body["publicKey"]).startswith(("ssh-", "ecdsa-")):
            raise field_error(422, "publicKey", "not an OpenSSH public key")
        key = {
            "uuid": str(uuidlib.uuid4()),
            "name": body["name"],
            "publicKey": body["publicKey"],
            "createdAt": int(self.clock()),
        }
        self.store.put("sshkey", key["uuid"], key)
        return key

    def get_ssh_key(self, key_uuid: str) -> dict[str, Any]:
        key = self.store.get("sshkey", key_uuid)
        if key is None:
            raise ApiError(404, f"SSH key {key_uuid} not found")
        return key

    def delete_ssh_key(self, key_uuid: str) -> None:
        self.get_ssh_key(key_uuid)
        self.store.delete("sshkey", key_uuid)

    # --- the status walk ------------------------------------------------------------------

    def _set_status(self, server: dict[str, Any], status: str, message: str = "") -> None:
        server["status"] = status
        server["statusMessage"] = message
        server["_statusSince"] = self.clock()

    def advance(self) -> None:
        """One step of the provisioner: moves each server on when its time has come."""
        step = float(self.setting("step_delay_s"))
        for server in self.store.with_status("server", IN_TRANSIT):
            waited = self.clock() - server["_statusSince"]
            status = server["status"]
            if status in STATUS_WALK[:-3] and waited >= step:
                self._walk_one_step(server)
            elif status == "provisioning" and waited >= step:
                self._provision(server)
            elif status == "provisioned" and waited >= step:
                self._deliver(server)
            elif status == "releasing" and waited >= float(self.setting("release_delay_s")):
                self._in_background(server["uuid"], self._stop_host, server["uuid"])
        for command in self.store.all("command"):
            if command["state"] == "pending":
                self._in_background(command["uuid"], self._run_reinstall, command["uuid"])

    def _walk_one_step(self, server: dict[str, Any]) -> None:
        with self.store.transaction():
            current = self.get_server(server["uuid"])
            if current["status"] == server["status"]:
                self._set_status(current, STATUS_WALK[STATUS_WALK.index(server["status"]) + 1])
                self.store.put("server", current["uuid"], current)

    def _provision(self, server: dict[str, Any]) -> None:
        if server["_failWith"]:
            with self.store.transaction():
                current = self.get_server(server["uuid"])
                self._set_status(current, "failed", server["_failWith"])
                self.store.put("server", current["uuid"], current)
            return
        self._in_background(server["uuid"], self._start_host, server["uuid"])

    def _deliver(self, server: dict[str, Any]) -> None:
        with self.store.transaction():
            current = self.get_server(server["uuid"])
            if current["status"] == "provisioned":
                self._set_status(current, "delivered")
                current["deliveredAt"] = int(self.clock())
                self.store.put("server", current["uuid"], current)

    def _in_background(self, key: str, work: Callable[[str], None], arg: str) -> None:
        with self._in_flight_lock:
            if key in self._in_flight:
                return
            self._in_flight.add(key)

        def run() -> None:
            try:
                work(arg)
            finally:
                with self._in_flight_lock:
                    self._in_flight.discard(key)

        self._host_work.submit(run)

    def _site(self, location: str) -> HostSite:
        return host_site(location, self.setting("host_network"))

    def _host_request(self, server: dict[str, Any]) -> HostRequest:
        site = self._site(server["location"]["name"])
        return HostRequest(
            server_uuid=server["uuid"],
            name=server["name"],
            address=server["ipAddresses"][0]["ipAddress"],
            prefix_length=site.prefix_length,
            ssh_public_keys=tuple(server["_sshKeys"]),
            instance_type=server["instanceType"]["name"],
            post_install_script=server["_postInstallScript"],
            bridge=site.bridge,
            routes=site.routes,
        )

    def _start_host(self, server_uuid: str) -> None:
        try:
            with self.store.transaction():
                server = self.get_server(server_uuid)
                if server["status"] != "provisioning":
                    return
                if not server["ipAddresses"]:
                    address = self._free_address(server["location"]["name"])
                    server["ipAddresses"] = [{"ipAddress": address}]
                    self.store.put("server", server_uuid, server)
            self.hosts.start(self._host_request(server))
        except Exception as error:  # the host could not start: the server fails, as on metal
            with self.store.transaction():
                current = self.get_server(server_uuid)
                self._set_status(current, "failed", f"provisioning failed: {error}")
                self.store.put("server", server_uuid, current)
            return
        with self.store.transaction():
            current = self.get_server(server_uuid)
            if current["status"] == "provisioning":
                self._set_status(current, "provisioned")
                self.store.put("server", server_uuid, current)

    def _stop_host(self, server_uuid: str) -> None:
        self.hosts.stop(server_uuid)
        with self.store.transaction():
            current = self.get_server(server_uuid)
            if current["status"] == "releasing":
                self._set_status(current, "released")
                current["releasedAt"] = int(self.clock())
                current["ipAddresses"] = []
                self.store.put("server", server_uuid, current)

    def _run_reinstall(self, command_uuid: str) -> None:
        command = self.store.get("command", command_uuid)
        if command is None or command["state"] != "pending":
            return
        server = self.get_server(command["server_uuid"])
        state = "finished"
        try:
            self.hosts.reinstall(self._host_request(server))
        except Exception:
            state = "failed"
        with self.store.transaction():
            current = self.store.get("command", command_uuid) or command
            current["state"] = state
            current["updated_at"] = int(self.clock())
            self.store.put("command", command_uuid, current)

    def _free_address(self, location: str) -> str:
        """The first address of the location's site no server holds (from the setting's
        first host index on)."""
        network = ipaddress.ip_network(self._site(location).network)
        taken = {
            address["ipAddress"]
            for server in self.store.all("server")
            for address in server["ipAddresses"]
        }
        first = int(self.setting("first_host_index"))
        for index, address in enumerate(network.hosts(), start=1):
            if index >= first and str(address) not in taken:
                return str(address)
        raise ApiError(503, f"no free address left in {network}")

    def shutdown(self) -> None:
        self._host_work.shutdown(wait=True, cancel_futures=False)


def public_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the API returns it: without the stand-in's own bookkeeping."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}
