"""What each host's roles get from the PoP spec: the host data of the inventories. Pure.

The one place where spec fields become role inputs, so the inventories (pyinfra, Ansible), the
deploy and the verification suites all derive from the same spec and agree. A role's own
section of the spec (`sfu`, `base`, `firewall`, `anycast`, `tuning.kernel`, `tuning.nic`) is
passed as it is, under the same name; what is derived per server sits beside it (`bgp`: the
server's share of the spec's `bgp`; the firewall's openings).
"""

from pathlib import Path
from typing import Any

from stacks.spec.models import PopSpec

# The role data every host of the site deploy gets (roles/site.py runs one role per section).
ROLE_SECTIONS = ("base", "kernel_tuning", "nic_tuning", "firewall", "sfu", "anycast", "bgp")


def bgp_peers_of(spec: PopSpec, server: str) -> list[str]:
    return [n.peer_address for n in spec.neighbors_of(server)]


def firewall_data(spec: PopSpec, server: str) -> dict[str, Any]:
    """The firewall's settings (the spec's `firewall`), and what the rest of the spec opens."""
    service_ports = {spec.sfu.signalling_port}
    if spec.sfu.health.protocol in ("http", "https", "tcp"):
        service_ports.add(spec.sfu.health.port)
    return {
        **spec.firewall.model_dump(),
        "admin_ranges": list(spec.access.ssh_admin_ranges),
        "media_ports": [spec.sfu.media_ports.first, spec.sfu.media_ports.last],
        "tcp_service_ports": sorted(service_ports),
        "bgp_peers": bgp_peers_of(spec, server),
    }


def bgp_data(spec: PopSpec, server: str) -> dict[str, Any]:
    """The server's share of `bgp`: what it announces, to whom, gated how. MD5 keys stay
    names of secret config keys; the deploy gets their values from the environment."""
    return {
        "local_asn": spec.bgp.local_asn,
        "prefixes": [p.prefix for p in spec.prefixes_of(server)],
        "neighbors": [n.model_dump(exclude={"servers"}) for n in spec.neighbors_of(server)],
        "health": spec.bgp.health.model_dump(),
        "drain_wait_s": spec.bgp.drain_wait_s,
        "import_routes": spec.bgp.import_routes,
    }


def host_data(spec: PopSpec, server: str) -> dict[str, Any]:
    """Everything the site deploy needs for one server of the PoP. What the host is (a
    dedicated server, a VM, a container) is not declared here: the roles read it on the host."""
    return {
        "pop": spec.code,
        "base": spec.base.model_dump(mode="json"),
        "kernel_tuning": spec.tuning.kernel.model_dump(),
        "nic_tuning": spec.tuning.nic.model_dump(mode="json"),
        "firewall": firewall_data(spec, server),
        "sfu": spec.sfu.model_dump(mode="json"),
        "anycast": spec.anycast.model_dump(),
        "bgp": bgp_data(spec, server),
    }


def host_entry(spec: PopSpec, name: str, address: str, project_dir: Path) -> dict[str, Any]:
    """One host as the deploy, the suites and the inventories take it: name, address, how to
    reach it, its role data."""
    entry: dict[str, Any] = {
        "name": name,
        "address": address,
        "ssh_user": "root",
        "ssh_dead_after_s": spec.deploy.ssh_dead_after_s,
    }
    if spec.deploy.ssh_private_key:
        entry["ssh_key"] = str(project_dir / spec.deploy.ssh_private_key)
    return {**entry, **host_data(spec, name)}
