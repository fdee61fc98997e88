"""What the provider stand-in asks of the machinery that runs delivered servers as hosts."""

from dataclasses import dataclass
from typing import Protocol

from sandbox import settings


@dataclass(frozen=True)
class HostRequest:
    server_uuid: str
    name: str
    address: str
    prefix_length: int
    ssh_public_keys: tuple[str, ...]
    instance_type: str
    post_install_script: str = ""
    bridge: str = settings.BRIDGE  # the site's (sandbox/hosts/sites.py)
    routes: tuple[tuple[str, str], ...] = ()  # (destination, via) beyond the bridge


class HostBackend(Protocol):
    def start(self, host: HostRequest) -> None:
        """Starts the host and returns once SSH answers at its address. Idempotent."""

    def stop(self, server_uuid: str) -> None:
        """Stops the host and removes everything it used. Idempotent."""

    def reinstall(self, host: HostRequest) -> None:
        """Wipes the host back to a fresh OS install with the given keys, and starts it."""


class ApiOnlyHosts:
    """No hosts at all: servers are delivered as API objects only. For the stand-in's wire
    format tests, which need no SSH; every sandbox and end-to-end run uses real hosts."""

    def start(self, host: HostRequest) -> None:
        return None

    def stop(self, server_uuid: str) -> None:
        return None

    def reinstall(self, host: HostRequest) -> None:
        return None
