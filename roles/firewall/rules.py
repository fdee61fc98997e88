"""The firewall policy of an SFU host and its nftables ruleset. Pure.

Inbound is dropped unless it is: part of a connection the host made or accepted, loopback,
ICMP/ICMPv6 (path MTU discovery and IPv6 neighbour discovery need it), SSH from the admin
ranges, the SFU's media UDP range and its TCP service ports, or BGP (TCP 179) and BFD (UDP
3784, 3785, 4784) from the host's own BGP neighbours. New connections to the SFU's TCP ports
are limited per source address (a rate with a burst, and a count held open: nftables meters
on dynamic sets). The ruleset replaces the project's table in one transaction, so it is never
half applied.
"""

import ipaddress
from dataclasses import dataclass, field

TABLE = "voicepop"
RULESET_PATH = "/etc/nftables.d/voicepop.nft"
BGP_PORT = 179
BFD_PORTS = (3784, 3785, 4784)  # single-hop, multihop, echo


DROP_LOG_PREFIX = "voicepop drop: "
METER_SET_PREFIX = "signalling_"  # the limits' meter sets, which fill with the sources seen
RATE_SETS = {"ip": f"{METER_SET_PREFIX}rate4", "ip6": f"{METER_SET_PREFIX}rate6"}
COUNT_SETS = {"ip": f"{METER_SET_PREFIX}conns4", "ip6": f"{METER_SET_PREFIX}conns6"}
METER_SETS = frozenset({*RATE_SETS.values(), *COUNT_SETS.values()})
RATE_SET_TIMEOUT = "1m"  # a source's rate state is forgotten a minute after its last attempt


@dataclass(frozen=True)
class SourceLimits:
    """Per source address, on the SFU's TCP ports (FirewallSettings documents each)."""

    new_per_s: int = 50
    burst: int = 150
    open_connections: int = 512


@dataclass(frozen=True)
class FirewallPolicy:
    admin_ranges: tuple[str, ...]
    media_ports: tuple[int, int]
    tcp_service_ports: tuple[int, ...]  # signalling and health endpoints
    bgp_peers: tuple[str, ...] = field(default=())
    extra_tcp_ports: tuple[int, ...] = field(default=())  # FirewallSettings.extra_tcp_ports
    log_dropped: bool = False
    limits: SourceLimits = field(default_factory=SourceLimits)
    metrics_ports: tuple[int, ...] = field(default=())  # from the scrapers only
    scrapers: tuple[str, ...] = field(default=())  # FirewallSettings.scrape_from
    prober_port: int | None = None  # a prober server's (roles/prober): from prober_clients
    prober_clients: tuple[str, ...] = field(default=())

    @property
    def open_tcp_ports(self) -> list[int]:
        """Every TCP port open to everyone: the SFU's, and the extra ones the spec lists."""
        return sorted({*self.tcp_service_ports, *self.extra_tcp_ports})


def _by_family(addresses: tuple[str, ...]) -> tuple[list[str], list[str]]:
    v4 = [a for a in addresses if ipaddress.ip_network(a, strict=False).version == 4]
    v6 = [a for a in addresses if ipaddress.ip_network(a, strict=False).version == 6]
    return v4, v6


def _set(name: str, kind: str, elements: list[str]) -> list[str]:
    if not elements:
        return [f"\tset {name} {{ type {kind}; flags interval; }}"]
    return [
        f"\tset {name} {{ type {kind}; flags interval; elements = {{ {', '.join(elements)} }} }}"
    ]


# --- the accept paths: what the ruleset lets in, one source for the rendering and the audit --

ICMP, ICMPV6 = 1, 58
PROTOCOL_NUMBERS = {"icmp": ICMP, "ipv6-icmp": ICMPV6, "tcp": 6, "udp": 17}


@dataclass(frozen=True)
class Match:
    """One match of a rule as nft lists it: `tcp dport`, `ip saddr`, `ct state`, `iif`,
    `meta l4proto`, and its value in one canonical form (a port, a range `a-b`, a set
    `{a,b}`, a named set `@name`, an interface, states `established,related`)."""

    field: str
    value: str

    def nft(self) -> str:
        shown = self.value
        if shown.startswith("{"):
            shown = "{ " + ", ".join(shown[1:-1].split(",")) + " }"
        elif self.field == "iif":
            shown = f'"{shown}"'
        return f"{self.field} {shown}"


AcceptPath = tuple[Match, ...]


def canonical_set(values: list[int] | list[str]) -> str:
    items = sorted({str(v) for v in values}, key=lambda v: (len(v), v))
    return items[0] if len(items) == 1 else "{" + ",".join(items) + "}"


def accept_paths(policy: FirewallPolicy) -> list[AcceptPath]:
    """Every way in that the input chain accepts, in the chain's order."""
    first, last = policy.media_ports
    paths: list[AcceptPath] = [
        (Match("ct state", "established,related"),),
        (Match("iif", "lo"),),
        (Match("meta l4proto", canonical_set([ICMP, ICMPV6])),),
        (Match("tcp dport", "22"), Match("ip saddr", "@admin4")),
        (Match("tcp dport", "22"), Match("ip6 saddr", "@admin6")),
        (Match("udp dport", f"{first}-{last}"),),
    ]
    if policy.open_tcp_ports:
        paths.append((Match("tcp dport", canonical_set(policy.open_tcp_ports)),))
    paths += [
        (Match("tcp dport", str(BGP_PORT)), Match("ip saddr", "@bgp_peers4")),
        (Match("tcp dport", str(BGP_PORT)), Match("ip6 saddr", "@bgp_peers6")),
        (Match("udp dport", canonical_set(list(BFD_PORTS))), Match("ip saddr", "@bgp_peers4")),
        (Match("udp dport", canonical_set(list(BFD_PORTS))), Match("ip6 saddr", "@bgp_peers6")),
    ]
    if policy.metrics_ports:
        ports = canonical_set(list(policy.metrics_ports))
        paths += [
            (Match("tcp dport", ports), Match("ip saddr", "@scrapers4")),
            (Match("tcp dport", ports), Match("ip6 saddr", "@scrapers6")),
        ]
    if policy.prober_port is not None:
        paths += [
            (Match("tcp dport", str(policy.prober_port)), Match("ip saddr", "@prober_clients4")),
            (Match("tcp dport", str(policy.prober_port)), Match("ip6 saddr", "@prober_clients6")),
        ]
    return paths


