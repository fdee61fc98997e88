"""The FlexMetal stand-in's HTTP side: routes, the PRIVATE-TOKEN check, the RANGED-DATA paging
header, fault injection around each request, and the admin API under /_standin/."""

import contextlib
import json
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import astuple
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.flexmetal.api import ApiError, FlexMetalApi, Response, public_view
from sandbox.flexmetal.contract import (
    ContractRequest,
    ContractResponse,
    request_violation,
    response_problems,
)
from sandbox.flexmetal.faults import FaultRule, take_request_fault

API = "/v3"
ADMIN = "/_standin"
MAX_BODY_BYTES = 1 << 20  # far above any request of the API (a post-install script at most)
READ_TIMEOUT_S = 10.0


class Route:
    def __init__(self, method: str, pattern: str, handler: Callable[..., Response]) -> None:
        self.method = method
        self.pattern = re.compile("^" + pattern + "$")
        self.handler = handler


class StandIn:
    """Routes requests to the API and applies faults; independent of the socket server."""

    def __init__(
        self, api: FlexMetalApi, token: str, read_timeout_s: float = READ_TIMEOUT_S
    ) -> None:
        self.api = api
        self.token = token
        self.read_timeout_s = read_timeout_s
        self._fault_lock = threading.Lock()
        self.routes = [
            Route("GET", f"{API}/flexMetal/location", self.locations),
            Route("GET", f"{API}/flexMetal/location/(\\d+)/instanceTypes", self.instance_types),
            Route("GET", f"{API}/operatingsystem", self.operating_systems),
            Route("GET", f"{API}/flexMetal/servers", self.list_servers),
            Route("POST", f"{API}/flexMetal/servers", self.create_server),
            Route("GET", f"{API}/flexMetal/servers/([^/]+)", self.get_server),
            Route("DELETE", f"{API}/flexMetal/servers/([^/]+)", self.release_server),
            Route("PATCH", f"{API}/flexMetal/servers/([^/]+)", self.reinstall_server),
            Route("GET", f"{API}/flexMetal/servers/([^/]+)/commands", self.commands),
            Route("POST", f"{API}/flexMetal/servers/([^/]+)/tag/([^/]+)", self.add_tag),
            Route("DELETE", f"{API}/flexMetal/servers/([^/]+)/tag/([^/]+)", self.remove_tag),
            Route("GET", f"{API}/flexMetal/tags", self.tags),
            Route("GET", f"{API}/flexMetal/quota/usage", self.quota_usage),
            Route("GET", f"{API}/sshKey", self.list_ssh_keys),
            Route("POST", f"{API}/sshKey", self.create_ssh_key),
            Route("GET", f"{API}/sshKey/([^/]+)", self.get_ssh_key),
            Route("DELETE", f"{API}/sshKey/([^/]+)", self.delete_ssh_key),
            Route("GET", f"{ADMIN}/health", lambda **_: Response(200, {"ok": True})),
            Route("GET", f"{ADMIN}/faults", self.get_faults),
            Route("POST", f"{ADMIN}/faults", self.add_fault),
            Route("DELETE", f"{ADMIN}/faults", self.clear_faults),
            Route("GET", f"{ADMIN}/settings", self.get_settings),
            Route("PUT", f"{ADMIN}/settings", self.put_settings),
        ]

    # --- dispatch -------------------------------------------------------------------------

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        if path.startswith(ADMIN):
            return None
        with self._fault_lock:
            rules = self.api.faults()
            rule = take_request_fault(rules, method, path)
            if rule:
                self.api.save_faults(rules)
        return rule

    def authorized(self, path: str, headers: Any) -> bool:
        """Every endpoint needs the API token, the stand-in's admin API too (its health
        check aside: it tells nothing)."""
        return path == f"{ADMIN}/health" or headers.get("PRIVATE-TOKEN") == self.token

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, raw: bytes
    ) -> Response:
        """One request, as the provider answers it: the token, the route, the body checked
        against the API's contract, then the answer, itself checked against the contract."""
        if not self.authorized(path, headers):
            return error_response(403, "invalid or missing PRIVATE-TOKEN")
        try:
            route, args = self.route(method, path)
        except ApiError as error:
            return Response(error.status, error.body)
        body = decoded_json(raw)  # raises BadBody: not UTF-8, not JSON, NaN or Infinity
        request = ContractRequest(method, path, query, dict(headers.items()), raw or None)
        if path.startswith(API) and (violation := request_violation(request)):
            return Response(violation.status, ApiError(*astuple(violation)).body)
        try:
            response = route.handler(*args, query=query, headers=headers, body=body)
        except ApiError as error:
            response = Response(error.status, error.body)
        if path.startswith(API):
            answer = ContractResponse(response.status, encoded(response), response.headers or {})
            if problems := response_problems(request, answer):
                message = f"the stand-in's answer breaks the API contract: {'; '.join(problems)}"
                print(f"{method} {path}: {message}", file=sys.stderr, flush=True)
                return error_response(500, message)
        return response

    def route(self, method: str, path: str) -> tuple[Route, list[str]]:
        """The route and its path arguments; ApiError 404, or 405 when only the method is
        wrong."""
        wrong_method = False
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                return route, [unquote(group) for group in match.groups()]
            wrong_method = wrong_method or bool(match)
        raise ApiError(405 if wrong_method else 404, f"{method} {path}: no such endpoint")

    # --- catalogue ------------------------------------------------------------------------

    def locations(self, **_: Any) -> Response:
        return Response(
            200,
            [
                {
                    "id": self.api.location_ids[name],
                    "name": name,
                    "shortName": name.split(": ")[-1][:3].lower(),
                    "displayName": name,
                    "countryId": 0,
                    "countryName": "",
                    "countryShortName": "",
                }
                for name in self.api.catalogue.locations
            ],
        )

    def instance_types(self, location_id: str, **_: Any) -> Response:
        by_id = {ident: name for name, ident in self.api.location_ids.items()}
        location = by_id.get(int(location_id))
        if location is None:
            raise ApiError(404, f"location {location_id} not found")
        return Response(
            200,
            [
                {
                    "id": index,
                    "locationId": int(location_id),
                    "name": name,
                    "sockets": 1,
                    "cores": int(name.rsplit(".", 1)[-1]),
                    "memory": int(name.rsplit(".", 1)[-1]) * 4096,
                    "memoryType": "DDR5",
                    "storage": 960,
                    "storageType": "NVMe",
                    "generationName": name.split(".")[0],
                }
                for index, name in enumerate(
                    self.api.catalogue.instance_types_by_location[location]
                )
            ],
        )

    def operating_systems(self, **_: Any) -> Response:
        return Response(
            200,
            [
                {
                    "id": index,
                    "name": slug,
                    "slug": slug,
                    "osGroup": 2,
                    "isOdp": 0,
                    "availableForFlexMetal": 1,
                    "active": 1,
                }
                for index, slug in enumerate(self.api.catalogue.operating_systems, start=1)
            ],
        )

    # --- servers --------------------------------------------------------------------------

    def list_servers(self, query: dict[str, list[str]], headers: Any, **_: Any) -> Response:
        tags = [tag for value in query.get("tag", []) for tag in value.split(",") if tag]
        status = first(query, "status")
        servers = [public_view(s) for s in self.api.list_servers(status, tags)]
        return paged(servers, headers.get("RANGED-DATA"))

    def create_server(self, body: Any, **_: Any) -> Response:
        return Response(200, [public_view(self.api.create_server(body))])

    def get_server(self, server_uuid: str, **_: Any) -> Response:
        return Response(200, [public_view(self.api.get_server(server_uuid))])

    def release_server(self, server_uuid: str, **_: Any) -> Response:
        return Response(200, [public_view(self.api.release_server(server_uuid))])

    def reinstall_server(self, server_uuid: str, body: Any, **_: Any) -> Response:
        return Response(200, [self.api.reinstall_server(server_uuid, body)])

    def commands(self, server_uuid: str, query: dict[str, list[str]], **_: Any) -> Response:
        command_type = first(query, "type")
        return Response(200, self.api.list_commands(server_uuid, command_type))

    def add_tag(self, server_uuid: str, tag: str, **_: Any) -> Response:
        return Response(200, [public_view(self.api.add_tag(server_uuid, tag))])

    def remove_tag(self, server_uuid: str, tag: str, **_: Any) -> Response:
        return Response(200, [public_view(self.api.remove_tag(server_uuid, tag))])

    def tags(self, **_: Any) -> Response:
        counts: dict[str, int] = {}
        for server in self.api.list_servers(None, []):
            if server["status"] != "released":
                for tag in server["tags"]:
                    counts[tag] = counts.get(tag, 0) + 1
        return Response(
            200,
            [
                {"tag": tag, "resources": {"count": n, "flexMetalServers": {"count": n}}}
                for tag, n in sorted(counts.items())
            ],
        )

    def quota_usage(self, **_: Any) -> Response:
        quota = int(self.api.setting("quota_per_instance_type"))
        usage = []
        for location, types in self.api.catalogue.instance_types_by_location.items():
            rows = []
            for index, instance_type in enumerate(types):
                rows.append(
                    {
                        "instanceType": {"id": index, "name": instance_type},
                        "quotaType": "onDemand",
                        "contractId": "",
                        "quota": quota,
                        "usage": self.api.servers_in_use(location, instance_type),
                    }
                )
            usage.append(
                {
                    "location": {"id": self.api.location_ids[location], "name": location},
                    "quotaUsage": rows,
                }
            )
        return Response(200, usage)

    # --- SSH keys -------------------------------------------------------------------------

    def list_ssh_keys(self, **_: Any) -> Response:
        return Response(200, self.api.store.all("sshkey"))

    def create_ssh_key(self, body: Any, **_: Any) -> Response:
        return Response(200, [self.api.create_ssh_key(body)])

    def get_ssh_key(self, key_uuid: str, **_: Any) -> Response:
        return Response(200, [self.api.get_ssh_key(key_uuid)])

    def delete_ssh_key(self, key_uuid: str, **_: Any) -> Response:
        self.api.delete_ssh_key(key_uuid)
        return Response(204, None)

    # --- admin ----------------------------------------------------------------------------

    def get_faults(self, **_: Any) -> Response:
        return Response(200, [rule.to_json() for rule in self.api.faults()])

    def add_fault(self, body: Any, **_: Any) -> Response:
        try:
            rule = FaultRule.from_json(body if isinstance(body, dict) else {})
        except (TypeError, ValueError) as error:
            raise ApiError(400, f"invalid fault rule: {error}") from None
        with self._fault_lock:
            rules = self.api.faults()
            rules.append(rule)
            self.api.save_faults(rules)
        return Response(200, rule.to_json())

    def clear_faults(self, **_: Any) -> Response:
        with self._fault_lock:
            self.api.save_faults([])
        return Response(200, [])

    def get_settings(self, **_: Any) -> Response:
        from sandbox.flexmetal.api import DEFAULT_SETTINGS

        return Response(200, {key: self.api.setting(key) for key in DEFAULT_SETTINGS})

    def put_settings(self, body: Any, **_: Any) -> Response:
        from sandbox.flexmetal.api import DEFAULT_SETTINGS

        if not isinstance(body, dict) or set(body) - set(DEFAULT_SETTINGS):
            raise ApiError(400, f"settings are: {', '.join(DEFAULT_SETTINGS)}")
        for key, value in body.items():
            self.api.store.set_setting(key, value)
        return self.get_settings()


