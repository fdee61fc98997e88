"""A PoP's DNS as Route 53 record sets and health checks, from its spec and its servers'
addresses; and the change batch that takes a zone from one set of records to another. Pure.

- `<server>.<zone>`: A/AAAA, the server's own address (media sessions go to a server).
- `<pop>.<zone>`: all the PoP's server addresses.
- `<service>.<zone>`: the steered name every PoP shares: one record set per PoP (set
  identifier = PoP code), latency-routed to the PoP's AWS region or geolocated, with the
  anycast service addresses of the PoP (its servers' own when it announces none), healthy
  while any of its servers passes Route 53's check of its SFU health endpoint.
"""

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the plugin reads and writes record sets; only the program derives them
    from stacks.spec.models import PopSpec

ROUTE53_TYPES = {4: "A", 6: "AAAA"}


@dataclass(frozen=True)
class RecordSet:
    name: str  # fully qualified, with the trailing dot as Route 53 returns it
    type: str
    ttl: int
    values: tuple[str, ...]
    set_identifier: str | None = None
    region: str | None = None
    continent: str | None = None
    country: str | None = None
    health_check: str | None = None  # the key of one of the PoP's health checks

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.name, self.type, self.set_identifier)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> "RecordSet":
        return RecordSet(**{**raw, "values": tuple(raw["values"]), "ttl": int(raw["ttl"])})


@dataclass(frozen=True)
class HealthCheckSpec:
    key: str
    kind: str  # HTTP, HTTPS, TCP or CALCULATED
    address: str | None = None
    port: int | None = None
    path: str | None = None
    name: str | None = None  # HTTPS: the name the check asks for (SNI), the server's own
    interval_s: int = 10
    failure_threshold: int = 3
    children: tuple[str, ...] = field(default_factory=tuple)  # keys, for CALCULATED


def fqdn(label: str, zone: str) -> str:
    return f"{label}.{zone}."


def by_family(addresses: list[str]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for address in addresses:
        grouped.setdefault(ROUTE53_TYPES[ipaddress.ip_address(address).version], []).append(address)
    return {kind: tuple(sorted(values)) for kind, values in grouped.items()}


def health_checks(spec: "PopSpec", addresses: dict[str, str]) -> list[HealthCheckSpec]:
    """One per server on its SFU health endpoint, and the PoP's: healthy while any is."""
    health = spec.sfu.health
    checks = [
        HealthCheckSpec(
            key=f"{spec.code}-{server}",
            kind=health.protocol.upper(),
            address=address,
            port=health.port,
            path=health.path if health.protocol != "tcp" else None,
            name=fqdn(server, spec.dns.zone).rstrip(".") if health.protocol == "https" else None,
            interval_s=spec.dns.health_check.interval_s,
            failure_threshold=spec.dns.health_check.failure_threshold,
        )
        for server, address in sorted(addresses.items())
    ]
    pop = HealthCheckSpec(
        key=f"{spec.code}-pop", kind="CALCULATED", children=tuple(check.key for check in checks)
    )
    return [*checks, pop]


def record_sets(spec: "PopSpec", addresses: dict[str, str]) -> list[RecordSet]:
    zone, ttl = spec.dns.zone, spec.dns.ttl_s
    records = [
        RecordSet(fqdn(server, zone), kind, ttl, values)
        for server, address in sorted(addresses.items())
        for kind, values in by_family([address]).items()
    ]
    records += [
        RecordSet(fqdn(spec.pop_record, zone), kind, ttl, values)
        for kind, values in by_family(list(addresses.values())).items()
    ]
    steering = spec.dns.steering
    # the spec's models (through it) are the program's: the plugin that imports this module
    # for its record sets starts without them
    from stacks.anycast_addresses import anycast_service_addresses

    routed = anycast_service_addresses(spec) or list(addresses.values())
    for kind, values in by_family(routed).items():
        records.append(
            RecordSet(
                fqdn(spec.dns.service_record, zone),
                kind,
                ttl,
                values,
                set_identifier=spec.code,
                region=steering.aws_region if steering.policy == "latency" else None,
                continent=steering.continent if steering.policy == "geo" else None,
                country=steering.country if steering.policy == "geo" else None,
                health_check=f"{spec.code}-pop",
            )
        )
    return records


def change_batch(
    old: list[RecordSet], new: list[RecordSet], health_check_ids: dict[str, str]
) -> list[dict[str, Any]]:
    """Route 53 Changes from `old` to `new`: DELETE what went, UPSERT what is new or differs.
    `health_check_ids` maps the PoP's health check keys to Route 53's ids."""
    wanted = {record.key: record for record in new}
    changes = [
        {"Action": "DELETE", "ResourceRecordSet": to_route53(record, health_check_ids)}
        for record in old
        if record.key not in wanted
    ]
    existing = {record.key: record for record in old}
    changes += [
        {"Action": "UPSERT", "ResourceRecordSet": to_route53(record, health_check_ids)}
        for record in new
        if existing.get(record.key) != record
    ]
    return changes


def to_route53(record: RecordSet, health_check_ids: dict[str, str]) -> dict[str, Any]:
    rrset: dict[str, Any] = {
        "Name": record.name,
        "Type": record.type,
        "TTL": record.ttl,
        "ResourceRecords": [{"Value": value} for value in record.values],
    }
    if record.set_identifier:
        rrset["SetIdentifier"] = record.set_identifier
    if record.region:
        rrset["Region"] = record.region
    if record.continent or record.country:
        rrset["GeoLocation"] = (
            {"ContinentCode": record.continent}
            if record.continent
            else {"CountryCode": record.country}
        )
    if record.health_check:
        rrset["HealthCheckId"] = health_check_ids[record.health_check]
    return rrset


def from_route53(rrset: dict[str, Any], health_check_keys: dict[str, str]) -> RecordSet:
    """A record set as Route 53 lists it; `health_check_keys` maps ids back to keys."""
    geo = rrset.get("GeoLocation") or {}
    return RecordSet(
        name=rrset["Name"],
        type=rrset["Type"],
        ttl=int(rrset.get("TTL", 0)),
        values=tuple(sorted(r["Value"] for r in rrset.get("ResourceRecords", []))),
        set_identifier=rrset.get("SetIdentifier"),
        region=rrset.get("Region"),
        continent=geo.get("ContinentCode"),
        country=geo.get("CountryCode"),
        health_check=health_check_keys.get(
            rrset.get("HealthCheckId", ""), rrset.get("HealthCheckId")
        ),
    )
