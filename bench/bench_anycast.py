"""Benchmark: BGP convergence of the sandbox PoP's announcements, seen from the upstream router.

Usage (as root, after `make setup`): .venv/bin/python bench/bench_anycast.py
Runs its own sandbox (bridge vpbench0) with 2 container hosts deployed by the site roles with
the spec's defaults (health: every 2 s, timeout 1 s, fall 2, rise 3; hold 9 s, keepalive 3 s,
connect delay 1 s, BFD 300 ms x 3), and prints, each measured 5 times from this machine:
- session up: a host's session restarted (`birdc restart`) until the upstream has its route;
- withdrawal: `systemctl stop janus` returned until the upstream has no route from the host;
- re-announcement: `systemctl start janus` returned until the route is back;
- drain: `voicepop-drain drain 5` until 65535:0 is seen, and until the route is withdrawn;
- silent failure: the host's BIRD frozen (SIGSTOP: no notification, no more packets) until
  the upstream withdraws the host's route: BFD's detection, not the 9 s hold time.
"""

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.upstream import learned_routes_of
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import deliver_and_declare, deploy, sandbox_spec

SETTINGS = {
    "VOICEPOP_SANDBOX_BRIDGE": "vpbench0",
    "VOICEPOP_SANDBOX_NETWORK": "172.30.205.0/24",
    "VOICEPOP_SANDBOX_STANDIN_PORT": "28787",
    "VOICEPOP_SANDBOX_ROUTE53_PORT": "28788",
    "VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT": "25000",
    "VOICEPOP_SANDBOX_DNS_PORT": "28053",
}
HOSTS = (("sbx1-sfu01", "bm7.std.8"), ("sbx1-sfu02", "bm7.std.8"))  # containers
ROUNDS = 5


def seconds_until(condition: Callable[[], bool], limit_s: float = 60) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit_s:
            sys.exit(f"not within {limit_s} s: {condition.__code__.co_firstlineno}")
        time.sleep(0.02)
    return time.monotonic() - started


def summary(name: str, figures: list[float]) -> None:
    print(
        f"{name}: median {statistics.median(figures):.2f} s, "
        f"min {min(figures):.2f} s, max {max(figures):.2f} s ({len(figures)} runs)"
    )


def main() -> None:
    sandbox = SandboxUnderTest(Path(tempfile.mkdtemp(prefix="bench-anycast-")), SETTINGS)
    if (started := sandbox.sandbox("up")).returncode != 0:
        sys.exit(started.stdout + started.stderr)
    try:
        sandbox.standin("settings", "step_delay_s=0.05", "release_delay_s=0.05")
        inventory = deliver_and_declare(sandbox, sandbox_spec(sandbox), HOSTS)
        if (deployed := deploy(inventory)).returncode != 0:
            sys.exit(deployed.stdout[-3000:])
        host = inventory.host("sbx1-sfu01")["address"]
        state = sandbox.root / "sandbox"

        def hops() -> dict[str, list[tuple[int, int]]]:
            return {p.next_hop: p.communities for p in learned_routes_of(state)}

        seconds_until(lambda: host in hops())
        up, withdrawn, announced, tagged, drained, lost = [], [], [], [], [], []
        for _ in range(ROUNDS):
            start = time.monotonic()
            sandbox.ssh(host, "birdc restart vp_upstream")
            seconds_until(lambda: host not in hops(), 5)
            seconds_until(lambda: host in hops())
            up.append(time.monotonic() - start)
            sandbox.ssh(host, "systemctl stop janus")
            withdrawn.append(seconds_until(lambda: host not in hops()))
            sandbox.ssh(host, "systemctl start janus")
            announced.append(seconds_until(lambda: host in hops()))
            start = time.monotonic()
            sandbox.ssh(host, "(voicepop-drain drain 5 >/dev/null 2>&1 &)")
            seconds_until(lambda: (65535, 0) in hops().get(host, []))
            tagged.append(time.monotonic() - start)
            seconds_until(lambda: host not in hops())
            drained.append(time.monotonic() - start)
            sandbox.ssh(host, "voicepop-drain undrain")
            seconds_until(lambda: host in hops())
            start = time.monotonic()
            sandbox.ssh(host, "pkill -STOP -x bird")
            seconds_until(lambda: host not in hops())
            lost.append(time.monotonic() - start)
            sandbox.ssh(host, "pkill -CONT -x bird")
            seconds_until(lambda: host in hops())
        summary("session restart to route learned", up)
        summary("SFU stopped to route withdrawn", withdrawn)
        summary("SFU started to route announced again", announced)
        summary("drain started to 65535:0 seen", tagged)
        summary("drain started to route withdrawn (drain wait 5 s)", drained)
        summary("host's BIRD frozen to route withdrawn (BFD 300 ms x 3)", lost)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            sandbox.sandbox("down")


if __name__ == "__main__":
    main()
