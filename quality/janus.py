"""Janus's HTTP API as a video room client speaks it: a session, plugin handles, requests and
the session's events by long polling. Blocking HTTP runs in a daemon thread, so that a probe
never waits on a pending long poll to finish. Every request carries the caller's signed token
(roles/sfu/access.py); given several (one per secret during a rotation), the session is opened
with the first the server accepts."""

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import Any

import requests

from quality.https import connected_to

POLL_S = 25  # Janus holds a long poll up to 30 s; its session times out after 60 s unpolled
Event = dict[str, Any]


UNAUTHORIZED = 403  # Janus's error code for a missing, expired, forged or foreign token


class JanusError(Exception):
    """Janus refused a request or never answered; the message says which and why."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class JanusSession:
    def __init__(
        self,
        base_url: str,
        timeout_s: float = 5.0,
        tokens: Sequence[str] = (),
        connect_to: str | None = None,
    ) -> None:
        """`connect_to`: the server's address, when the URL names it (quality/https.py)."""
        url, self._http = connected_to(base_url, connect_to)
        self.base_url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session_id = 0
        self.tokens = list(tokens)
        self.accepted = 0  # the index of the token the server accepted
        self._params: dict[str, str] = {"token": self.tokens[0]} if self.tokens else {}
        self._events: list[Event] = []
        self._arrived = asyncio.Event()
        self._closed = False

    async def _post(self, path: str, body: dict[str, Any]) -> Event:
        body = {**body, **self._params, "transaction": secrets.token_hex(6)}
        url = f"{self.base_url}{path}"
        try:
            reply = await asyncio.to_thread(self._http.post, url, json=body, timeout=self.timeout_s)
            answer: Event = reply.json()
        except (requests.RequestException, ValueError) as error:
            raise JanusError(f"signalling: {body['janus']} at {url} failed: {error}") from error
        if answer.get("janus") == "error":
            problem = answer.get("error", {})
            why = f"{problem.get('code')} {problem.get('reason')}"
            raise JanusError(f"signalling: {body['janus']} refused: {why}", problem.get("code", 0))
        return answer

    async def open(self) -> None:
        """A session, with the first of the tokens the server accepts."""
        candidates = self.tokens or [""]
        for index, token in enumerate(candidates):
            self.accepted, self._params = index, ({"token": token} if token else {})
            try:
                answer = await self._post("", {"janus": "create"})
                break
            except JanusError as error:
                if error.code != UNAUTHORIZED or index == len(candidates) - 1:
                    raise
        self.session_id = int(answer["data"]["id"])
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._poll, args=(loop,), daemon=True, name="janus-poll").start()

    def _poll(self, loop: asyncio.AbstractEventLoop) -> None:
        url = f"{self.base_url}/{self.session_id}"
        while not self._closed:
            try:
                params = {"maxev": "10", **self._params}
                reply = self._http.get(url, params=params, timeout=POLL_S + 10)
                events = reply.json()
            except (requests.RequestException, ValueError):
                if self._closed:
                    return
                continue
            batch = events if isinstance(events, list) else [events]
            if self._closed:
                return
            try:
                loop.call_soon_threadsafe(self._deliver, batch)
            except RuntimeError:  # its caller's loop is closed: a long poll outlived it
                return

    def _deliver(self, batch: list[Event]) -> None:
        self._events.extend(event for event in batch if event.get("janus") != "keepalive")
        self._arrived.set()

    async def wait_for(
        self, matches: Callable[[Event], bool], timeout_s: float, what: str
    ) -> Event:
        """The first event (since the session opened) that `matches`, taken off the queue."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            for event in self._events:
                if matches(event):
                    self._events.remove(event)
                    return event
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise JanusError(f"signalling: no {what} within {timeout_s:g} s")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                continue

    async def attach(self, plugin: str) -> int:
        answer = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": plugin})
        return int(answer["data"]["id"])

    async def request(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        """A plugin request answered at once (create, destroy): the plugin's data."""
        answer = await self._post(
            f"/{self.session_id}/{handle}", {"janus": "message", "body": body}
        )
        data: dict[str, Any] = answer.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(
                f"signalling: {body['request']} refused: {data.get('error_code')} {data['error']}"
            )
        return data

    async def message(
        self,
        handle: int,
        body: dict[str, Any],
        jsep: dict[str, str] | None = None,
        timeout_s: float = 10,
    ) -> Event:
        """A plugin request answered by an event (join, publish, start): that event."""
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep:
            message["jsep"] = jsep
        await self._post(f"/{self.session_id}/{handle}", message)
        event = await self.wait_for(
            lambda e: e.get("sender") == handle and e.get("janus") == "event",
            timeout_s,
            f"answer to {body['request']}",
        )
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(
                f"signalling: {body['request']} refused: {data.get('error_code')} {data['error']}"
            )
        return event

    async def close(self, goodbye: bool = True) -> None:
        self._closed = True
        if goodbye and self.session_id:
            with contextlib.suppress(JanusError):  # the session times out on its own
                await self._post(f"/{self.session_id}", {"janus": "destroy"})
