"""The PoP spec: parsing, defaults, and every kind of bad input, each reported with the field
path, the bad value and what is allowed."""

from typing import Any

import pytest

from roles.anycast.defaults import AnycastSettings
from roles.base.defaults import BaseSettings
from roles.kernel_tuning.defaults import KernelTuning
from roles.sfu.defaults import SfuSettings
from stacks.host_data import host_data
from stacks.spec import PopSpec, SpecError, SpecInvalid, parse_pop
from stacks.spec.checks import StackContext
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.spec


def errors_of(raw: Any, context: StackContext = VALID_CONTEXT) -> list[SpecError]:
    with pytest.raises(SpecInvalid) as raised:
        parse_pop(raw, context, "Pulumi.ams1.yaml")
    return raised.value.errors


def only_error(raw: Any, context: StackContext = VALID_CONTEXT) -> SpecError:
    errors = errors_of(raw, context)
    assert len(errors) == 1, [error.render() for error in errors]
    return errors[0]


def test_valid_spec_parses_with_documented_defaults() -> None:
    spec = parse_pop(valid_pop(), VALID_CONTEXT, "Pulumi.ams1.yaml")
    assert spec.server_names == ["ams1-sfu01", "ams1-sfu02"]
    assert spec.environment == "production"
    assert spec.provider.os == "debian-12"
    assert spec.dns.ttl_s == 30
    assert spec.pop_record == "ams1"
    assert (spec.sfu.media_ports.first, spec.sfu.media_ports.last) == (10_000, 20_000)
    assert spec.tuning.kernel == KernelTuning()
    assert spec.bgp.neighbors[0].bfd is True
    assert spec.bgp.neighbors[0].hold_time_s == 90


def test_explicit_server_names_and_name_prefix() -> None:
    raw = valid_pop()
    raw["servers"] = {"names": ["edge-a", "edge-b", "edge-c"]}
    assert parse_pop(raw, VALID_CONTEXT, "x").server_names == ["edge-a", "edge-b", "edge-c"]
    raw["servers"] = {"count": 3, "name_prefix": "ams1-voice"}
    names = parse_pop(raw, VALID_CONTEXT, "x").server_names
    assert names == ["ams1-voice01", "ams1-voice02", "ams1-voice03"]


def test_tuning_overrides_replace_only_the_knobs_given() -> None:
    raw = valid_pop()
    raw["tuning"] = {"kernel": {"rmem_max_bytes": 104_857_600}, "nic": {"rx_ring_entries": 4096}}
    spec = parse_pop(raw, VALID_CONTEXT, "x")
    assert spec.tuning.kernel.rmem_max_bytes == 104_857_600
    assert spec.tuning.kernel.wmem_max_bytes == KernelTuning().wmem_max_bytes
    assert spec.tuning.nic.rx_ring_entries == 4096


@pytest.mark.parametrize(
    ("where", "typo", "path", "suggestion"),
    [
        ((), "servres", "voicepop:pop.servres", "servers"),
        (("bgp",), "local_as", "voicepop:pop.bgp.local_as", "local_asn"),
        (("tuning", "kernel"), "rmem_max", "voicepop:pop.tuning.kernel.rmem_max", "rmem_max_bytes"),
    ],
)
def test_unknown_key_names_path_and_suggests_the_known_key(
    where: tuple[str, ...], typo: str, path: str, suggestion: str
) -> None:
    raw = valid_pop()
    section = raw
    for key in where:
        section = section.setdefault(key, {})
    section[typo] = 1
    error = only_error(raw)
    assert error.path == path
    assert error.value == typo
    assert f"did you mean {suggestion!r}" in error.problem
    assert suggestion in error.allowed


def test_unknown_key_inside_a_list_item() -> None:
    raw = valid_pop()
    raw["bgp"]["prefixes"][1]["kinds"] = "anycast"
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.prefixes[1].kinds"
    assert "did you mean 'kind'" in error.problem


