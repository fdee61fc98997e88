"""Benchmark: the E-model's MOS against a full-reference listening score under impairments.
On a VM host of the sandbox (its own kernel has netem; this machine's has not), deployed as a
site, each cell of the table sets `tc netem` on the server's link (what the SFU sends to the
caller: the call's second leg) and places calls with `python -m quality call
--full-reference`: each report carries the E-model's MOS (fed the figures the probe measured)
and PESQ's P.862.2 MOS-LQO of what was heard (quality/listening.py).

Usage (as root, after `make setup`): .venv/bin/python bench/bench_listening.py [CALLS] [SECONDS]
Runs its own sandbox (bridge vpbench2, 172.30.212.0/24, stand-in port 48787) with one VM host
(its housekeeping stopped: tests/site_fixture.py BENCHMARK_QUIET);
writes bench/results/listening.json (every call's report, by cell) and prints the table. The
fit of the E-model's Opus parameters reads that file: bench/fit_opus_profile.py.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox import settings as sandbox_settings
from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import deliver_and_declare, deploy, quieted_for_a_benchmark, sandbox_spec

SETTINGS = {
    "VOICEPOP_SANDBOX_BRIDGE": "vpbench2",
    "VOICEPOP_SANDBOX_NETWORK": "172.30.212.0/24",
    "VOICEPOP_SANDBOX_STANDIN_PORT": "48787",
    "VOICEPOP_SANDBOX_ROUTE53_PORT": "48788",
    "VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT": "45000",
    "VOICEPOP_SANDBOX_DNS_PORT": "48053",
}
VM = ("sbx1-sfu01", "bm9.std.16")
RESULTS = PROJECT_ROOT / "bench" / "results" / "listening.json"
MEAN_BURST_PACKETS = 3  # the bursty cells' loss: Gilbert-Elliott, 60 ms bursts on average


def bursty(loss_pct: float) -> str:
    """netem's Gilbert-Elliott loss: every packet lost in the bad state, none in the good;
    leaving it after MEAN_BURST_PACKETS on average, entering it so that `loss_pct` are lost."""
    r = 100 / MEAN_BURST_PACKETS
    p = loss_pct * r / (100 - loss_pct)
    return f"loss gemodel {p:.3f}% {r:.3f}% 100% 0%"


# (cell, netem's arguments); "" is the clean path. Jitter is netem's uniform delay of +-J
# about J (so never negative): the packets reorder as they would on a real path.
CELLS: list[tuple[str, str]] = [
    ("clean", ""),
    *[(f"loss {loss} % random", f"loss {loss}%") for loss in (1, 3, 5, 10)],
    *[(f"loss {loss} % bursty", bursty(loss)) for loss in (1, 3, 5, 10)],
    *[(f"jitter {jitter} ms", f"delay {jitter}ms {jitter}ms") for jitter in (20, 40)],
    *[(f"delay {delay} ms", f"delay {delay}ms") for delay in (100, 200)],
]


def call(host: dict[str, Any], seconds: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "quality", "call", host["address"], "--server", host["name"],
               "--name", host["dns_names"][0], "--duration", str(seconds), "--json",
               "--full-reference"]  # fmt: skip
    env = {**os.environ, **sandbox_settings.SFU_TOKEN_ENVIRONMENT}
    ran = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    report: dict[str, Any] = json.loads(ran.stdout)
    return report


def run_cells(sandbox: SandboxUnderTest, host: dict[str, Any], calls: int,
              seconds: float) -> dict[str, Any]:  # fmt: skip
    address = host["address"]
    link = sandbox.ssh(address, f"ip -o -4 addr show to {address} | cut -d' ' -f2").strip()
    cells: dict[str, Any] = {}
    for name, netem in CELLS:
        if netem:
            sandbox.ssh(address, f"tc qdisc replace dev {link} root netem {netem}")
        try:
            reports = [call(host, seconds) for _ in range(calls)]
        finally:
            sandbox.ssh(address, f"tc qdisc del dev {link} root 2>/dev/null; true")
        cells[name] = {"netem": netem, "calls": reports}
        scored = [r for r in reports if r.get("listening_mos") is not None]
        print(f"{name:22} E-model {[r['mos'] for r in reports]} "
              f"PESQ {[r['listening_mos'] for r in scored]} "
              f"loss {[r['loss_pct'] for r in reports]} late {[r['late_pct'] for r in reports]}",
              flush=True)  # fmt: skip
    return cells


def main(calls: int, seconds: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-listening-"))
    sandbox = SandboxUnderTest(folder, settings=SETTINGS)
    (folder / "backend").mkdir()
    if (started := sandbox.sandbox("up")).returncode != 0:
        sys.exit(started.stdout + started.stderr)
    os.environ["REQUESTS_CA_BUNDLE"] = str(sandbox.acme_trust)
    try:
        sandbox.standin("settings", "step_delay_s=0.05", "release_delay_s=0.05")
        spec = sandbox_spec(sandbox)
        inventory = deliver_and_declare(sandbox, spec, (VM,))
        started_at = time.monotonic()
        deployed = deploy(inventory)
        if deployed.returncode != 0:
            sys.exit(f"the site deploy failed:\n{deployed.stdout[-4000:]}")
        print(f"deployed in {time.monotonic() - started_at:.0f} s", flush=True)
        quieted_for_a_benchmark(sandbox, inventory.host(VM[0])["address"])
        cells = run_cells(sandbox, inventory.host(VM[0]), calls, seconds)
    finally:
        sandbox.sandbox("down")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(
        {"calls_per_cell": calls, "call_seconds": seconds, "host": VM[1], "cells": cells},
        indent=1) + "\n")  # fmt: skip
    print(f"wrote {RESULTS.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(int(arguments[0]) if arguments else 3, float(arguments[1]) if arguments[1:] else 10.0)
