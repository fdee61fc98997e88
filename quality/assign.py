"""A caller's first step on a service (anycast) address: ask it which server to use. The
server that answers names itself (roles/sfu/assign.py); the caller then signals and sends
media to that server for the whole session, whatever a router's ECMP hash does with its next
connections."""

import asyncio
from dataclasses import dataclass

import requests

from quality.https import connected_to

HTTPS_PORT = 443  # the sfu role's tls.port default


class NotAssigned(Exception):
    """The service address assigned no server; the message says why."""


@dataclass(frozen=True)
class Assigned:
    server: str
    signalling_url: str
    media_address: str


def assigned_server(
    address: str, name: str, port: int = HTTPS_PORT, timeout_s: float = 2.0
) -> Assigned:
    """The server the service `name` (reached at its service `address`) assigns."""
    url, session = connected_to(f"https://{name}:{port}/assign", address)
    try:
        reply = session.get(url, timeout=timeout_s)
        reply.raise_for_status()
        answer = reply.json()
        return Assigned(answer["server"], answer["signalling_url"], answer["media_address"])
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        raise NotAssigned(f"assignment: {url} answered no server: {error}") from error


async def assigned(
    address: str, name: str, port: int = HTTPS_PORT, timeout_s: float = 2.0
) -> Assigned:
    return await asyncio.to_thread(assigned_server, address, name, port, timeout_s)
