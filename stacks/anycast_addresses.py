"""The addresses users reach a PoP's anycast services on: the first address of each anycast
prefix (the anycast role binds the same on every announcing server). Pure."""

from roles.anycast.config import service_address
from stacks.spec.models import PopSpec


def anycast_service_addresses(spec: PopSpec) -> list[str]:
    return [
        service_address(p.prefix).split("/")[0] for p in spec.bgp.prefixes if p.kind == "anycast"
    ]
