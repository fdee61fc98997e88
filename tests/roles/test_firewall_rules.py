"""The firewall role's ruleset, rendered as text from the host data the spec gives it."""

import pytest

from roles.firewall.rules import DROP_LOG_PREFIX, accept_paths, path_text, render_ruleset
from stacks.host_data import firewall_data
from stacks.spec import SpecInvalid, parse_pop
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.roles


def ruleset(**firewall: object) -> str:
    raw = valid_pop()
    raw["firewall"] = firewall
    spec = parse_pop(raw, VALID_CONTEXT, "x")
    return render_ruleset(firewall_data(spec, "ams1-sfu01").policy())


def test_by_default_only_the_sfus_ports_are_open_and_nothing_is_logged() -> None:
    text = ruleset()
    assert "\t\ttcp dport 443 accept\n" in text  # the TLS front: signalling, assignment
    assert "udp dport 10000-20000 accept" in text
    assert "log prefix" not in text
    assert "tcp dport 22 ip saddr @admin4 accept" in text


def test_extra_tcp_ports_of_the_spec_are_opened_beside_the_sfus() -> None:
    assert "\t\ttcp dport { 443, 5061 } accept\n" in ruleset(extra_tcp_ports=[5061])


def test_dropped_packets_are_logged_last_and_rate_limited_when_asked() -> None:
    lines = ruleset(log_dropped=True).splitlines()
    logging = f'\t\tlimit rate 5/second log prefix "{DROP_LOG_PREFIX}"'
    assert lines[-3:] == [logging, "\t}", "}"]


def test_every_rule_that_lets_a_packet_in_is_an_accept_path_the_audit_knows() -> None:
    """One source: the rendered chain's accept rules are the declared accept paths."""
    raw = valid_pop()
    spec = parse_pop(raw, VALID_CONTEXT, "x")
    policy = firewall_data(spec, "ams1-sfu01").policy()
    accepting = [line.strip() for line in render_ruleset(policy).splitlines()
                 if line.strip().endswith(" accept")]  # fmt: skip
    assert len(accepting) == len(accept_paths(policy)) == 13  # bird_exporter's 2 among them
    assert [path_text(p) for p in accept_paths(policy)][:4] == [
        "ct state established,related accept",
        "iif lo accept",
        "meta l4proto {1,58} accept",
        "tcp dport 22 ip saddr @admin4 accept",
    ]


def test_new_connections_to_the_sfus_ports_are_limited_per_source_before_they_are_let_in() -> None:
    lines = [line.strip() for line in ruleset(connections_per_source=100).splitlines()]
    accept = lines.index("tcp dport 443 accept")
    new = "tcp dport 443 ct state new"
    rate = "limit rate over 50/second burst 150 packets"
    assert lines[accept - 4 : accept] == [
        f"{new} add @signalling_rate4 {{ ip saddr {rate} }} drop",
        f"{new} add @signalling_rate6 {{ ip6 saddr {rate} }} drop",
        f"{new} add @signalling_conns4 {{ ip saddr ct count over 100 }} reject with tcp reset",
        f"{new} add @signalling_conns6 {{ ip6 saddr ct count over 100 }} reject with tcp reset",
    ]
    # established connections (a caller's requests and long polls) are let in before them
    assert lines.index("ct state established,related accept") < accept - 4
    assert "set signalling_rate4 { type ipv4_addr; flags dynamic; timeout 1m; }" in lines


def test_the_limits_are_knobs_with_bounds() -> None:
    raw = valid_pop()
    raw["firewall"] = {"new_connections_per_source_per_s": 0}
    with pytest.raises(SpecInvalid) as raised:
        parse_pop(raw, VALID_CONTEXT, "x")
    assert [e.path for e in raised.value.errors] == [
        "voicepop:pop.firewall.new_connections_per_source_per_s"
    ]
