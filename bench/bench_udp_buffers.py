"""Benchmark: does the kernel tuning role keep bursty UDP from being dropped? On a VM host (its
own kernel: the receive-buffer sysctls are global, so a container cannot prove them), a
receiver that reads slowly gets UDP in bursts at a fixed packet rate from this machine, first
with the kernel's defaults, then with the kernel_tuning role applied (and nothing else). The
kernel's own counters say what was dropped and where: /proc/net/snmp Udp RcvbufErrors (the
socket's buffer was full) and /proc/net/softnet_stat (the input backlog was full); the
receiver's sequence numbers say what the application lost. A synthetic call is not part of
it: Janus is not installed on a bare delivered server.

Usage (as root, after `make setup`): .venv/bin/python bench/bench_udp_buffers.py [BURSTS]
Runs its own sandbox (bridge vpbench1, 172.30.206.0/24, stand-in port 38787) with one VM host;
prints a Markdown table and writes bench/results/udp-buffers.json.
"""

import json
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from roles.host import HostEntry
from roles.inventory import render_pyinfra
from stacks.host_data import host_data
from stacks.spec import parse_pop
from stacks.spec.checks import StackContext
from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import SandboxUnderTest

SETTINGS = {
    "VOICEPOP_SANDBOX_BRIDGE": "vpbench1",
    "VOICEPOP_SANDBOX_NETWORK": "172.30.206.0/24",
    "VOICEPOP_SANDBOX_STANDIN_PORT": "38787",
    "VOICEPOP_SANDBOX_ROUTE53_PORT": "38788",
    "VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT": "35000",
    "VOICEPOP_SANDBOX_DNS_PORT": "38053",
}
VM = ("sbx1-sfu01", "bm9.std.16")
PORT = 40_000
PACKET_BYTES = 172  # an Opus packet of 20 ms at 64 kbit/s with its RTP header and SRTP tag
BURST_PACKETS = 600
BURST_RATE_PPS = 50_000  # inside a burst: many callers' packets arriving at once
BURST_EVERY_S = 0.25
RESULTS = PROJECT_ROOT / "bench" / "results"

# The receiver, on the VM: reads one packet per 0.2 ms at most (5,000 packets/s, a busy SFU's
# media thread), with the socket's default buffer (net.core.rmem_default: Janus and libnice
# leave SO_RCVBUF alone), until the sender has been quiet for 3 s.
RECEIVER = f"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", {PORT}))
s.settimeout(3)
print("ready", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), flush=True)
seen = set()
try:
    while True:
        data = s.recv(2048)
        seen.add(int.from_bytes(data[:4], "big"))
        time.sleep(0.0002)
except socket.timeout:
    pass
