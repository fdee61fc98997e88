"""The probing mesh's plan, pure: from the inventories of the PoPs (inventories/<stack>.json),
what one prober calls, and what the whole mesh costs each server.

A prober of PoP A calls every server of A on its own address (unicast), and, for each other
PoP B, B's service address (anycast: the server B's assignment names) and every server of B.
It never calls its own PoP's service address: from inside the PoP that is a local address.
"""

import ipaddress
from dataclasses import dataclass
from typing import Any

from quality.assign import HTTPS_PORT
from quality.probe import Target
from roles.anycast.config import service_address
from roles.prober.defaults import ProbeLoad

UNICAST, ANYCAST = "unicast", "anycast"


class MeshError(ValueError):
    """The mesh cannot be planned; the message names the inventory, the host and the field, or
    the load knob and its bound."""


@dataclass(frozen=True)
class Service:
    """A PoP's service (anycast) address and the service's DNS name."""

    address: str
    name: str
    port: int = HTTPS_PORT


@dataclass(frozen=True)
class PopEnd:
    pop: str
    servers: tuple[Target, ...]
    service: Service | None


@dataclass(frozen=True)
class MeshCall:
    source_pop: str
    target_pop: str
    path: str  # unicast | anycast
    target: Target | None = None  # unicast: the server
    service: Service | None = None  # anycast: whichever server it assigns

    @property
    def label(self) -> str:
        reached = self.target.server if self.target else f"{self.target_pop} service"
        return f"{self.source_pop} -> {reached} ({self.path})"


def _field(source: str, index: int, host: Any, key: str) -> Any:
    value = host.get(key) if isinstance(host, dict) else None
    if not value:
        raise MeshError(f"{source}: host [{index}] has no {key}")
    return value


def pop_end(hosts: list[Any], source: str) -> PopEnd:
    """A PoP as the mesh sees it, from its inventory's hosts (`source` names the file)."""
    if not isinstance(hosts, list) or not hosts:
        raise MeshError(f"{source}: expected a list of hosts (inventories/<stack>.json)")
    pops = {str(_field(source, i, host, "pop")) for i, host in enumerate(hosts)}
    if len(pops) != 1:
        several = ", ".join(sorted(pops))
        raise MeshError(f"{source}: hosts of several PoPs ({several}); allowed: one PoP a file")
    for index, host in enumerate(hosts):
        for key in ("name", "address"):
            _field(source, index, host, key)
    servers = tuple(Target.of_host(host) for host in hosts)
    return PopEnd(pops.pop(), servers, _service_of(hosts, servers[0].port))


def _service_of(hosts: list[dict[str, Any]], port: int) -> Service | None:
    """The first IPv4 prefix every server announces (else IPv6) stands for the service; its
    name is the last of each server's DNS names (stacks/host_data.py `dns_names`)."""
    announced = [set((host.get("bgp") or {}).get("prefixes") or []) for host in hosts]
    common = sorted(set.intersection(*announced), key=lambda p: ipaddress.ip_network(p).version)
    names = hosts[0].get("dns_names") or []
    if not common or len(names) < 2:
        return None
    return Service(service_address(common[0]).split("/")[0], names[-1], port)


def mesh_calls(source_pop: str, ends: list[PopEnd]) -> list[MeshCall]:
    """What the prober of `source_pop` calls, in the order of one round."""
    calls = []
    for end in sorted(ends, key=lambda e: (e.pop != source_pop, e.pop)):
        if end.pop != source_pop and end.service is not None:
            calls.append(MeshCall(source_pop, end.pop, ANYCAST, service=end.service))
        calls += [MeshCall(source_pop, end.pop, UNICAST, target=s) for s in end.servers]
    return calls


@dataclass(frozen=True)
class ServerLoad:
    server: str
    probers: int  # probers reaching it: at worst that many probe calls at once
    calls_per_minute: float  # on average, all probers together
    calls_at_once: float  # on average: calls a minute x seconds a call / 60
    share_pct: float  # of the server's capacity, on average
    peak_share_pct: float  # at worst, every prober calling it at the same moment
    kbit_s: float  # on average


def mesh_load(plans: dict[str, list[MeshCall]], load: ProbeLoad) -> list[ServerLoad]:
    """What the mesh costs each server: `plans` maps each prober to its calls, which it places
    one at a time, `load.calls_per_minute` spread over them. A call to a PoP's service address
    lands on one of its servers (assigned: on average each as often)."""
    servers_of: dict[str, set[str]] = {}
    for calls in plans.values():
        for call in calls:
            if call.target is not None:
                servers_of.setdefault(call.target_pop, set()).add(call.target.server)
    reaching: dict[str, set[str]] = {}
    per_minute: dict[str, float] = {}
    for prober, calls in plans.items():
        for call in calls:
            rate = load.calls_per_minute / len(calls)
            if call.target is not None:
                landing, share = [call.target.server], rate
            else:
                landing = sorted(servers_of.get(call.target_pop, ()))
                share = rate / len(landing) if landing else 0.0
            for server in landing:
                reaching.setdefault(server, set()).add(prober)
                per_minute[server] = per_minute.get(server, 0.0) + share
    loads = []
    for server, probers in sorted(reaching.items()):
        at_once = load.calls_at_once(per_minute[server])
        loads.append(
            ServerLoad(
                server,
                len(probers),
                per_minute[server],
                at_once,
                load.share_pct(per_minute[server]),
                100 * len(probers) / load.server_capacity_calls,
                at_once * load.call_kbit_s,
            )
        )
    return loads


def check_load(loads: list[ServerLoad], load: ProbeLoad) -> None:
    """The mesh's average load on each server within `max_share_pct` of its capacity."""
    over = [server for server in loads if server.share_pct > load.max_share_pct]
    if over:
        worst = max(over, key=lambda s: s.share_pct)
        raise MeshError(
            f"probing.load.max_share_pct: {worst.server} would carry {worst.calls_at_once:.2f} "
            f"probe calls at once on average ({worst.calls_per_minute:.1f} a minute of "
            f"{load.call_s:g} s), {worst.share_pct:.2f} % of its {load.server_capacity_calls} "
            f"calls; allowed: at most {load.max_share_pct} % (fewer calls a minute, shorter "
            "calls, or a higher share)"
        )
