"""Each host's entry (roles/host.py) from the PoP spec: the one place where spec fields become
role inputs, so the deploy, the inventories (pyinfra, Ansible) and the verification suites
all derive from the same spec and agree. Pure.

A role's own section of the spec (`sfu`, `base`, `firewall`, `anycast`, `tuning.kernel`,
`tuning.nic`) is passed as it is, under the same name; what is derived per server sits beside
it (`bgp`: the server's share of the spec's `bgp`; the firewall's openings).
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from roles.anycast.config import AnycastHost, Neighbor
from roles.base.defaults import DEPLOY_SSH_USER
from roles.firewall.defaults import FirewallHost
from roles.host import HostEntry
from roles.prober.config import PeerPop, PeerServer, ProberHost, ProberTarget
from roles.sfu.defaults import SfuTls
from stacks.spec.capacity import capacity_floor, probe_load
from stacks.spec.models import PopSpec

# The role sections of every host's entry (roles/site.py runs one role per section).
ROLE_SECTIONS = (
    "base", "kernel_tuning", "nic_tuning", "firewall", "sfu", "anycast", "bgp", "prober",
)  # fmt: skip
# Every server's address, by name: what a section derived from the other servers needs (the
# probers' targets, the agents' sources, the probers' firewall openings)
Addresses = Mapping[str, str]


def addresses_needed(spec: PopSpec, server: str) -> list[str]:
    """The servers whose addresses `server`'s entry names: every one for a prober, the
    probers for the others (their media gate's sources)."""
    if server in spec.probing.servers:
        return list(spec.server_names)
    return [name for name in spec.probing.servers if name != server]


def prober_addresses(spec: PopSpec, addresses: Addresses) -> list[str]:
    """host:port of the PoP's probers (delivered), in the spec's order."""
    port = spec.probing.port
    return [f"{addresses[name]}:{port}" for name in spec.probing.servers if name in addresses]


def bgp_peers_of(spec: PopSpec, server: str) -> list[str]:
    return [n.peer_address for n in spec.neighbors_of(server)]


def firewall_data(spec: PopSpec, server: str, addresses: Addresses | None = None) -> FirewallHost:
    """The firewall's settings (the spec's `firewall`), and what the rest of the spec opens."""
    # the TLS front only: the SFU's own API and the assignment listen on loopback behind it
    service_ports = {spec.sfu.tls.port, spec.sfu.health.port}
    opened: dict[str, Any] = {}
    if spec.anycast.bird_exporter and spec.prefixes_of(server):
        opened["metrics_ports"] = [spec.anycast.bird_exporter_port]
    if server in spec.probing.servers:  # the PoP's agents and the team's Prometheus ask it
        clients = [*(addresses or {}).values(), *spec.firewall.scrape_from]
        opened |= {"prober_port": spec.probing.port, "prober_clients": sorted(set(clients))}
    return FirewallHost(
        **spec.firewall.model_dump(),
        admin_ranges=list(spec.access.ssh_admin_ranges),
        media_ports=(spec.sfu.media_ports.first, spec.sfu.media_ports.last),
        tcp_service_ports=sorted(service_ports),
        bgp_peers=bgp_peers_of(spec, server),
        **opened,
    )


def bgp_data(spec: PopSpec, server: str, addresses: Addresses | None = None) -> AnycastHost:
    """The server's share of `bgp`: what it announces, to whom, gated how (its media gate's
    probers among it). MD5 keys stay names of secret config keys; the deploy gets their values
    from the environment."""
    return AnycastHost(
        local_asn=spec.bgp.local_asn,
        prefixes=[p.prefix for p in spec.prefixes_of(server)],
        neighbors=[
            Neighbor(**n.model_dump(exclude={"servers"})) for n in spec.neighbors_of(server)
        ],
        health=spec.bgp.health,
        drain_wait_s=spec.bgp.drain_wait_s,
        import_routes=spec.bgp.import_routes,
        media_gate_sources=[
            *prober_addresses(spec, addresses or {}),
            *spec.anycast.media_gate_sources,
        ],
    )


def prober_data(
    spec: PopSpec, server: str, addresses: Addresses, peers: Sequence[PeerPop] = ()
) -> ProberHost | None:
    """The prober's section on a server `probing.servers` names: every delivered server of the
    PoP to call (a server not delivered yet is called once it is: its address changes this
    entry), the capacity floor its gate keeps, the peer PoPs as their stacks' outputs say
    (`peer_pop`); None elsewhere."""
    if server not in spec.probing.servers:
        return None
    delivered = [name for name in spec.server_names if addresses.get(name)]
    return ProberHost(
        pop=spec.code,
        listen=addresses[server],
        port=spec.probing.port,
        floor=capacity_floor(spec, len(delivered)),
        probers=len(spec.probing.servers),
        servers=[
            ProberTarget(
                name=name,
                address=addresses[name],
                dns_name=dns_names(spec, name)[0],
                port=spec.sfu.tls.port,
                health_path=spec.sfu.health.front_path(spec.sfu.tls.port),
            )
            for name in delivered
        ],
        load=probe_load(spec),
        gate=spec.probing.gate,
        max_exposure=spec.probing.max_exposure,
        ca_bundle=spec.sfu.tls.acme.ca_bundle,
        peers=[peer for peer in peers if peer.servers and peer.pop != spec.code],
    )


def peer_pop(pop_output: Mapping[str, Any] | None) -> PeerPop | None:
    """Another PoP as its stack's `pop` output describes it (stacks/pop.py `pop_summary`): its
    delivered servers with the names, port and prefixes the mesh calls them by, read field by
    field (the peer's entries may come from another version of this program). None for a
    stack without that output (never brought up)."""
    if not pop_output or not pop_output.get("code"):
        return None
    servers = []
    for _, server in sorted((pop_output.get("servers") or {}).items()):
        entry = server.get("host")
        if not entry:
            continue  # not delivered (yet)
        servers.append(
            PeerServer(
                name=entry["name"],
                address=entry["address"],
                dns_names=entry.get("dns_names") or [],
                port=((entry.get("sfu") or {}).get("tls") or {}).get("port", SfuTls().port),
                prefixes=(entry.get("bgp") or {}).get("prefixes") or [],
            )
        )
    return PeerPop(pop=str(pop_output["code"]), servers=servers)


def dns_names(spec: PopSpec, server: str) -> list[str]:
    """The server's own name, its PoP's and the service's (stacks/dns/records.py)."""
    labels = (server, spec.pop_record, spec.dns.service_record)
    return [f"{label}.{spec.dns.zone}" for label in labels]


def role_sections(
    spec: PopSpec,
    server: str,
    addresses: Addresses | None = None,
    peers: Sequence[PeerPop] = (),
) -> dict[str, Any]:
    """Every role's section of one server's entry, typed; `addresses`: every server's, for
    what is derived from the others (a PoP with probers needs them); `peers`: the other PoPs
    its prober calls. What the host is (a dedicated server, a VM, a container) is not declared
    here: the roles read it on the host."""
    return {
        "base": spec.base,
        "kernel_tuning": spec.tuning.kernel,
        "nic_tuning": spec.tuning.nic,
        "firewall": firewall_data(spec, server, addresses),
        "sfu": spec.sfu,
        "anycast": spec.anycast,
        "bgp": bgp_data(spec, server, addresses),
        "prober": prober_data(spec, server, addresses or {}, peers),
    }


def host_data(spec: PopSpec, server: str, addresses: Addresses | None = None) -> dict[str, Any]:
    """The role sections as an entry's JSON carries them (the pop code beside them)."""
    sections = {
        k: v.model_dump(mode="json")
        for k, v in role_sections(spec, server, addresses).items()
        if v is not None
    }
    return {"pop": spec.code, "dns_names": dns_names(spec, server), **sections}


def host_entry(
    spec: PopSpec,
    name: str,
    address: str,
    project_dir: Path,
    addresses: Addresses | None = None,
    peers: Sequence[PeerPop] = (),
) -> HostEntry:
    """One host as the deploy, the suites and the inventories take it: name, address, how to
    reach it, its role sections (`addresses`: every server's, for a PoP with probers; `peers`:
    the other PoPs a prober calls)."""
    key = spec.deploy.ssh_private_key
    return HostEntry(
        name=name,
        address=address,
        ssh_user=DEPLOY_SSH_USER,
        ssh_key=str(project_dir / key) if key else None,
        ssh_dead_after_s=spec.deploy.ssh_dead_after_s,
        pop=spec.code,
        dns_names=dns_names(spec, name),
        **role_sections(spec, name, {**(addresses or {}), name: address}, peers),
    )
