"""The firewall as nftables reports it, against the policy declared for the host: the loaded
ruleset compared structurally with the declared one (every way in, and the address sets),
nothing else on the input hook, and nothing listening beyond loopback that the spec does not
declare."""

import json
import re
from typing import Any

import pytest

from roles.firewall.loaded import (
    input_hooks_elsewhere,
    listeners,
    loaded_accept_paths,
    loaded_sets,
    undeclared_listeners,
)
from roles.firewall.rules import (
    BGP_PORT,
    DROP_LOG_PREFIX,
    TABLE,
    accept_paths,
    declared_sets,
    limit_rules,
    path_text,
)
from roles.host import HostEntry
from verify.controls import control
from verify.expect import expect, record

pytestmark = pytest.mark.verify
NOT_LOADED = f"table inet {TABLE} not loaded"


@pytest.fixture(scope="module")
def listing(remote: Any) -> str:
    """The live table; empty when it is not loaded (flushed, or never loaded)."""
    listed = remote.run(f"nft list table inet {TABLE}")
    return str(listed.stdout) if listed.rc == 0 else ""


@pytest.fixture(scope="module")
def ruleset(remote: Any) -> dict[str, Any]:
    """Everything nftables has loaded on the host, every table, as its JSON."""
    return dict(json.loads(remote.check_output("nft -j list ruleset")))


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


@control("VP-FW-01", "Inbound traffic is dropped by default", "Only what is declared is reachable.")
def test_inbound_is_dropped_by_default(request: pytest.FixtureRequest, listing: str) -> None:
    rules_in_force(
        request,
        listing,
        ["hook input priority filter; policy drop;", "ct state established,related accept"],
    )


@control("VP-FW-02", "SSH only from the admin ranges", "SSH is never open to the internet.")
def test_ssh_only_from_the_admin_ranges(
    request: pytest.FixtureRequest, listing: str, declared: HostEntry
) -> None:
    policy = declared.firewall.policy()
    rules_in_force(request, listing, ["tcp dport 22 ip saddr @admin4 accept"])
    assert elements(listing, "admin4") | elements(listing, "admin6") == set(policy.admin_ranges)
    assert "tcp dport 22 accept" not in listing  # never from anywhere


@control("VP-FW-03", "Media and signalling ports are open", "Callers must reach the SFU.")
def test_media_and_service_ports_are_open(
    request: pytest.FixtureRequest, listing: str, declared: HostEntry
) -> None:
    policy = declared.firewall.policy()
    first, last = policy.media_ports
    rules_in_force(request, listing, [f"udp dport {first}-{last} accept"])
    for port in policy.open_tcp_ports:
        assert re.search(rf"tcp dport (\{{ [^}}]*\b{port}\b[^}}]* \}}|{port}) accept", listing)


@control(
    "VP-FW-04",
    "Dropped packets are logged only when asked",
    "Logging every drop floods the journal under attack.",
    "advisory",
)
def test_dropped_packets_are_logged_only_when_asked(listing: str, declared: HostEntry) -> None:
    logged = f'log prefix "{DROP_LOG_PREFIX}"' in listing
    assert logged == declared.firewall.policy().log_dropped, declared.name


@control(
    "VP-FW-10",
    "New connections to the SFU are limited per source, exactly as declared",
    "A single source must not exhaust the SFU's sessions or connections.",
)
def test_new_connections_to_the_sfu_are_limited_per_source(
    request: pytest.FixtureRequest, listing: str, declared: HostEntry
) -> None:
    loaded = [line.strip() for line in listing.splitlines() if " add @signalling_" in line]
    expect(request, limit_rules(declared.firewall.policy()), loaded if listing else NOT_LOADED,
           "limits")  # fmt: skip


@control("VP-FW-05", "BGP and BFD only from the neighbours", "Nobody else may talk to BIRD.")
def test_bgp_and_bfd_only_from_the_neighbours(
    request: pytest.FixtureRequest, listing: str, declared: HostEntry
) -> None:
    policy = declared.firewall.policy()
    rules_in_force(request, listing, [f"tcp dport {BGP_PORT} ip saddr @bgp_peers4 accept"])
    assert f"tcp dport {BGP_PORT} accept" not in listing
    assert elements(listing, "bgp_peers4") | elements(listing, "bgp_peers6") == set(
        policy.bgp_peers
    )


@control("VP-FW-06", "The firewall is loaded at boot", "A reboot must not open the host.")
def test_the_rules_are_loaded_at_boot(remote: Any) -> None:
    assert remote.service("nftables").is_enabled
    assert remote.file("/etc/nftables.d/voicepop.nft").exists


@control(
    "VP-FW-07",
    "The loaded ruleset is exactly the declared one: every accept rule and address set",
    "A rule added by hand (one more accept) opens the host while every expected rule is still "
    "there.",
)
def test_exactly_the_declared_ways_in_are_open(
    request: pytest.FixtureRequest, ruleset: dict[str, Any], declared: HostEntry
) -> None:
    """Every rule of the input chain that lets a packet in, and every address set, as loaded,
    against the declared ruleset: one accept rule more (or less) fails it."""
    policy = declared.firewall.policy()
    expected_paths = sorted(path_text(path) for path in accept_paths(policy))
    observed_paths = sorted(path_text(path) for path in loaded_accept_paths(ruleset))
    expected = {"accept": expected_paths, "sets": declared_sets(policy)}
    observed = {"accept": observed_paths, "sets": loaded_sets(ruleset)}
    record(request, expected, observed)
    extra = [p for p in observed_paths if p not in expected_paths]
    missing = [p for p in expected_paths if p not in observed_paths]
    assert (extra, missing, observed["sets"]) == ([], [], expected["sets"]), (
        f"{declared.name}: nft -j list ruleset: undeclared ways in {extra}, declared but "
        f"missing {missing}; sets {observed['sets']}, declared {expected['sets']}"
    )


@control(
    "VP-FW-08",
    "No other nftables table sees inbound traffic",
    "Another table on the input hook can accept what the declared one would drop.",
)
def test_no_other_table_hooks_input(
    request: pytest.FixtureRequest, ruleset: dict[str, Any]
) -> None:
    expect(request, [], input_hooks_elsewhere(ruleset), "chains of other tables on the input hook")


@control(
    "VP-FW-09",
    "Nothing listens beyond loopback that the spec does not declare",
    "An undeclared service is attack surface the firewall alone stands in front of.",
)
def test_nothing_listens_beyond_loopback_that_is_not_declared(
    request: pytest.FixtureRequest, remote: Any, declared: HostEntry
) -> None:
    found = listeners(remote.check_output("ss -Hlntu"))
    first, last = remote.check_output("sysctl -n net.ipv4.ip_local_port_range").split()
    policy = declared.firewall.policy()
    record(request, [], [str(listener) for listener in found if not listener.loopback])
    undeclared = undeclared_listeners(found, policy, (int(first), int(last)))
    assert undeclared == [], f"{declared.name}: ss -Hlntu: undeclared listeners {undeclared}"
