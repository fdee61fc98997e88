"""Drain a server or a whole PoP from the control machine, and undrain it: runs
`voicepop-drain` (the anycast role installs it) on each chosen host at once, over SSH.

    python -m deploy.drain --hosts HOSTS.json drain [--server NAME ...] [--wait S]
    python -m deploy.drain --hosts HOSTS.json undrain|status [--server NAME ...]

HOSTS.json lists the PoP's hosts' entries as the verification suites take them (as
`python -m ops.inventories STACK` writes inventories/STACK.json); without --server, every host
of the file (the whole PoP). Draining tags
the routes GRACEFUL_SHUTDOWN (65535:0), waits (the PoP spec's bgp.drain_wait_s unless --wait),
then withdraws them.
"""

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deploy.ssh import open_ssh
from roles.anycast.config import DRAIN_COMMAND
from roles.host import HostEntry
from verify.inventory import read_hosts


def run_on(host: HostEntry, command: str) -> tuple[int, str]:
    client = open_ssh(host.address, user=host.ssh_user, key_filename=host.ssh_key)
    try:
        _, stdout, stderr = client.exec_command(command)
        status = stdout.channel.recv_exit_status()
        return status, (stdout.read() + stderr.read()).decode().strip()
    finally:
        client.close()


def chosen(hosts: list[HostEntry], names: list[str] | None) -> list[HostEntry]:
    if not names:
        return hosts
    unknown = sorted(set(names) - {h.name for h in hosts})
    if unknown:
        known = ", ".join(h.name for h in hosts)
        sys.exit(f"drain: no host {', '.join(unknown)} in the hosts file; it has: {known}")
    return [h for h in hosts if h.name in names]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("drain", "undrain", "status"))
    parser.add_argument("--hosts", type=Path, required=True)
    parser.add_argument("--server", action="append", help="a server to act on (repeatable)")
    parser.add_argument("--wait", type=int, help="seconds between tagging and withdrawing")
    args = parser.parse_args(argv)
    hosts = chosen(read_hosts(args.hosts), args.server)
    command = f"{DRAIN_COMMAND} {args.action}"
    if args.action == "drain" and args.wait is not None:
        command += f" {args.wait}"
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        results = list(pool.map(lambda host: run_on(host, command), hosts))
    failed = 0
    for host, (status, output) in zip(hosts, results, strict=True):
        print(f"{host.name}: {output}" if status == 0 else f"{host.name}: FAILED {output}")
        failed += status != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
