"""The `vproute53` Pulumi provider plugin: a PoP's Route 53 zone (looked up, or created for a
sandbox), its health checks, and its record sets as ONE resource, so that every apply is one
change batch, waited for until INSYNC.

Through boto3, against AWS or any endpoint that speaks Route 53 (the sandbox's moto server):
the endpoint is a provider input, credentials come from the environment as for any AWS tool.
Refresh lists the zone and sees records edited or deleted out of band; deleting the PoP's
records deletes exactly the ones in the state (never by wildcard).
"""

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from plugins.errors import PlainError, unless_gone
from plugins.plugin import Call, Observed, PluginProvider, ResourceHandlers, Setting
from plugins.properties import off_the_loop, serve
from stacks.dns.records import RecordSet, change_batch, from_route53
from stacks.resources.vproute53.schema import (
    HEALTH_CHECK,
    HEALTH_CHECK_REPLACE_ON,
    PACKAGE,
    RECORD_SETS,
    ZONE,
)

VERSION = "0.1.0"
INSYNC_TIMEOUT_S = 300.0
GONE_CODES = frozenset({"NoSuchHostedZone", "NoSuchHealthCheck"})
T = TypeVar("T")


class ZoneNotFound(PlainError):
    """The PoP's hosted zone does not exist (and the spec does not ask to create it)."""


def is_gone(error: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError) and error.response["Error"]["Code"] in GONE_CODES


