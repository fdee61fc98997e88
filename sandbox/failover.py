"""Failover drills on the sandbox PoP: a caller behind the upstream router (sandbox/callers.py)
calls the PoP's anycast service address; the drill fails the server carrying the call, watches
the upstream router's forwarding lose it, and lets the caller reconnect as a client would
(quality/reconnect.py). Out come the reconnect's parts and its timeline (quality/timeline.py).

    python -m sandbox.failover KIND --inventory inventories/sandbox.json [--watch 12]
                               [--out DIR]
KIND:
  sfu-crash  the SFU killed (SIGKILL) and kept down: its unit withdraws the server
  power-off  the server's link cut at the bridge, as a power loss looks to the network (no
             BGP goodbye: BFD notices); its processes keep running, so it returns with the link
  drain      planned: `voicepop-drain drain` (graceful shutdown, then withdrawal), then the SFU
             stopped once the upstream no longer forwards to it
Each drill puts the server back (SFU started, link up, undrained) and waits until the upstream
forwards to it again.
"""

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from deploy.drain import run_on
from quality.timeline import Failover, render_png, summary
from roles.anycast.config import DRAIN_COMMAND, service_address
from roles.host import HostEntry
from sandbox import callers, settings, upstream
from sandbox.hosts.network import ip
from verify.inventory import read_hosts

KINDS = ("sfu-crash", "power-off", "drain")
SETTLE_S = 2.0  # media flows this long before the failure


class DrillError(RuntimeError):
    """The drill could not run or its caller never reconnected; the message says why."""


def anycast_target(hosts: list[HostEntry]) -> tuple[str, str]:
    """(prefix, service address) of the first IPv4 prefix the servers announce."""
    for prefix in hosts[0].bgp.prefixes if hosts[0].bgp else []:
        if ipaddress.ip_network(prefix).version == 4:
            return prefix, service_address(prefix).split("/")[0]
    raise DrillError("the inventory's servers announce no IPv4 prefix: nothing to call")


def forwarding_hops(prefix: str) -> set[str]:
    """The next hops the upstream router's kernel forwards `prefix` to."""
    shown = ip("-n", upstream.NAMESPACE, "-j", "route", "show", prefix, check=False)
    hops: set[str] = set()
    for route in json.loads(shown.stdout or "[]"):
        if "gateway" in route:
            hops.add(route["gateway"])
        hops.update(hop["gateway"] for hop in route.get("nexthops", []) if "gateway" in hop)
    return hops


class UpstreamWatch:
    """When the upstream router's forwarding lost a server (polled every 5 ms)."""

    def __init__(self, prefix: str, server: str) -> None:
        self.prefix, self.server = prefix, server
        self.lost_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self.lost_at is None and self.server not in forwarding_hops(self.prefix):
                self.lost_at = time.monotonic()
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def bridge_port_of(host: HostEntry) -> str:
    """The machine's end of a container host's link (its host0's peer on the bridge)."""
    status, peer_index = run_on(host, "cat /sys/class/net/host0/iflink")
    if status != 0:
        raise DrillError(f"{host.name}: no host0 link to cut (a container host is needed)")
    for link in json.loads(ip("-j", "link", "show").stdout):
        if str(link["ifindex"]) == peer_index.strip():
            return str(link["ifname"])
    raise DrillError(f"{host.name}: its link's bridge end (ifindex {peer_index}) not found")


def on_our_clock(host_time: str, before: float, after: float) -> float:
    """The host's wall-clock reading (`date +%s.%N`) on this machine's monotonic clock: a
    container shares this machine's kernel, hence its clocks, so the reading says when the
    command ran, not when SSH delivered it. Another host's clock is not ours: `before`."""
    try:
        at = float(host_time) - (time.time() - time.monotonic())
    except ValueError:
        return before
    return at if before <= at <= after else before


def _timed_on(host: HostEntry, command: str) -> float:
    """Runs `command` on the host; when it ran, on the monotonic clock."""
    before = time.monotonic()
    status, output = run_on(host, f"date +%s.%N; {command}")
    if status != 0:
        raise DrillError(f"{host.name}: {command!r} failed: {output}")
    return on_our_clock(output.split()[0] if output else "", before, time.monotonic())


def _cut_link(port: str) -> float:
    at = time.monotonic()
    ip("link", "set", port, "down")
    return at


def _drain_then_stop(host: HostEntry, prefix: str) -> float:
    wait = host.bgp.drain_wait_s if host.bgp else 0
    _timed_on(host, f"{DRAIN_COMMAND} drain {wait}")
    deadline = time.monotonic() + 30
    while host.address in forwarding_hops(prefix):
        if time.monotonic() > deadline:
            raise DrillError(f"{host.name}: still forwarded to 30 s after its drain")
        time.sleep(0.01)
    return _timed_on(host, "systemctl stop janus")


