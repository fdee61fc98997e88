"""What the provider's NOC must configure for a PoP whose provider has no BGP API (FlexMetal):
the sessions, the prefixes with their ROA and route object, the ASN, where the MD5 keys are
kept (never the keys), and the communities we send. Pure; the stack exports it as `noc`, and

    python -m stacks.noc STACK [--outputs FILE]

prints it as a Markdown request to hand to the NOC (server addresses from `pulumi stack
output --json`, when given)."""

import argparse
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

from stacks.project import PROJECT_DIR
from stacks.spec import PopSpec, parse_pop
from stacks.spec.loading import read_stack_file
from stacks.spec.models import NeighborSpec
from stacks.spec.routing import RoutingRegistry, load_registry, rpki_state

COMMUNITIES_SENT = {
    "65535:0": "GRACEFUL_SHUTDOWN (RFC 8326) on a server being drained: please lower its "
    "local preference to 0 (honour it), the routes are withdrawn after the drain wait",
}


NO_SESSION = "NONE: no neighbour of its address family"


def noc_document(
    spec: PopSpec, registry: RoutingRegistry, addresses: dict[str, str | None]
) -> dict[str, Any]:
    sessions: list[dict[str, Any]] = []
    families: list[int] = []  # of each session
    for server in spec.server_names:
        for neighbor in spec.neighbors_of(server):
            families.append(neighbor_family(neighbor))
            sessions.append(
                {
                    "server": server,
                    "server_address": addresses.get(server) or "(assigned at delivery)",
                    "server_asn": spec.bgp.local_asn,
                    "your_router": neighbor.name,
                    "your_address": neighbor.peer_address,
                    "your_asn": neighbor.peer_asn,
                    "md5": md5_note(neighbor),
                    "multihop_ttl": neighbor.multihop,
                    "hold_time_s": neighbor.hold_time_s,
                    "bfd": {
                        "interval_ms": neighbor.bfd_interval_ms,
                        "multiplier": neighbor.bfd_multiplier,
                    }
                    if neighbor.bfd
                    else None,
                    "max_prefixes": len(prefixes_of(spec, server, neighbor_family(neighbor))),
                }
            )
    prefixes = []
    for announced in spec.bgp.prefixes:
        roas = [
            r
            for r in registry.roas
            if rpki_state(announced.prefix, spec.bgp.local_asn, [r]) == "valid"
        ]
        prefixes.append(
            {
                "prefix": announced.prefix,
                "kind": announced.kind,
                "origin_asn": spec.bgp.local_asn,
                "announced_by": list(announced.servers or spec.server_names),
                "rpki": "valid" if roas else "NOT VALID",
                "roa": {"prefix": roas[0].prefix, "max_length": roas[0].max_length}
                if roas
                else None,
                "sessions_of_its_family": families.count(
                    ipaddress.ip_network(announced.prefix).version
                ),
                "irr_route_object": any(
                    o.prefix == announced.prefix and o.origin_asn == spec.bgp.local_asn
                    for o in registry.route_objects
                ),
            }
        )
    return {
        "pop": spec.code,
        "provider": spec.provider.name,
        "location": spec.provider.location,
        "asn": spec.bgp.local_asn,
        "sessions": sessions,
        "prefixes": prefixes,
        "communities_sent": COMMUNITIES_SENT,
        "routes_wanted": "a default route" if spec.bgp.import_routes == "default" else "none",
    }


def neighbor_family(neighbor: NeighborSpec) -> int:
    return ipaddress.ip_address(neighbor.peer_address).version


def prefixes_of(spec: PopSpec, server: str, family: int) -> list[str]:
    return [
        p.prefix
        for p in spec.prefixes_of(server)
        if ipaddress.ip_network(p.prefix).version == family
    ]


def render_markdown(document: dict[str, Any]) -> str:
    lines = [
        f"# BGP for PoP {document['pop']} ({document['provider']}, {document['location']})",
        "",
        f"Our ASN: AS{document['asn']}. Routes we want from you: {document['routes_wanted']}.",
        "",
        "## Sessions",
        "| our server | our address | your router | your address | your ASN | MD5 | BFD | "
        "max prefixes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in document["sessions"]:
        bfd = f"{s['bfd']['interval_ms']} ms x {s['bfd']['multiplier']}" if s["bfd"] else "no"
        lines.append(
            f"| {s['server']} | {s['server_address']} | {s['your_router']} | "
            f"{s['your_address']} | AS{s['your_asn']} | {s['md5']} | {bfd} | "
            f"{s['max_prefixes']} |"
        )
    lines += [
        "",
        "## Prefixes",
        "| prefix | kind | from | RPKI (ROA) | IRR route object | sessions carrying it |",
        "|---|---|---|---|---|---|",
    ]
    for p in document["prefixes"]:
        roa = (
            f"{p['rpki']} ({p['roa']['prefix']} max /{p['roa']['max_length']})"
            if p["roa"]
            else p["rpki"]
        )
        lines.append(
            f"| {p['prefix']} | {p['kind']} | {', '.join(p['announced_by'])} | {roa} "
            f"| {'yes' if p['irr_route_object'] else 'MISSING'} "
            f"| {p['sessions_of_its_family'] or NO_SESSION} |"
        )
    lines += ["", "## Communities we send"]
    lines += [f"- `{c}`: {why}" for c, why in document["communities_sent"].items()]
    return "\n".join(lines) + "\n"


def md5_note(neighbor: NeighborSpec) -> str:
    if not neighbor.md5_secret:
        return "none"
    return f"shared out of band; kept as secret config voicepop:{neighbor.md5_secret}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the NOC request of a PoP, as Markdown")
    parser.add_argument("stack")
    parser.add_argument("--outputs", type=Path, help="`pulumi stack output --json` of it")
    args = parser.parse_args(argv)
    project = PROJECT_DIR
    stack_file = read_stack_file(project / f"Pulumi.{args.stack}.yaml")
    spec = parse_pop(stack_file.raw_pop, stack_file.context, stack_file.path.name)
    addresses: dict[str, str | None] = {}
    if args.outputs:
        servers = json.loads(args.outputs.read_text())["pop"]["servers"]
        addresses = {name: server.get("address") for name, server in servers.items()}
    print(render_markdown(noc_document(spec, load_registry(project), addresses)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
