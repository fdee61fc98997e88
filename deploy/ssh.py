"""The control machine's own SSH commands to a host (the drain around a deploy, a repair's
reachability check): one connection, tried again when a slow host drops its key exchange."""

import time

import paramiko

SSH_ATTEMPTS = 3  # a slow host (a VM under emulation) now and then drops a key exchange
SSH_RETRY_WAIT_S = 2.0
SSH_CONNECT_TIMEOUT_S = 10.0


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
