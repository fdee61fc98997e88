"""The deploy's SSH connection to its host: a host that goes silent mid-deploy (its SSH
blackholed, its link cut) ends that host's deploy within a bound, naming the host, instead of
stalling it until the deploy's own timeout. SSH keepalives keep data in flight even while a
long command prints nothing, and TCP_USER_TIMEOUT closes the connection once that data has
gone unacknowledged for the bound; the operation then fails like any other.

Host data (from the spec's `deploy`, stacks/inventories.py): `ssh_dead_after_s`."""

import socket
import time
from typing import Any

import paramiko

KEEPALIVES_PER_BOUND = 4
SSH_ATTEMPTS = 3  # a slow host (a VM under emulation) now and then drops a key exchange
SSH_RETRY_WAIT_S = 2.0
SSH_CONNECT_TIMEOUT_S = 10.0


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


class SshUnreachable(OSError):
    """Every attempt to reach a host over SSH failed; says which host and why."""


def open_ssh(
    address: str,
    *,
    user: str = "root",
    key_filename: str | None = None,
    attempts: int = SSH_ATTEMPTS,
    timeout_s: float = SSH_CONNECT_TIMEOUT_S,
) -> paramiko.SSHClient:
    """An SSH connection to `address`, tried `attempts` times SSH_RETRY_WAIT_S apart (at most
    attempts x (timeout_s + wait) in all): a connection that dies in its key exchange or is
    refused while sshd restarts is tried again; a refused key is not."""
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(
                address,
                username=user,
                key_filename=key_filename,
                timeout=timeout_s,
                banner_timeout=timeout_s,
                auth_timeout=timeout_s,
                allow_agent=key_filename is None,
                look_for_keys=key_filename is None,
            )
            return client
        except paramiko.AuthenticationException:
            client.close()
            raise
        except (paramiko.SSHException, EOFError, OSError) as error:
            client.close()
            if attempt == attempts:
                elapsed = time.monotonic() - started
                raise SshUnreachable(
                    f"SSH to {address}: {attempts} attempt(s) in {elapsed:.0f} s failed, the "
                    f"last with {type(error).__name__}: {error}"
                ) from error
            time.sleep(SSH_RETRY_WAIT_S)
    raise AssertionError("unreachable")  # the loop returns or raises
