"""One synthetic call through an SFU, as users' media flows: a publisher sends Opus audio into
a Janus video room, a subscriber receives it back through the SFU. Both ends are aiortc peers
in this process, on one clock: each packet is timed as sent and as received (quality/measure.py
turns that into the call's figures).

Every packet stays between the probe and the SFU: no ICE servers at all (aiortc's default is
a public STUN server), and host candidates only on the address the probe's own routes use to
reach the SFU (aioice offers every interface of the machine otherwise)."""

import asyncio
import contextlib
import fractions
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aioice.ice
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.contrib.media import MediaBlackhole
from aiortc.rtp import RtpPacket, is_rtcp

from quality import voice
from quality.janus import JanusError, JanusSession
from quality.listening import Heard
from quality.measure import Received, Sent, payload_key
from quality.voice import FRAME_SAMPLES, SAMPLE_RATE
from roles.sfu.access import PROBE_ROOM_DESCRIPTION, Credentials, probe_room_secret

VIDEOROOM = "janus.plugin.videoroom"


class CallFailed(Exception):
    """The call could not be set up or carried no media; the message says at which step."""


@dataclass(frozen=True)
class Recording:
    """A recorded call's audio: the publisher's from its first frame, and each received
    packet's payload (in `CallLog.received`'s order)."""

    sent_pcm: np.ndarray
    payloads: list[bytes]

    def heard(self, log: "CallLog", late_keys: frozenset[bytes]) -> list[Heard]:
        """The received packets, those of `late_keys` (the call's figures') marked late."""
        sent_index = {packet.key: index for index, packet in enumerate(log.sent)}
        return [
            Heard(packet.rtp_timestamp, payload, sent_index.get(packet.key, -1),
                  packet.key in late_keys)
            for packet, payload in zip(log.received, self.payloads, strict=True)
        ]  # fmt: skip


@dataclass(frozen=True)
class CallLog:
    started: float  # the first signalling request, the probe's monotonic clock
    sent: list[Sent]
    received: list[Received]
    rtt_ms: float | None  # aiortc's smoothed estimate from the SFU's receiver reports
    media_address: str = ""  # the SFU's host candidate: the server that carried the call
    recording: Recording | None = None  # what was sent and heard, when the call recorded it


def source_address_towards(address: str) -> str:
    """The local address this machine's routes use to reach `address` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((address, 9))
        return str(probe.getsockname()[0])


def gather_only_on(address: str) -> None:
    """aioice offers a host candidate on every interface; this keeps only `address`."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]


def audio_frame(pcm: np.ndarray, pts: int) -> av.AudioFrame:
    """16-bit mono samples as a frame at the voice's rate, `pts` its first sample's index."""
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
    return frame


@dataclass(frozen=True)
class CodedVoice:
    pcm: np.ndarray  # what was coded
    payloads: list[bytes]
    timestamps: list[int]  # each payload's RTP timestamp, from 0


def coded_voice(frames: int, rng: np.random.Generator) -> CodedVoice:
    """The voice's first `frames` frames over `rng`'s noise, coded by aiortc's own Opus
    encoder, frame by frame, as a call codes them."""
    encoder = OpusEncoder()
    pieces = [voice.samples(i * FRAME_SAMPLES, FRAME_SAMPLES, rng) for i in range(frames)]
    payloads, timestamps = [], []
    for index, pcm in enumerate(pieces):
        packets, timestamp = encoder.encode(audio_frame(pcm, index * FRAME_SAMPLES))
        payloads += packets
        timestamps += [timestamp] * len(packets)
    return CodedVoice(np.concatenate(pieces), payloads, timestamps)


class Voice(MediaStreamTrack):
    """The artificial voice (quality/voice.py) at the real rate, over fresh noise: every 20 ms
    frame encodes to a payload of its own (silence would give identical payloads, which could
    not be told apart). With `record`, it keeps what it sent (`sent_pcm`)."""

    kind = "audio"

    def __init__(self, record: bool = False) -> None:
        super().__init__()
        self._samples = 0
        self._started = 0.0
        self._random = np.random.default_rng()
        self._record = record
        self._sent: list[np.ndarray] = []

    @property
    def sent_pcm(self) -> np.ndarray:
        return np.concatenate(self._sent) if self._sent else np.zeros(0, dtype=np.int16)

    async def recv(self) -> av.AudioFrame:
        if not self._started:
            self._started = time.monotonic()
        due = self._started + self._samples / SAMPLE_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        signal = voice.samples(self._samples, FRAME_SAMPLES, self._random)
        if self._record:
            self._sent.append(signal)
        frame = audio_frame(signal, self._samples)
        self._samples += FRAME_SAMPLES
        return frame


