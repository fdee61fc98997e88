"""The probe: one call through one server, judged (quality/call.py, quality/report.py)."""

import asyncio
from dataclasses import dataclass
from typing import Any

from quality.assign import HTTPS_PORT, Assigned
from quality.call import CallFailed, place_call
from quality.emodel import CODECS
from quality.listening import listening_score
from quality.measure import path_figures
from quality.report import CallReport, failed, judged
from roles.sfu.access import Credentials
from roles.sfu.defaults import SfuHealth


@dataclass(frozen=True)
class Target:
    """A server the probe calls: its SFU's API over HTTPS by its name (its certificate's,
    the server's own when none is given), reached at its address, where media goes too."""

    server: str
    address: str
    port: int = 443
    name: str = ""  # the server's DNS name; "": its address (no certificate names that)
    url: str = ""  # the signalling URL a service address assigned, as it named it
    health_path: str = ""  # its health endpoint on the same HTTPS port ("": none to read)

    @property
    def signalling_url(self) -> str:
        host = self.name or (f"[{self.address}]" if ":" in self.address else self.address)
        return self.url or f"https://{host}:{self.port}/janus"

    @property
    def health_url(self) -> str:
        """Where Route 53's health check reads it ("" when the inventory names none)."""
        if not self.health_path:
            return ""
        return self.signalling_url.removesuffix("/janus") + self.health_path

    @classmethod
    def of(cls, server: Assigned) -> "Target":
        return cls(server.server, server.media_address, url=server.signalling_url)

    @classmethod
    def of_host(cls, host: dict[str, Any]) -> "Target":
        """A server as an inventory's host entry names it (inventories/<stack>.json, whose
        name and address the caller has checked): its HTTPS port and its own DNS name."""
        sfu = host.get("sfu") or {}
        port = int((sfu.get("tls") or {}).get("port", HTTPS_PORT))
        health = SfuHealth.model_validate(sfu["health"]).front_path(port) if "health" in sfu else ""
        return cls(host["name"], host["address"], port, (host.get("dns_names") or [""])[0],
                   health_path=health)  # fmt: skip


async def probe(
    target: Target,
    credentials: Credentials,
    duration_s: float,
    codec: str = "opus",
    setup_timeout_s: float = 10,
    listen: bool = False,
) -> CallReport:
    """One call, judged by the E-model; `listen`: recorded and scored by a listening model
    too (quality/listening.py)."""
    try:
        log = await place_call(
            target.signalling_url, target.address, credentials, duration_s, setup_timeout_s,
            record=listen,
        )  # fmt: skip
    except CallFailed as error:
        return failed(target.server, target.address, str(error))
    figures = path_figures(log.sent, log.received)
    setup_s = log.received[0].at - log.started
    codec_profile = CODECS[codec]
    listening = None
    if log.recording is not None:
        heard = log.recording.heard(log, figures.late_keys)
        listening = await asyncio.to_thread(listening_score, log.recording.sent_pcm, heard)
    return judged(
        target.server, target.address, figures, setup_s, log.rtt_ms, duration_s, codec_profile,
        log.media_address, listening,
    )  # fmt: skip


def probe_now(
    target: Target,
    credentials: Credentials,
    duration_s: float,
    codec: str = "opus",
    setup_timeout_s: float = 10,
    listen: bool = False,
) -> CallReport:
    return asyncio.run(probe(target, credentials, duration_s, codec, setup_timeout_s, listen))
