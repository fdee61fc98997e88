"""The load generator: audio-only rooms of callers on one SFU, ramped step by step while a
probe call placed alongside judges the quality (calls per server, issue 27).

Each caller publishes the probe's voice into its room and is subscribed to every other
caller's: a room of k callers is k streams into the SFU and k(k-1) out of it. The voice is
coded once, up front (aiortc packs the payloads, no encoder per caller); a caller's received
media is counted, not played. Rooms run in worker processes (one asyncio loop each), so the
generator uses every core of the machine; its own CPU is reported beside the server's, so a
knee the generator caused is told from one the server caused."""

import asyncio
import contextlib
import fractions
import itertools
import math
import multiprocessing
import os
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from quality import voice
from quality.call import VIDEOROOM, coded_voice, gather_only_on, source_address_towards
from quality.janus import JanusError, JanusSession
from quality.probe import Target, probe
from quality.report import CallReport
from quality.voice import FRAME_SAMPLES, SAMPLE_RATE
from roles.sfu.access import Credentials, probe_room_secret

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
LOAD_ROOM_DESCRIPTION = "voicepop load"


def encoded_voice() -> list[bytes]:
    """The voice's loop, coded once (as a call codes it)."""
    return coded_voice(int(voice.LOOP_S / FRAME_S), np.random.default_rng()).payloads


class EncodedVoice(MediaStreamTrack):
    """The coded voice at the real rate: aiortc packs each payload as it is."""

    kind = "audio"

    def __init__(self, payloads: list[bytes]) -> None:
        super().__init__()
        self._payloads = payloads
        self._index = secrets.randbelow(len(payloads))  # callers do not talk in unison
        self._sent = 0
        self._started = 0.0

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        if not self._started:
            self._started = time.monotonic()
        await asyncio.sleep(max(0.0, self._started + self._sent * FRAME_S - time.monotonic()))
        packet = av.Packet(self._payloads[(self._index + self._sent) % len(self._payloads)])
        packet.pts = self._sent * FRAME_SAMPLES
        packet.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sent += 1
        return packet


async def _drain(track: MediaStreamTrack, counted: list[int]) -> None:
    """Reads the decoded frames (or they pile up in the track's queue), counting them."""
    with contextlib.suppress(Exception):
        while True:
            await track.recv()
            counted[0] += 1


def _jsep(description: RTCSessionDescription) -> dict[str, str]:
    return {"type": description.type, "sdp": description.sdp}


@dataclass
class Room:
    """A room of `size` callers on one Janus session: each caller a publisher handle and a
    subscriber handle to every other caller's stream."""

    janus: JanusSession
    size: int
    credentials: Credentials
    payloads: list[bytes]
    room: int = field(default_factory=lambda: secrets.randbelow(2**31 - 1) + 1)
    peers: list[RTCPeerConnection] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    frames: list[int] = field(default_factory=lambda: [0])
    secret: str = ""

    async def open(self, setup_timeout_s: float) -> None:
        await self.janus.open()
        admin = await self.janus.attach(VIDEOROOM)
        self.secret = probe_room_secret(self.credentials.secrets[self.janus.accepted], self.room)
        await self.janus.request(
            admin,
            {"request": "create", "room": self.room, "audiocodec": "opus", "is_private": True,
             "publishers": self.size, "permanent": False, "description": LOAD_ROOM_DESCRIPTION,
             "admin_key": self.credentials.admin_keys()[self.janus.accepted],
             "secret": self.secret},
        )  # fmt: skip
        feeds = [await self._publish(setup_timeout_s) for _ in range(self.size)]
        for feed in feeds:
            await self._subscribe([other for other in feeds if other != feed])
        self._admin = admin

    async def _publish(self, setup_timeout_s: float) -> int:
        handle = await self.janus.attach(VIDEOROOM)
        joined = await self.janus.message(
            handle, {"request": "join", "ptype": "publisher", "room": self.room}
        )
        peer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.peers.append(peer)
        peer.addTrack(EncodedVoice(self.payloads))
        await peer.setLocalDescription(await peer.createOffer())
        answer = await self.janus.message(
            handle, {"request": "publish", "audio": True, "video": False},
            _jsep(peer.localDescription),
        )  # fmt: skip
        await peer.setRemoteDescription(RTCSessionDescription(**answer["jsep"]))
        await self.janus.wait_for(
            lambda e: e.get("janus") == "webrtcup" and e.get("sender") == handle,
            setup_timeout_s,
            "webrtcup",
        )
        return int(joined["plugindata"]["data"]["id"])

    async def _subscribe(self, feeds: list[int]) -> None:
        handle = await self.janus.attach(VIDEOROOM)
        offer = await self.janus.message(
            handle,
            {"request": "join", "ptype": "subscriber", "room": self.room,
             "streams": [{"feed": feed} for feed in feeds]},
        )  # fmt: skip
        peer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.peers.append(peer)

        @peer.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tasks.append(asyncio.ensure_future(_drain(track, self.frames)))

        await peer.setRemoteDescription(RTCSessionDescription(**offer["jsep"]))
        await peer.setLocalDescription(await peer.createAnswer())
        await self.janus.message(handle, {"request": "start"}, _jsep(peer.localDescription))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for peer in self.peers:
            await peer.close()
        with contextlib.suppress(JanusError, AttributeError):
            await self.janus.request(
                self._admin, {"request": "destroy", "room": self.room, "secret": self.secret}
            )
        await self.janus.close(True)


