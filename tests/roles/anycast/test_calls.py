"""Real calls through deployed SFUs: the folder's two container hosts (conftest.py), each
called by the probe the way a deploy's gate calls it (aiortc through Janus's video room). A
clean sandbox path passes the gate and no packet leaves through the machine's uplink; a server
whose media ports are firewalled off fails it, named; the exporter is scraped by a real
Prometheus; a caller behind the upstream router, on the PoP's anycast address, reconnects to
the other server when the SFU carrying its call crashes."""

import copy
import io
import ipaddress
import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.results import HostDeployFailed
from deploy.runner import call_gate
from quality import emodel
from quality.measure import BUFFER_START_MS
from roles.firewall.rules import TABLE
from roles.host import HostEntry
from sandbox import settings as sandbox_settings
from tests.loopback import free_port, prometheus_query
from tests.project import PROJECT_ROOT
from tests.roles.anycast.pop import ANYCAST, HOSTS
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import Inventory

pytestmark = [pytest.mark.quality, pytest.mark.verify]
CLEAN_MOS = emodel.best_mos(emodel.CODECS["opus"], BUFFER_START_MS) - 0.1  # a clean path's


def uplink() -> str | None:
    """The interface of this machine's default route: where a leaked packet would go."""
    route = subprocess.run(["ip", "-j", "route", "show", "default"], capture_output=True, text=True)
    routes = json.loads(route.stdout or "[]")
    return str(routes[0]["dev"]) if routes else None


class UplinkWatch:
    """Every UDP packet this machine sends through `interface` while it watches (a raw packet
    socket, as tcpdump reads them), DNS aside: what a leaked STUN or media packet would be.
    TCP is left out: the package proxy closes its mirror connections after a deploy."""

    def __init__(self, interface: str | None) -> None:
        self.interface = interface
        self.leaked: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "UplinkWatch":
        if self.interface:
            self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
            self._socket.bind((self.interface, 0))
            self._socket.settimeout(0.1)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self.interface:
            self._thread.join()
            self._socket.close()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                frame, (_, _, kind, _, _) = self._socket.recvfrom(65_535)
            except TimeoutError:
                continue
            if kind == socket.PACKET_OUTGOING and (leak := udp_of(frame)):
                self.leaked.append(leak)


ETH_P_ALL = 0x0003


def udp_of(frame: bytes) -> str | None:
    """ "src:port -> dst:port" of an IPv4 or IPv6 UDP frame that is not DNS."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype == 0x0800 and frame[23] == socket.IPPROTO_UDP:
        header = (frame[14] & 0x0F) * 4
        source, destination = frame[26:30], frame[30:34]
        family = socket.AF_INET
    elif ethertype == 0x86DD and frame[20] == socket.IPPROTO_UDP:
        header, source, destination, family = 40, frame[22:38], frame[38:54], socket.AF_INET6
    else:
        return None
    ports = struct.unpack("!HH", frame[14 + header : 18 + header])
    if 53 in ports:
        return None
    src, dst = socket.inet_ntop(family, source), socket.inet_ntop(family, destination)
    return f"{src}:{ports[0]} -> {dst}:{ports[1]}"


def test_a_call_through_each_server_passes_the_gate_and_stays_on_the_machine(
    inventory: Inventory,
) -> None:
    with UplinkWatch(uplink()) as uplink_watch:
        for host in inventory.hosts():
            log = io.StringIO()
            report = call_gate(HostEntry.model_validate(host), lambda _: None, log)
            assert report is not None and report.ok, log.getvalue()
            assert report.mos >= CLEAN_MOS, report  # a clean path: a perfect one's, nearly
            assert report.packets_lost == 0 and report.packets_sent >= 100, report
            assert report.setup_s < 3 and report.one_way_ms < 20 and report.jitter_ms < 10, report
            assert report.rtt_ms is not None and report.rtt_ms < 20, report
            assert "synthetic call, attempt 1: MOS" in log.getvalue()
    assert uplink_watch.leaked == [], f"UDP left through {uplink_watch.interface}"


def test_a_server_whose_media_ports_are_firewalled_off_fails_the_gate_named(
    inventory: Inventory, test_sandbox: SandboxUnderTest, tmp_path: Path
) -> None:
    host = copy.deepcopy(inventory.host("sbx1-sfu02"))
    host["sfu"]["call_gate"]["setup_timeout_s"] = 3
    first, last = host["sfu"]["media_ports"]["first"], host["sfu"]["media_ports"]["last"]
    address = host["address"]
    rule = f'udp dport {first}-{last} drop comment "voicepop-test"'
    test_sandbox.ssh(address, f"nft insert rule inet {TABLE} input {rule}")
    try:
        with (tmp_path / "deploy.log").open("w") as log, pytest.raises(HostDeployFailed) as failed:
            call_gate(HostEntry.model_validate(host), lambda _: None, log)
    finally:
        handles = test_sandbox.ssh(
            address,
            f"nft -a list chain inet {TABLE} input | grep voicepop-test | sed 's/.*handle //'",
        )
        for handle in handles.split():
            test_sandbox.ssh(address, f"nft delete rule inet {TABLE} input handle {handle}")
    message = str(failed.value)
    assert message.startswith(f"sbx1-sfu02: the synthetic call through its SFU ({address})")
    assert "could not be placed: media: the publisher's ICE/DTLS did not come up" in message
    assert "are the SFU's media ports reachable?" in message
    assert f"after 2 attempts; full log: {tmp_path / 'deploy.log'})" in message
    assert (tmp_path / "deploy.log").read_text().count("no call: media:") == 2
    report = call_gate(
        HostEntry.model_validate(host), lambda _: None, io.StringIO()
    )  # the ports open again: it passes
    assert report is not None and report.ok


def test_a_call_that_scores_below_the_gates_minimum_fails_it_named(
    inventory: Inventory, tmp_path: Path
) -> None:
    """A real call through a healthy server, judged against the strictest minimum the spec
    allows (4.5: the E-model's ceiling, above what Opus scores on a clean path)."""
    host = copy.deepcopy(inventory.host("sbx1-sfu01"))
    host["sfu"]["call_gate"]["min_mos"] = 4.5
    with (tmp_path / "deploy.log").open("w") as log, pytest.raises(HostDeployFailed) as failed:
        call_gate(HostEntry.model_validate(host), lambda _: None, log)
    message = str(failed.value)
    assert message.startswith(f"sbx1-sfu01: the synthetic call through its SFU ({host['address']})")
    assert "scored below sfu.call_gate.min_mos 4.5: MOS 4." in message
    assert "(after 2 attempts; full log:" in message
    assert (tmp_path / "deploy.log").read_text().count("synthetic call, attempt") == 2


@pytest.fixture
def exporter(inventory: Inventory) -> Iterator[str]:
    listen = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "quality", "exporter", "--inventory", str(inventory.declared),
               "--interval", "2", "--duration", "1", "--listen", listen]  # fmt: skip
    env = {**os.environ, **sandbox_settings.SFU_TOKEN_ENVIRONMENT}  # and the CA (running_sandbox)
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    yield listen
    process.terminate()
    process.wait(timeout=10)


