"""What the probes export: each call's latest figures in Prometheus's exposition format
(prometheus_client), so that a team's Prometheus scrapes voice quality beside everything else
it watches; the calls are placed by quality/prober.py (the mesh's prober, and the exporter
command: a call through each server of an inventory every interval).

Every call's figures are labelled with the probing mesh's labels: the PoP the call came from
(`source_pop`), the PoP and server it reached (`target_pop`, `target_server`) and whether it
went to the server's own address or to a PoP's service address (`path`: unicast | anycast).
The media gate's state is labelled by `pop` and `server`. The alert rules
(monitoring/rules/voicepop.rules.yml) read these names; a test checks that they exist here.
"""

import json
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from quality.https import CertificateUnread, certificate_not_after
from quality.media_gate import PopGate
from quality.mesh import ANYCAST, UNICAST
from quality.probe import Target
from quality.report import CallReport

LABELS = ("source_pop", "target_pop", "target_server", "path")
GATE_LABELS = ("pop", "server")


class InventoryError(ValueError):
    """The inventory cannot be probed; the message names the file, the entry and the field."""


def targets_of(path: str) -> list[tuple[str, Target]]:
    """(pop, target) for each server of an inventory's JSON (inventories/<stack>.json)."""
    try:
        hosts = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InventoryError(f"{path}: not a readable inventory JSON ({error})") from error
    if not isinstance(hosts, list) or not hosts:
        raise InventoryError(f"{path}: expected a list of hosts (inventories/<stack>.json)")
    targets = []
    for index, host in enumerate(hosts):
        missing = [
            key for key in ("name", "address") if not isinstance(host, dict) or not host.get(key)
        ]
        if missing:
            raise InventoryError(f"{path}: host [{index}] has no {', '.join(missing)}")
        targets.append((str(host.get("pop", "")), Target.of_host(host)))
    return targets


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, text: str, labels: tuple[str, ...] = LABELS) -> Gauge:
            return Gauge(name, text, labels, registry=registry)

        def call_gauge(name: str, text: str) -> Gauge:
            return gauge(f"voicepop_call_{name}", text)

        self.up = call_gauge("up", "1 if the last synthetic call carried media, else 0")
        self.mos = call_gauge("mos", "estimated MOS of the last call (ITU-T G.107 E-model)")
        self.r_factor = call_gauge("r_factor", "E-model transmission rating R of the last call")
        self.listening_mos = call_gauge(
            "listening_mos",
            "full-reference MOS-LQO of the last call, what was heard against what was sent "
            "(ITU-T P.862.2, wideband PESQ), when its calls are scored",
        )
        self.setup = call_gauge("setup_seconds", "signalling to first media packet")
        self.rtt = call_gauge("rtt_seconds", "round trip, from the SFU's receiver reports")
        self.one_way = call_gauge(
            "one_way_delay_seconds", "publisher to subscriber through the SFU"
        )
        self.jitter = call_gauge(
            "jitter_seconds", "RFC 3550 interarrival jitter at the subscriber, the call's mean"
        )
        self.loss = call_gauge("loss_ratio", "packets lost on the way through the SFU")
        self.burst = call_gauge("loss_burst_ratio", "G.107 BurstR of the loss (1: random)")
        self.last = call_gauge("last_timestamp_seconds", "when the last call ended (Unix time)")
        self.not_after = call_gauge(
            "tls_not_after_seconds", "when the certificate the target presented expires"
        )
        self.calls = Counter(
            "voicepop_calls", "synthetic calls placed", (*LABELS, "result"), registry=registry
        )
        self.service_up = gauge(
            "voicepop_service_up",
            "1 if the last call to the PoP's service address carried media, whichever server it "
            "was assigned (a failed call has no server)",
            ("source_pop", "target_pop"),
        )
        self.drained = gauge(
            "voicepop_media_gate_drained", "1 if the media gate drained the server", GATE_LABELS
        )
        self.held = gauge(
            "voicepop_media_gate_held",
            "1 if the server's media is bad but the capacity floor keeps it in service",
            GATE_LABELS,
        )
        self.in_service = gauge(
            "voicepop_pop_servers_in_service", "servers of the PoP in service", ("pop",)
        )
        self.floor = gauge(
            "voicepop_pop_capacity_floor", "servers the PoP must keep in service", ("pop",)
        )
        self.swept = Counter(
            "voicepop_probe_rooms_swept",
            "rooms left by probe calls killed mid-way, destroyed by the prober's sweep",
            ("pop", "server"),
            registry=registry,
        )
        self.path_suspect = gauge(
            "voicepop_prober_path_suspect",
            "1 if the prober's calls to other PoPs are bad too: its own path is suspect and "
            "its media gate drains none",
            ("pop",),
        )

    def record(
        self, source_pop: str, target_pop: str, report: CallReport, path: str = UNICAST
    ) -> None:
        labels = {
            "source_pop": source_pop,
            "target_pop": target_pop,
            "target_server": report.server,
            "path": path,
        }
        self.calls.labels(**labels, result="ok" if report.ok else "failed").inc()
        if path == ANYCAST:
            self.service_up.labels(source_pop, target_pop).set(1 if report.ok else 0)
        self.up.labels(**labels).set(1 if report.ok else 0)
        self.last.labels(**labels).set(time.time())
        if not report.ok:
            return
        self.mos.labels(**labels).set(report.mos)
        self.r_factor.labels(**labels).set(report.r_factor)
        if report.listening_mos is not None:
            self.listening_mos.labels(**labels).set(report.listening_mos)
        self.setup.labels(**labels).set(report.setup_s)
        if report.rtt_ms is not None:
            self.rtt.labels(**labels).set(report.rtt_ms / 1000)
        self.one_way.labels(**labels).set(report.one_way_ms / 1000)
        self.jitter.labels(**labels).set(report.jitter_ms / 1000)
        self.loss.labels(**labels).set(report.loss_pct / 100)
        self.burst.labels(**labels).set(report.burst_r)

    def record_certificate(
        self, source_pop: str, target_pop: str, server: str, not_after: float, path: str = UNICAST
    ) -> None:
        self.not_after.labels(source_pop, target_pop, server, path).set(not_after)

    def record_gate(
        self, pop: str, gate: PopGate, out_otherwise: frozenset[str] = frozenset()
    ) -> None:
        """The gate's state; `out_otherwise`: servers out for another reason (not in
        service either)."""
        drained, held = set(gate.drained()), set(gate.held())
        for server in gate.servers:
            self.drained.labels(pop, server).set(1 if server in drained else 0)
            self.held.labels(pop, server).set(1 if server in held else 0)
        self.in_service.labels(pop).set(gate.in_service(out_otherwise))
        self.floor.labels(pop).set(gate.floor)

    def record_swept(self, pop: str, server: str, rooms: int) -> None:
        self.swept.labels(pop, server).inc(rooms)

    def record_prober_path(self, pop: str, suspect: bool) -> None:
        self.path_suspect.labels(pop).set(1 if suspect else 0)


def read_not_after(target: Target) -> float | None:
    """When the certificate the target presents for its name expires; None when it is reached
    by its address alone (no name to check) or its certificate could not be read (said)."""
    if not target.name:
        return None
    try:
        return certificate_not_after(target.address, target.port, target.name)
    except CertificateUnread as error:
        print(f"{target.server}: {error}", file=sys.stderr, flush=True)
        return None