class Route53Api:
    """Route 53 at the provider's endpoint (AWS when empty), and what the handlers do there."""

    def __init__(self) -> None:
        self._endpoint = ""

    def configure(self, setting: Setting) -> None:
        self._endpoint = setting("endpoint")

    def client(self) -> Any:
        import boto3  # only when Route 53 is called: a preview's checks and diffs never do

        return boto3.client(
            "route53",
            endpoint_url=self._endpoint or None,
            region_name=os.environ.get("AWS_REGION", "us-east-1"),
        )

    async def io(self, work: Callable[[], T]) -> T:
        return await off_the_loop(work)

    # --- zones --------------------------------------------------------------------------

    def zone(self, inputs: Mapping[str, Any]) -> str:
        name = inputs["name"].rstrip(".") + "."
        route53 = self.client()
        if inputs.get("create"):
            created = route53.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))
            return str(created["HostedZone"]["Id"]).rsplit("/", 1)[-1]
        for zone in route53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]:
            if zone["Name"] == name:
                return str(zone["Id"]).rsplit("/", 1)[-1]
        raise ZoneNotFound(
            f"hosted zone {name} not found: create it (delegated from the "
            "registrar) or, in a sandbox, set dns.create_zone: true"
        )

    def zone_exists(self, zone_id: str) -> bool:
        found = unless_gone(lambda: self.client().get_hosted_zone(Id=zone_id), is_gone)
        return found is not None

    def delete_zone(self, zone_id: str) -> None:
        unless_gone(lambda: self.client().delete_hosted_zone(Id=zone_id), is_gone)

    # --- health checks ------------------------------------------------------------------

    def create_health_check(self, inputs: Mapping[str, Any], urn: str) -> str:
        reference = f"{hashlib.sha256(urn.encode()).hexdigest()[:16]}-{uuid.uuid4().hex[:12]}"
        created = self.client().create_health_check(
            CallerReference=reference, HealthCheckConfig=_health_check_config(inputs)
        )
        return str(created["HealthCheck"]["Id"])

    def read_health_check(self, check_id: str) -> dict[str, Any] | None:
        answer = unless_gone(
            lambda: self.client().get_health_check(HealthCheckId=check_id), is_gone
        )
        if answer is None:
            return None
        config = answer["HealthCheck"]["HealthCheckConfig"]
        if config["Type"] == "CALCULATED":
            return {"child_ids": sorted(config.get("ChildHealthChecks", []))}
        observed: dict[str, Any] = {
            "address": config.get("IPAddress"),
            "port": config.get("Port"),
            "name": config.get("FullyQualifiedDomainName"),
        }
        if "FailureThreshold" in config:
            observed["failure_threshold"] = config["FailureThreshold"]
        return observed

    def update_health_check(self, check_id: str, inputs: Mapping[str, Any]) -> None:
        config = _health_check_config(inputs)
        config.pop("Type"), config.pop("RequestInterval", None)
        self.client().update_health_check(HealthCheckId=check_id, **config)

    def delete_health_check(self, check_id: str) -> None:
        unless_gone(lambda: self.client().delete_health_check(HealthCheckId=check_id), is_gone)

    # --- record sets --------------------------------------------------------------------

    def _zone_records(self, zone_id: str) -> list[dict[str, Any]]:
        pages = self.client().get_paginator("list_resource_record_sets")
        return [
            rrset
            for page in pages.paginate(HostedZoneId=zone_id)
            for rrset in page["ResourceRecordSets"]
        ]

    def _current(self, zone_id: str, keys_by_id: dict[str, str]) -> dict[Any, RecordSet]:
        records = (from_route53(rrset, keys_by_id) for rrset in self._zone_records(zone_id))
        return {record.key: record for record in records}

    def observed_records(self, state: Mapping[str, Any]) -> list[RecordSet]:
        """The state's records as the zone has them now (gone ones left out)."""
        keys_by_id = {v: k for k, v in (state.get("health_check_ids") or {}).items()}
        current = self._current(state["zone_id"], keys_by_id)
        wanted = [RecordSet.from_dict(raw) for raw in state.get("records") or []]
        return [current[record.key] for record in wanted if record.key in current]

    def apply_records(
        self,
        zone_id: str,
        old_raw: list[dict[str, Any]],
        new_raw: list[dict[str, Any]],
        ids: Mapping[str, str],
    ) -> None:
        """One change batch from the zone's current copy of `old_raw`'s records to `new_raw`
        (empty: delete them); then wait until Route 53 reports it INSYNC. `ids`: health check
        keys to Route 53 ids."""
        keys_by_id = {v: k for k, v in ids.items()}
        current = self._current(zone_id, keys_by_id)
        old = [current[r.key] for r in map(RecordSet.from_dict, old_raw) if r.key in current]
        wanted = [RecordSet.from_dict(raw) for raw in new_raw]
        # a record of ours the zone already has (an earlier, interrupted apply) is upserted
        old += [current[r.key] for r in wanted if r.key in current and current[r.key] not in old]
        changes = change_batch(old, wanted, {**ids, **{v: v for v in ids.values()}})
        if not changes:
            return
        route53 = self.client()
        answer = route53.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": "voicepop", "Changes": changes},
        )
        change_id = answer["ChangeInfo"]["Id"]
        deadline = time.monotonic() + INSYNC_TIMEOUT_S
        while route53.get_change(Id=change_id)["ChangeInfo"]["Status"] != "INSYNC":
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Route 53 change {change_id} not INSYNC after {INSYNC_TIMEOUT_S:.0f} s"
                )
            time.sleep(2)


def _health_check_config(inputs: Mapping[str, Any]) -> dict[str, Any]:
    if inputs["kind"] == "CALCULATED":
        return {
            "Type": "CALCULATED",
            "HealthThreshold": 1,
            "ChildHealthChecks": list(inputs.get("child_ids") or []),
        }
    config: dict[str, Any] = {
        "Type": inputs["kind"],
        "IPAddress": inputs["address"],
        "Port": int(inputs["port"]),
        "RequestInterval": int(inputs.get("interval_s") or 10),
        "FailureThreshold": int(inputs.get("failure_threshold") or 3),
    }
    if inputs.get("path"):
        config["ResourcePath"] = inputs["path"]
    if inputs.get("name"):  # HTTPS: the server's name, sent as SNI (its certificate's)
        config["FullyQualifiedDomainName"] = inputs["name"]
        config["EnableSNI"] = True
    return config


def comparable_records(value: Any) -> Any:
    """Records compare as a set: Route 53 keeps no order."""
    if isinstance(value, list):
        return sorted(repr(RecordSet.from_dict(r).as_dict()) for r in value)
    return value


