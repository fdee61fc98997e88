"""A PoP's DNS in the stack: its zone, a Route 53 health check per server and one for the PoP,
and all its record sets (stacks/dns/records.py says which)."""

from typing import Any

import pulumi

from stacks.dns.records import HealthCheckSpec, health_checks, record_sets
from stacks.resources.vproute53.resources import HealthCheck, RecordSets, Route53, Zone
from stacks.spec.models import PopSpec

DNS_TYPE = "voicepop:dns:PopDns"


def health_check_props(
    check: HealthCheckSpec, address: Any, child_ids: Any = None
) -> dict[str, Any]:
    return {
        "key": check.key,
        "kind": check.kind,
        "address": address,
        "port": check.port,
        "path": check.path,
        "name": check.name,
        "interval_s": check.interval_s,
        "failure_threshold": check.failure_threshold,
        "child_ids": child_ids,
    }


class PopDns(pulumi.ComponentResource):
    def __init__(
        self,
        spec: PopSpec,
        addresses: dict[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(DNS_TYPE, f"{spec.code}-dns", None, opts)
        provider = Route53(
            f"{spec.code}-route53", spec.dns.api_endpoint, pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        zone = Zone(f"{spec.code}-zone", spec.dns.zone, spec.dns.create_zone, child)

        # the checks' shape from the spec; each server's address comes from its delivery
        planned = {c.key: c for c in health_checks(spec, dict.fromkeys(spec.server_names, ""))}
        per_server = {
            name: HealthCheck(
                f"{name}-health", health_check_props(planned[f"{spec.code}-{name}"], address), child
            )
            for name, address in addresses.items()
        }
        pop_check = HealthCheck(
            f"{spec.code}-pop-health",
            health_check_props(
                planned[f"{spec.code}-pop"],
                None,
                pulumi.Output.all(*[c.health_check_id for c in per_server.values()]),
            ),
            child,
        )
        ids = {f"{spec.code}-{name}": check.health_check_id for name, check in per_server.items()}
        ids[f"{spec.code}-pop"] = pop_check.health_check_id

        records = pulumi.Output.all(addresses).apply(
            lambda resolved: [r.as_dict() for r in record_sets(spec, resolved[0])]
        )
        self.records = RecordSets(
            f"{spec.code}-records",
            {"zone_id": zone.zone_id, "records": records, "health_check_ids": ids},
            pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[pop_check]),
        )
        self.register_outputs({})