PortRanges = list[tuple[int, int]]


def declared_ports(policy: FirewallPolicy) -> tuple[PortRanges, PortRanges]:
    """The TCP and UDP ports a host may serve on beyond loopback: what its accept paths open
    (SSH, the SFU's, BGP and BFD when it has peers, the media range)."""
    tcp = [(22, 22), *((port, port) for port in policy.open_tcp_ports)]
    udp = [policy.media_ports]
    if policy.bgp_peers:
        tcp.append((BGP_PORT, BGP_PORT))
        udp += [(port, port) for port in BFD_PORTS]
    tcp += [(port, port) for port in policy.metrics_ports]
    if policy.prober_port is not None:
        tcp.append((policy.prober_port, policy.prober_port))
    return tcp, udp


def address_sets(policy: FirewallPolicy) -> list[tuple[str, str, list[str]]]:
    """(name, nft type, elements) of each named set of addresses the accept paths match."""
    admin4, admin6 = _by_family(policy.admin_ranges)
    peers4, peers6 = _by_family(policy.bgp_peers)
    sets = [
        ("admin4", "ipv4_addr", admin4),
        ("admin6", "ipv6_addr", admin6),
        ("bgp_peers4", "ipv4_addr", peers4),
        ("bgp_peers6", "ipv6_addr", peers6),
    ]
    if policy.metrics_ports:
        scrapers4, scrapers6 = _by_family(policy.scrapers)
        sets += [("scrapers4", "ipv4_addr", scrapers4), ("scrapers6", "ipv6_addr", scrapers6)]
    if policy.prober_port is not None:
        clients4, clients6 = _by_family(policy.prober_clients)
        sets += [("prober_clients4", "ipv4_addr", clients4),
                 ("prober_clients6", "ipv6_addr", clients6)]  # fmt: skip
    return sets


def declared_sets(policy: FirewallPolicy) -> dict[str, list[str]]:
    return {
        name: sorted(str(ipaddress.ip_network(e, strict=False)) for e in elements)
        for name, _, elements in address_sets(policy)
    }


def render_ruleset(policy: FirewallPolicy) -> str:
    lines = [
        "#!/usr/sbin/nft -f",
        "# Generated by the voicepop firewall role; do not edit by hand.",
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        *(
            line
            for name, kind, elements in address_sets(policy)
            for line in _set(name, kind, elements)
        ),
        *_meter_sets(),
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        *(f"\t\t{rule}" for rule in input_rules(policy)),
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _meter_sets() -> list[str]:
    return [
        *(f"\tset {name} {{ type {kind}; flags dynamic; timeout {RATE_SET_TIMEOUT}; }}"
          for name, kind in zip(RATE_SETS.values(), ("ipv4_addr", "ipv6_addr"), strict=True)),
        *(f"\tset {name} {{ type {kind}; flags dynamic; }}"
          for name, kind in zip(COUNT_SETS.values(), ("ipv4_addr", "ipv6_addr"), strict=True)),
    ]  # fmt: skip


def limit_rules(policy: FirewallPolicy) -> list[str]:
    """The per-source limits on new connections to the SFU's TCP ports, as `nft list` shows
    them (the audit compares the loaded ones with these)."""
    if not policy.tcp_service_ports:
        return []
    ports = canonical_set(list(policy.tcp_service_ports))
    ports = ports if not ports.startswith("{") else "{ " + ", ".join(ports[1:-1].split(",")) + " }"
    new = f"tcp dport {ports} ct state new"
    limits = policy.limits
    rate = f"limit rate over {limits.new_per_s}/second burst {limits.burst} packets"
    return [
        *(f"{new} add @{name} {{ {family} saddr {rate} }} drop"
          for family, name in RATE_SETS.items()),
        *(f"{new} add @{name} {{ {family} saddr ct count over {limits.open_connections} }} "
          "reject with tcp reset" for family, name in COUNT_SETS.items()),
    ]  # fmt: skip


def input_rules(policy: FirewallPolicy) -> list[str]:
    """The input chain's rules in order: the accept paths, invalid packets dropped after the
    established ones, the per-source limits just before the SFU's ports are let in, and the
    drop log last when asked."""
    paths = accept_paths(policy)
    rules = [path_rule(path) for path in paths]
    service = (Match("tcp dport", canonical_set(policy.open_tcp_ports)),)
    at = paths.index(service) if service in paths else len(rules)
    rules[at:at] = limit_rules(policy)
    rules.insert(1, "ct state invalid drop")
    if policy.log_dropped:
        rules.append(f'limit rate 5/second log prefix "{DROP_LOG_PREFIX}"')
    return rules


def path_rule(path: AcceptPath) -> str:
    return " ".join(match.nft() for match in path) + " accept"


def path_text(path: AcceptPath) -> str:
    """An accept path as the audit shows it (canonical values: sets sorted, no spaces)."""
    return " ".join(f"{match.field} {match.value}" for match in path) + " accept"
