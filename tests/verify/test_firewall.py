"""The firewall as nftables reports it, against the policy declared for the host."""

import re
from typing import Any

import pytest

from roles.firewall.deploy import policy_from
from roles.firewall.rules import BGP_PORT, DROP_LOG_PREFIX, TABLE
from tests.verify.expect import expect

pytestmark = pytest.mark.verify
NOT_LOADED = f"table inet {TABLE} not loaded"


@pytest.fixture(scope="module")
def listing(remote: Any) -> str:
    """The live table; empty when it is not loaded (flushed, or never loaded)."""
    listed = remote.run(f"nft list table inet {TABLE}")
    return str(listed.stdout) if listed.rc == 0 else ""


def rules_in_force(request: pytest.FixtureRequest, listing: str, rules: list[str]) -> None:
    """Each rule in the live table, the audit's expected and observed being which are."""
    expected = dict.fromkeys(rules, "present")
    observed: Any = (
        {rule: "present" if rule in listing else "missing" for rule in rules}
        if listing
        else NOT_LOADED
    )
    expect(request, expected, observed, f"nft list table inet {TABLE}")


def elements(listing: str, set_name: str) -> set[str]:
    match = re.search(rf"set {set_name} {{[^}}]*?elements = {{ ([^}}]*) }}", listing, re.S)
    return {e.strip() for e in match.group(1).split(",")} if match else set()


def test_inbound_is_dropped_by_default(request: pytest.FixtureRequest, listing: str) -> None:
    rules_in_force(
        request,
        listing,
        ["hook input priority filter; policy drop;", "ct state established,related accept"],
    )


def test_ssh_only_from_the_admin_ranges(
    request: pytest.FixtureRequest, listing: str, declared: dict[str, Any]
) -> None:
    policy = policy_from(declared["firewall"])
    rules_in_force(request, listing, ["tcp dport 22 ip saddr @admin4 accept"])
    assert elements(listing, "admin4") | elements(listing, "admin6") == set(policy.admin_ranges)
    assert "tcp dport 22 accept" not in listing  # never from anywhere


def test_media_and_service_ports_are_open(
    request: pytest.FixtureRequest, listing: str, declared: dict[str, Any]
) -> None:
    policy = policy_from(declared["firewall"])
    first, last = policy.media_ports
    rules_in_force(request, listing, [f"udp dport {first}-{last} accept"])
    for port in policy.open_tcp_ports:
        assert re.search(rf"tcp dport (\{{ [^}}]*\b{port}\b[^}}]* \}}|{port}) accept", listing)


def test_dropped_packets_are_logged_only_when_asked(listing: str, declared: dict[str, Any]) -> None:
    logged = f'log prefix "{DROP_LOG_PREFIX}"' in listing
    assert logged == policy_from(declared["firewall"]).log_dropped, declared["name"]


def test_bgp_and_bfd_only_from_the_neighbours(
    request: pytest.FixtureRequest, listing: str, declared: dict[str, Any]
) -> None:
    policy = policy_from(declared["firewall"])
    rules_in_force(request, listing, [f"tcp dport {BGP_PORT} ip saddr @bgp_peers4 accept"])
    assert f"tcp dport {BGP_PORT} accept" not in listing
    assert elements(listing, "bgp_peers4") | elements(listing, "bgp_peers6") == set(
        policy.bgp_peers
    )


def test_the_rules_are_loaded_at_boot(remote: Any) -> None:
    assert remote.service("nftables").is_enabled
    assert remote.file("/etc/nftables.d/voicepop.nft").exists
