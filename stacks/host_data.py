"""What each host's roles get from the PoP spec: the host data of the inventories. Pure.

The one place where spec fields become role inputs, so the inventories (pyinfra, Ansible), the
deploy and the verification suites all derive from the same spec and agree.
"""

from typing import Any

from stacks.spec.models import PopSpec


def bgp_peers_of(spec: PopSpec, server: str) -> list[str]:
    return [n.peer_address for n in spec.neighbors_of(server)]


def firewall_data(spec: PopSpec, server: str) -> dict[str, Any]:
    service_ports = {spec.sfu.signalling_port}
    if spec.sfu.health.protocol in ("http", "https", "tcp"):
        service_ports.add(spec.sfu.health.port)
    return {
        "admin_ranges": list(spec.access.ssh_admin_ranges),
        "media_ports": [spec.sfu.media_ports.first, spec.sfu.media_ports.last],
        "tcp_service_ports": sorted(service_ports),
        "bgp_peers": bgp_peers_of(spec, server),
    }


def anycast_data(spec: PopSpec, server: str) -> dict[str, Any]:
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


def sfu_data(spec: PopSpec) -> dict[str, Any]:
    return {
        "implementation": spec.sfu.implementation,
        "media_port_first": spec.sfu.media_ports.first,
        "media_port_last": spec.sfu.media_ports.last,
        "http_port": spec.sfu.signalling_port,
        "nofile_limit": spec.tuning.kernel.nofile_limit,
    }


def host_data(spec: PopSpec, server: str) -> dict[str, Any]:
    """Everything the site deploy needs for one server of the PoP. What the host is (a
    dedicated server, a VM, a container) is not declared here: the roles read it on the host."""
    return {
        "pop": spec.code,
        "kernel_tuning": spec.tuning.kernel.model_dump(),
        "nic_tuning": spec.tuning.nic.model_dump(mode="json"),
        "firewall": firewall_data(spec, server),
        "sfu": sfu_data(spec),
        "anycast": anycast_data(spec, server),
    }
