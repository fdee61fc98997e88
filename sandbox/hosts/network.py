"""The sandbox bridge: hosts and the machine meet on it; nothing is routed beyond it."""

import ipaddress
import subprocess

from sandbox import settings


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """iproute2's `ip`, its output captured (the sandbox's bridge, namespaces and links)."""
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def bridge_exists(name: str = settings.BRIDGE) -> bool:
    return ip("link", "show", name, check=False).returncode == 0


def ensure_bridge(
    name: str = settings.BRIDGE, address: str | None = settings.BRIDGE_ADDRESS
) -> None:
    """The bridge, up, with the machine's `address` on it (None: the machine takes no part
    in that network: the second site's)."""
    if not bridge_exists(name):
        ip("link", "add", name, "type", "bridge")
    if address:
        prefix = ipaddress.ip_network(settings.NETWORK).prefixlen
        ip("addr", "replace", f"{address}/{prefix}", "dev", name)
    ip("link", "set", name, "up")


def remove_bridge(name: str = settings.BRIDGE) -> None:
    if bridge_exists(name):
        ip("link", "del", name)