def test_missing_required_key() -> None:
    raw = valid_pop()
    del raw["dns"]["zone"]
    error = only_error(raw)
    assert error.path == "voicepop:pop.dns.zone"
    assert error.problem == "required key is missing"
    assert "hosted zone" in error.allowed


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ("198.51.100.0/33", "not a valid CIDR prefix"),
        ("198.51.100.7/24", "has host bits set"),
        ("not-a-prefix", "not a valid CIDR prefix"),
        ("198.51.100.0/25", "IPv4 prefix longer than /24"),
        ("2001:db8:100::/56", "IPv6 prefix longer than /48"),
    ],
)
def test_bad_announced_prefix(prefix: str, problem: str) -> None:
    raw = valid_pop()
    raw["bgp"]["prefixes"][0]["prefix"] = prefix
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.prefixes[0].prefix"
    assert error.value == prefix
    assert problem in error.problem
    assert error.allowed


def test_prefixes_overlapping_within_a_pop() -> None:
    raw = valid_pop()
    raw["bgp"]["prefixes"].append({"prefix": "198.51.0.0/16"})
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.prefixes[2].prefix"
    assert "overlaps 198.51.100.0/24" in error.problem


@pytest.mark.parametrize(
    ("asn", "problem"),
    [
        (0, "AS0 is reserved"),
        (23_456, "AS_TRANS"),
        (64_500, "documentation"),
        (65_535, "reserved"),
        (70_000, "reserved by IANA"),
        (64_512, "private ASN in a production"),
    ],
)
def test_reserved_or_private_local_asn(asn: int, problem: str) -> None:
    raw = valid_pop()
    raw["bgp"]["local_asn"] = asn
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.local_asn"
    assert error.value == asn
    assert problem in error.problem


@pytest.mark.parametrize("asn", [-1, 4_294_967_296, "AS396507"])
def test_invalid_asn(asn: object) -> None:
    raw = valid_pop()
    raw["bgp"]["local_asn"] = asn
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.local_asn"
    assert error.value == asn


def test_private_asn_is_fine_in_a_sandbox() -> None:
    raw = valid_pop()
    raw["environment"] = "sandbox"
    raw["bgp"]["local_asn"] = 64_512
    raw["bgp"]["neighbors"][0]["peer_asn"] = 65_000
    assert parse_pop(raw, VALID_CONTEXT, "x").bgp.local_asn == 64_512


def test_reserved_peer_asn() -> None:
    raw = valid_pop()
    raw["bgp"]["neighbors"][0]["peer_asn"] = 23_456
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.neighbors[0].peer_asn"


def test_duplicate_server_names() -> None:
    raw = valid_pop()
    raw["servers"] = {"names": ["ams1-a", "ams1-b", "ams1-a"]}
    error = only_error(raw)
    assert error.path == "voicepop:pop.servers.names"
    assert error.value == ["ams1-a", "ams1-b", "ams1-a"]
    assert "used more than once: ams1-a" in error.problem
    assert error.allowed == "unique names"


@pytest.mark.parametrize(
    ("servers", "path"),
    [({"count": 0}, "voicepop:pop.servers.count"), ({"names": []}, "voicepop:pop.servers.names")],
)
def test_zero_servers(servers: dict[str, Any], path: str) -> None:
    raw = valid_pop()
    raw["servers"] = servers
    error = only_error(raw)
    assert error.path == path
    assert "at least one server" in error.problem
    assert error.allowed == "1 to 50"


def test_too_many_servers() -> None:
    raw = valid_pop()
    raw["servers"] = {"count": 51}
    error = only_error(raw)
    assert "more servers than one PoP stack manages" in error.problem


def test_count_and_names_together() -> None:
    raw = valid_pop()
    raw["servers"] = {"count": 2, "names": ["a", "b"]}
    assert "exactly one of count or names" in only_error(raw).problem


def test_bad_server_name() -> None:
    raw = valid_pop()
    raw["servers"] = {"names": ["Bad_Name"]}
    error = only_error(raw)
    assert error.path == "voicepop:pop.servers.names[0]"
    assert error.value == "Bad_Name"


def test_media_ports_overlapping_the_ephemeral_range() -> None:
    raw = valid_pop()
    raw["sfu"] = {**raw["sfu"], **{"media_ports": {"first": 50_000, "last": 60_000}}}
    error = only_error(raw)
    assert error.path == "voicepop:pop.sfu.media_ports"
    assert "overlaps the kernel's ephemeral port range 32768-60999" in error.problem
    # moving the ephemeral range away resolves it
    raw["tuning"] = {"kernel": {"ephemeral_port_first": 20_000, "ephemeral_port_last": 49_999}}
    assert parse_pop(raw, VALID_CONTEXT, "x").sfu.media_ports.first == 50_000


