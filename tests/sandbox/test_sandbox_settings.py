"""The sandbox stack's spec agrees with the sandbox it runs against."""

import ipaddress

import pytest
import yaml

from sandbox import settings
from tests.project import PROJECT_ROOT

pytestmark = pytest.mark.servers


def test_sandbox_stack_points_at_the_sandbox() -> None:
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.sandbox.yaml").read_text())
    pop = document["config"]["voicepop:pop"]
    assert pop["provider"]["api_endpoint"] == f"http://{settings.STANDIN_LISTEN}/v3"
    assert pop["dns"]["api_endpoint"] == f"http://{settings.ROUTE53_LISTEN}"
    assert pop["access"]["ssh_admin_ranges"] == [settings.NETWORK]
    key_file = settings.SSH_KEY.with_suffix(".pub").relative_to(settings.PROJECT_DIR)
    assert pop["access"]["ssh_public_keys"] == [f"file:{key_file}"]
    assert str(next(ipaddress.ip_network(settings.NETWORK).hosts())) == settings.BRIDGE_ADDRESS


def test_sandbox_stack_peers_with_the_sandbox_upstream_router() -> None:
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.sandbox.yaml").read_text())
    [neighbor] = document["config"]["voicepop:pop"]["bgp"]["neighbors"]
    assert neighbor["peer_address"] == settings.UPSTREAM_ADDRESS
    assert neighbor["peer_asn"] == settings.UPSTREAM_ASN
    assert ipaddress.ip_address(settings.UPSTREAM_ADDRESS) in ipaddress.ip_network(settings.NETWORK)


def test_sandbox_stack_gets_its_certificates_from_the_sandboxs_acme_ca() -> None:
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.sandbox.yaml").read_text())
    acme = document["config"]["voicepop:pop"]["sfu"]["tls"]["acme"]
    assert acme["directory_url"] == settings.ACME_DIRECTORY
    assert acme["route53_endpoint"] == settings.ROUTE53_ON_BRIDGE
    assert acme["route53_access_key_id"] == settings.ACME_ROUTE53_KEY_ID
    assert settings.PROJECT_DIR / acme["ca_bundle"] == settings.ACME_TRUST


def test_sandbox_stack_ships_its_logs_to_the_sandboxs_collector() -> None:
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.sandbox.yaml").read_text())
    assert document["config"]["voicepop:pop"]["base"]["log_collector"] == settings.COLLECTOR


def test_the_second_sandbox_pop_opens_in_the_second_site_behind_the_upstream_router() -> None:
    first = yaml.safe_load((PROJECT_ROOT / "Pulumi.sandbox.yaml").read_text())
    second = yaml.safe_load((PROJECT_ROOT / "Pulumi.sandbox2.yaml").read_text())
    pop = second["config"]["voicepop:pop"]
    assert pop["provider"]["location"] == settings.SECOND_LOCATION
    [neighbor] = pop["bgp"]["neighbors"]
    assert neighbor["peer_address"] == settings.SECOND_GATEWAY
    assert neighbor["peer_asn"] == settings.UPSTREAM_ASN
    # the machine reaches it from its address on the first site's bridge, through the router
    assert pop["access"]["ssh_admin_ranges"] == [settings.NETWORK]
    assert pop["base"]["log_collector"] == settings.COLLECTOR
    assert pop["sfu"]["tls"]["acme"]["directory_url"] == settings.ACME_DIRECTORY
    # the first PoP's prober calls it; its secrets are the first's, under the same salt
    assert first["config"]["voicepop:pop"]["probing"]["peers"] == ["sandbox2"]
    assert second["encryptionsalt"] == first["encryptionsalt"]
    secrets = {k: v for k, v in first["config"].items() if k != "voicepop:pop"}
    assert {k: v for k, v in second["config"].items() if k != "voicepop:pop"} == secrets
