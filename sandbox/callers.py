"""Callers behind the sandbox's upstream router: a network namespace of their own, linked to
the upstream router's namespace only, as users reach a PoP from the internet. The probe runs
in it (`ip netns exec`) to call the PoP's anycast service address: its packets take the
routes the upstream router learned over BGP (ECMP across the announcing servers), and the
servers answer through the default route the upstream offers them (bgp.import_routes:
default). Nothing here routes past the upstream router."""

import ipaddress

from sandbox import settings, upstream
from sandbox.hosts.network import ip

NAMESPACE = f"vp-callers-{settings.BRIDGE}"
UPSTREAM_SIDE = "callers0"  # in the upstream router's namespace
CALLERS_SIDE = "upstream0"  # in the callers' namespace
# a /30 of RFC 6598's shared space per sandbox (its network's third octet), beside no real one
_THIRD_OCTET = ipaddress.ip_network(settings.NETWORK).network_address.packed[2]
NETWORK = ipaddress.ip_network(f"100.64.{_THIRD_OCTET}.0/30")
GATEWAY, CALLER = (str(address) for address in NETWORK.hosts())


def start() -> None:
    """The callers' namespace and its link to the upstream router (idempotent)."""
    if NAMESPACE not in ip("netns", "list").stdout.split():
        ip("netns", "add", NAMESPACE)
    router = ("-n", upstream.NAMESPACE)
    callers = ("-n", NAMESPACE)
    if ip(*router, "link", "show", UPSTREAM_SIDE, check=False).returncode != 0:
        ip(*router, "link", "add", UPSTREAM_SIDE, "type", "veth", "peer", "name", CALLERS_SIDE,
            "netns", NAMESPACE)  # fmt: skip
    ip(*router, "addr", "replace", f"{GATEWAY}/{NETWORK.prefixlen}", "dev", UPSTREAM_SIDE)
    ip(*router, "link", "set", UPSTREAM_SIDE, "up")
    ip(*callers, "addr", "replace", f"{CALLER}/{NETWORK.prefixlen}", "dev", CALLERS_SIDE)
    ip(*callers, "link", "set", CALLERS_SIDE, "up")
    ip(*callers, "link", "set", "lo", "up")
    ip(*callers, "route", "replace", "default", "via", GATEWAY)
    ip("netns", "exec", upstream.NAMESPACE, "sysctl", "-qw", "net.ipv4.ip_forward=1")


def stop() -> None:
    ip("netns", "del", NAMESPACE, check=False)  # its end of the veth goes, and so the other


def command_in_namespace(command: list[str]) -> list[str]:
    """`command` as a caller runs it: in the callers' namespace."""
    return ["ip", "netns", "exec", NAMESPACE, *command]
