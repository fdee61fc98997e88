"""Benchmark: calls per server. The load generator (quality/load.py: rooms of ROOM_SIZE callers,
in worker processes) ramps rooms on one deployed SFU while probe calls are placed alongside,
until the probe's median MOS falls below 4.0 or its p95 loss rises above 1 % (the knee); the
server's CPU and packets come from its own /proc, the generator's CPU from its workers.

Three ramps, on a sandbox of its own (bridge vpbench3, 172.30.214.0/24, stand-in port 58787):
- a container host (this machine's cores, natively: what the server's CPU per call is read on);
- the VM host with the project's tuning as deployed, then the same VM with the kernel's
  defaults for the tuned buffers and backlogs (their values before the deploy): same host,
  same load, side by side. The VM is emulated (TCG): its SFU breaks long before the generator
  does, which is what gives a knee on this 2-core machine.

Usage (as root, after `make setup`): .venv/bin/python bench/bench_load.py [HOLD_S]
Writes bench/results/load.json and prints the tables; `bench/bench_load.py --report` prints
them again from that file.
"""

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quality import load
from roles.sfu.access import Credentials
from sandbox import settings as sandbox_settings
from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import (
    Inventory,
    deliver_and_declare,
    deploy,
    quieted_for_a_benchmark,
    sandbox_spec,
)

SETTINGS = {
    "VOICEPOP_SANDBOX_BRIDGE": "vpbench3",
    "VOICEPOP_SANDBOX_NETWORK": "172.30.214.0/24",
    "VOICEPOP_SANDBOX_STANDIN_PORT": "58787",
    "VOICEPOP_SANDBOX_ROUTE53_PORT": "58788",
    "VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT": "55000",
    "VOICEPOP_SANDBOX_DNS_PORT": "58053",
}
CONTAINER = ("sbx1-sfu01", "bm7.std.8")
VM = ("sbx1-sfu02", "bm9.std.16")
ROOM_SIZE = 4  # a small group call: 4 streams in, 12 out a room
CONTAINER_STEPS = [0, 2, 4, 6, 8, 12, 16, 24, 32]
VM_STEPS = [0, 1, 2, 3, 4, 6, 8]
# The calls one server of each instance type carries, extrapolated from the container's SFU
# CPU per call (this machine's cores as the unit): its cores, of which CPU_BUDGET for the SFU
# (the rest: the kernel's packet work, which the SFU's own CPU time leaves out, and headroom
# for a burst), over the CPU one call costs. The cores: the number the type's name ends in.
CPU_BUDGET = 0.5
CORES = {"bm7.std.8": 8, "bm7.std.16": 16, "bm9.std.16": 16}
PROBE_S = 4.0
RESULTS = PROJECT_ROOT / "bench" / "results" / "load.json"
# the kernel_tuning role's buffers and backlogs (roles/kernel_tuning/defaults.py)
TUNED = ("net.core.rmem_max net.core.wmem_max net.core.rmem_default net.core.wmem_default "
         "net.core.optmem_max net.core.netdev_max_backlog net.core.netdev_budget "
         "net.ipv4.udp_rmem_min net.ipv4.udp_wmem_min")  # fmt: skip


def sysctls(sandbox: SandboxUnderTest, address: str) -> dict[str, str]:
    output = sandbox.ssh(address, f"sysctl {TUNED}")
    return dict(line.split(" = ", 1) for line in output.strip().splitlines())


def run_ramp(sandbox: SandboxUnderTest, host: dict[str, Any], steps: list[int],
             hold_s: float) -> list[dict[str, Any]]:  # fmt: skip
    credentials = Credentials.from_environment()
    ramped = asyncio.run(
        load.ramp(load.endpoint_of(host), credentials, ROOM_SIZE, steps, hold_s,
                  load.prober_of(host, credentials, PROBE_S),
                  load.sampler_via(lambda command: sandbox.ssh(host["address"], command)),
                  processes=2)
    )  # fmt: skip
    rows = load.summary(ramped, ROOM_SIZE)
    knee = load.knee(ramped)
    per_call = load.cpu_per_call(ramped)
    rows = [{**row, "knee": knee is not None and row["rooms"] == knee.rooms,
             "cpu_per_room": per_call} for row in rows]  # fmt: skip
    print_ramp(rows)
    return rows


