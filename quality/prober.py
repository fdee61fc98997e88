"""The probing mesh's prober: one call at a time, at the pace its load allows, through each
target of its plan (quality/mesh.py); every call's figures exported for Prometheus
(quality/exporter.py `Metrics`), and its own PoP's servers judged by the media gate
(quality/media_gate.py), whose state is exported beside them. The exporter command is the
same prober on one inventory's servers, a round every interval, without a gate.

python -m quality prober --source-pop POP --inventory inventories/<pop>.json
                         [--inventory inventories/<other>.json ...] [--floor N]
                         [--calls-per-minute 12] [--call-seconds 3] [--probers-per-pop 1]
                         [--listen 127.0.0.1:9108] [--rounds 0] [--external]
--external: a vantage point outside every PoP of the mesh (its own PoP has no inventory and
no media gate), e.g. behind the sandbox's upstream router, where callers are.
"""

import asyncio
import faulthandler
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from quality.assign import NotAssigned, assigned
from quality.exporter import InventoryError, Metrics, read_not_after, targets_of
from quality.https import health_status
from quality.janus import JanusError
from quality.media_gate import (
    Outcome,
    PopGate,
    ProberPath,
    judge,
    judge_path,
    new_pop_gate,
)
from quality.mesh import (
    ANYCAST,
    UNICAST,
    MeshCall,
    MeshError,
    PopEnd,
    check_load,
    mesh_calls,
    mesh_load,
    pop_end,
)
from quality.probe import Target, probe
from quality.report import CallReport, failed
from quality.rooms import sweep
from roles.anycast.media_agent import sign
from roles.prober.defaults import MediaGate, ProbeLoad
from roles.secrets import MissingSecret
from roles.sfu.access import Credentials


async def place(
    call: MeshCall, credentials: Credentials, call_s: float, codec: str = "opus",
    full_reference: bool = False,
) -> CallReport:  # fmt: skip
    """One call of the plan: to the server itself, or to whichever server the PoP's service
    address assigns; `full_reference`: scored by the listening model too."""
    if call.target is not None:
        return await probe(call.target, credentials, call_s, codec, listen=full_reference)
    assert call.service is not None
    service = call.service
    try:
        server = await assigned(service.address, service.name, service.port)
    except NotAssigned as error:
        return failed(f"{call.target_pop}-service", service.address, str(error))
    return await probe(Target.of(server), credentials, call_s, codec, listen=full_reference)


