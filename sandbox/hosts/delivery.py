"""The files a delivered host starts with, whatever its tier: its name, address, the keys it
was ordered with, its sandbox's package proxy, and the post-install script. Pure."""

from pathlib import Path

from sandbox.hosts.backend import HostRequest
from sandbox.hosts.image import APT_PROXY_CONF, apt_proxy_conf


def net_env(host: HostRequest, interface: str) -> str:
    return f"IFACE={interface}\nADDRESS={host.address}\nPREFIX_LENGTH={host.prefix_length}\n"


# the image's address unit (sandbox/hosts/image.py NET_UNIT), extended by a host's routes
ROUTES_DROPIN = "etc/systemd/system/voicepop-net.service.d/routes.conf"


def routes_dropin(host: HostRequest, interface: str) -> str:
    """The host's routes beyond its bridge, set with its address (the second site's hosts
    reach the machine's network through the upstream router)."""
    lines = [
        f"ExecStart=/sbin/ip route replace {destination} via {via} dev {interface}"
        for destination, via in host.routes
    ]
    return "[Service]\n" + "\n".join(lines) + "\n"


def delivered_files(host: HostRequest, interface: str) -> dict[str, tuple[str, int]]:
    """Path relative to the root -> (content, mode)."""
    files = {
        "etc/hostname": (f"{host.name}\n", 0o644),
        "etc/hosts": (
            f"127.0.0.1 localhost\n{host.address} {host.name}\n::1 localhost ip6-localhost\n",
            0o644,
        ),
        "root/.ssh/authorized_keys": ("".join(f"{k}\n" for k in host.ssh_public_keys), 0o600),
        "etc/voicepop/net.env": (net_env(host, interface), 0o644),
        APT_PROXY_CONF: (apt_proxy_conf(), 0o644),
    }
    if host.routes:
        files[ROUTES_DROPIN] = (routes_dropin(host, interface), 0o644)
    if host.post_install_script:
        files["root/post-install.sh"] = (host.post_install_script, 0o644)
    return files


def write_delivered_files(root: Path, host: HostRequest, interface: str) -> None:
    for relative, (content, mode) in delivered_files(host, interface).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if relative.startswith("root/.ssh/"):
            path.parent.chmod(0o700)
        path.write_text(content)
        path.chmod(mode)