class Zones(ResourceHandlers):
    """A zone looked up, or (`create`, in a sandbox) created and deleted with the stack."""

    schema = ZONE
    replace_on = ZONE.inputs

    def __init__(self, route53: Route53Api) -> None:
        self.route53 = route53

    async def create(self, call: Call, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        zone_id = await self.route53.io(lambda: self.route53.zone(inputs))
        return zone_id, {"zone_id": zone_id}

    async def read(
        self, resource_id: str, state: dict[str, Any], inputs: dict[str, Any]
    ) -> Observed | None:
        exists = await self.route53.io(lambda: self.route53.zone_exists(resource_id))
        return Observed() if exists else None

    async def delete(self, call: Call, resource_id: str, state: dict[str, Any]) -> None:
        if state.get("create"):  # a zone looked up stays as it was
            await self.route53.io(lambda: self.route53.delete_zone(resource_id))


class HealthChecks(ResourceHandlers):
    schema = HEALTH_CHECK
    replace_on = HEALTH_CHECK_REPLACE_ON

    def __init__(self, route53: Route53Api) -> None:
        self.route53 = route53

    def comparable(self, name: str, value: Any) -> Any:
        """A calculated check's children are a set: Route 53 reads them back in its order."""
        if name == "child_ids" and isinstance(value, list):
            return sorted(value)
        return value

    async def create(self, call: Call, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_id = await self.route53.io(lambda: self.route53.create_health_check(inputs, call.urn))
        return check_id, {"health_check_id": check_id}

    async def read(
        self, resource_id: str, state: dict[str, Any], inputs: dict[str, Any]
    ) -> Observed | None:
        observed = await self.route53.io(lambda: self.route53.read_health_check(resource_id))
        return None if observed is None else Observed(observed)

    async def update(
        self, call: Call, resource_id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> dict[str, Any]:
        await self.route53.io(lambda: self.route53.update_health_check(resource_id, news))
        return {"health_check_id": resource_id}

    async def delete(self, call: Call, resource_id: str, state: dict[str, Any]) -> None:
        await self.route53.io(lambda: self.route53.delete_health_check(resource_id))


class RecordSetsOfAPop(ResourceHandlers):
    """A PoP's record sets as one resource: every apply is one change batch."""

    schema = RECORD_SETS
    replace_on = ("zone_id",)

    def __init__(self, route53: Route53Api) -> None:
        self.route53 = route53

    def comparable(self, name: str, value: Any) -> Any:
        return comparable_records(value) if name == "records" else value

    async def create(self, call: Call, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        await self._apply(inputs["zone_id"], [], inputs)
        return f"{inputs['zone_id']}/{hashlib.sha256(call.urn.encode()).hexdigest()[:12]}", {}

    async def read(
        self, resource_id: str, state: dict[str, Any], inputs: dict[str, Any]
    ) -> Observed | None:
        records = await self.route53.io(lambda: self.route53.observed_records(state))
        return Observed({"records": [r.as_dict() for r in records]})

    async def update(
        self, call: Call, resource_id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> dict[str, Any]:
        await self._apply(news["zone_id"], olds["records"], news)
        return {}

    async def delete(self, call: Call, resource_id: str, state: dict[str, Any]) -> None:
        await self._apply(state["zone_id"], state["records"], {**state, "records": []})

    async def _apply(self, zone_id: str, olds: list[Any], news: Mapping[str, Any]) -> None:
        ids = news.get("health_check_ids") or {}
        await self.route53.io(
            lambda: self.route53.apply_records(zone_id, olds, news["records"], ids)
        )


def plugin() -> PluginProvider:
    route53 = Route53Api()
    handlers = [Zones(route53), HealthChecks(route53), RecordSetsOfAPop(route53)]
    return PluginProvider(PACKAGE, handlers, configure=route53.configure)


def main() -> None:
    serve(plugin(), VERSION)


if __name__ == "__main__":
    main()