class BadBody(ValueError):
    """A request body that is not a JSON document."""


def _refuse_constant(name: str) -> Any:
    raise BadBody(f"request body is not valid JSON: {name} is not a JSON number")


def decoded_json(raw: bytes) -> Any:
    """The request body as JSON: UTF-8, standard JSON only (no NaN or Infinity)."""
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise BadBody("request body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise BadBody(f"request body is not valid JSON: {error}") from None


def encoded(response: Response) -> bytes:
    return b"" if response.body is None else json.dumps(response.body, allow_nan=False).encode()


def error_response(status: int, message: str) -> Response:
    return Response(status, ApiError(status, message).body)


def first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def paged(items: list[Any], ranged: str | None) -> Response:
    """Applies a `RANGED-DATA: start=N,results=M` request header, as the real API does."""
    if not ranged:
        return Response(200, items)
    fields = dict(part.split("=", 1) for part in ranged.split(",") if "=" in part)
    try:
        start, results = int(fields.get("start", 0)), int(fields.get("results", 25))
    except ValueError:
        raise ApiError(400, f"invalid RANGED-DATA header {ranged!r}") from None
    page = items[start : start + results]
    header = f"start={start},results={len(page)},total={len(items)}"
    return Response(200, page, {"RANGED-DATA": header})


def make_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = standin.read_timeout_s  # a client that stops sending is answered 408

        def log_message(self, format: str, *args: Any) -> None:
            return  # the stand-in logs nothing per request; faults are in its state

        def _serve(self) -> None:
            """Every request gets an answer in the API's error form, whatever went wrong:
            the connection is never closed on a client without one (faults aside)."""
            try:
                self._serve_one()
            except TimeoutError:
                self.close_connection = True
                self._send(error_response(408, f"request body not sent within {self.timeout} s"))
            except Exception as error:  # a stand-in bug: still an answer, and said where
                print(f"{self.command} {self.path}: {error!r}", file=sys.stderr, flush=True)
                self.close_connection = True
                self._send(error_response(500, f"the stand-in failed: {error!r}"))

        def _serve_one(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True  # the body is left unread
                self._send(error_response(413, f"request body over {MAX_BODY_BYTES} bytes"))
                return
            raw = self.rfile.read(length) if length else b""
            fault = standin.take_fault(self.command, url.path)
            if fault and fault.kind == "drop":
                self._drop()
                return
            if fault and fault.kind == "slow":
                time.sleep(fault.delay_s)
            if fault and fault.kind == "error":
                self._send(error_response(fault.status, f"injected fault: HTTP {fault.status}"))
                return
            try:
                response = standin.handle(
                    self.command, url.path, parse_qs(url.query), self.headers, raw
                )
            except BadBody as error:
                response = error_response(400, str(error))
            if fault and fault.kind == "drop_after":
                self._drop()
                return
            self._send(response)

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _send(self, response: Response) -> None:
            payload = encoded(response)
            self.send_response(response.status, HTTPStatus(response.status).phrase)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (response.headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)  # the client may have given up waiting

        def __getattr__(self, name: str) -> Any:
            """Every method reaches the routes (do_GET, ..., do_TRACE, do_QUERY): those the API
            does not take on a path are answered 405 there, as the provider does."""
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """http.server's own refusals (an unknown method, a malformed request line) in the
            API's error form too, not as an HTML page."""
            self.close_connection = True
            self._send(error_response(code, message or HTTPStatus(code).phrase))

    return Handler


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class RunningStandIn:
    """The stand-in serving HTTP in a background thread, with its provisioner beside it."""

    def __init__(
        self, standin: StandIn, host: str, port: int, poll_interval_s: float = 0.1
    ) -> None:
        self.standin = standin
        self.http = StandInServer((host, port), make_handler(standin))
        self.port = int(self.http.server_address[1])
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.http.serve_forever, args=(0.2,), name="http", daemon=True),
            threading.Thread(target=self._provision, args=(poll_interval_s,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _provision(self, poll_interval_s: float) -> None:
        while not self._stop.wait(poll_interval_s):
            self.standin.api.advance()

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        for thread in self._threads:
            thread.join()
        self.http.server_close()
        self.standin.api.shutdown()


def serve(standin: StandIn, host: str, port: int) -> None:
    """Serves until SIGTERM or SIGINT: `sandbox down` stops the stand-in with SIGTERM."""
    running = RunningStandIn(standin, host, port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    running.stop()