def test_signalling_port_inside_the_media_range() -> None:
    raw = valid_pop()
    raw["sfu"] = {**raw["sfu"], **{"signalling_port": 10_500}}
    assert only_error(raw).path == "voicepop:pop.sfu.signalling_port"


@pytest.mark.parametrize("ttl", [5, 0, 3601])
def test_ttl_out_of_bounds(ttl: int) -> None:
    raw = valid_pop()
    raw["dns"]["ttl_s"] = ttl
    error = only_error(raw)
    assert error.path == "voicepop:pop.dns.ttl_s"
    assert error.value == ttl
    assert error.allowed.startswith("10 to 3600")


def test_unknown_provider_location_lists_the_catalogue() -> None:
    raw = valid_pop()
    raw["provider"]["location"] = "EU: Atlantis"
    error = only_error(raw)
    assert error.path == "voicepop:pop.provider.location"
    assert error.value == "EU: Atlantis"
    assert "'EU: Rotterdam'" in error.allowed


def test_instance_type_not_offered_at_the_location() -> None:
    raw = valid_pop()
    raw["provider"] = {"location": "AS: Tokyo", "instance_type": "bm9.std.16"}
    error = only_error(raw)
    assert error.path == "voicepop:pop.provider.instance_type"
    assert error.allowed == "bm7.std.8"


def test_md5_secret_must_exist_and_be_secret() -> None:
    token = {"sfuTokenSecret": True, "acmeRoute53SecretKey": True}
    missing = only_error(valid_pop(), StackContext(stack="ams1", config_keys=token))
    assert missing.path == "voicepop:pop.bgp.neighbors[0].md5_secret"
    assert "no config key voicepop:bgpMd5" in missing.problem
    clear = only_error(
        valid_pop(), StackContext(stack="ams1", config_keys={"bgpMd5": False, **token})
    )
    assert "clear text" in clear.problem
    assert "--secret" in clear.allowed


def test_the_sfus_token_secret_must_exist_and_be_secret() -> None:
    others = {"bgpMd5": True, "acmeRoute53SecretKey": True}
    missing = only_error(valid_pop(), StackContext(stack="ams1", config_keys=others))
    assert (missing.path, missing.value) == ("voicepop:sfuTokenSecret", None)
    assert "no token secret" in missing.problem
    assert "pulumi config set --secret sfuTokenSecret" in missing.allowed
    clear = StackContext(stack="ams1", config_keys={**others, "sfuTokenSecret": False})
    assert "clear text" in only_error(valid_pop(), clear).problem


def test_keepalive_must_be_at_most_a_third_of_hold_time() -> None:
    raw = valid_pop()
    raw["bgp"]["neighbors"][0].update(hold_time_s=9, keepalive_s=4)
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.neighbors[0].keepalive_s"
    assert "at most 3" in error.allowed


def test_neighbor_and_prefix_may_only_name_servers_of_the_pop() -> None:
    raw = valid_pop()
    raw["bgp"]["neighbors"][0]["servers"] = ["ams1-sfu09"]
    raw["bgp"]["prefixes"][0]["servers"] = ["ams1-sfu01", "lon1-sfu01"]
    paths = {error.path: error for error in errors_of(raw)}
    assert set(paths) == {
        "voicepop:pop.bgp.neighbors[0].servers[0]",
        "voicepop:pop.bgp.prefixes[0].servers[1]",
    }
    assert paths["voicepop:pop.bgp.prefixes[0].servers[1]"].allowed == "ams1-sfu01, ams1-sfu02"


def test_unicast_prefix_has_exactly_one_server() -> None:
    raw = valid_pop()
    raw["bgp"]["prefixes"].append({"prefix": "203.0.113.0/24", "kind": "unicast"})
    error = only_error(raw)
    assert error.path == "voicepop:pop.bgp.prefixes[2].servers"
    assert "one server" in error.problem


def test_latency_steering_needs_a_real_aws_region() -> None:
    raw = valid_pop()
    raw["dns"]["steering"] = {"policy": "latency", "aws_region": "eu-mars-1"}
    error = only_error(raw)
    assert error.path == "voicepop:pop.dns.steering.aws_region"
    assert "eu-central-1" in error.allowed


