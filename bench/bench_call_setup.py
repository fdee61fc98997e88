"""Benchmark: a call's set-up time (the probe's first signalling request to its first media
packet) with Janus's token check off, as before the SFU's access was locked, and on, as
deployed: the same hosts, the same probe (it signs a token either way; Janus ignores it when
the check is off), calls placed one at a time.

Usage: python bench/bench_call_setup.py [CALLS_PER_SERVER_PER_ROUND]   (after `make up`; each host's
token_auth is turned off, then on again, by hand over SSH, and left on; prints a Markdown
table)
"""

import asyncio
import statistics
import sys
import time
from pathlib import Path

from deploy.drain import run_on
from quality.probe import Target, probe
from roles.host import HostEntry
from roles.sfu.access import Credentials
from sandbox.settings import SFU_TOKEN_SECRET
from verify.inventory import read_hosts

PROJECT = Path(__file__).resolve().parent.parent
INVENTORY = PROJECT / "inventories" / "sandbox.json"
CONFIG = "/etc/janus/janus.jcfg"
ROUNDS = 3


def token_check(hosts: list[HostEntry], on: bool) -> None:
    value = "true" if on else "false"
    command = (
        f"sed -i 's/^\\ttoken_auth = .*/\\ttoken_auth = {value}/' {CONFIG} && "
        "systemctl restart janus && sleep 2 && "
        "python3 -c \"import urllib.request;urllib.request.urlopen('http://127.0.0.1:8088/janus/info')\""
    )
    for host in hosts:
        status, output = run_on(host, command)
        if status:
            raise SystemExit(f"{host.name}: {output}")


async def setups(hosts: list[HostEntry], calls: int) -> list[float]:
    credentials = Credentials((SFU_TOKEN_SECRET,))
    measured = []
    for _ in range(calls):
        for host in hosts:
            report = await probe(Target(host.name, host.address), credentials, 1.0)
            if not report.ok:
                raise SystemExit(f"{host.name}: {report.error}")
            measured.append(report.setup_s)
    return measured


def main(calls: int) -> None:
    hosts = read_hosts(INVENTORY)
    table: dict[str, list[float]] = {}
    modes = (("token check off (before)", False), ("token check on (after)", True))
    try:
        for _ in range(ROUNDS):  # interleaved: the machine's load drifts over minutes
            for label, on in modes:
                token_check(hosts, on)
                time.sleep(1)
                table.setdefault(label, []).extend(asyncio.run(setups(hosts, calls)))
    finally:
        token_check(hosts, True)
    print(f"| {len(hosts)} servers x {calls} calls x {ROUNDS} rounds | median | p90 | worst |")
    print("|---|---:|---:|---:|")
    for label, values in table.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"| {label} | {statistics.median(values) * 1000:.0f} ms | {p90 * 1000:.0f} ms | "
              f"{max(values) * 1000:.0f} ms |")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
