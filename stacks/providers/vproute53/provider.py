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

import boto3
from botocore.exceptions import ClientError
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)

from stacks.dns.records import RecordSet, change_batch, from_route53
from stacks.providers.errors import PlainError
from stacks.providers.properties import (
    COMPUTED,
    off_the_loop,
    plain_map,
    property_diff,
    provider_settings,
    serve,
    type_of,
    wrap_map,
)

PACKAGE = "vproute53"
ZONE = f"{PACKAGE}:index:Zone"
HEALTH_CHECK = f"{PACKAGE}:index:HealthCheck"
RECORD_SETS = f"{PACKAGE}:index:RecordSets"
VERSION = "0.1.0"
INSYNC_TIMEOUT_S = 300.0

HEALTH_CHECK_REPLACE_ON = ("kind", "intervalS")
T = TypeVar("T")


class ZoneNotFound(PlainError):
    """The PoP's hosted zone does not exist (and the spec does not ask to create it)."""


class Route53Provider(Provider):
    def __init__(self) -> None:
        self._endpoint = ""

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        self._endpoint = provider_settings(request, PACKAGE)("endpoint")
        return ConfigureResponse(accept_secrets=True, supports_preview=True)

    def client(self) -> Any:
        return boto3.client(
            "route53",
            endpoint_url=self._endpoint or None,
            region_name=os.environ.get("AWS_REGION", "us-east-1"),
        )

    async def _io(self, work: Callable[[], T]) -> T:
        return await off_the_loop(work)

    # --- check / diff ---------------------------------------------------------------------

    async def check(self, request: CheckRequest) -> CheckResponse:
        news = plain_map(request.new_inputs)
        required = {
            ZONE: ("name",),
            HEALTH_CHECK: ("key", "kind"),
            RECORD_SETS: ("zoneId", "records"),
        }[type_of(request.urn)]
        failures = [CheckFailure(p, f"{p} is required") for p in required if news.get(p) is None]
        return CheckResponse(inputs=request.new_inputs, failures=failures)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        olds, news = plain_map(request.old_state), plain_map(request.new_inputs)
        kind = type_of(request.urn)
        if kind == ZONE:
            changed = [k for k in ("name", "create") if olds.get(k) != news.get(k)]
            return property_diff(changed, replace_on=changed)
        if kind == HEALTH_CHECK:
            keys = (
                "key",
                "kind",
                "address",
                "port",
                "path",
                "intervalS",
                "failureThreshold",
                "childIds",
            )
            changed = [k for k in keys if _differs(olds.get(k), news.get(k))]
            return property_diff(changed, [k for k in changed if k in HEALTH_CHECK_REPLACE_ON])
        changed = [
            k
            for k in ("zoneId", "records", "healthCheckIds")
            if _differs(_records_key(olds, k), _records_key(news, k))
        ]
        return property_diff(changed, replace_on=[k for k in changed if k == "zoneId"])

    # --- create / read / update / delete --------------------------------------------------

    async def create(self, request: CreateRequest) -> CreateResponse:
        inputs = plain_map(request.properties)
        kind = type_of(request.urn)
        if request.preview:
            outputs = {
                ZONE: {"zoneId": COMPUTED},
                HEALTH_CHECK: {"healthCheckId": COMPUTED},
                RECORD_SETS: {},
            }[kind]
            return CreateResponse(properties=wrap_map({**inputs, **outputs}))
        if kind == ZONE:
            zone_id = await self._io(lambda: self._zone(inputs))
            return CreateResponse(zone_id, wrap_map({**inputs, "zoneId": zone_id}))
        if kind == HEALTH_CHECK:
            check_id = await self._io(lambda: self._create_health_check(inputs, request.urn))
            return CreateResponse(check_id, wrap_map({**inputs, "healthCheckId": check_id}))
        await self._io(
            lambda: self._apply_records(
                inputs["zoneId"], [], inputs["records"], inputs.get("healthCheckIds") or {}
            )
        )
        record_id = f"{inputs['zoneId']}/{hashlib.sha256(request.urn.encode()).hexdigest()[:12]}"
        return CreateResponse(record_id, wrap_map(inputs))

    async def read(self, request: ReadRequest) -> ReadResponse:
        kind = type_of(request.urn)
        state = plain_map(request.properties)
        inputs = plain_map(request.inputs)
        if kind == ZONE:
            exists = await self._io(lambda: self._zone_exists(request.resource_id))
            return (
                ReadResponse(request.resource_id, wrap_map(state), wrap_map(inputs))
                if exists
                else ReadResponse()
            )
        if kind == HEALTH_CHECK:
            observed = await self._io(lambda: self._read_health_check(request.resource_id))
            if observed is None:
                return ReadResponse()
            return ReadResponse(
                request.resource_id,
                wrap_map({**state, **observed}),
                wrap_map({**inputs, **observed}),
            )
        records = await self._io(lambda: self._observed_records(state))
        observed = {**state, "records": [r.as_dict() for r in records]}
        observed_inputs = {**inputs, "records": observed["records"]}
        return ReadResponse(request.resource_id, wrap_map(observed), wrap_map(observed_inputs))

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        olds, news = plain_map(request.olds), plain_map(request.news)
        kind = type_of(request.urn)
        if request.preview or kind == ZONE:
            return UpdateResponse(wrap_map({**olds, **news}))
        if kind == HEALTH_CHECK:
            await self._io(lambda: self._update_health_check(request.resource_id, news))
            return UpdateResponse(wrap_map({**news, "healthCheckId": request.resource_id}))
        await self._io(
            lambda: self._apply_records(
                news["zoneId"], olds["records"], news["records"], news.get("healthCheckIds") or {}
            )
        )
        return UpdateResponse(wrap_map(news))

    async def delete(self, request: DeleteRequest) -> None:
        state = plain_map(request.properties)
        kind = type_of(request.urn)
        if kind == ZONE:
            if state.get("create"):
                await self._io(lambda: self._delete_zone(request.resource_id))
            return  # a zone looked up stays as it was
        if kind == HEALTH_CHECK:
            await self._io(lambda: self._delete_health_check(request.resource_id))
            return
        await self._io(
            lambda: self._apply_records(
                state["zoneId"], state["records"], [], state.get("healthCheckIds") or {}
            )
        )

    # --- zones --------------------------------------------------------------------------

    def _zone(self, inputs: Mapping[str, Any]) -> str:
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

    def _zone_exists(self, zone_id: str) -> bool:
        found = _unless_gone("NoSuchHostedZone", lambda: self.client().get_hosted_zone(Id=zone_id))
        return found is not None

    def _delete_zone(self, zone_id: str) -> None:
        _unless_gone("NoSuchHostedZone", lambda: self.client().delete_hosted_zone(Id=zone_id))

    # --- health checks ------------------------------------------------------------------

    def _create_health_check(self, inputs: Mapping[str, Any], urn: str) -> str:
        reference = f"{hashlib.sha256(urn.encode()).hexdigest()[:16]}-{uuid.uuid4().hex[:12]}"
        created = self.client().create_health_check(
            CallerReference=reference, HealthCheckConfig=_health_check_config(inputs)
        )
        return str(created["HealthCheck"]["Id"])

    def _read_health_check(self, check_id: str) -> dict[str, Any] | None:
        answer = _unless_gone(
            "NoSuchHealthCheck", lambda: self.client().get_health_check(HealthCheckId=check_id)
        )
        if answer is None:
            return None
        config = answer["HealthCheck"]["HealthCheckConfig"]
        if config["Type"] == "CALCULATED":
            return {"childIds": sorted(config.get("ChildHealthChecks", []))}
        observed: dict[str, Any] = {"address": config.get("IPAddress"), "port": config.get("Port")}
        if "FailureThreshold" in config:
            observed["failureThreshold"] = config["FailureThreshold"]
        return observed

    def _update_health_check(self, check_id: str, inputs: Mapping[str, Any]) -> None:
        config = _health_check_config(inputs)
        config.pop("Type"), config.pop("RequestInterval", None)
        self.client().update_health_check(HealthCheckId=check_id, **config)

    def _delete_health_check(self, check_id: str) -> None:
        _unless_gone(
            "NoSuchHealthCheck", lambda: self.client().delete_health_check(HealthCheckId=check_id)
        )

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

    def _observed_records(self, state: Mapping[str, Any]) -> list[RecordSet]:
        """The state's records as the zone has them now (gone ones left out)."""
        keys_by_id = {v: k for k, v in (state.get("healthCheckIds") or {}).items()}
        current = self._current(state["zoneId"], keys_by_id)
        wanted = [RecordSet.from_dict(raw) for raw in state.get("records") or []]
        return [current[record.key] for record in wanted if record.key in current]

    def _apply_records(
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


def _unless_gone(code: str, call: Callable[[], Any]) -> Any:
    """`call()`'s answer, or None when Route 53 answers `code`: the thing is gone already."""
    try:
        return call()
    except ClientError as error:
        if error.response["Error"]["Code"] == code:
            return None
        raise


def _health_check_config(inputs: Mapping[str, Any]) -> dict[str, Any]:
    if inputs["kind"] == "CALCULATED":
        return {
            "Type": "CALCULATED",
            "HealthThreshold": 1,
            "ChildHealthChecks": list(inputs.get("childIds") or []),
        }
    config: dict[str, Any] = {
        "Type": inputs["kind"],
        "IPAddress": inputs["address"],
        "Port": int(inputs["port"]),
        "RequestInterval": int(inputs.get("intervalS") or 10),
        "FailureThreshold": int(inputs.get("failureThreshold") or 3),
    }
    if inputs.get("path"):
        config["ResourcePath"] = inputs["path"]
    return config


def _differs(old: Any, new: Any) -> bool:
    return new is COMPUTED or old != new


def _records_key(values: Mapping[str, Any], key: str) -> Any:
    """Records compare as a set: Route 53 keeps no order."""
    value = values.get(key)
    if key == "records" and isinstance(value, list):
        return sorted(RecordSet.from_dict(r).as_dict().__repr__() for r in value)
    return value


def main() -> None:
    serve(Route53Provider(), VERSION)


if __name__ == "__main__":
    main()