def test_the_exporter_is_scraped_by_a_real_prometheus(exporter: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: voicepop-quality\n    static_configs: [{{targets: ['{exporter}']}}]\n"
        )
        web = f"127.0.0.1:{free_port()}"
        prometheus = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={folder}/data",
                f"--web.listen-address={web}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            mos: list[dict[str, Any]] = []
            while len(mos) < len(HOSTS) and time.monotonic() < deadline:
                time.sleep(1)
                try:
                    mos = prometheus_query(f"http://{web}", "voicepop_call_mos")
                except OSError:
                    continue  # Prometheus still starting
            servers = {sample["metric"]["target_server"] for sample in mos}
            assert servers == {name for name, _ in HOSTS}
            assert all(float(sample["value"][1]) >= CLEAN_MOS for sample in mos), mos
            assert all(sample["metric"]["job"] == "voicepop-quality" for sample in mos)
            [up] = prometheus_query(f"http://{web}", 'up{job="voicepop-quality"}')
            assert up["value"][1] == "1"
            calls = prometheus_query(f"http://{web}", 'voicepop_calls_total{result="ok"}')
            assert len(calls) == len(HOSTS)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=10)


def test_the_uplink_watch_reads_udp_frames_and_leaves_dns_and_tcp() -> None:
    ethernet = bytes(12)

    def ipv4(protocol: int, ports: tuple[int, int]) -> bytes:
        header = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, protocol, 0, 0])
        addresses = socket.inet_aton("172.30.204.1") + socket.inet_aton("192.0.2.7")
        return ethernet + b"\x08\x00" + header + addresses + struct.pack("!HH", *ports)

    assert udp_of(ipv4(17, (50_000, 3478))) == "172.30.204.1:50000 -> 192.0.2.7:3478"
    assert udp_of(ipv4(17, (50_000, 53))) is None
    assert udp_of(ipv4(6, (50_000, 443))) is None
    ipv6 = bytes([0x60, 0, 0, 0, 0, 8, 17, 64])
    addresses = socket.inet_pton(socket.AF_INET6, "2001:db8::1") * 2
    frame = ethernet + b"\x86\xdd" + ipv6 + addresses + struct.pack("!HH", 1, 2)
    assert udp_of(frame) == "2001:db8::1:1 -> 2001:db8::1:2"


# what the crash drill's caller gives one attempt at a call: more than a call's set-up takes
# on a loaded 2-core CI machine (~3 s seen there), so that a slow set-up is not a failed one
ATTEMPT_TIMEOUT_S = 4.0


