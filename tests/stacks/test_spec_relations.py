"""Mistakes a careful reviewer finds by mutating a valid spec: fields that contradict each
other, two services or peers on one port or address, names too long for DNS, an empty time
source list, a key given twice, production simulated, and rollouts beyond the PoP or below
its capacity floor. Each class is an error before any API call, naming the field, the value
and what is allowed."""

from pathlib import Path
from typing import Any

import pytest

from stacks.spec import SpecError, SpecInvalid, parse_pop, validate_stack_files
from stacks.spec.capacity import capacity_floor, in_service_during_rollout, largest_wave
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.spec


def errors_of(raw: dict[str, Any]) -> list[SpecError]:
    with pytest.raises(SpecInvalid) as raised:
        parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    return raised.value.errors


def only_error(raw: dict[str, Any]) -> SpecError:
    errors = errors_of(raw)
    assert len(errors) == 1, [error.render() for error in errors]
    return errors[0]


def with_values(**sections: dict[str, Any]) -> dict[str, Any]:
    raw = valid_pop()
    for dotted, values in sections.items():
        section = raw
        for key in dotted.split("__"):
            section = section.setdefault(key, {})
        section.update(values)
    return raw


@pytest.mark.parametrize(
    ("raw", "path", "limit"),
    [
        (
            with_values(provider={"delivery_poll_interval_s": 120, "delivery_timeout_s": 60}),
            "voicepop:pop.provider.delivery_poll_interval_s",
            "provider.delivery_timeout_s",
        ),
        (
            with_values(provider={"release_poll_interval_s": 30, "release_timeout_s": 10}),
            "voicepop:pop.provider.release_poll_interval_s",
            "provider.release_timeout_s",
        ),
        (
            with_values(
                tuning__kernel={"rmem_default_bytes": 8_388_608, "rmem_max_bytes": 4_194_304}
            ),
            "voicepop:pop.tuning.kernel.rmem_default_bytes",
            "tuning.kernel.rmem_max_bytes",
        ),
        (
            with_values(tuning__kernel={"wmem_default_bytes": 33_554_432}),
            "voicepop:pop.tuning.kernel.wmem_default_bytes",
            "tuning.kernel.wmem_max_bytes",
        ),
        (
            with_values(anycast={"error_wait_min_s": 120, "error_wait_max_s": 60}),
            "voicepop:pop.anycast.error_wait_min_s",
            "anycast.error_wait_max_s",
        ),
        (
            with_values(deploy={"settle_s": 300, "timeout_s": 120}),
            "voicepop:pop.deploy.settle_s",
            "deploy.timeout_s",
        ),
        (
            with_values(deploy={"ssh_dead_after_s": 300, "timeout_s": 120}),
            "voicepop:pop.deploy.ssh_dead_after_s",
            "deploy.timeout_s",
        ),
    ],
)
def test_values_that_contradict_each_other(raw: dict[str, Any], path: str, limit: str) -> None:
    error = only_error(raw)
    assert error.path == path
    assert limit in error.problem
    assert error.allowed.startswith("at most ")


ACME = valid_pop()["sfu"]["tls"]["acme"]


@pytest.mark.parametrize(
    ("sfu", "firewall", "path", "value", "other"),
    [
        ({"admin_port": 8088}, {}, "voicepop:pop.sfu.admin_port", 8088, "sfu.signalling_port"),
        ({"signalling_port": 179}, {}, "voicepop:pop.sfu.signalling_port", 179, "BGP"),
        (
            {"tls": {"port": 7088, "acme": ACME}, "health": {"port": 7088}},
            {},
            "voicepop:pop.sfu.tls.port",
            7088,
            "sfu.admin_port",
        ),
        (
            {},
            {"extra_tcp_ports": [5061, 5061]},
            "voicepop:pop.firewall.extra_tcp_ports[1]",
            5061,
            "firewall.extra_tcp_ports[0]",
        ),
        (
            {},
            {"extra_tcp_ports": [8088]},
            "voicepop:pop.firewall.extra_tcp_ports[0]",
            8088,
            "sfu.signalling_port",
        ),
    ],
)
def test_two_services_on_one_port(
    sfu: dict[str, Any], firewall: dict[str, Any], path: str, value: int, other: str
) -> None:
    raw = valid_pop()
    raw["sfu"] = {**raw["sfu"], **sfu}
    raw["firewall"] = firewall
    error = only_error(raw)
    assert (error.path, error.value) == (path, value)
    assert f"the port of {other}" in error.problem