@dataclass(frozen=True)
class SfuEndpoint:
    """Where the generator's callers reach the SFU: its signalling URL, its media address."""

    signalling_url: str
    media_address: str


async def _worker_loop(connection: Connection, target: SfuEndpoint, secrets_: list[str],
                       room_size: int, setup_timeout_s: float) -> None:  # fmt: skip
    gather_only_on(source_address_towards(target.media_address))
    credentials = Credentials(tuple(secrets_))
    payloads = encoded_voice()
    rooms: list[Room] = []
    failures: list[str] = []
    loop = asyncio.get_running_loop()
    while True:
        command, wanted = await loop.run_in_executor(None, connection.recv)
        if command == "stop":
            break
        while len(rooms) < wanted:
            room = Room(JanusSession(target.signalling_url, 10.0,
                                     credentials.tokens(24 * 3600), target.media_address),
                        room_size, credentials, payloads)  # fmt: skip
            try:
                await room.open(setup_timeout_s)
                rooms.append(room)
            except (JanusError, KeyError) as error:
                failures.append(str(error))
                await room.close()
                break
        while len(rooms) > wanted:
            await rooms.pop().close()
        times = os.times()
        connection.send(("ready", len(rooms), times.user + times.system,
                         sum(room.frames[0] for room in rooms), failures[-3:]))  # fmt: skip
    for room in rooms:
        await room.close()
    connection.send(("stopped", 0, 0.0, 0, []))


def _worker(connection: Connection, target: SfuEndpoint, secrets_: list[str], room_size: int,
            setup_timeout_s: float) -> None:  # fmt: skip
    asyncio.run(_worker_loop(connection, target, secrets_, room_size, setup_timeout_s))


@dataclass(frozen=True)
class ServerSample:
    at: float  # seconds, monotonic
    cpu_s: float  # the SFU's process: user and system CPU time
    rx_packets: int  # the server's interface
    tx_packets: int


@dataclass(frozen=True)
class Step:
    rooms: int
    callers: int
    failures: list[str]
    server_cores: float  # the SFU's CPU over the hold, in cores
    server_pps_in: float
    server_pps_out: float
    generator_cores: float  # the workers' CPU over the hold, in cores
    frames_per_s: float  # media frames the callers received
    probes: list[CallReport]

    @property
    def probe_mos_median(self) -> float:
        scored = [call.mos for call in self.probes if call.ok]
        return statistics.median(scored) if scored else 1.0

    @property
    def probe_loss_p95(self) -> float:
        losses = sorted(call.loss_pct if call.ok else 100.0 for call in self.probes)
        return losses[math.ceil(0.95 * len(losses)) - 1] if losses else 100.0  # nearest rank

    def broken(self, min_mos: float = 4.0, max_loss_pct: float = 1.0) -> bool:
        """The quality bound: the probe's median MOS below `min_mos` or its p95 loss above
        `max_loss_pct`, or a room that could not be set up."""
        return (
            self.probe_mos_median < min_mos
            or self.probe_loss_p95 > max_loss_pct
            or bool(self.failures)
        )