# aiortc has no public per-packet hook: these wrap, on one connection's own objects, the two
# methods every plain RTP packet passes (the DTLS transport's send before SRTP, the receiver's
# handler after it). aiortc is pinned; the probe's tests fail if either is ever renamed.
def _log_sent(transport: Any, sent: list[Sent]) -> None:
    original: Callable[[bytes], Awaitable[None]] = transport._send_rtp

    async def send_rtp(data: bytes) -> None:
        if not is_rtcp(data):
            sent.append(Sent(payload_key(RtpPacket.parse(data).payload), time.monotonic()))
        await original(data)

    transport._send_rtp = send_rtp


def _log_received(receiver: Any, received: list[Received], heard: list[bytes] | None) -> None:
    """Each packet as received; with `heard`, its payload too (for a listening score)."""
    original = receiver._handle_rtp_packet

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        received.append(Received(payload_key(packet.payload), packet.timestamp, time.monotonic()))
        if heard is not None:
            heard.append(packet.payload)
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet


def _jsep(description: RTCSessionDescription) -> dict[str, str]:
    return {"type": description.type, "sdp": description.sdp}


async def _rtt_ms(peer: RTCPeerConnection) -> float | None:
    for stats in (await peer.getStats()).values():
        if stats.type == "remote-inbound-rtp" and stats.roundTripTime is not None:
            return float(stats.roundTripTime) * 1000
    return None


CANDIDATE = re.compile(r"^a=candidate:\S+ 1 udp \d+ (\S+) \d+ typ host", re.MULTILINE)


TOKEN_MARGIN_S = 30.0  # a call's token outlives its set-up and media by this much


