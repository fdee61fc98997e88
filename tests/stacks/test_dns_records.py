"""A PoP's Route 53 records and health checks from its spec, and the change batch between two
sets of records, offline."""

import pytest

from stacks.dns.records import (
    RecordSet,
    change_batch,
    from_route53,
    health_checks,
    record_sets,
    to_route53,
)
from stacks.spec import parse_pop
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.dns

ADDRESSES = {"ams1-sfu01": "192.0.2.10", "ams1-sfu02": "2001:db8::10"}


def spec_with(**dns: object):  # type: ignore[no-untyped-def]
    raw = valid_pop()
    raw["dns"].update(dns)
    return parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")


def by_key(records: list[RecordSet]) -> dict[tuple[str, str, str | None], RecordSet]:
    return {record.key: record for record in records}


def test_each_server_its_own_record_and_the_pop_all_of_them() -> None:
    records = by_key(record_sets(spec_with(ttl_s=60), ADDRESSES))
    zone = "voice.example.net."
    assert records[(f"ams1-sfu01.{zone}", "A", None)].values == ("192.0.2.10",)
    assert records[(f"ams1-sfu02.{zone}", "AAAA", None)].values == ("2001:db8::10",)
    assert records[(f"ams1.{zone}", "A", None)].values == ("192.0.2.10",)
    assert records[(f"ams1.{zone}", "AAAA", None)].values == ("2001:db8::10",)
    assert {r.ttl for r in records.values()} == {60}


def test_the_steered_name_is_latency_routed_to_the_anycast_addresses_with_a_health_check() -> None:
    records = by_key(record_sets(spec_with(), ADDRESSES))
    steered = records[("sfu.voice.example.net.", "A", "ams1")]
    assert steered.values == ("198.51.100.1",)  # the anycast prefix's service address
    assert steered.region == "eu-central-1" and steered.continent is None
    assert steered.health_check == "ams1-pop"
    assert records[("sfu.voice.example.net.", "AAAA", "ams1")].values == ("2001:db8:100::1",)


def test_geo_steering_uses_the_continent_or_country() -> None:
    spec = spec_with(steering={"policy": "geo", "continent": "EU"})
    steered = by_key(record_sets(spec, ADDRESSES))[("sfu.voice.example.net.", "A", "ams1")]
    assert (steered.region, steered.continent, steered.country) == (None, "EU", None)
    assert to_route53(steered, {"ams1-pop": "hc-1"})["GeoLocation"] == {"ContinentCode": "EU"}


def test_a_health_check_per_server_and_one_for_the_pop() -> None:
    spec = spec_with(health_check={"interval_s": 30, "failure_threshold": 2})
    checks = {check.key: check for check in health_checks(spec, ADDRESSES)}
    server = checks["ams1-ams1-sfu01"]
    assert (server.kind, server.address, server.port, server.path, server.name) == (
        "HTTPS",
        "192.0.2.10",
        443,
        "/janus/info",
        "ams1-sfu01.voice.example.net",  # sent as SNI: the certificate's name
    )
    assert (server.interval_s, server.failure_threshold) == (30, 2)
    assert checks["ams1-pop"].kind == "CALCULATED"
    assert checks["ams1-pop"].children == ("ams1-ams1-sfu01", "ams1-ams1-sfu02")


def test_a_change_batch_deletes_what_went_and_upserts_only_what_changed() -> None:
    old = record_sets(spec_with(ttl_s=30), ADDRESSES)
    new = record_sets(spec_with(ttl_s=60), {"ams1-sfu01": "192.0.2.10"})
    ids = {"ams1-pop": "hc-pop"}
    changes = change_batch(old, new, ids)
    deleted = {
        (c["ResourceRecordSet"]["Name"], c["ResourceRecordSet"]["Type"])
        for c in changes
        if c["Action"] == "DELETE"
    }
    assert ("ams1-sfu02.voice.example.net.", "AAAA") in deleted
    assert all(c["ResourceRecordSet"]["TTL"] == 60 for c in changes if c["Action"] == "UPSERT")
    assert change_batch(new, new, ids) == []


def test_a_record_round_trips_through_route53s_form() -> None:
    record = by_key(record_sets(spec_with(), ADDRESSES))[("sfu.voice.example.net.", "A", "ams1")]
    assert from_route53(to_route53(record, {"ams1-pop": "hc-1"}), {"hc-1": "ams1-pop"}) == record
