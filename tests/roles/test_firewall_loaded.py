"""The loaded ruleset read structurally: a real host's `nft -j list ruleset` (recorded from a
sandbox host deployed by the firewall role) is exactly the declared accept paths and sets; an
extra accept rule, another table on the input hook and an undeclared listener are found."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from roles.firewall.loaded import (
    input_hooks_elsewhere,
    listeners,
    loaded_accept_paths,
    loaded_sets,
    undeclared_listeners,
)
from roles.firewall.rules import FirewallPolicy, accept_paths, declared_sets, path_text

pytestmark = pytest.mark.roles

RECORDED = json.loads((Path(__file__).parent / "data/nft-ruleset-sandbox.json").read_text())
# the recorded host's declared firewall (its inventory entry)
POLICY = FirewallPolicy(
    admin_ranges=("172.30.203.0/24",),
    media_ports=(10000, 10999),
    tcp_service_ports=(8088,),
    bgp_peers=("172.30.203.2",),
)
SS = """\
udp UNCONN 0      0                  0.0.0.0:4784  0.0.0.0:*
udp UNCONN 0      0      172.30.203.10%host0:43028 0.0.0.0:*
udp UNCONN 0      0                127.0.0.1:323   0.0.0.0:*
udp UNCONN 0      0                  0.0.0.0:3784  0.0.0.0:*
udp UNCONN 0      0                     [::]:4784     [::]:*
udp UNCONN 0      0                    [::1]:323      [::]:*
udp UNCONN 0      0                     [::]:3784     [::]:*
tcp LISTEN 0      128                0.0.0.0:22    0.0.0.0:*
tcp LISTEN 0      8                  0.0.0.0:179   0.0.0.0:*
tcp LISTEN 0      4096             127.0.0.1:7088  0.0.0.0:*
tcp LISTEN 0      4096                     *:8088        *:*
tcp LISTEN 0      128                   [::]:22       [::]:*
"""  # `ss -Hlntu` on the same host
EPHEMERAL = (32768, 60999)


def paths(ruleset: dict[str, Any]) -> list[str]:
    return sorted(path_text(path) for path in loaded_accept_paths(ruleset))


def test_the_loaded_ruleset_is_exactly_the_declared_one() -> None:
    assert paths(RECORDED) == sorted(path_text(p) for p in accept_paths(POLICY))
    # the per-source limits' meter sets hold the sources seen: state, not declared sets
    assert loaded_sets(RECORDED) == declared_sets(POLICY)
    assert input_hooks_elsewhere(RECORDED) == []


def with_items(*items: dict[str, Any]) -> dict[str, Any]:
    ruleset: dict[str, Any] = copy.deepcopy(RECORDED)
    ruleset["nftables"] += list(items)
    return ruleset


def rule(*expr: dict[str, Any], table: str = "voicepop") -> dict[str, Any]:
    return {"rule": {"family": "inet", "table": table, "chain": "input", "expr": list(expr)}}


def tcp_dport(port: int) -> dict[str, Any]:
    return {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                      "right": port}}  # fmt: skip


def test_an_extra_accept_rule_is_an_extra_path() -> None:
    """`nft insert rule inet voicepop input tcp dport 6379 accept`, as JSON lists it."""
    found = paths(with_items(rule(tcp_dport(6379), {"accept": None})))
    assert "tcp dport 6379 accept" in found
    assert len(found) == len(accept_paths(POLICY)) + 1


def test_a_jump_to_another_chain_counts_as_a_way_in() -> None:
    found = paths(with_items(rule(tcp_dport(80), {"jump": {"target": "web"}})))
    assert "tcp dport 80 verdict jump web accept" in found


def test_an_element_added_to_a_set_is_seen() -> None:
    ruleset = copy.deepcopy(RECORDED)
    for item in ruleset["nftables"]:
        if item.get("set", {}).get("name") == "admin4":
            item["set"]["elem"].append("198.51.100.7")
    assert loaded_sets(ruleset)["admin4"] == ["172.30.203.0/24", "198.51.100.7/32"]


def test_another_table_on_the_input_hook_is_named() -> None:
    other = {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "hook": "input",
                       "type": "filter", "prio": 0, "policy": "accept"}}  # fmt: skip
    assert input_hooks_elsewhere(with_items(other)) == ["ip filter INPUT (policy accept)"]


def test_only_declared_services_listen_beyond_loopback() -> None:
    found = listeners(SS)
    assert len(found) == 12
    assert undeclared_listeners(found, POLICY, EPHEMERAL) == []  # BFD's client port too
    extra = listeners(SS + "tcp LISTEN 0 511 0.0.0.0:6379 0.0.0.0:*\n"
                      "udp UNCONN 0 0 [::]:5353 [::]:*\n")  # fmt: skip
    assert undeclared_listeners(extra, POLICY, EPHEMERAL) == ["tcp 0.0.0.0:6379", "udp [::]:5353"]
    without_peers = FirewallPolicy(("172.30.203.0/24",), (10000, 10999), (8088,))
    assert "tcp 0.0.0.0:179" in undeclared_listeners(found, without_peers, EPHEMERAL)