def test_a_caller_on_the_anycast_address_reconnects_to_another_server_when_its_sfu_crashes(
    inventory: Inventory, test_sandbox: SandboxUnderTest, tmp_path: Path
) -> None:
    drill = subprocess.run(
        [sys.executable, "-m", "sandbox.failover", "sfu-crash",
         "--inventory", str(inventory.declared), "--watch", "15", "--out", str(tmp_path),
         "--attempt-timeout", str(ATTEMPT_TIMEOUT_S)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, **test_sandbox.env}, timeout=180,
    )  # fmt: skip
    assert drill.returncode == 0, drill.stdout + drill.stderr
    failover = json.loads((tmp_path / "failover-sfu-crash.json").read_text())
    addresses = {host["address"] for host in inventory.hosts()}
    assert failover["failed_server"] in addresses and failover["new_server"] in addresses
    assert failover["new_server"] != failover["failed_server"]  # landed on the other server
    # the parts, in the order they happen: media stops, the caller notices after its media
    # timeout, the server is withdrawn, the new call is placed and carries media
    assert failover["failure_at"] < failover["detected_at"] < failover["new_attempt_at"]
    assert failover["withdrawn_at"] is not None
    figures = failover["figures"]
    assert figures["detection_s"] == pytest.approx(0.3, abs=0.15)
    # withdrawn by the SFU's unit as it died (its ExecStopPost), not by the health check
    # failing twice (fall 2 x interval 1 s): within a second of the crash
    assert 0 < figures["withdrawal_s"] < 1.0, figures
    # the caller may be assigned the other server before the withdrawal: the upstream hashes
    # each assignment request's connection on its ports, the dead server's host answers 503.
    # After the withdrawal at most the attempt in flight is lost, then the new call's set-up
    assert figures["reconnect_s"] <= (
        figures["withdrawal_s"] + ATTEMPT_TIMEOUT_S + figures["setup_s"] + 0.5
    ), failover
    assert (tmp_path / "failover-sfu-crash.png").read_bytes()[:4] == b"\x89PNG"
    assert "sfu-crash: " in drill.stdout and "withdrawal seen upstream" in drill.stdout
    # the drill put the server back: it is forwarded to and carries calls again
    failed = next(h for h in inventory.hosts() if h["address"] == failover["failed_server"])
    report = call_gate(HostEntry.model_validate(failed), lambda _: None, io.StringIO())
    assert report is not None and report.ok


def callers_calls(
    test_sandbox: SandboxUnderTest, address: str, *flags: str
) -> Iterator[dict[str, Any]]:
    """Calls placed one after another from the callers' namespace behind the upstream router,
    each as `python -m quality call ADDRESS FLAGS --json` (a caller of its own): their reports,
    for as long as the caller of this generator asks."""
    namespace = f"vp-callers-{test_sandbox.settings['VOICEPOP_SANDBOX_BRIDGE']}"
    command = ["ip", "netns", "exec", namespace, sys.executable, "-m", "quality", "call",
               address, "--duration", "1", "--setup-timeout", "3", "--json", *flags]  # fmt: skip
    env = {**os.environ, **test_sandbox.env}
    while True:
        placed = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True,
                                text=True, check=False, timeout=60)  # fmt: skip
        yield json.loads(placed.stdout)


def test_callers_on_the_anycast_address_keep_each_session_on_the_server_assigned_to_them(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    """The upstream router hashes ECMP on ports (sandbox/upstream.py), as many routers do: a
    caller signalling to the anycast address itself has its connections (requests, the long
    poll) spread over both servers and loses its session (a third of them, measured); a caller
    assigned a server by the anycast address (quality/assign.py) keeps every request on that
    server. Calls are placed until each side has shown itself (bounded: a chance below 1e-4
    of stopping short by luck)."""
    namespace = f"vp-upstream-{test_sandbox.settings['VOICEPOP_SANDBOX_BRIDGE']}"
    policy = subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-n",
                             "net.ipv4.fib_multipath_hash_policy"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert policy.stdout.strip() == "1"
    anycast = str(ipaddress.ip_network(ANYCAST)[1])  # the service address (the sandbox's)
    servers = {host["name"] for host in inventory.hosts()}
    assigned: list[dict[str, Any]] = []
    service = ("--name", inventory.hosts()[0]["dns_names"][-1])
    for report in itertools.islice(callers_calls(test_sandbox, anycast, "--service", *service), 16):
        assigned.append(report)
        assert report["ok"], report["error"]
        if len(assigned) >= 6 and {r["server"] for r in assigned} == servers:
            break
    straight: list[dict[str, Any]] = []
    for report in itertools.islice(callers_calls(test_sandbox, anycast, *service), 30):
        straight.append(report)
        if not report["ok"]:
            break
    seen = {"assigned": [r["server"] for r in assigned],
            "straight": [r["error"][:60] or "ok" for r in straight]}  # fmt: skip
    print(json.dumps(seen, indent=1))
    assert {r["server"] for r in assigned} == servers  # the hash spreads callers over both
    # e.g. "signalling: attach refused: 458 No such session ...": the other server's answer
    assert not straight[-1]["ok"], "no session was split: is ECMP hashed on ports?"