def print_ramp(rows: list[dict[str, Any]]) -> None:
    """A ramp's table, each good loaded step with what a call cost there (the SFU's CPU above
    idle, per call), then the knee and the slope the capacity is extrapolated from."""
    costs = load.cost_per_call([(r["rooms"], r["server_cores"]) for r in rows if not r["broken"]])
    print(f"| rooms ({ROOM_SIZE} callers) | probe MOS median | probe loss p95 % | SFU cores | "
          "SFU CPU per call above idle, ms/s | pps in | pps out | generator cores | "
          "broken |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        cost = f"{1000 * costs[row['rooms']]:.1f}" if row["rooms"] in costs else ""
        print(f"| {row['rooms']} | {row['probe_mos_median']:.2f} | {row['probe_loss_p95']:.2f} | "
              f"{row['server_cores']:.3f} | {cost} | {row['server_pps_in']} | "
              f"{row['server_pps_out']} | {row['generator_cores']:.2f} | "
              f"{'**yes**' if row['broken'] else ''} |", flush=True)  # fmt: skip
    knee = next((row["rooms"] for row in rows if row["knee"]), "not reached")
    per_call = rows[0]["cpu_per_room"] if rows else 0.0
    print(f"knee: {knee} rooms; SFU CPU per room {1000 * per_call:.1f} ms/s (the slope over the "
          "good steps)\n", flush=True)  # fmt: skip


def report(results: dict[str, Any]) -> None:
    """The tables of a run written before, from its results."""
    for ramp in ("container", "vm_tuned", "vm_defaults"):
        if ramp in results:
            print(f"## {ramp}")
            print_ramp(results[ramp])
    print(f"callsPerServer: {results.get('calls_per_server')}")


def deployed(sandbox: SandboxUnderTest, host: tuple[str, str]) -> tuple[Inventory, dict[str, str]]:
    """One host delivered and deployed (the VM only once the container's ramp is done: an
    emulated VM takes most of a core of this machine even idle), its housekeeping stopped;
    with its sysctls as delivered (the kernel's defaults)."""
    spec = sandbox_spec(sandbox)
    inventory = deliver_and_declare(sandbox, spec, (host,))
    before = sysctls(sandbox, inventory.host(host[0])["address"])
    done = deploy(inventory)
    if done.returncode != 0:
        sys.exit(f"the site deploy failed:\n{done.stdout[-4000:]}")
    quieted_for_a_benchmark(sandbox, inventory.host(host[0])["address"])
    return inventory, before


def calls_per_server(cpu_per_call: float) -> dict[str, int]:
    return {kind: int(cores * CPU_BUDGET / cpu_per_call) for kind, cores in CORES.items()}


def main(hold_s: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    sandbox = SandboxUnderTest(folder, settings=SETTINGS)
    (folder / "backend").mkdir()
    if (started := sandbox.sandbox("up")).returncode != 0:
        sys.exit(started.stdout + started.stderr)
    os.environ["REQUESTS_CA_BUNDLE"] = str(sandbox.acme_trust)
    os.environ.update(sandbox_settings.SFU_TOKEN_ENVIRONMENT)
    results: dict[str, Any] = {"room_size": ROOM_SIZE, "hold_s": hold_s, "probe_s": PROBE_S}
    try:
        sandbox.standin("settings", "step_delay_s=0.05", "release_delay_s=0.05")
        containers, _ = deployed(sandbox, CONTAINER)
        print("## container host (native CPU)", flush=True)
        results["container"] = run_ramp(sandbox, containers.host(CONTAINER[0]), CONTAINER_STEPS,
                                         hold_s)  # fmt: skip
        per_call = results["container"][0]["cpu_per_room"]
        results["calls_per_server"] = calls_per_server(per_call) if per_call > 0 else {}
        print(
            f"callsPerServer ({CPU_BUDGET:.0%} of the cores, {1000 * per_call:.1f} ms of CPU a "
            f"second per call of {ROOM_SIZE}): {results['calls_per_server']}\n",
            flush=True,
        )
        inventory, defaults = deployed(sandbox, VM)
        vm = inventory.host(VM[0])
        results["vm_tuned_sysctls"] = sysctls(sandbox, vm["address"])
        print(f"## VM host, the project's tuning: {results['vm_tuned_sysctls']}", flush=True)
        results["vm_tuned"] = run_ramp(sandbox, vm, VM_STEPS, hold_s)
        sandbox.ssh(
            vm["address"], "sysctl -q " + " ".join(f"{k}='{v}'" for k, v in defaults.items())
        )
        results["vm_default_sysctls"] = sysctls(sandbox, vm["address"])
        print(f"## VM host, the kernel's defaults: {results['vm_default_sysctls']}", flush=True)
        results["vm_defaults"] = run_ramp(sandbox, vm, VM_STEPS, hold_s)
    finally:
        sandbox.sandbox("down")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {RESULTS.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--report"]:
        report(json.loads(RESULTS.read_text()))
    else:
        main(float(sys.argv[1]) if len(sys.argv) > 1 else 15.0)
