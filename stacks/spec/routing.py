"""The routing registry (routing/registry.yaml): the ROAs and IRR route objects published for
our prefixes, and the check that every announced prefix is RPKI-valid and registered. Pure
apart from `load_registry`."""

import ipaddress
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from stacks.spec.checks import ROOT
from stacks.spec.errors import SpecError
from stacks.spec.models import PopSpec
from stacks.yaml_files import read_yaml

REGISTRY_FILE = Path("routing") / "registry.yaml"


class Roa(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    prefix: str
    origin_asn: int
    max_length: int = Field(ge=0, le=128)


class RouteObject(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    prefix: str
    origin_asn: int


class RoutingRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    roas: list[Roa] = Field(default_factory=list)
    route_objects: list[RouteObject] = Field(default_factory=list)


def load_registry(project_dir: Path) -> RoutingRegistry:
    path = project_dir / REGISTRY_FILE
    return RoutingRegistry.model_validate(read_yaml(path) or {})


def rpki_state(prefix: str, origin: int, roas: list[Roa]) -> str:
    """RFC 6811 origin validation: valid, invalid (covered, but no ROA matches) or not-found."""
    network = ipaddress.ip_network(prefix)
    covering = [
        roa
        for roa in roas
        if ipaddress.ip_network(roa.prefix).version == network.version
        and network.subnet_of(ipaddress.ip_network(roa.prefix))  # type: ignore[arg-type]
    ]
    if not covering:
        return "not-found"
    matches = [r for r in covering if r.origin_asn == origin and network.prefixlen <= r.max_length]
    return "valid" if matches else "invalid"


def check_routing(spec: PopSpec, registry: RoutingRegistry) -> Iterator[SpecError]:
    origin = spec.bgp.local_asn
    for index, announced in enumerate(spec.bgp.prefixes):
        path = f"{ROOT}.bgp.prefixes[{index}].prefix"
        state = rpki_state(announced.prefix, origin, registry.roas)
        if state != "valid":
            yield SpecError(
                path,
                announced.prefix,
                f"RPKI-{state} for origin AS{origin}: transit would drop it",
                f"a ROA in {REGISTRY_FILE} (and at the RIR) for AS{origin} covering it with a "
                "max_length at least its length",
            )
        registered = any(
            obj.origin_asn == origin
            and ipaddress.ip_network(obj.prefix) == ipaddress.ip_network(announced.prefix)
            for obj in registry.route_objects
        )
        if not registered:
            yield SpecError(
                path,
                announced.prefix,
                f"no IRR route object with origin AS{origin}",
                f"a route object in {REGISTRY_FILE} (and in the IRR) for this exact prefix",
            )
