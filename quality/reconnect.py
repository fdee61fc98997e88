"""A caller that reconnects, as a real client does: it asks a PoP's service address (anycast)
which server to use (quality/assign.py) and calls that server, notices when media stops (no
packet for `media_timeout_ms`), hangs up without waiting on the lost server, and asks the
same service address again until media flows, wherever routing now takes it. Every received
packet and every step is timed on the probe's monotonic clock, which the machine's other
processes share, so a drill can line its own events up with them."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from quality.assign import HTTPS_PORT, NotAssigned, assigned
from quality.call import Call, CallFailed
from roles.sfu.access import Credentials


@dataclass
class CallRecord:
    server: str  # the SFU's media address: which server routing chose
    attempt_started: float  # the first signalling request of the attempt that succeeded
    first_media: float
    last_media: float = 0.0


@dataclass
class CallerLog:
    service_address: str
    media_timeout_ms: float
    calls: list[CallRecord] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    detected: list[float] = field(default_factory=list)  # media stopped, as the caller saw it
    failed_attempts: list[tuple[float, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


Connected = Callable[[CallRecord], None]


async def _connected(
    address: str,
    name: str,
    port: int,
    credentials: Credentials,
    media_s: float,
    log: CallerLog,
    attempt_timeout_s: float,
    until: float,
    on_connected: Connected,
) -> Call:
    """A call that carries media, through whichever server the service address reaches now."""
    while True:
        started = time.monotonic()
        call = None
        try:
            server = await assigned(address, name, port, attempt_timeout_s)
            call = Call(server.signalling_url, server.media_address, credentials, media_s,
                        attempt_timeout_s, attempt_timeout_s)  # fmt: skip
            await call.start()
        except (NotAssigned, CallFailed) as error:
            log.failed_attempts.append((started, str(error)))
            if call is not None:
                await call.close(goodbye=False)
            if time.monotonic() > until:
                raise
            await asyncio.sleep(0.05)
            continue
        log.calls.append(CallRecord(call.server_address, started, call.received[0].at))
        on_connected(log.calls[-1])
        return call


async def keep_calling(
    address: str,
    name: str,
    watch_s: float,
    media_timeout_ms: float = 300,
    attempt_timeout_s: float = 1.0,
    port: int = HTTPS_PORT,
    on_connected: Connected = lambda record: None,
    credentials: Credentials | None = None,
) -> CallerLog:
    """Calls the service `name` at `address` for `watch_s` seconds, reconnecting whenever
    media stops; its tokens are signed with `credentials` (by default the environment's)."""
    credentials = credentials or Credentials.from_environment()
    log = CallerLog(address, media_timeout_ms)
    until = time.monotonic() + watch_s
    media_s = watch_s + 30  # the grace after `until` below
    call = await _connected(
        address, name, port, credentials, media_s, log, attempt_timeout_s, until, on_connected
    )
    seen = 0
    while time.monotonic() < until:
        await asyncio.sleep(0.01)
        fresh = call.received[seen:]
        seen += len(fresh)
        log.arrivals += [packet.at for packet in fresh]
        last = call.received[-1].at
        if time.monotonic() - last < media_timeout_ms / 1000:
            continue
        log.detected.append(time.monotonic())
        log.calls[-1].last_media = last
        await call.close(goodbye=False)
        call = await _connected(
            address,
            name,
            port,
            credentials,
            media_s,
            log,
            attempt_timeout_s,
            until + 30,
            on_connected,
        )
        seen = 0
    log.calls[-1].last_media = call.received[-1].at
    log.arrivals += [packet.at for packet in call.received[seen:]]
    await call.close()
    return log