@dataclass
class Prober:
    source_pop: str
    calls: list[MeshCall]
    credentials: Credentials
    metrics: Metrics
    load: ProbeLoad = field(default_factory=ProbeLoad)
    bounds: MediaGate = field(default_factory=MediaGate)
    gate: PopGate | None = None  # its own PoP's servers, judged on their unicast calls
    codec: str = "opus"
    full_reference: bool = False  # each call scored by the listening model too (control only)
    judged_at: float = 0.0  # when the gate last judged a call (the verdicts' issue time)
    path: ProberPath = field(default_factory=ProberPath)  # its calls to other PoPs
    # its PoP's servers out of service for another reason than the gate (an operator's or a
    # deploy's drain, a dead front): they count against the capacity floor
    out_otherwise: set[str] = field(default_factory=set)
    # rooms left by calls killed mid-way: each server of its PoP swept this often (quality/rooms.py)
    room_sweep_s: float = 600.0
    swept_at: dict[str, float] = field(default_factory=dict)
    empty_rooms: dict[str, frozenset[int]] = field(default_factory=dict)

    def record(self, call: MeshCall, report: CallReport, not_after: float | None = None) -> None:
        """A call's figures, the certificate's expiry it met (if read) and, for a server of
        its own PoP called on its own address, the media gate's judgement."""
        self.metrics.record(self.source_pop, call.target_pop, report, call.path)
        if not_after is not None and call.target is not None:
            self.metrics.record_certificate(
                self.source_pop, call.target_pop, call.target.server, not_after, call.path
            )
        if self.gate is None:
            return
        outcome = Outcome(report.server, report.ok, report.mos, report.loss_pct)
        if call.target_pop != self.source_pop:
            suspect = self.path.suspect
            self.path = judge_path(self.path, outcome, self.bounds)
            if suspect != self.path.suspect:
                said = "suspect: the gate drains none" if self.path.suspect else "good again"
                print(f"media gate: the prober's own path {said}", file=sys.stderr)
            self.metrics.record_prober_path(self.source_pop, self.path.suspect)
        elif call.path == UNICAST:
            before = self.gate.servers.get(report.server)
            out = frozenset(self.out_otherwise)
            self.gate = judge(self.gate, outcome, self.bounds, out, self.path.suspect)
            self.judged_at = time.time()
            after = self.gate.servers[report.server]
            if before is None or before.verdict is not after.verdict or before.held != after.held:
                held = " (held by the capacity floor)" if after.held else ""
                print(f"media gate: {report.server} {after.verdict}{held}", file=sys.stderr)
            self.metrics.record_gate(self.source_pop, self.gate, out)

    async def sweep_rooms(self, target: Target, now: float | None = None) -> None:
        """The server's probe rooms swept, every `room_sweep_s`: those empty at two sweeps in a
        row destroyed (a sweep that fails is tried again at the next call)."""
        now = time.monotonic() if now is None else now
        last = self.swept_at.get(target.server)
        if last is not None and now - last < self.room_sweep_s:
            return
        before = self.empty_rooms.get(target.server, frozenset())
        try:
            swept = await sweep(target, self.credentials, before)
        except JanusError as error:
            print(f"{target.server}: rooms not swept: {error}", file=sys.stderr, flush=True)
            return
        self.swept_at[target.server] = now
        self.empty_rooms[target.server] = swept.empty
        if swept.destroyed:
            self.metrics.record_swept(self.source_pop, target.server, len(swept.destroyed))
            rooms = ", ".join(map(str, swept.destroyed))
            print(f"{target.server}: left probe rooms destroyed: {rooms}", file=sys.stderr)

    def note_health(self, server: str, status: int | None) -> None:
        """What a server of its PoP answers on its health endpoint, as Route 53 reads it: 200
        in service; 503 (drained) or no answer, out (the gate's own drains are its own)."""
        if status == 200:
            self.out_otherwise.discard(server)
        else:
            self.out_otherwise.add(server)

    def verdicts(self) -> dict[str, Any] | None:
        """The media gate's verdicts for its PoP's servers (roles/anycast/media_agent.py
        follows them), signed with the token secret; issued when it last judged a call, so a
        prober that stopped calling serves verdicts that go stale. None: no gate (external)."""
        if self.gate is None:
            return None
        document = {"pop": self.source_pop, "issued_at": self.judged_at,
                    "drained": self.gate.drained()}  # fmt: skip
        return sign(document, self.credentials.secrets[0])

    async def call_once(self, call: MeshCall, call_s: float) -> None:
        """One call of the plan, placed, recorded (with the certificate its server presents)
        and logged."""
        report = await place(call, self.credentials, call_s, self.codec, self.full_reference)
        target = call.target
        if self.gate is not None and target and call.target_pop == self.source_pop:
            if target.health_url:
                self.note_health(target.server, health_status(target.health_url, target.address))
            await self.sweep_rooms(target)
        not_after = read_not_after(target) if target else None
        self.record(call, report, not_after)
        outcome = "ok" if report.ok else report.error
        print(f"{call.label}: {report.server} {outcome}", file=sys.stderr, flush=True)

    async def run(self, rounds: int = 0) -> None:
        """Rounds of the plan, a call every 60 / calls_per_minute seconds (0 rounds: forever)."""
        spacing_s = 60 / self.load.calls_per_minute
        done = 0
        while not rounds or done < rounds:
            for call in self.calls:
                started = time.monotonic()
                await self.call_once(call, self.load.call_s)
                await asyncio.sleep(max(0.0, spacing_s - (time.monotonic() - started)))
            done += 1

    async def run_every(self, interval_s: float, call_s: float, rounds: int = 0) -> None:
        """The exporter's pace: a round of the plan every `interval_s` seconds, its calls one
        after another (0 rounds: forever)."""
        done = 0
        while not rounds or done < rounds:
            started = time.monotonic()
            for call in self.calls:
                await self.call_once(call, call_s)
            done += 1
            if done != rounds:
                await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))


