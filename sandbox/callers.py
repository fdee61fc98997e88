"""Callers behind the sandbox's upstream router: a network namespace of their own, linked to
the upstream router's namespace only, as users reach a PoP from the internet. The probe runs
in it (`ip netns exec`) to call the PoP's anycast service address: its packets take the
routes the upstream router learned over BGP (ECMP across the announcing servers), and the
servers answer through the default route the upstream offers them (bgp.import_routes:
default). Nothing here routes past the upstream router."""

import ipaddress
import subprocess

from sandbox import settings, upstream

NAMESPACE = f"vp-callers-{settings.BRIDGE}"
UPSTREAM_SIDE = "callers0"  # in the upstream router's namespace
CALLERS_SIDE = "upstream0"  # in the callers' namespace
# a /30 of RFC 6598's shared space per sandbox (its network's third octet), beside no real one
_THIRD_OCTET = ipaddress.ip_network(settings.NETWORK).network_address.packed[2]
NETWORK = ipaddress.ip_network(f"100.64.{_THIRD_OCTET}.0/30")
GATEWAY, CALLER = (str(address) for address in NETWORK.hosts())


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def start() -> None:
    """The callers' namespace and its link to the upstream router (idempotent)."""
    if NAMESPACE not in _ip("netns", "list").stdout.split():
        _ip("netns", "add", NAMESPACE)
    router = ("-n", upstream.NAMESPACE)
    callers = ("-n", NAMESPACE)
    if _ip(*router, "link", "show", UPSTREAM_SIDE, check=False).returncode != 0:
        _ip(*router, "link", "add", UPSTREAM_SIDE, "type", "veth", "peer", "name", CALLERS_SIDE,
            "netns", NAMESPACE)  # fmt: skip
    _ip(*router, "addr", "replace", f"{GATEWAY}/{NETWORK.prefixlen}", "dev", UPSTREAM_SIDE)
    _ip(*router, "link", "set", UPSTREAM_SIDE, "up")
    _ip(*callers, "addr", "replace", f"{CALLER}/{NETWORK.prefixlen}", "dev", CALLERS_SIDE)
    _ip(*callers, "link", "set", CALLERS_SIDE, "up")
    _ip(*callers, "link", "set", "lo", "up")
    _ip(*callers, "route", "replace", "default", "via", GATEWAY)
    subprocess.run(
        ["ip", "netns", "exec", upstream.NAMESPACE, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        check=True,
    )


def stop() -> None:
    _ip("netns", "del", NAMESPACE, check=False)  # its end of the veth goes, and so the other


def command_in_namespace(command: list[str]) -> list[str]:
    """`command` as a caller runs it: in the callers' namespace."""
    return ["ip", "netns", "exec", NAMESPACE, *command]