def test_the_health_check_goes_through_the_tls_front() -> None:
    raw = valid_pop()
    raw["sfu"]["tls"]["port"] = 8443
    raw["sfu"]["health"] = {"port": 8443}
    assert parse_pop(raw, VALID_CONTEXT, "x").sfu.health.port == 8443
    raw["sfu"]["health"] = {"port": 8088}  # the SFU's own API, on loopback only
    error = only_error(raw)
    assert (error.path, error.value) == ("voicepop:pop.sfu.health.port", 8088)
    assert error.allowed == "sfu.tls.port (8443)"


def test_the_assignment_endpoint_needs_a_port_of_its_own() -> None:
    raw = valid_pop()
    raw["sfu"] = {**raw["sfu"], **{"assign_port": 8088}}
    error = only_error(raw)
    assert error.path == "voicepop:pop.sfu.assign_port"
    assert "sfu.signalling_port" in error.problem


def test_two_bgp_sessions_of_a_server_to_one_address() -> None:
    raw = valid_pop()
    second = dict(raw["bgp"]["neighbors"][0], name="rtr2")
    raw["bgp"]["neighbors"].append(second)
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.neighbors[1].peer_address"
    assert "also the address of rtr1" in error.problem


def test_one_peer_address_for_different_servers_is_fine() -> None:
    raw = valid_pop()
    first = raw["bgp"]["neighbors"][0]
    first["servers"] = ["ams1-sfu01"]
    raw["bgp"]["neighbors"].append(dict(first, name="rtr1b", servers=["ams1-sfu02"]))
    assert len(parse_pop(raw, VALID_CONTEXT, "x").bgp.neighbors) == 2


def test_a_name_prefix_that_makes_names_longer_than_a_dns_label() -> None:
    raw = valid_pop()
    raw["servers"] = {"count": 2, "name_prefix": "a" * 62}
    error = only_error(raw)
    assert error.path == "voicepop:pop.servers.name_prefix"
    assert "longer than a DNS label" in error.problem
    assert error.allowed == "a prefix of at most 61 characters"


def test_an_empty_ntp_server_list() -> None:
    raw = valid_pop()
    raw["base"] = {"ntp_servers": []}
    error = only_error(raw)
    assert error.path == "voicepop:pop.base.ntp_servers"
    assert "too few items" in error.problem


@pytest.mark.parametrize("environment", ["production", "staging"])
@pytest.mark.parametrize(
    ("deploy", "field"), [({"simulate": True}, "simulate"), ({"enabled": False}, "enabled")]
)
def test_only_a_sandbox_may_simulate_or_skip_the_host_deploys(
    environment: str, deploy: dict[str, Any], field: str
) -> None:
    raw = valid_pop()
    raw["environment"] = environment
    raw["deploy"] = deploy
    error = only_error(raw)
    assert error.path == f"voicepop:pop.deploy.{field}"
    assert f"in a {environment} PoP" in error.problem
    raw["environment"] = "sandbox"
    raw["access"]["ssh_admin_ranges"] = ["0.0.0.0/0"]
    parse_pop(raw, VALID_CONTEXT, "x")


@pytest.mark.parametrize("environment", ["production", "sandbox"])
@pytest.mark.parametrize(
    ("rollout", "floor", "path"),
    [
        ({"canary": 3}, "75%", "voicepop:pop.deploy.rollout.canary"),
        ({"batch": 5}, "75%", "voicepop:pop.deploy.rollout.batch"),
        ({}, 3, "voicepop:pop.deploy.min_in_service"),
    ],
)
def test_rollout_sizes_beyond_the_pop_are_errors_everywhere(
    environment: str, rollout: dict[str, Any], floor: Any, path: str
) -> None:
    raw = valid_pop()
    raw["environment"] = environment
    raw["access"]["ssh_admin_ranges"] = ["203.0.113.64/27"]
    raw["deploy"] = {"rollout": rollout, "min_in_service": floor}
    error = only_error(raw)
    assert error.path == path
    assert error.problem == "more servers than the PoP's 2"