def serve_http(prober: Prober, registry: CollectorRegistry, host: str, port: int) -> None:
    """/metrics for Prometheus, /verdicts for the PoP's servers, in a thread of their own."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                return
            verdicts = prober.verdicts() if self.path == "/verdicts" else None
            if verdicts is None:
                self._answer(404, "text/plain", b"not found\n")
                return
            self._answer(200, "application/json", json.dumps(verdicts).encode())

        def _answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass  # Prometheus and the servers ask every few seconds

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()


def ends_of(inventories: list[str]) -> list[PopEnd]:
    ends = []
    for path in inventories:
        try:
            hosts = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise MeshError(f"{path}: not a readable inventory JSON ({error})") from error
        ends.append(pop_end(hosts, path))
    return ends


def plan(
    source_pop: str,
    ends: list[PopEnd],
    load: ProbeLoad,
    probers_per_pop: int,
    external: bool = False,
) -> list[MeshCall]:
    """This prober's calls, once the whole mesh's load (every PoP of `ends` running
    `probers_per_pop` probers like this one, and this one if it is `external`: a vantage
    point outside every PoP) is within the load's bounds."""
    pops = [end.pop for end in ends]
    if external and source_pop in pops:
        raise MeshError(f"--source-pop {source_pop}: a PoP of the mesh; allowed: --external "
                        f"only for a vantage point outside {pops}")  # fmt: skip
    if not external and source_pop not in pops:
        raise MeshError(f"--source-pop {source_pop}: no inventory of it; allowed: {pops}, or "
                        "--external for a vantage point outside them")  # fmt: skip
    plans = {
        f"{pop}/{index}": mesh_calls(pop, ends) for pop in pops for index in range(probers_per_pop)
    }
    if external:
        plans[source_pop] = mesh_calls(source_pop, ends)
    check_load(mesh_load(plans, load), load)
    return mesh_calls(source_pop, ends)


def serve_mesh(
    source_pop: str,
    inventories: list[str],
    load: ProbeLoad,
    floor: int | None,
    listen: str,
    probers_per_pop: int = 1,
    rounds: int = 0,
    external: bool = False,
    bounds: MediaGate | None = None,
) -> int:
    try:
        ends = ends_of(inventories)
        calls = plan(source_pop, ends, load, probers_per_pop, external)
        credentials = Credentials.from_environment()
    except (MeshError, MissingSecret) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID`: its threads' stacks on stderr
    registry = CollectorRegistry()
    prober = Prober(source_pop, calls, credentials, Metrics(registry), load, bounds or MediaGate())
    if not external:
        own = next(end for end in ends if end.pop == source_pop)
        servers = [target.server for target in own.servers]
        prober.gate = new_pop_gate(servers, len(servers) if floor is None else floor)
        prober.metrics.record_gate(source_pop, prober.gate)
        if any(call.target_pop != source_pop for call in calls):
            prober.metrics.record_prober_path(source_pop, suspect=False)
    paths = sum(1 for call in calls if call.path == ANYCAST)
    where = listening(prober, registry, listen)
    print(
        f"serving {where}/metrics and /verdicts: {len(calls)} targets "
        f"({paths} service addresses), a call every {60 / load.calls_per_minute:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    asyncio.run(prober.run(rounds))
    return 0


def listening(prober: Prober, registry: CollectorRegistry, listen: str) -> str:
    """`serve_http` on `listen` (host:port, host 127.0.0.1 when left out); its base URL."""
    host, _, port = listen.rpartition(":")
    serve_http(prober, registry, host or "127.0.0.1", int(port))
    return f"http://{host or '127.0.0.1'}:{port}"


def serve_exporter(
    inventory: str,
    interval_s: float,
    duration_s: float,
    codec: str,
    listen: str,
    rounds: int = 0,
    source_pop: str = "control",
    full_reference: bool = False,
) -> int:
    """`python -m quality exporter`: each server of one inventory on its own address, a round
    every `interval_s`, judged by no gate; `full_reference`: each call scored by the
    listening model too."""
    try:
        targets = targets_of(inventory)
        credentials = Credentials.from_environment()
    except (InventoryError, MissingSecret) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    calls = [MeshCall(source_pop, pop, UNICAST, target=target) for pop, target in targets]
    registry = CollectorRegistry()
    prober = Prober(
        source_pop, calls, credentials, Metrics(registry), codec=codec,
        full_reference=full_reference,
    )  # fmt: skip
    where = listening(prober, registry, listen)
    print(f"serving {where}/metrics, {len(targets)} servers", file=sys.stderr, flush=True)
    asyncio.run(prober.run_every(interval_s, duration_s, rounds))
    return 0
