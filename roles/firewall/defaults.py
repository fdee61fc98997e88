"""Every knob of the firewall role with its default: the role's documented interface, and the
PoP spec's `firewall` section (stacks/spec/models.py composes this model).

What the ruleset lets in is otherwise derived from the spec (stacks/host_data.py): SSH from
`access.ssh_admin_ranges`, the SFU's media range and ports, BGP and BFD from the server's own
neighbours."""

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field

from roles.firewall.rules import FirewallPolicy, SourceLimits
from roles.settings import Port, RoleSettings


def network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as error:
        raise ValueError(f"{value!r} is not an address or a network ({error})") from error


class FirewallSettings(RoleSettings):
    extra_tcp_ports: list[Port] = Field(
        default_factory=list,
        description="more TCP ports open to everyone (e.g. a TURN/TLS listener on 443)",
    )
    log_dropped: bool = Field(
        False, description="log what the input policy drops (rate-limited: 5 a second)"
    )
    scrape_from: list[Annotated[str, AfterValidator(network)]] = Field(
        default_factory=list,
        description="the team's Prometheus (addresses or networks): may read the servers' "
        "metrics ports (bird_exporter's, the probers')",
    )
    # Abuse limits on the SFU's TCP ports (signalling, health), per source address. A call's
    # set-up opens 2-3 connections (a browser up to 6) and keeps one long poll open; callers
    # behind one NAT share its address: size these for the largest NAT callers come from.
    new_connections_per_source_per_s: int = Field(
        50, ge=1, le=100_000,
        description="new connections a second one source address may open to the SFU's TCP "
        "ports; above it (after the burst) new connections are dropped",
    )  # fmt: skip
    new_connections_per_source_burst: int = Field(
        150, ge=1, le=100_000, description="new connections one source may open at once"
    )
    connections_per_source: int = Field(
        512, ge=1, le=1_000_000,
        description="connections one source address may hold open to the SFU's TCP ports "
        "(one long poll per caller); more are reset",
    )  # fmt: skip


class FirewallHost(FirewallSettings):
    """The firewall's section: the role's settings (the spec's `firewall`) beside what the rest
    of the spec opens on this host."""

    admin_ranges: list[str]
    media_ports: tuple[Port, Port]
    tcp_service_ports: list[Port] = Field(default_factory=list)
    bgp_peers: list[str] = Field(default_factory=list)
    # the metrics ports, open to `scrape_from` (bird_exporter's)
    metrics_ports: list[Port] = Field(default_factory=list)
    # a prober server's port (roles/prober), open to the PoP's servers and `scrape_from`
    prober_port: Port | None = None
    prober_clients: list[str] = Field(default_factory=list)

    def policy(self) -> FirewallPolicy:
        return FirewallPolicy(
            admin_ranges=tuple(self.admin_ranges),
            media_ports=self.media_ports,
            tcp_service_ports=tuple(self.tcp_service_ports),
            bgp_peers=tuple(self.bgp_peers),
            extra_tcp_ports=tuple(self.extra_tcp_ports),
            log_dropped=self.log_dropped,
            metrics_ports=tuple(self.metrics_ports),
            scrapers=tuple(self.scrape_from),
            prober_port=self.prober_port,
            prober_clients=tuple(self.prober_clients),
            limits=SourceLimits(
                self.new_connections_per_source_per_s,
                self.new_connections_per_source_burst,
                self.connections_per_source,
            ),
        )