print("received", len(seen), flush=True)
"""

COUNTERS = """
udp = [line.split() for line in open("/proc/net/snmp") if line.startswith("Udp:")]
print("rcvbuf", udp[1][udp[0].index("RcvbufErrors")])
print("backlog", sum(int(line.split()[1], 16) for line in open("/proc/net/softnet_stat")))
"""
SYSCTLS = (
    "net.core.rmem_default net.core.rmem_max net.core.netdev_max_backlog net.ipv4.udp_rmem_min"
)


def counters(sandbox: SandboxUnderTest, address: str) -> dict[str, int]:
    output = sandbox.ssh(address, f"python3 -c {shlex.quote(COUNTERS)}")
    return {name: int(value) for name, value in (line.split() for line in output.splitlines())}


def send_bursts(address: str, bursts: int) -> int:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    padding = bytes(PACKET_BYTES - 4)
    sequence = 0
    for _ in range(bursts):
        started = time.perf_counter()
        for index in range(BURST_PACKETS):
            while time.perf_counter() < started + index / BURST_RATE_PPS:
                pass
            sender.sendto(struct.pack("!I", sequence) + padding, (address, PORT))
            sequence += 1
        time.sleep(max(0.0, started + BURST_EVERY_S - time.perf_counter()))
    return sequence


def run(sandbox: SandboxUnderTest, address: str, bursts: int) -> dict[str, Any]:
    before = counters(sandbox, address)
    receiver = subprocess.Popen(
        ["ssh", "-i", str(sandbox.ssh_key), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         f"root@{address}", f"python3 -c {shlex.quote(RECEIVER)}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert receiver.stdout is not None
    ready = receiver.stdout.readline().split()
    sent = send_bursts(address, bursts)
    received = int(receiver.stdout.readline().split()[1])
    receiver.wait()
    after = counters(sandbox, address)
    return {
        "socket_buffer_bytes": int(ready[1]),
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "rcvbuf_errors": after["rcvbuf"] - before["rcvbuf"],
        "backlog_drops": after["backlog"] - before["backlog"],
        "sysctls": sandbox.ssh(address, f"sysctl {SYSCTLS}").splitlines(),
    }


def apply_kernel_tuning(folder: Path, host: dict[str, Any]) -> None:
    inventory = folder / "inventory.py"
    inventory.write_text(render_pyinfra([HostEntry.model_validate(host)]))
    deploy = folder / "kernel_tuning_only.py"
    deploy.write_text(
        "from pyinfra.context import host\n"
        "from roles.host import entry_of\n"
        "from roles.kernel_tuning.deploy import kernel_tuning\n\n"
        "kernel_tuning(tuning=entry_of(host).kernel_tuning)\n"
    )
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    result = subprocess.run([pyinfra, "-y", "--no-wait", str(inventory), str(deploy)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"kernel_tuning failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")


def with_rmem_default(host: dict[str, Any], value: int) -> dict[str, Any]:
    return {**host, "kernel_tuning": {**host["kernel_tuning"], "rmem_default_bytes": value}}


def main(bursts: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-udp-"))
    sandbox = SandboxUnderTest(folder, settings=SETTINGS)
    if (started := sandbox.sandbox("up")).returncode != 0:
        sys.exit(started.stdout + started.stderr)
    rows: dict[str, dict[str, Any]] = {}
    try:
        sandbox.standin("settings", "step_delay_s=0.05", "release_delay_s=0.05")
        raw = yaml.safe_load(sandbox.config().read_text())["config"]["voicepop:pop"]
        context = StackContext(stack="sandbox", config_keys={"bgpMd5Upstream": True})
        spec = parse_pop(raw, context, "Pulumi.sandbox.yaml")
        server = sandbox.deliver(*VM)
        address = server["ipAddresses"][0]["ipAddress"]
        host = {"name": VM[0], "address": address, "ssh_user": "root",
                "ssh_key": str(sandbox.ssh_key), **host_data(spec, VM[0])}  # fmt: skip
        rows["kernel defaults"] = run(sandbox, address, bursts)
        sandbox.ssh(address, f"sysctl -qw net.core.rmem_default={1 << 20}")
        rows["only net.core.rmem_default 1 MiB (sysctl -w)"] = run(sandbox, address, bursts)
        sandbox.ssh(address, "sysctl -qw net.core.rmem_default=212992")
        apply_kernel_tuning(folder, host)
        rows["kernel_tuning role (rmem_default 1 MiB)"] = run(sandbox, address, bursts)
        apply_kernel_tuning(folder, with_rmem_default(host, 4 << 20))
        rows["kernel_tuning role, rmem_default_bytes 4 MiB"] = run(sandbox, address, bursts)
    finally:
        sandbox.sandbox("down")
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {"bursts": bursts, "burst_packets": BURST_PACKETS, "burst_rate_pps": BURST_RATE_PPS,
               "packet_bytes": PACKET_BYTES, "runs": rows}  # fmt: skip
    (RESULTS / "udp-buffers.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"| {bursts} bursts of {BURST_PACKETS} x {PACKET_BYTES} B at {BURST_RATE_PPS} pps | "
          "socket buffer | sent | lost | RcvbufErrors | backlog drops |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['socket_buffer_bytes']} B | {row['sent']} | {row['lost']} | "
              f"{row['rcvbuf_errors']} | {row['backlog_drops']} |")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