def fail(kind: str, host: HostEntry, prefix: str, port: str) -> float:
    """Fails `host` as `kind` says (`port`: its link's bridge end, for a power-off); the moment
    of the failure on the monotonic clock."""
    if kind == "sfu-crash":
        return _timed_on(host, "systemctl kill --signal=SIGKILL janus; systemctl stop janus")
    if kind == "power-off":
        return _cut_link(port)
    return _drain_then_stop(host, prefix)


def restore(kind: str, host: HostEntry, prefix: str, port: str) -> None:
    if kind == "power-off":
        ip("link", "set", port, "up")
    if kind == "drain":
        run_on(host, f"{DRAIN_COMMAND} undrain")
    run_on(host, "systemctl start janus")
    deadline = time.monotonic() + 60
    while host.address not in forwarding_hops(prefix):
        if time.monotonic() > deadline:
            raise DrillError(f"{host.name}: not forwarded to again 60 s after its restore")
        time.sleep(0.1)


def start_caller(
    address: str, name: str, watch_s: float, attempt_timeout_s: float
) -> subprocess.Popen[str]:
    """A caller of the service `name` at its anycast `address`, behind the upstream router."""
    reconnect = ["reconnect", address, "--name", name, "--watch", str(watch_s)]
    timeout = ["--attempt-timeout", str(attempt_timeout_s)]
    command = callers.command_in_namespace([sys.executable, "-m", "quality", *reconnect, *timeout])
    return subprocess.Popen(
        command,
        cwd=settings.PROJECT_DIR,
        env={**os.environ, **settings.CALLER_ENVIRONMENT},  # the sandbox's token secret, CA
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_connection(caller: subprocess.Popen[str]) -> str:
    """The server carrying the caller's first call, from its "connected" line."""
    assert caller.stderr is not None
    for line in caller.stderr:
        if line.startswith("connected "):
            return line.split()[1]
    raise DrillError(f"the caller never connected (exit {caller.wait()})")


def drill(
    kind: str, hosts: list[HostEntry], watch_s: float, attempt_timeout_s: float = 1.0
) -> Failover:
    prefix, address = anycast_target(hosts)
    by_address = {host.address: host for host in hosts}
    service_name = hosts[0].dns_names[-1]  # the service's, every server's last
    caller = start_caller(address, service_name, watch_s, attempt_timeout_s)
    try:
        carrying = first_connection(caller)
        if carrying not in by_address:
            raise DrillError(f"the call landed on {carrying}, not a server of the inventory")
        host = by_address[carrying]
        port = bridge_port_of(host) if kind == "power-off" else ""
        time.sleep(SETTLE_S)
        watch = UpstreamWatch(prefix, carrying)
        try:
            failed_at = fail(kind, host, prefix, port)
            out, errors = caller.communicate(timeout=watch_s + 60)
        finally:
            watch.stop()
            restore(kind, host, prefix, port)
    finally:
        if caller.poll() is None:
            caller.kill()
    log = json.loads(out)
    if len(log["calls"]) < 2:
        raise DrillError(f"the caller did not reconnect within the watch: {errors[-2000:]}")
    old, new = log["calls"][0], log["calls"][1]
    return Failover(
        kind=kind,
        failed_server=carrying,
        new_server=new["server"],
        failure_at=failed_at,
        detected_at=log["detected"][0],
        withdrawn_at=watch.lost_at,
        new_attempt_at=new["attempt_started"],
        new_media_at=new["first_media"],
        last_media_at=old["last_media"],
        media_timeout_ms=log["media_timeout_ms"],
        failed_attempts=[(at, why) for at, why in log["failed_attempts"] if at > failed_at],
        arrivals=log["arrivals"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.failover",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--inventory", required=True, help="inventories/<stack>.json")
    parser.add_argument("--watch", type=float, default=12.0, help="seconds the caller calls")
    parser.add_argument("--attempt-timeout", type=float, default=1.0,
                        help="seconds the caller gives one reconnect attempt")  # fmt: skip
    parser.add_argument("--out", help="a folder for failover-KIND.json and failover-KIND.png")
    args = parser.parse_args(argv)
    hosts = read_hosts(Path(args.inventory))
    try:
        failover = drill(args.kind, hosts, args.watch, args.attempt_timeout)
    except DrillError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summary(failover), end="")
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"failover-{args.kind}.json").write_text(json.dumps(failover.to_dict(), indent=1))
        render_png(failover, str(folder / f"failover-{args.kind}.png"))
    else:
        print(json.dumps(failover.figures()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
