"""What a host's nftables has loaded, read from `nft -j list ruleset` (its JSON form) into the
firewall role's own terms (roles/firewall/rules.py: accept paths and address sets), so that the
audit compares the loaded ruleset with the declared one structurally: every way in, not lines
grepped for. And what listens on the host, from `ss -Hlntu`. Pure."""

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from roles.firewall.rules import (
    METER_SETS,
    PROTOCOL_NUMBERS,
    TABLE,
    AcceptPath,
    FirewallPolicy,
    Match,
    canonical_set,
    declared_ports,
)

INPUT_HOOK = "input"


def objects(ruleset: Mapping[str, Any], kind: str) -> Iterator[dict[str, Any]]:
    for item in ruleset.get("nftables", []):
        if kind in item:
            yield dict(item[kind])


def loaded_accept_paths(ruleset: Mapping[str, Any], table: str = TABLE) -> list[AcceptPath]:
    """The rules of the table's input chain that let a packet in (accept, or a jump to another
    chain, which may), each as its matches."""
    paths = []
    for rule in objects(ruleset, "rule"):
        if (rule.get("family"), rule.get("table"), rule.get("chain")) != ("inet", table, "input"):
            continue
        matches, verdict = [], None
        for expression in rule.get("expr", []):
            if "match" in expression:
                matches.append(match_of(expression["match"]))
            for word in ("accept", "jump", "goto"):
                if word in expression:
                    verdict = word if word == "accept" else f"{word} {expression[word]['target']}"
        if verdict == "accept":
            paths.append(tuple(matches))
        elif verdict is not None:
            paths.append((*matches, Match("verdict", verdict)))
    return paths


def match_of(match: Mapping[str, Any]) -> Match:
    left, right, op = match["left"], match["right"], match.get("op", "==")
    field = field_of(left)
    value = value_of(right, l4proto=field == "meta l4proto")
    return Match(field, value if op in ("==", "in") else f"{op} {value}")


def field_of(left: Mapping[str, Any]) -> str:
    if "payload" in left:
        return f"{left['payload']['protocol']} {left['payload']['field']}"
    if "ct" in left:
        return f"ct {left['ct']['key']}"
    if "meta" in left:
        key = left["meta"]["key"]
        return key if key in ("iif", "iifname", "oif", "oifname") else f"meta {key}"
    return str(left)


def value_of(right: Any, *, l4proto: bool = False) -> str:
    if isinstance(right, Mapping) and "set" in right:
        return canonical_set([element_of(e, l4proto) for e in right["set"]])
    if isinstance(right, list):  # flags such as ct state's
        return ",".join(sorted(str(flag) for flag in right))
    return element_of(right, l4proto)


def element_of(element: Any, l4proto: bool = False) -> str:
    if isinstance(element, Mapping) and "range" in element:
        first, last = element["range"]
        return f"{first}-{last}"
    if isinstance(element, Mapping) and "prefix" in element:
        return f"{element['prefix']['addr']}/{element['prefix']['len']}"
    if l4proto and isinstance(element, str):
        return str(PROTOCOL_NUMBERS.get(element, element))
    return str(element)


def loaded_sets(ruleset: Mapping[str, Any], table: str = TABLE) -> dict[str, list[str]]:
    """The table's named address sets and their elements, as networks (the limits' meter
    sets, which fill with the sources seen, are the limit rules' state, not a declaration;
    nft's JSON does not flag them dynamic)."""
    return {
        found["name"]: sorted(network_of(e) for e in found.get("elem", []))
        for found in objects(ruleset, "set")
        if (found.get("family"), found.get("table")) == ("inet", table)
        and found["name"] not in METER_SETS
    }


def network_of(element: Any) -> str:
    text = element_of(element)
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return text


def input_hooks_elsewhere(ruleset: Mapping[str, Any], table: str = TABLE) -> list[str]:
    """Chains of other tables on the input hook: they see every packet ours does."""
    return sorted(
        f"{chain['family']} {chain['table']} {chain['name']} (policy {chain.get('policy', '-')})"
        for chain in objects(ruleset, "chain")
        if chain.get("hook") == INPUT_HOOK
        and (chain.get("family"), chain.get("table")) != ("inet", table)
    )


# --- what listens --------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    protocol: str  # tcp, udp
    address: str  # "0.0.0.0", "::", "*", or one address (a scope like %host0 dropped)
    port: int

    @property
    def wildcard(self) -> bool:
        return self.address in ("*", "0.0.0.0", "::")

    @property
    def loopback(self) -> bool:
        return not self.wildcard and ipaddress.ip_address(self.address).is_loopback

    def __str__(self) -> str:
        shown = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.protocol} {shown}:{self.port}"


def listeners(ss_output: str) -> list[Listener]:
    """The sockets of `ss -Hlntu`: TCP listening, UDP bound."""
    found = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ("tcp", "udp"):
            continue
        address, _, port = fields[4].rpartition(":")
        address = address.strip("[]").split("%", 1)[0]
        found.append(Listener(fields[0], address, int(port)))
    return found


def undeclared_listeners(
    found: list[Listener], policy: FirewallPolicy, ephemeral: tuple[int, int]
) -> list[str]:
    """What listens beyond loopback on a port the spec does not declare. A UDP socket bound to
    one address on a port of the kernel's ephemeral range is a client's (BIRD's BFD sessions
    send from one), not a service."""
    tcp, udp = declared_ports(policy)
    undeclared = []
    for listener in found:
        if listener.loopback:
            continue
        ports = tcp if listener.protocol == "tcp" else udp
        if any(first <= listener.port <= last for first, last in ports):
            continue
        outgoing = ephemeral[0] <= listener.port <= ephemeral[1] and not listener.wildcard
        if listener.protocol == "udp" and outgoing:
            continue
        undeclared.append(str(listener))
    return sorted(set(undeclared))
