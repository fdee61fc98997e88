"""The deploy's SSH connection to its host: a host that goes silent mid-deploy (its SSH
blackholed, its link cut) ends that host's deploy within a bound, naming the host, instead of
stalling it until the deploy's own timeout. SSH keepalives keep data in flight even while a
long command prints nothing, and TCP_USER_TIMEOUT closes the connection once that data has
gone unacknowledged for the bound; the operation then fails like any other.

Host data (from the spec's `deploy`, ops/inventories.py): `ssh_dead_after_s`."""

import socket
from typing import Any

KEEPALIVES_PER_BOUND = 4


def bound_silence(host: Any, dead_after_s: float) -> bool:
    """Bounds how long `host`'s SSH connection may go unanswered; False where the host is not
    reached over SSH (the @local connector)."""
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is None:
        return False
    transport.set_keepalive(max(1, int(dead_after_s / KEEPALIVES_PER_BOUND)))
    if isinstance(transport.sock, socket.socket):
        milliseconds = int(dead_after_s * 1000)
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, milliseconds)
    return True