def test_geo_steering_needs_a_continent_or_country() -> None:
    raw = valid_pop()
    raw["dns"]["steering"] = {"policy": "geo"}
    assert "continent or a country" in only_error(raw).problem
    raw["dns"]["steering"] = {"policy": "geo", "continent": "XX"}
    assert only_error(raw).path == "voicepop:pop.dns.steering.continent"
    raw["dns"]["steering"] = {"policy": "geo", "country": "NL"}
    assert parse_pop(raw, VALID_CONTEXT, "x").dns.steering.country == "NL"


def test_stack_name_must_match_the_pop_code() -> None:
    keys = {"bgpMd5": True, "sfuTokenSecret": True, "acmeRoute53SecretKey": True}
    error = only_error(valid_pop(), StackContext(stack="ams2", config_keys=keys))
    assert error.path == "voicepop:pop.code"
    assert "stack name 'ams2'" in error.problem


def test_every_error_is_reported_not_just_the_first() -> None:
    raw = valid_pop()
    raw["servres"] = 3
    raw["bgp"]["prefixes"][0]["prefix"] = "198.51.100.0/25"
    raw["dns"]["ttl_s"] = 1
    raw["access"]["ssh_admin_ranges"] = ["10.0.0.1/8"]
    paths = sorted(error.path for error in errors_of(raw))
    assert paths == [
        "voicepop:pop.access.ssh_admin_ranges[0]",
        "voicepop:pop.bgp.prefixes[0].prefix",
        "voicepop:pop.dns.ttl_s",
        "voicepop:pop.servres",
    ]


def test_relational_errors_are_all_reported_too() -> None:
    raw = valid_pop()
    raw["bgp"]["local_asn"] = 0
    raw["bgp"]["neighbors"][0]["hold_time_s"] = 2
    raw["provider"]["location"] = "EU: Atlantis"
    raw["sfu"] = {**raw["sfu"], **{"media_ports": {"first": 40_000, "last": 41_000}}}
    assert len(errors_of(raw)) == 4


def test_not_a_mapping() -> None:
    error = only_error(None)
    assert error.path == "voicepop:pop"
    assert error.problem == "no PoP spec"


def test_rendered_error_names_path_value_and_allowed() -> None:
    raw = valid_pop()
    raw["dns"]["ttl_s"] = 4000
    rendered = only_error(raw).render()
    assert rendered.startswith("voicepop:pop.dns.ttl_s: 4000: ")
    assert "3600" in rendered


def test_spec_is_immutable() -> None:
    spec = parse_pop(valid_pop(), VALID_CONTEXT, "x")
    with pytest.raises(ValueError):
        spec.code = "lon1"  # type: ignore[misc]
    assert isinstance(spec, PopSpec)


def test_field_and_relational_errors_are_reported_together() -> None:
    raw = valid_pop()
    raw["servers"]["count"] = 0
    raw["bgp"]["neighbors"][0]["peer_asn"] = 0
    paths = [error.path for error in errors_of(raw)]
    assert paths == ["voicepop:pop.bgp.neighbors[0].peer_asn", "voicepop:pop.servers.count"]


def test_a_relational_error_about_a_bad_field_is_not_reported_twice() -> None:
    raw = valid_pop()
    raw["servers"] = {"count": 0}  # without count, servers would also lack "count or names"
    assert [error.path for error in errors_of(raw)] == ["voicepop:pop.servers.count"]


@pytest.mark.parametrize(
    "cidr", ["0.0.0.0/0", "::/0", "10.0.0.0/8", "198.50.0.0/15", "2001:db8::/32"]
)
@pytest.mark.parametrize("environment", ["production", "staging"])
def test_ssh_admin_range_wider_than_an_admin_network_is_rejected(
    cidr: str, environment: str
) -> None:
    raw = valid_pop()
    raw["environment"] = environment
    raw["access"]["ssh_admin_ranges"] = ["203.0.113.64/27", cidr]
    error = only_error(raw)
    assert error.path == "voicepop:pop.access.ssh_admin_ranges[1]"
    assert error.value == cidr
    assert f"in a {environment} PoP" in error.problem
    assert "/16 or narrower" in error.allowed and "/48 or narrower" in error.allowed


@pytest.mark.parametrize("cidr", ["198.51.0.0/16", "2001:db8:1::/48", "192.0.2.10/32"])
def test_ssh_admin_range_of_an_admin_network_is_accepted(cidr: str) -> None:
    raw = valid_pop()
    raw["access"]["ssh_admin_ranges"] = [cidr]
    assert parse_pop(raw, VALID_CONTEXT, "x").access.ssh_admin_ranges == [cidr]


