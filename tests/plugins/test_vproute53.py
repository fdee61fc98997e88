"""The sandbox PoP's DNS through the real engine and the vproute53 plugin, against the test
sandbox's Route 53 (moto's server over HTTP), asserted on what Route 53 then holds."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.sandbox_fixture import SandboxUnderTest, changed_pop

pytestmark = [pytest.mark.dns, pytest.mark.engine]

ZONE = "sandbox.voice.test."


def route53(sandbox: SandboxUnderTest) -> Any:
    return boto3.client(
        "route53",
        endpoint_url=sandbox.route53_endpoint,
        region_name="us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def zone_id(sandbox: SandboxUnderTest) -> str | None:
    zones = route53(sandbox).list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"]
    return next((z["Id"] for z in zones if z["Name"] == ZONE), None)


def records(sandbox: SandboxUnderTest) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    found = route53(sandbox).list_resource_record_sets(HostedZoneId=zone_id(sandbox))
    return {(r["Name"], r["Type"], r.get("SetIdentifier")): r for r in found["ResourceRecordSets"]}


def servers(sandbox: SandboxUnderTest) -> dict[str, Any]:
    return dict(sandbox.outputs()["pop"]["servers"])


@pytest.fixture(scope="module")
def deployed(test_sandbox: SandboxUnderTest) -> Iterator[SandboxUnderTest]:
    result = test_sandbox.up()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    yield test_sandbox


def test_records_and_health_checks_are_created_as_the_spec_says(
    deployed: SandboxUnderTest,
) -> None:
    found = records(deployed)
    addresses = {name: server["address"] for name, server in servers(deployed).items()}
    for name, address in addresses.items():
        assert [v["Value"] for v in found[(f"{name}.{ZONE}", "A", None)]["ResourceRecords"]] == [
            address
        ]
    pop = found[(f"sbx1.{ZONE}", "A", None)]
    assert sorted(v["Value"] for v in pop["ResourceRecords"]) == sorted(addresses.values())
    steered = found[(f"sfu.{ZONE}", "A", "sbx1")]
    assert steered["Region"] == "eu-west-1" and steered["TTL"] == 30
    assert [v["Value"] for v in steered["ResourceRecords"]] == ["198.18.10.1"]
    checks = {
        c["Id"]: c["HealthCheckConfig"]
        for c in route53(deployed).list_health_checks()["HealthChecks"]
    }
    assert checks[steered["HealthCheckId"]]["Type"] == "CALCULATED"
    per_server = [c for c in checks.values() if c["Type"] == "HTTPS"]
    assert sorted(c["IPAddress"] for c in per_server) == sorted(addresses.values())
    assert {(c["Port"], c["ResourcePath"], c["RequestInterval"], c["EnableSNI"])
            for c in per_server} == {(443, "/janus/info", 10, True)}  # fmt: skip
    # the name asked for (SNI) is the server's own, its certificate's
    names = {c["IPAddress"]: c["FullyQualifiedDomainName"] for c in per_server}
    assert names == {address: f"{name}.{ZONE}".rstrip(".") for name, address in addresses.items()}


def test_a_ttl_change_is_an_in_place_update_of_one_change_batch(
    deployed: SandboxUnderTest,
) -> None:
    config = deployed.config(changed_pop(dns__ttl_s=60))
    preview = deployed.pulumi("preview --json", config)
    steps = {s["urn"].rsplit("::", 1)[1]: s["op"] for s in json.loads(preview.stdout)["steps"]}
    assert steps["sbx1-records"] == "update"
    assert {op for op in steps.values()} <= {"same", "update"}  # nothing replaced
    assert deployed.up(config).returncode == 0
    assert {r["TTL"] for r in records(deployed).values() if r["Type"] == "A"} == {60}


def test_a_refresh_with_nothing_changed_leaves_no_diff(deployed: SandboxUnderTest) -> None:
    """No false drift: Route 53 reads a calculated check's children back in its own order."""
    config = deployed.config(changed_pop(dns__ttl_s=60))
    refreshed = deployed.pulumi("refresh --yes --skip-preview", config)
    assert refreshed.returncode == 0, refreshed.stdout[-3000:] + refreshed.stderr
    preview = deployed.pulumi("preview --expect-no-changes --diff", config)
    assert preview.returncode == 0, preview.stdout[-3000:]


def test_an_edit_made_out_of_band_is_seen_by_refresh(deployed: SandboxUnderTest) -> None:
    config = deployed.config(changed_pop(dns__ttl_s=60))
    route53(deployed).change_resource_record_sets(
        HostedZoneId=zone_id(deployed),
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f"sbx1-sfu01.{ZONE}",
                        "Type": "A",
                        "TTL": 3600,
                        "ResourceRecords": [{"Value": "192.0.2.99"}],
                    },
                }
            ]
        },
    )
    refresh = deployed.pulumi("refresh --preview-only --diff", config)
    assert refresh.returncode == 0, refresh.stderr
    assert "60 => 3600" in refresh.stdout and '=> "192.0.2.99"' in refresh.stdout
    mended = deployed.pulumi("up --yes --skip-preview --refresh", config)
    assert mended.returncode == 0, mended.stdout[-3000:]
    edited = records(deployed)[(f"sbx1-sfu01.{ZONE}", "A", None)]
    assert edited["TTL"] == 60
    assert edited["ResourceRecords"] == [{"Value": servers(deployed)["sbx1-sfu01"]["address"]}]


def test_destroy_leaves_route53_as_it_was(deployed: SandboxUnderTest) -> None:
    config = deployed.config(changed_pop(dns__ttl_s=60))
    assert deployed.pulumi("destroy --yes --skip-preview", config).returncode == 0
    assert zone_id(deployed) is None  # the sandbox created it: gone
    assert route53(deployed).list_health_checks()["HealthChecks"] == []


def test_a_zone_that_exists_is_used_and_left_with_only_its_own_records(
    deployed: SandboxUnderTest,
) -> None:
    created = route53(deployed).create_hosted_zone(Name=ZONE, CallerReference="by-hand")
    zone = created["HostedZone"]["Id"]
    route53(deployed).change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"www.{ZONE}",
                        "Type": "A",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": "192.0.2.1"}],
                    },
                }
            ]
        },
    )
    before = records(deployed)
    config = deployed.config(changed_pop(dns__create_zone=False))
    assert deployed.up(config).returncode == 0
    assert (f"sfu.{ZONE}", "A", "sbx1") in records(deployed)
    assert deployed.pulumi("destroy --yes --skip-preview", config).returncode == 0
    assert records(deployed) == before
