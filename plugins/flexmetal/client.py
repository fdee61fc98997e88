"""A client for i3D.net's FlexMetal API v3 with its real wire format.

- `PRIVATE-TOKEN` authentication; the token never appears in errors or logs.
- Single objects arrive as one-element JSON arrays (the client also accepts a bare object).
- Lists are read page by page with the `RANGED-DATA: start=N,results=M` header.
- Errors carry the provider's `{errorCode, errorMessage, errors: [{property, message}]}`.
- Requests that are safe to repeat are retried on connection errors, timeouts, 5xx and 429
  with capped exponential backoff and full jitter. Creating a server is not safe to repeat:
  `create_server` makes one attempt, and the caller looks for the server by its identity tag
  before trying again (see `servers.ensure_server`).
"""

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import requests

from plugins.errors import PlainError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
PAGE_SIZE = 50


class FlexMetalError(PlainError):
    """The API answered with an error; `status` and the provider's messages are kept."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.status = status
        body = body if isinstance(body, dict) else {}
        self.message = str(body.get("errorMessage") or f"HTTP {status}")
        self.field_errors = [
            (str(e.get("property", "")), str(e.get("message", "")))
            for e in body.get("errors") or []
            if isinstance(e, dict)
        ]
        details = "; ".join(f"{prop}: {message}" for prop, message in self.field_errors)
        super().__init__(
            f"FlexMetal API {method} {path}: HTTP {status}: {self.message}"
            + (f" ({details})" if details else "")
        )


def is_gone(error: Exception) -> bool:
    """The API's answer for a server or key that does not exist (any more)."""
    return isinstance(error, FlexMetalError) and error.status == 404


class FlexMetalUnavailable(PlainError):
    """The API could not be reached or kept failing; the request may or may not have taken
    effect."""


@dataclass
class RetryPolicy:
    request_timeout_s: float  # the PoP spec's provider.request_timeout_s
    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 15.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Full jitter over a capped exponential; a server's Retry-After is a floor."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        delay = random.uniform(0, ceiling)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self.max_delay_s))
        return delay


class FlexMetalClient:
    def __init__(self, endpoint: str, token: str, retry: RetryPolicy) -> None:
        if not token:
            raise ValueError("FlexMetal API token is empty: set FLEXMETAL_TOKEN or flexmetal:token")
        self.endpoint = endpoint.rstrip("/")
        self.retry = retry
        self._headers = {"PRIVATE-TOKEN": token, "Accept": "application/json"}
        self._session: requests.Session | None = None  # made at the first call: a preview's
        # checks and diffs never call the API, and importing requests costs a plugin 0.17 s

    def __repr__(self) -> str:  # never show the token
        return f"FlexMetalClient({self.endpoint!r})"

    # --- transport ------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> "requests.Response":
        import requests

        if self._session is None:
            self._session = requests.Session()
            self._session.headers.update(self._headers)
        try:
            return self._session.request(
                method, self.endpoint + path, timeout=self.retry.request_timeout_s, **kwargs
            )
        except requests.RequestException as error:
            raise FlexMetalUnavailable(
                f"FlexMetal API {method} {path}: {type(error).__name__}"
            ) from None

    def request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        """The decoded JSON answer. A 4xx raises FlexMetalError at once; connection errors,
        timeouts, 5xx and 429 are retried (when `retry`), then raise FlexMetalUnavailable."""
        attempts = self.retry.attempts if retry else 1
        failure: Exception | None = None
        retry_after: str | None = None
        for attempt in range(attempts):
            if attempt:
                self.retry.sleep(self.retry.delay(attempt - 1, retry_after))
            retry_after = None
            try:
                response = self._send(method, path, **kwargs)
            except FlexMetalUnavailable as error:
                failure = error
                continue
            if response.status_code in RETRYABLE_STATUSES:
                failure = FlexMetalError(method, path, response.status_code, _json(response))
                retry_after = response.headers.get("Retry-After")
                continue
            if response.status_code >= 400:
                raise FlexMetalError(method, path, response.status_code, _json(response))
            return _json(response)
        raise FlexMetalUnavailable(
            f"FlexMetal API {method} {path}: gave up after {attempts} attempt(s): {failure}"
        )

    def _one(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return single(self.request(method, path, **kwargs))

    # --- catalogue ------------------------------------------------------------------------

    def locations(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/flexMetal/location"))

    def instance_types(self, location_id: int) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/flexMetal/location/{location_id}/instanceTypes"))

    def operating_systems(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/operatingsystem"))

    # --- servers --------------------------------------------------------------------------

    def list_servers(self, *, tags: tuple[str, ...] = (), status: str | None = None) -> list[Any]:
        return list(self._pages("/flexMetal/servers", tags=tags, status=status))

    def _pages(
        self, path: str, *, tags: tuple[str, ...], status: str | None
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {}
        if tags:
            params["tag"] = ",".join(tags)
        if status:
            params["status"] = status
        start = 0
        while True:
            page = self.request(
                "GET",
                path,
                params=params,
                headers={"RANGED-DATA": f"start={start},results={PAGE_SIZE}"},
            )
            yield from page
            if len(page) < PAGE_SIZE:
                return
            start += PAGE_SIZE

    def get_server(self, server_uuid: str) -> dict[str, Any]:
        return self._one("GET", f"/flexMetal/servers/{quote(server_uuid)}")

    def create_server(self, request: dict[str, Any]) -> dict[str, Any]:
        """One attempt only: a lost answer may still have created the server."""
        return self._one("POST", "/flexMetal/servers", json=request, retry=False)

    def release_server(self, server_uuid: str) -> dict[str, Any]:
        return self._one("DELETE", f"/flexMetal/servers/{quote(server_uuid)}")

    def add_tag(self, server_uuid: str, tag: str) -> dict[str, Any]:
        return self._one("POST", f"/flexMetal/servers/{quote(server_uuid)}/tag/{quote(tag)}")

    def remove_tag(self, server_uuid: str, tag: str) -> dict[str, Any]:
        return self._one("DELETE", f"/flexMetal/servers/{quote(server_uuid)}/tag/{quote(tag)}")

    def reinstall_server(self, server_uuid: str, request: dict[str, Any]) -> dict[str, Any]:
        return self._one("PATCH", f"/flexMetal/servers/{quote(server_uuid)}", json=request)

    def commands(self, server_uuid: str, command_type: str) -> list[dict[str, Any]]:
        path = f"/flexMetal/servers/{quote(server_uuid)}/commands"
        return list(self.request("GET", path, params={"type": command_type}))

    # --- SSH keys -------------------------------------------------------------------------

    def create_ssh_key(self, name: str, public_key: str) -> dict[str, Any]:
        body = {"name": name, "publicKey": public_key}
        return self._one("POST", "/sshKey", json=body, retry=False)

    def get_ssh_key(self, key_uuid: str) -> dict[str, Any]:
        return self._one("GET", f"/sshKey/{quote(key_uuid)}")

    def list_ssh_keys(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/sshKey"))

    def delete_ssh_key(self, key_uuid: str) -> None:
        self.request("DELETE", f"/sshKey/{quote(key_uuid)}")


def single(answer: Any) -> dict[str, Any]:
    """The API answers with `[object]` for one object; accept a bare object too."""
    if isinstance(answer, list):
        if len(answer) != 1:
            raise ValueError(f"expected one object from the FlexMetal API, got {len(answer)}")
        answer = answer[0]
    if not isinstance(answer, dict):
        raise ValueError("expected a JSON object from the FlexMetal API")
    return answer


def _json(response: "requests.Response") -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"errorMessage": response.text[:200]}