def test_a_sandbox_may_open_ssh_widely() -> None:
    raw = valid_pop()
    raw["environment"] = "sandbox"
    raw["bgp"]["local_asn"] = 64_512
    raw["access"]["ssh_admin_ranges"] = ["0.0.0.0/0"]
    assert parse_pop(raw, VALID_CONTEXT, "x").access.ssh_admin_ranges == ["0.0.0.0/0"]


def test_each_roles_section_is_the_roles_own_settings_under_the_same_name() -> None:
    raw = valid_pop()
    raw["base"] = {"journald_max_use_mb": 512}
    raw["sfu"] = {**raw["sfu"], **{"log_level": 6, "health": {"path": "/healthz"}}}
    raw["anycast"] = {"connect_delay_s": 3}
    raw["firewall"] = {"extra_tcp_ports": [8443], "log_dropped": True}
    spec = parse_pop(raw, VALID_CONTEXT, "x")
    data = host_data(spec, "ams1-sfu01")
    assert data["base"]["journald_max_use_mb"] == 512
    assert data["sfu"]["log_level"] == 6 and data["sfu"]["health"]["path"] == "/healthz"
    assert data["anycast"]["connect_delay_s"] == 3
    assert data["firewall"]["extra_tcp_ports"] == [8443] and data["firewall"]["log_dropped"]
    # each role reads its host data with its own model: nothing is lost or renamed on the way
    assert BaseSettings.model_validate(data["base"]) == spec.base
    assert SfuSettings.model_validate(data["sfu"]) == spec.sfu
    assert AnycastSettings.model_validate(data["anycast"]) == spec.anycast


@pytest.mark.parametrize(
    ("section", "value", "path"),
    [
        ("base", {"ntp_server": ["a"]}, "voicepop:pop.base.ntp_server"),
        ("anycast", {"connect_delay_s": 0}, "voicepop:pop.anycast.connect_delay_s"),
        ("firewall", {"extra_tcp_ports": [70000]}, "voicepop:pop.firewall.extra_tcp_ports[0]"),
        ("sfu", {"log_level": 9}, "voicepop:pop.sfu.log_level"),
    ],
)
def test_a_roles_section_is_checked_like_the_rest_of_the_spec(
    section: str, value: dict[str, Any], path: str
) -> None:
    raw = valid_pop()
    raw[section] = {**raw.get(section, {}), **value}
    assert only_error(raw).path == path


def test_an_unknown_key_of_a_roles_section_suggests_the_knob() -> None:
    raw = valid_pop()
    raw["base"] = {"ntp_server": ["time.example.net"]}
    assert "did you mean 'ntp_servers'?" in only_error(raw).problem


def test_the_sfu_open_files_limit_fits_the_machines() -> None:
    raw = valid_pop()
    raw["sfu"] = {**raw["sfu"], **{"nofile_limit": 4_000_000}}
    error = only_error(raw)
    assert error.path == "voicepop:pop.sfu.nofile_limit"
    assert "tuning.kernel.file_max" in error.problem


@pytest.mark.parametrize("port", [22, 15_000])
def test_an_extra_firewall_port_may_not_open_ssh_or_media(port: int) -> None:
    raw = valid_pop()
    raw["firewall"] = {"extra_tcp_ports": [port]}
    assert only_error(raw).path == "voicepop:pop.firewall.extra_tcp_ports[0]"


def test_an_allow_list_without_the_deploys_user_is_refused_before_anything_runs() -> None:
    raw = valid_pop()
    raw["base"] = {"ssh_allow_users": ["ops"]}
    error = only_error(raw)
    assert error.path == "voicepop:pop.base.ssh_allow_users"
    assert error.value == ["ops"]
    assert "'root', the user the deploys log in as" in error.problem
    assert "locked out of every server" in error.problem
    assert error.allowed == "a list that holds 'root'"
    raw["base"] = {"ssh_allow_users": ["ops", "root"], "log_collector": "logs.ams1.example:6514"}
    spec = parse_pop(raw, VALID_CONTEXT, "x")
    assert spec.base.ssh_allow_users == ("ops", "root")
    assert spec.base.log_collector == "logs.ams1.example:6514"
