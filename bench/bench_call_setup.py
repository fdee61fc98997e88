"""Benchmark: a call's set-up time (the probe's first signalling request to its first media
packet) as before the SFU's access was locked (plain HTTP straight to Janus, no token check)
and as deployed (HTTPS through the TLS front, a signed token checked): the same hosts, the
same probe (it signs a token either way; Janus ignores it when the check is off), calls
placed one at a time, the two ways interleaved.

Usage: python bench/bench_call_setup.py [CALLS_PER_SERVER_PER_ROUND]   (after `make up`; for
"before", each host's Janus is set by hand over SSH to token_auth = false, listening on every
address, with its port let in by the firewall; all of it undone after, and left as deployed;
prints a Markdown table)
"""

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from deploy.drain import run_on
from quality.probe import Target, probe
from roles.host import HostEntry
from roles.sfu.access import Credentials
from sandbox.settings import ACME_TRUST, SFU_TOKEN_SECRET
from verify.inventory import read_hosts

PROJECT = Path(__file__).resolve().parent.parent
INVENTORY = PROJECT / "inventories" / "sandbox.json"
CONFIG = "/etc/janus/janus.jcfg"
HTTP = "/etc/janus/janus.transport.http.jcfg"
ROUNDS = 3
HEALTH = "python3 -c \"import urllib.request;urllib.request.urlopen('http://127.0.0.1:8088/janus/info')\""
BEFORE = (
    f"sed -i 's/^\\ttoken_auth = .*/\\ttoken_auth = false/' {CONFIG} && "
    f'sed -i \'s/^\\tip = "127.0.0.1"/\\tip = "0.0.0.0"/\' {HTTP} && '
    "nft insert rule inet voicepop input tcp dport 8088 accept comment bench && "
    f"systemctl restart janus && sleep 2 && {HEALTH}"
)
AFTER = (
    f"sed -i 's/^\\ttoken_auth = .*/\\ttoken_auth = true/' {CONFIG} && "
    f'sed -i \'s/^\\tip = "0.0.0.0"/\\tip = "127.0.0.1"/\' {HTTP} && '
    "for handle in $(nft -a list chain inet voicepop input "
    "| sed -n 's/.*comment \"bench\" # handle //p'); "
    "do nft delete rule inet voicepop input handle $handle; done && "
    f"systemctl restart janus && sleep 2 && {HEALTH}"
)


def as_deployed(hosts: list[HostEntry], deployed: bool) -> None:
    for host in hosts:
        status, output = run_on(host, AFTER if deployed else BEFORE)
        if status:
            raise SystemExit(f"{host.name}: {output}")


def target(host: HostEntry, deployed: bool) -> Target:
    if deployed:  # HTTPS by the server's name, through the TLS front
        return Target(host.name, host.address, host.sfu.tls.port, host.dns_names[0])
    return Target(host.name, host.address, url=f"http://{host.address}:8088/janus")


async def setups(hosts: list[HostEntry], calls: int, deployed: bool) -> list[float]:
    credentials = Credentials((SFU_TOKEN_SECRET,))
    measured = []
    for _ in range(calls):
        for host in hosts:
            report = await probe(target(host, deployed), credentials, 1.0)
            if not report.ok:
                raise SystemExit(f"{host.name}: {report.error}")
            measured.append(report.setup_s)
    return measured


def main(calls: int) -> None:
    hosts = read_hosts(INVENTORY)
    table: dict[str, list[float]] = {}
    modes = (
        ("plain HTTP to Janus, no token check (before)", False),
        ("HTTPS through the TLS front, token checked (after)", True),
    )
    os.environ["REQUESTS_CA_BUNDLE"] = str(ACME_TRUST)  # the sandbox CA's roots
    try:
        for _ in range(ROUNDS):  # interleaved: the machine's load drifts over minutes
            for label, deployed in modes:
                as_deployed(hosts, deployed)
                time.sleep(1)
                table.setdefault(label, []).extend(asyncio.run(setups(hosts, calls, deployed)))
    finally:
        as_deployed(hosts, True)
    print(f"| {len(hosts)} servers x {calls} calls x {ROUNDS} rounds | median | p90 | worst |")
    print("|---|---:|---:|---:|")
    for label, values in table.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"| {label} | {statistics.median(values) * 1000:.0f} ms | {p90 * 1000:.0f} ms | "
              f"{max(values) * 1000:.0f} ms |")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
