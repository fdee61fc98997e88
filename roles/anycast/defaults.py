"""Every knob of the anycast role with its default: the role's documented interface. The PoP
spec composes these models (stacks/spec/models.py), so a knob has one name and one type from the
stack file to the host:
- `AnycastSettings`: the host-side choices, the spec's `anycast` section;
- `BgpNeighbor`: a BGP session, each of the spec's `bgp.neighbors`;
- `AnnounceHealth`: the SFU health check that gates announcements, the spec's `bgp.health`.
"""

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field

from roles.settings import Port, RoleSettings

# A DNS label: a neighbour's name is also the name of its BIRD protocol.
LABEL_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
CONFIG_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
HOST_PORT_PATTERN = r"^[A-Za-z0-9.-]+:[0-9]{1,5}$"  # an IPv4 address or a name, and a port


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(
            "not an IP address; allowed: an IPv4 or IPv6 address, e.g. 192.0.2.1"
        ) from None


IpAddress = Annotated[str, AfterValidator(_ip_address)]
Asn = Annotated[int, Field(ge=0, le=4_294_967_295)]


class AnycastSettings(RoleSettings):
    dummy_interface: str = Field(
        "vpanycast0",
        description="where the service addresses are bound on a host whose kernel has dummy "
        "interfaces (a container host binds them on lo)",
    )
    connect_delay_s: int = Field(
        1, ge=1, le=60, description="BIRD's connect delay: a restarted session is back in ~1 s"
    )
    error_wait_min_s: int = Field(
        5,
        ge=1,
        description="after a session error BIRD retries this soon, doubling each time "
        "(its default 60 s would keep a recovered server dark for a minute)",
    )
    error_wait_max_s: int = Field(60, ge=1, description="the longest wait between retries")
    healthchecker_log_level: str = Field("info", pattern=r"^(debug|info|warning|error)$")
    sandboxing: bool = Field(
        True, description="systemd sandboxing of BIRD and the healthchecker (roles/unit_sandbox.py)"
    )
    bird_max_exposure: float = Field(
        3.0,
        ge=0,
        le=10,
        description="the highest `systemd-analyze security` exposure accepted for BIRD (9.6 "
        "unsandboxed; 2.8 measured: it keeps the network, user-switch and ownership "
        "capabilities its start needs)",
    )
    healthchecker_max_exposure: float = Field(
        2.5,
        ge=0,
        le=10,
        description="the same for the healthchecker (9.6 unsandboxed; 2.1 measured)",
    )
    bird_exporter: bool = Field(
        True,
        description="BIRD's protocols exported for Prometheus (Debian's prometheus-bird-exporter) "
        "on the server's address: the BGP session alert reads them",
    )
    bird_exporter_port: Port = Field(9324, description="its port, open to firewall.scrape_from")
    bird_exporter_max_exposure: float = Field(
        2.5,
        ge=0,
        le=10,
        description="its `systemd-analyze security` exposure, at most (1.5 measured)",
    )
    media_gate_sources: list[Annotated[str, Field(pattern=HOST_PORT_PATTERN)]] = Field(
        default_factory=list,
        description="host:port of the PoP's probers whose media gate verdicts (signed with the "
        "SFU token secret) this server follows: drained on bad media (GRACEFUL_SHUTDOWN, then "
        "withdrawn), back on good; empty: the gate only reports",
    )
    media_gate_poll_s: float = Field(5, gt=0, le=60, description="how often it asks them")
    media_gate_stale_after_s: float = Field(
        120,
        ge=10,
        le=3600,
        description="a verdict older than this is not followed; with none fresher the server "
        "returns to service (a silent prober never keeps a server out)",
    )
    # placeholders the healthchecker keeps in its lists so they are never empty (BIRD has no
    # empty prefix set): never announced, the export filter allows only the spec's prefixes
    dummy_prefix4: str = "10.189.200.255/32"
    dummy_prefix6: str = "2001:db8::1/128"


class BgpNeighbor(RoleSettings):
    """A BGP session of a server."""

    name: str = Field(pattern=LABEL_PATTERN, max_length=63)
    peer_address: IpAddress
    peer_asn: Asn
    md5_secret: str | None = Field(
        None, pattern=CONFIG_KEY_PATTERN, description="name of a secret config key (voicepop:NAME)"
    )
    bfd: bool = Field(True, description="BFD: detects a dead link in ~0.9 s instead of hold time")
    bfd_interval_ms: int = Field(300, ge=50, le=10_000)
    bfd_multiplier: int = Field(3, ge=2, le=255)
    hold_time_s: int = Field(90, description="0 (no keepalives) or 3-65535")
    keepalive_s: int = Field(30, ge=1, le=21_845)
    multihop: int | None = Field(None, ge=2, le=255, description="eBGP multihop TTL")


class AnnounceHealth(RoleSettings):
    """The SFU health check that gates each server's announcements (anycast-healthchecker)."""

    interval_s: float = Field(2, gt=0, le=60, description="seconds between checks")
    timeout_s: float = Field(1, gt=0, le=30, description="a check slower than this fails")
    fall: int = Field(2, ge=1, le=10, description="failed checks in a row before withdrawing")
    rise: int = Field(3, ge=1, le=10, description="passed checks in a row before announcing")