class Generator:
    """Worker processes holding rooms; `rooms(n)` spreads n rooms over them."""

    def __init__(self, target: SfuEndpoint, credentials: Credentials, room_size: int,
                 processes: int, setup_timeout_s: float = 20.0) -> None:  # fmt: skip
        context = multiprocessing.get_context("spawn")
        self.connections: list[Connection] = []
        self.processes = []
        for _ in range(processes):
            here, there = context.Pipe()
            process = context.Process(
                target=_worker,
                args=(there, target, list(credentials.secrets), room_size, setup_timeout_s),
                daemon=True,
            )
            process.start()
            self.connections.append(here)
            self.processes.append(process)

    def rooms(self, total: int) -> tuple[int, float, int, list[str]]:
        """(rooms held, the workers' CPU seconds so far, frames received so far, failures)."""
        shares = [total // len(self.connections)] * len(self.connections)
        for index in range(total % len(self.connections)):
            shares[index] += 1
        for connection, share in zip(self.connections, shares, strict=True):
            connection.send(("rooms", share))
        replies = [connection.recv() for connection in self.connections]
        return (sum(r[1] for r in replies), sum(r[2] for r in replies),
                sum(r[3] for r in replies), [f for r in replies for f in r[4]])  # fmt: skip

    def stop(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.send(("stop", 0))
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


async def hold(
    generator: Generator, rooms: int, room_size: int, hold_s: float,
    probe: Callable[[], Awaitable[CallReport]], sample_server: Callable[[], ServerSample],
) -> Step:  # fmt: skip
    """`rooms` rooms held `hold_s` seconds, probe calls back to back meanwhile."""
    held, _, _, failures = await asyncio.to_thread(generator.rooms, rooms)
    _, cpu_before, frames_before, _ = await asyncio.to_thread(generator.rooms, rooms)
    server_before = await asyncio.to_thread(sample_server)
    deadline, probes = time.monotonic() + hold_s, list[CallReport]()
    while time.monotonic() < deadline or not probes:
        probes.append(await probe())
    server_after = await asyncio.to_thread(sample_server)
    _, cpu_after, frames_after, more = await asyncio.to_thread(generator.rooms, rooms)
    span = server_after.at - server_before.at
    return Step(
        rooms=held,
        callers=held * room_size,
        failures=failures + more,
        server_cores=(server_after.cpu_s - server_before.cpu_s) / span,
        server_pps_in=(server_after.rx_packets - server_before.rx_packets) / span,
        server_pps_out=(server_after.tx_packets - server_before.tx_packets) / span,
        generator_cores=(cpu_after - cpu_before) / span,
        frames_per_s=(frames_after - frames_before) / span,
        probes=probes,
    )


def knee(steps: list[Step]) -> Step | None:
    """The last step within the quality bound before the first one beyond it (None: the
    first step broke already, or none did: then the ramp never reached the knee)."""
    for before, step in itertools.pairwise(steps):
        if step.broken():
            return before if not before.broken() else None
    return None


def cpu_per_call(steps: list[Step]) -> float:
    """The server's CPU (cores) per call: the least-squares slope of its CPU over the rooms
    held, within the quality bound (the idle SFU's own CPU is the intercept)."""
    good = [step for step in steps if not step.broken()]
    if len(good) < 2:
        return 0.0
    xs, ys = [step.rooms for step in good], [step.server_cores for step in good]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def cost_per_call(rooms_and_cores: list[tuple[int, float]]) -> dict[int, float]:
    """The server's CPU (cores) above its idle step's, per call, at each loaded step: what a
    call costs at that load. It falls as the load rises (more packets handled per wake-up),
    so a capacity extrapolated from a few calls' cost is conservative."""
    idle = next((cores for rooms, cores in rooms_and_cores if rooms == 0), None)
    if idle is None:
        return {}
    return {rooms: (cores - idle) / rooms for rooms, cores in rooms_and_cores if rooms}


def summary(steps: list[Step], room_size: int) -> list[dict[str, Any]]:
    return [
        {"rooms": s.rooms, "callers": s.callers, "room_size": room_size,
         "probe_mos_median": round(s.probe_mos_median, 3),
         "probe_loss_p95": round(s.probe_loss_p95, 3), "probe_calls": len(s.probes),
         "server_cores": round(s.server_cores, 4), "server_pps_in": round(s.server_pps_in),
         "server_pps_out": round(s.server_pps_out),
         "generator_cores": round(s.generator_cores, 3),
         "frames_per_s": round(s.frames_per_s), "broken": s.broken(), "failures": s.failures}
        for s in steps
    ]  # fmt: skip


# What the server's shell prints for a sample: the SFU's /proc/<pid>/stat and the interfaces'
# counters (/proc/net/dev); `server_sample` reads it
SERVER_SAMPLE_COMMAND = "cat /proc/$(pidof -s janus)/stat; cat /proc/net/dev; getconf CLK_TCK"


def server_sample(output: str, at: float) -> ServerSample:
    """The SFU's CPU time (utime + stime: /proc/<pid>/stat's 14th and 15th fields, in clock
    ticks) and every interface's packets but loopback's, from SERVER_SAMPLE_COMMAND's output."""
    lines = output.strip().splitlines()
    stat = lines[0].rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
    ticks = int(lines[-1])
    rx = tx = 0
    for line in lines[1:-1]:
        name, sep, counters = line.partition(":")
        if not sep or name.strip() == "lo":  # the two header lines have no colon
            continue
        fields = counters.split()
        if len(fields) >= 10:
            rx, tx = rx + int(fields[1]), tx + int(fields[9])
    return ServerSample(at, (int(stat[11]) + int(stat[12])) / ticks, rx, tx)


def endpoint_of(host: dict[str, Any]) -> SfuEndpoint:
    """The SFU of a server as an inventory's host entry names it (its DNS name, its address)."""
    return SfuEndpoint(f"https://{host['dns_names'][0]}:443/janus", host["address"])


def sampler_via(run: Callable[[str], str]) -> Callable[[], ServerSample]:
    """Samples of a server whose shell `run` reaches (SSH): SERVER_SAMPLE_COMMAND's output."""

    def sample() -> ServerSample:
        return server_sample(run(SERVER_SAMPLE_COMMAND), time.monotonic())

    return sample


def prober_of(host: dict[str, Any], credentials: Credentials,
              seconds: float) -> Callable[[], Awaitable[CallReport]]:  # fmt: skip
    """The probe call placed beside the load: through the server itself, `seconds` long."""

    async def call() -> CallReport:
        return await probe(Target.of_host(host), credentials, seconds)

    return call


async def ramp(
    target: SfuEndpoint, credentials: Credentials, room_size: int, steps: list[int], hold_s: float,
    probe: Callable[[], Awaitable[CallReport]], sample_server: Callable[[], ServerSample],
    processes: int = 2, stop_at_knee: bool = True,
) -> list[Step]:  # fmt: skip
    """The rooms of each step held in turn (the first step may be 0: the idle server), until
    the quality bound breaks (`stop_at_knee`) or the steps end."""
    generator = Generator(target, credentials, room_size, processes)
    held: list[Step] = []
    try:
        for rooms in steps:
            step = await hold(generator, rooms, room_size, hold_s, probe, sample_server)
            held.append(step)
            if stop_at_knee and step.broken():
                break
    finally:
        await asyncio.to_thread(generator.stop)
    return held
