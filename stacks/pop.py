"""The VoicePop component: one PoP, built from its spec.

Its children are one PopServer per server; each server will own its dedicated server at the
provider, its BGP sessions and its DNS records, and the PoP its steering records and deploy.
"""

from typing import Any

import pulumi

from stacks.spec.models import PopSpec

POP_TYPE = "voicepop:index:Pop"
SERVER_TYPE = "voicepop:index:Server"


def prefixes_announced_by(spec: PopSpec, server: str) -> list[str]:
    return [p.prefix for p in spec.bgp.prefixes if server in (p.servers or spec.server_names)]


def neighbors_of(spec: PopSpec, server: str) -> list[str]:
    return [n.name for n in spec.bgp.neighbors if server in (n.servers or spec.server_names)]


class PopServer(pulumi.ComponentResource):
    """One SFU server of a PoP and what is derived for it from the spec."""

    def __init__(
        self, name: str, spec: PopSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(SERVER_TYPE, name, None, opts)
        self.fqdn = pulumi.Output.from_input(f"{name}.{spec.dns.zone}")
        self.announced_prefixes = pulumi.Output.from_input(prefixes_announced_by(spec, name))
        self.bgp_neighbors = pulumi.Output.from_input(neighbors_of(spec, name))
        self.register_outputs(
            {
                "fqdn": self.fqdn,
                "announced_prefixes": self.announced_prefixes,
                "bgp_neighbors": self.bgp_neighbors,
            }
        )


class VoicePop(pulumi.ComponentResource):
    def __init__(self, spec: PopSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(POP_TYPE, spec.code, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.servers = {name: PopServer(name, spec, child) for name in spec.server_names}
        self.summary = pulumi.Output.from_input(pop_summary(spec))
        self.register_outputs({"summary": self.summary})


def pop_summary(spec: PopSpec) -> dict[str, Any]:
    """What the stack exports about its PoP (inventories and reports are built from it)."""
    return {
        "code": spec.code,
        "name": spec.name,
        "environment": spec.environment,
        "provider": {
            "name": spec.provider.name,
            "location": spec.provider.location,
            "instance_type": spec.provider.instance_type,
        },
        "servers": {
            name: {
                "fqdn": f"{name}.{spec.dns.zone}",
                "announced_prefixes": prefixes_announced_by(spec, name),
                "bgp_neighbors": neighbors_of(spec, name),
            }
            for name in spec.server_names
        },
        "local_asn": spec.bgp.local_asn,
        "pop_fqdn": f"{spec.pop_record}.{spec.dns.zone}",
        "service_fqdn": f"{spec.dns.service_record}.{spec.dns.zone}",
    }