def test_the_default_rollout_keeps_the_default_floor_at_every_size() -> None:
    for count in range(1, 51):
        raw = valid_pop()
        raw["servers"] = {"count": count}
        spec = parse_pop(raw, VALID_CONTEXT, "x")
        assert in_service_during_rollout(spec) >= capacity_floor(spec), count


def test_a_rollout_that_drains_a_production_pop_below_its_floor() -> None:
    raw = valid_pop()
    raw["servers"] = {"count": 8}
    raw["deploy"] = {"rollout": {"canary": 0, "batch": "100%"}}
    error = only_error(raw)
    assert error.path == "voicepop:pop.deploy.rollout.batch"
    assert error.problem == (
        "a wave of 8 server(s) leaves 0 of 8 in service, below deploy.min_in_service "
        "(75%: 6 server(s))"
    )
    assert error.allowed.startswith("waves of at most 2 server(s) in a production PoP")
    raw["deploy"]["min_in_service"] = 0  # an operator who accepts an outage says so
    assert in_service_during_rollout(parse_pop(raw, VALID_CONTEXT, "x")) == 0


def test_a_large_canary_is_named_when_it_is_the_largest_wave() -> None:
    raw = valid_pop()
    raw["servers"] = {"count": 8}
    raw["deploy"] = {"rollout": {"canary": 4, "batch": 1}}
    assert only_error(raw).path == "voicepop:pop.deploy.rollout.canary"


def test_a_sandbox_may_roll_everything_at_once() -> None:
    raw = valid_pop()
    raw["environment"] = "sandbox"
    raw["servers"] = {"count": 3}
    raw["deploy"] = {"rollout": {"canary": 0, "batch": "100%"}}
    assert in_service_during_rollout(parse_pop(raw, VALID_CONTEXT, "x")) == 0


@pytest.mark.parametrize(
    ("servers", "canary", "batch", "largest"),
    [(8, 1, "25%", 2), (8, 0, "100%", 8), (3, 5, "1", 3), (4, 1, "10", 3), (1, 1, "25%", 1)],
)
def test_largest_wave(servers: int, canary: int, batch: str, largest: int) -> None:
    assert largest_wave(servers, canary, batch) == largest


def test_a_key_given_twice_in_a_stack_file(tmp_path: Path) -> None:
    """YAML parsers keep the later value: `servers` twice would rent the second count."""
    path = tmp_path / "Pulumi.ams1.yaml"
    path.write_text(
        "config:\n"
        "  voicepop:pop:\n"
        "    code: ams1\n"
        "    servers: {count: 8}\n"
        "    servers: {count: 2}\n"
    )
    errors = validate_stack_files([path]).errors["Pulumi.ams1.yaml"]
    assert [error.render() for error in errors] == [
        "Pulumi.ams1.yaml, line 5: 'servers': key given twice in one mapping (lines 4 and 5): "
        "the later value would silently win; allowed: each key once"
    ]


def test_a_removal_below_the_floor_outside_a_sandbox_is_refused() -> None:
    from stacks.spec.capacity import removal_below_floor

    deployed = [f"ams1-sfu0{n}" for n in range(1, 9)]
    raw = valid_pop()
    raw["servers"] = {"count": 6}
    assert removal_below_floor(parse_pop(raw, VALID_CONTEXT, "x"), deployed) is None  # 8 → 6
    raw["servers"] = {"count": 5}
    why = removal_below_floor(parse_pop(raw, VALID_CONTEXT, "x"), deployed)
    assert why is not None and why.startswith(
        "removing ams1-sfu06, ams1-sfu07, ams1-sfu08 leaves 5 of 8 servers in service, below "
        "deploy.min_in_service (75%: 6 server(s)); allowed: remove at most 2 at once"
    )
    raw["environment"] = "sandbox"
    assert removal_below_floor(parse_pop(raw, VALID_CONTEXT, "x"), deployed) is None
