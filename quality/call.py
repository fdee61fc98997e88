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
from aiortc.contrib.media import MediaBlackhole
from aiortc.rtp import RtpPacket, is_rtcp

from quality.janus import JanusError, JanusSession
from quality.measure import Received, Sent, payload_key

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
VIDEOROOM = "janus.plugin.videoroom"


class CallFailed(Exception):
    """The call could not be set up or carried no media; the message says at which step."""


@dataclass(frozen=True)
class CallLog:
    started: float  # the first signalling request, the probe's monotonic clock
    sent: list[Sent]
    received: list[Received]
    rtt_ms: float | None  # from the SFU's receiver reports to the publisher


def source_address_towards(address: str) -> str:
    """The local address this machine's routes use to reach `address` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((address, 9))
        return str(probe.getsockname()[0])


def gather_only_on(address: str) -> None:
    """aioice offers a host candidate on every interface; this keeps only `address`."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]


class Voice(MediaStreamTrack):
    """A tone under noise, at the real rate: every 20 ms frame encodes to a payload of its own
    (silence would give identical payloads, which could not be told apart)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._started = 0.0
        self._random = np.random.default_rng()

    async def recv(self) -> av.AudioFrame:
        if not self._started:
            self._started = time.monotonic()
        due = self._started + self._samples / SAMPLE_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (self._samples + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
        signal = 6000 * np.sin(2 * np.pi * 440 * t) + self._random.normal(0, 1500, FRAME_SAMPLES)
        frame = av.AudioFrame.from_ndarray(
            signal.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._samples += FRAME_SAMPLES
        return frame


def _log_sent(transport: Any, sent: list[Sent]) -> None:
    original: Callable[[bytes], Awaitable[None]] = transport._send_rtp

    async def send_rtp(data: bytes) -> None:
        if not is_rtcp(data):
            sent.append(Sent(payload_key(RtpPacket.parse(data).payload), time.monotonic()))
        await original(data)

    transport._send_rtp = send_rtp


def _log_received(receiver: Any, received: list[Received]) -> None:
    original = receiver._handle_rtp_packet

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        received.append(Received(payload_key(packet.payload), packet.timestamp, time.monotonic()))
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet


def _jsep(description: RTCSessionDescription) -> dict[str, str]:
    return {"type": description.type, "sdp": description.sdp}


async def _rtt_ms(peer: RTCPeerConnection) -> float | None:
    for stats in (await peer.getStats()).values():
        if stats.type == "remote-inbound-rtp" and stats.roundTripTime is not None:
            return float(stats.roundTripTime) * 1000
    return None


async def place_call(
    signalling_url: str, media_address: str, duration_s: float, setup_timeout_s: float = 10
) -> CallLog:
    """A call of `duration_s` seconds through the SFU whose HTTP API is `signalling_url`;
    raises CallFailed naming the step that failed."""
    gather_only_on(source_address_towards(media_address))
    config = RTCConfiguration(iceServers=[])
    publisher, subscriber = RTCPeerConnection(config), RTCPeerConnection(config)
    sent: list[Sent] = []
    received: list[Received] = []
    janus = JanusSession(signalling_url)
    room = secrets.randbelow(2**31 - 1) + 1
    blackhole = MediaBlackhole()
    started = time.monotonic()
    handle = 0
    try:
        await janus.open()
        handle = await janus.attach(VIDEOROOM)
        await janus.request(
            handle,
            {
                "request": "create",
                "room": room,
                "audiocodec": "opus",
                "is_private": True,
                "publishers": 1,
                "permanent": False,
                "description": "voicepop probe",
            },
        )
        joined = await janus.message(
            handle, {"request": "join", "ptype": "publisher", "room": room, "display": "probe"}
        )
        feed = joined["plugindata"]["data"]["id"]
        sender = publisher.addTrack(Voice())
        await publisher.setLocalDescription(await publisher.createOffer())
        answer = await janus.message(
            handle,
            {"request": "publish", "audio": True, "video": False},
            _jsep(publisher.localDescription),
        )
        await publisher.setRemoteDescription(RTCSessionDescription(**answer["jsep"]))
        _log_sent(sender.transport, sent)
        try:
            await janus.wait_for(
                lambda e: e.get("janus") == "webrtcup" and e.get("sender") == handle,
                setup_timeout_s,
                "webrtcup",
            )
        except JanusError as error:
            raise CallFailed(
                f"media: the publisher's ICE/DTLS did not come up with {media_address} within "
                f"{setup_timeout_s:g} s (ICE {publisher.iceConnectionState}): are the SFU's "
                "media ports reachable?"
            ) from error
        listener = await janus.attach(VIDEOROOM)
        offer = await janus.message(
            listener,
            {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]},
        )
        await subscriber.setRemoteDescription(RTCSessionDescription(**offer["jsep"]))
        for receiver in subscriber.getReceivers():
            _log_received(receiver, received)
            blackhole.addTrack(receiver.track)
        await blackhole.start()
        await subscriber.setLocalDescription(await subscriber.createAnswer())
        await janus.message(listener, {"request": "start"}, _jsep(subscriber.localDescription))
        deadline = time.monotonic() + setup_timeout_s
        while not received:
            if time.monotonic() > deadline:
                raise CallFailed(
                    f"media: no packet reached the subscriber through {media_address} within "
                    f"{setup_timeout_s:g} s (ICE {subscriber.iceConnectionState})"
                )
            await asyncio.sleep(0.005)
        await asyncio.sleep(duration_s)
        rtt = await _rtt_ms(publisher)
        return CallLog(started, list(sent), list(received), rtt)
    except JanusError as error:
        raise CallFailed(str(error)) from error
    finally:
        await blackhole.stop()
        await publisher.close()
        await subscriber.close()
        if handle:
            await _destroy_room(janus, handle, room)
        await janus.close()


async def _destroy_room(janus: JanusSession, handle: int, room: int) -> None:
    with contextlib.suppress(JanusError):  # the room was never made, or is gone with the SFU
        await janus.request(handle, {"request": "destroy", "room": room})
