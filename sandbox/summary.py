"""What `make up` prints at the end: the sandbox PoP as it now runs, read from where it really
is (the stack's outputs, the Route 53 stand-in's zone, the upstream router's routing table),
not from what was asked for.

    python -m sandbox.summary [--stack sandbox] [--started EPOCH_S]

Rendering is pure (render); main reads.
"""

import argparse
import os
import sys
import time
from typing import Any

from ops.inventories import stack_outputs
from roles.anycast.config import GRACEFUL_SHUTDOWN
from sandbox import settings
from sandbox.upstream import LearnedPath, learned_routes_of


def zone_records(endpoint: str | None, zone: str) -> list[dict[str, Any]]:
    import boto3

    region = os.environ.get("AWS_REGION", "us-east-1")
    route53 = boto3.client("route53", endpoint_url=endpoint or None, region_name=region)
    name = zone.rstrip(".") + "."
    for found in route53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]:
        if found["Name"] == name:
            pages = route53.get_paginator("list_resource_record_sets")
            return [
                r
                for page in pages.paginate(HostedZoneId=found["Id"])
                for r in page["ResourceRecordSets"]
                if r["Type"] in ("A", "AAAA")
            ]
    return []


def call_of(deploy: dict[str, Any]) -> str:
    mos = deploy.get("call_mos")
    return f", synthetic call MOS {mos:.2f}" if isinstance(mos, int | float) else ""


def out_of_service(
    pop: dict[str, Any], deploys: dict[str, Any], by_hop: dict[str, list[str]]
) -> list[str]:
    """The servers a run left out of service: drained by a failed deploy, or whose routes the
    upstream does not learn (or learns draining)."""
    out = []
    for name, server in sorted(pop["servers"].items()):
        if (deploys.get(name) or {}).get("left_drained"):
            out.append(f"{name} left drained by its failed deploy")
            continue
        seen = by_hop.get(server.get("address") or "", [])
        if server.get("announced_prefixes") and (not seen or all("(draining)" in p for p in seen)):
            out.append(f"{name} announces nothing the upstream learns")
    return out


def render(
    outputs: dict[str, Any],
    records: list[dict[str, Any]],
    learned: list[LearnedPath],
    seconds: float | None,
) -> str:
    pop = outputs["pop"]
    deploys = outputs.get("deploys") or {}
    by_hop: dict[str, list[str]] = {}
    for path in learned:
        drained = " (draining)" if GRACEFUL_SHUTDOWN in path.communities else ""
        by_hop.setdefault(path.next_hop, []).append(path.prefix + drained)
    lines = [f"PoP {pop['code']} ({pop['name']}), AS{pop['local_asn']}", "", "servers:"]
    for name, server in sorted(pop["servers"].items()):
        deploy = deploys.get(name)
        verified = (
            f"verified, {deploy['checks_passed']} checks passed{call_of(deploy)}"
            if deploy
            else "not deployed by pulumi up (deploy.enabled: false)"
        )
        lines.append(f"  {name:<14} {server['address'] or '-':<16} {verified}")
        announced = ", ".join(server["announced_prefixes"]) or "-"
        seen = ", ".join(sorted(by_hop.get(server["address"] or "", []))) or "nothing"
        lines.append(f"  {'':<14} announces {announced}; the upstream learned {seen}")
    lines += ["", "DNS:"]
    for record in sorted(records, key=lambda r: (r["Name"], r.get("SetIdentifier", ""))):
        values = ", ".join(v["Value"] for v in record.get("ResourceRecords", []))
        steering = f"  [{record['SetIdentifier']}]" if "SetIdentifier" in record else ""
        lines.append(f"  {record['Name'].rstrip('.'):<34} {record['Type']:<5} {values}{steering}")
    if not records:
        lines.append("  no records")
    verified_all = bool(deploys) and all(d.get("checks_passed") for d in deploys.values())
    lines += ["", f"verification: {'passed on every server' if verified_all else 'not run'}"]
    out = out_of_service(pop, deploys, by_hop)
    if out:
        lines.append("OUT OF SERVICE: " + "; ".join(out))
    if seconds is not None:
        lines.append(f"time taken: {seconds:.0f} s")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="sandbox")
    parser.add_argument("--started", type=float, help="epoch seconds the run began")
    args = parser.parse_args(argv)
    outputs = stack_outputs(args.stack)
    if "pop" not in outputs:
        print(f"stack {args.stack} has no PoP (not up)")
        return 1
    dns = outputs["pop"]["dns"]  # the validated settings the stack ran with
    records = zone_records(dns["api_endpoint"], dns["zone"])
    learned = learned_routes_of(settings.STATE_DIR)
    seconds = time.time() - args.started if args.started else None
    print(render(outputs, records, learned, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
