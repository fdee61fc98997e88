"""The firewall as nftables reports it, against the policy declared for the host."""

import re
from typing import Any

import pytest

from roles.firewall.deploy import policy_from
from roles.firewall.rules import BGP_PORT, DROP_LOG_PREFIX, TABLE

pytestmark = pytest.mark.verify


@pytest.fixture(scope="module")
def listing(remote: Any) -> str:
    return str(remote.check_output(f"nft list table inet {TABLE}"))


def elements(listing: str, set_name: str) -> set[str]:
    match = re.search(rf"set {set_name} {{[^}}]*?elements = {{ ([^}}]*) }}", listing, re.S)
    return {e.strip() for e in match.group(1).split(",")} if match else set()


def test_inbound_is_dropped_by_default(listing: str, declared: dict[str, Any]) -> None:
    assert "hook input priority filter; policy drop;" in listing, declared["name"]
    assert "ct state established,related accept" in listing


def test_ssh_only_from_the_admin_ranges(listing: str, declared: dict[str, Any]) -> None:
    policy = policy_from(declared["firewall"])
    assert "tcp dport 22 ip saddr @admin4 accept" in listing
    assert elements(listing, "admin4") | elements(listing, "admin6") == set(policy.admin_ranges)
    assert "tcp dport 22 accept" not in listing  # never from anywhere


def test_media_and_service_ports_are_open(listing: str, declared: dict[str, Any]) -> None:
    policy = policy_from(declared["firewall"])
    first, last = policy.media_ports
    assert f"udp dport {first}-{last} accept" in listing
    for port in policy.open_tcp_ports:
        assert re.search(rf"tcp dport (\{{ [^}}]*\b{port}\b[^}}]* \}}|{port}) accept", listing)


def test_dropped_packets_are_logged_only_when_asked(listing: str, declared: dict[str, Any]) -> None:
    logged = f'log prefix "{DROP_LOG_PREFIX}"' in listing
    assert logged == policy_from(declared["firewall"]).log_dropped, declared["name"]


def test_bgp_and_bfd_only_from_the_neighbours(listing: str, declared: dict[str, Any]) -> None:
    policy = policy_from(declared["firewall"])
    assert f"tcp dport {BGP_PORT} ip saddr @bgp_peers4 accept" in listing
    assert f"tcp dport {BGP_PORT} accept" not in listing
    assert elements(listing, "bgp_peers4") | elements(listing, "bgp_peers6") == set(
        policy.bgp_peers
    )


def test_the_rules_are_loaded_at_boot(remote: Any) -> None:
    assert remote.service("nftables").is_enabled
    assert remote.file("/etc/nftables.d/voicepop.nft").exists