class Call:
    """One call through an SFU: `start()` sets it up until the subscriber's first media
    packet (raising CallFailed naming the step), then media flows until `close()`. The caller
    signs its own tokens with `credentials`, valid for the call's `media_s` seconds beside
    its set-up; it makes its room with the admin key of the secret the server accepted."""

    def __init__(self, signalling_url: str, media_address: str, credentials: Credentials,
                 media_s: float, setup_timeout_s: float = 10,
                 request_timeout_s: float = 5, record: bool = False) -> None:  # fmt: skip
        self.signalling_url = signalling_url
        self.media_address = media_address
        self.setup_timeout_s = setup_timeout_s
        config = RTCConfiguration(iceServers=[])
        self.publisher, self.subscriber = RTCPeerConnection(config), RTCPeerConnection(config)
        self.sent: list[Sent] = []
        self.received: list[Received] = []
        self.voice = Voice(record)
        self._payloads: list[bytes] | None = [] if record else None
        self.started = 0.0
        self.server_address = ""  # where the SFU's media answered (its host candidate)
        ttl_s = setup_timeout_s + media_s + TOKEN_MARGIN_S
        self._janus = JanusSession(
            signalling_url, request_timeout_s, credentials.tokens(ttl_s), media_address
        )
        self._admin_keys = credentials.admin_keys()
        self._secrets = credentials.secrets
        self._room = secrets.randbelow(2**31 - 1) + 1
        self._room_secret = ""  # derived once the server accepted one of the secrets
        self._handle = 0
        self._blackhole = MediaBlackhole()

    async def start(self) -> None:
        gather_only_on(source_address_towards(self.media_address))
        self.started = time.monotonic()
        try:
            await self._janus.open()
            self._handle = await self._janus.attach(VIDEOROOM)
            feed = await self._publish()
            await self._subscribe(feed)
        except JanusError as error:
            raise CallFailed(str(error)) from error
        deadline = time.monotonic() + self.setup_timeout_s
        while not self.received:
            if time.monotonic() > deadline:
                raise CallFailed(
                    f"media: no packet reached the subscriber through {self.media_address} "
                    f"within {self.setup_timeout_s:g} s (ICE {self.subscriber.iceConnectionState})"
                )
            await asyncio.sleep(0.002)

    async def _publish(self) -> int:
        janus, handle = self._janus, self._handle
        self._room_secret = probe_room_secret(self._secrets[janus.accepted], self._room)
        await janus.request(
            handle,
            {"request": "create", "room": self._room, "audiocodec": "opus", "is_private": True,
             "publishers": 1, "permanent": False, "description": PROBE_ROOM_DESCRIPTION,
             "admin_key": self._admin_keys[janus.accepted], "secret": self._room_secret},
        )  # fmt: skip
        joined = await janus.message(
            handle,
            {"request": "join", "ptype": "publisher", "room": self._room, "display": "probe"},
        )
        sender = self.publisher.addTrack(self.voice)
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        answer = await janus.message(
            handle, {"request": "publish", "audio": True, "video": False},
            _jsep(self.publisher.localDescription),
        )  # fmt: skip
        self.server_address = next(iter(CANDIDATE.findall(answer["jsep"]["sdp"])), "")
        await self.publisher.setRemoteDescription(RTCSessionDescription(**answer["jsep"]))
        _log_sent(sender.transport, self.sent)
        try:
            await janus.wait_for(
                lambda e: e.get("janus") == "webrtcup" and e.get("sender") == handle,
                self.setup_timeout_s,
                "webrtcup",
            )
        except JanusError as error:
            raise CallFailed(
                f"media: the publisher's ICE/DTLS did not come up with {self.media_address} "
                f"within {self.setup_timeout_s:g} s (ICE {self.publisher.iceConnectionState}): "
                "are the SFU's media ports reachable?"
            ) from error
        return int(joined["plugindata"]["data"]["id"])

    async def _subscribe(self, feed: int) -> None:
        listener = await self._janus.attach(VIDEOROOM)
        offer = await self._janus.message(
            listener,
            {
                "request": "join",
                "ptype": "subscriber",
                "room": self._room,
                "streams": [{"feed": feed}],
            },
        )
        await self.subscriber.setRemoteDescription(RTCSessionDescription(**offer["jsep"]))
        for receiver in self.subscriber.getReceivers():
            _log_received(receiver, self.received, self._payloads)
            self._blackhole.addTrack(receiver.track)
        await self._blackhole.start()
        await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
        await self._janus.message(
            listener, {"request": "start"}, _jsep(self.subscriber.localDescription)
        )

    async def rtt_ms(self) -> float | None:
        return await _rtt_ms(self.publisher)

    def log(self, rtt_ms: float | None) -> CallLog:
        received = list(self.received)
        recording = None
        if self._payloads is not None:
            recording = Recording(self.voice.sent_pcm, self._payloads[: len(received)])
        return CallLog(
            self.started, list(self.sent), received, rtt_ms, self.server_address, recording
        )

    async def close(self, goodbye: bool = True) -> None:
        """Hangs up; without `goodbye` (the SFU is gone) nothing is asked of the SFU."""
        await self._blackhole.stop()
        await self.publisher.close()
        await self.subscriber.close()
        if goodbye and self._handle and self._room_secret:
            with contextlib.suppress(JanusError):  # the room was never made, or is gone
                await self._janus.request(
                    self._handle,
                    {"request": "destroy", "room": self._room, "secret": self._room_secret},
                )
        await self._janus.close(goodbye)


async def place_call(
    signalling_url: str,
    media_address: str,
    credentials: Credentials,
    duration_s: float,
    setup_timeout_s: float = 10,
    record: bool = False,
) -> CallLog:
    """A call of `duration_s` seconds through the SFU whose HTTP API is `signalling_url`;
    raises CallFailed naming the step that failed. `record`: keep its audio
    (`CallLog.recording`)."""
    call = Call(signalling_url, media_address, credentials, duration_s, setup_timeout_s,
                record=record)  # fmt: skip
    try:
        await call.start()
        await asyncio.sleep(duration_s)
        return call.log(await call.rtt_ms())
    finally:
        await call.close()
