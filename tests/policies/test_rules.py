"""Each policy of the pack (policies/rules.py) on violating and compliant resources, offline."""

import json
from typing import Any

import pytest

from policies import rules
from policies.pack import plain_resource, policies
from stacks.host_data import ROLE_SECTIONS
from stacks.spec.routing import Roa, RouteObject, RoutingRegistry

pytestmark = pytest.mark.compliance

SERVER, DEPLOY = "flexmetal:index:Server", "command:local:Command"
CHECK, RECORDS = "vproute53:index:HealthCheck", "vproute53:index:RecordSets"
MD5 = "s3cr3t-md5-key"


def pop_config(**overrides: Any) -> rules.StackConfig:
    pop = {
        "code": "ams1",
        "environment": "production",
        "bgp": {
            "local_asn": 396507,
            "prefixes": [{"prefix": "198.51.100.0/24"}, {"prefix": "2001:db8:100::/48"}],
            "neighbors": [{"name": "rtr1", "md5_secret": "bgpMd5"}],
        },
        **overrides,
    }
    return rules.StackConfig(
        {"voicepop:pop": json.dumps(pop), "voicepop:bgpMd5": MD5}, frozenset({"voicepop:bgpMd5"})
    )


REGISTRY = RoutingRegistry(
    roas=[
        Roa(prefix="198.51.100.0/24", origin_asn=396507, max_length=24),
        Roa(prefix="2001:db8:100::/48", origin_asn=396507, max_length=48),
    ],
    route_objects=[
        RouteObject(prefix="198.51.100.0/24", origin_asn=396507),
        RouteObject(prefix="2001:db8:100::/48", origin_asn=396507),
    ],
)


def server(name: str, **props: Any) -> rules.Resource:
    base = {
        "os_slug": "debian-12",
        "instance_type": "bm7.std.16",
        "primary_ip": f"10.0.0.{name[-1]}",
    }
    return rules.Resource(SERVER, name, {**base, **props})


def deploy(name: str, **host: Any) -> rules.Resource:
    entry = {
        "name": name,
        "firewall": {"admin_ranges": ["203.0.113.64/27"]},
        **{section: {} for section in ROLE_SECTIONS if section != "firewall"},
        **host,
    }
    return rules.Resource(
        DEPLOY, f"{name}-deploy", {"environment": {"VOICEPOP_HOST": json.dumps(entry)}}
    )


def check(server_name: str, check_id: str) -> rules.Resource:
    props = {"key": f"ams1-{server_name}", "kind": "HTTP", "health_check_id": check_id}
    return rules.Resource(
        CHECK, f"{server_name}-health", {**props, "address": "10.0.0." + server_name[-1]}
    )


def records(ttl: int = 30, steered_check: str | None = "ams1-pop") -> rules.Resource:
    return rules.Resource(
        RECORDS,
        "ams1-records",
        {
            "records": [
                {"name": "ams1-sfu1.voice.example.net.", "type": "A", "ttl": ttl},
                {
                    "name": "sfu.voice.example.net.",
                    "type": "A",
                    "ttl": ttl,
                    "set_identifier": "ams1",
                    "health_check": steered_check,
                },
            ]
        },
    )


def healthy_pop() -> list[rules.Resource]:
    calculated = rules.Resource(
        CHECK,
        "ams1-pop-health",
        {"key": "ams1-pop", "kind": "CALCULATED", "child_ids": ["h1", "h2"]},
    )
    return [
        server("ams1-sfu1"),
        server("ams1-sfu2"),
        deploy("ams1-sfu1"),
        deploy("ams1-sfu2"),
        check("ams1-sfu1", "h1"),
        check("ams1-sfu2", "h2"),
        calculated,
        records(),
    ]


def test_a_compliant_pop_passes_every_check() -> None:
    pop, config = healthy_pop(), pop_config()
    assert list(rules.server_redundancy(pop, config, "production", 2)) == []
    assert list(rules.announced_prefixes(config, REGISTRY)) == []
    assert list(rules.host_deploys(pop, config, ["production"])) == []
    assert list(rules.health_checked_servers(pop)) == []
    assert list(rules.secret_config(config)) == []
    for resource in pop:
        assert list(rules.os_and_instance_type(resource, ["debian-12"], ["bm7.std.16"])) == []
        assert list(rules.dns_ttls(resource, 20, 300)) == []
        assert list(rules.ssh_admin_ranges(resource, 16, 48)) == []
        assert list(rules.plain_secrets(resource, config, rules.SECRET_INPUTS)) == []


def test_a_production_pop_of_one_server_is_refused_a_staging_one_only_for_staging() -> None:
    one = [server("ams1-sfu1")]
    [message] = rules.server_redundancy(one, pop_config(), "production", 2)
    assert message.startswith("production PoP ams1 has 1 server(s) (ams1-sfu1)")
    assert "at least 2" in message
    staging = pop_config(environment="staging")
    assert list(rules.server_redundancy(one, staging, "production", 2)) == []
    assert len(list(rules.server_redundancy(one, staging, "staging", 2))) == 1


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("198.51.100.0/25", ["longer than /24", "RPKI-invalid", "no IRR route object"]),
        ("192.0.2.0/24", ["RPKI-not-found", "no IRR route object"]),
        ("2001:db8:100::/56", ["longer than /48", "RPKI-invalid", "no IRR route object"]),
    ],
)
def test_an_unregistered_or_too_long_prefix_is_named(prefix: str, expected: list[str]) -> None:
    config = pop_config(bgp={"local_asn": 396507, "prefixes": [{"prefix": prefix}]})
    messages = list(rules.announced_prefixes(config, REGISTRY))
    assert len(messages) == len(expected)
    for message, part in zip(messages, expected, strict=True):
        assert prefix in message and part in message


def test_a_server_without_its_deploy_or_with_part_of_the_site_is_named() -> None:
    pop = [server("ams1-sfu1"), server("ams1-sfu2"), deploy("ams1-sfu2", anycast=None)]
    entry = json.loads(pop[2].props["environment"]["VOICEPOP_HOST"])
    del entry["anycast"], entry["bgp"]
    environment = {"VOICEPOP_HOST": json.dumps(entry)}
    pop[2] = rules.Resource(DEPLOY, "ams1-sfu2-deploy", {"environment": environment})
    messages = list(rules.host_deploys(pop, pop_config(), ["production"]))
    assert messages[0].startswith("server ams1-sfu1 has no host deploy")
    assert "ams1-sfu2: its host deploy lacks role data anycast, bgp" in messages[1]
    assert list(rules.host_deploys(pop, pop_config(environment="sandbox"), ["production"])) == []


@pytest.mark.parametrize(
    ("deploy_spec", "said"),
    [({"simulate": True}, "sets deploy.simulate"), ({"enabled": False}, "deploy.enabled false")],
)
def test_a_production_pop_may_not_simulate_or_skip_its_deploys(
    deploy_spec: dict[str, bool], said: str
) -> None:
    pop = healthy_pop()
    [message] = rules.host_deploys(pop, pop_config(deploy=deploy_spec), ["production"])
    assert message.startswith("PoP ams1 (production)") and said in message
    sandbox = pop_config(environment="sandbox", deploy=deploy_spec)
    assert list(rules.host_deploys(pop, sandbox, ["production"])) == []


def test_a_simulated_host_deploy_is_named() -> None:
    pop = healthy_pop()
    simulated = {**pop[2].props["environment"], "VOICEPOP_SIMULATE": "1"}
    pop[2] = rules.Resource(DEPLOY, pop[2].name, {"environment": simulated})
    [message] = rules.host_deploys(pop, pop_config(), ["production", "staging"])
    assert message.startswith("server ams1-sfu1: its host deploy is simulated")


def test_a_deploy_whose_host_is_not_known_yet_still_counts() -> None:
    pop = [server("ams1-sfu1"), rules.Resource(DEPLOY, "ams1-sfu1-deploy", {})]
    assert list(rules.host_deploys(pop, pop_config(), ["production"])) == []


@pytest.mark.parametrize(("ttl", "violates"), [(5, True), (20, False), (300, False), (3600, True)])
def test_dns_ttls_outside_the_bounds_are_named(ttl: int, violates: bool) -> None:
    messages = list(rules.dns_ttls(records(ttl), 20, 300))
    assert len(messages) == (2 if violates else 0)
    if violates:
        assert f"TTL {ttl} s is outside policy; allowed: 20 to 300 s" in messages[0]


def test_a_secret_config_value_in_a_plain_input_is_named_without_its_value() -> None:
    leaky = deploy("ams1-sfu1", bgp={"neighbors": [{"md5": MD5}]})
    [message] = rules.plain_secrets(leaky, pop_config(), rules.SECRET_INPUTS)
    assert "property environment holds the value of secret config voicepop:bgpMd5" in message
    assert MD5 not in message
    # in the deploy's secret variables (secret values, which the state encrypts) it belongs
    kept = rules.Resource(DEPLOY, "d-deploy", {"environment": {"VOICEPOP_SECRET_bgpMd5": MD5}})
    assert list(rules.plain_secrets(kept, pop_config(), rules.SECRET_INPUTS)) == []


def test_a_secret_stored_in_plain_text_in_the_stack_file_is_named() -> None:
    config = rules.StackConfig(pop_config().values, frozenset())
    [message] = rules.secret_config(config)
    assert message.startswith("config voicepop:bgpMd5 is stored in plain text")
    assert "pulumi config set --secret bgpMd5" in message


def test_an_unapproved_image_or_instance_type_is_named() -> None:
    odd = server("ams1-sfu1", os_slug="ubuntu-2004", instance_type="bm9.std.16")
    messages = list(rules.os_and_instance_type(odd, ["debian-12"], ["bm7.std.16"]))
    assert messages == [
        "server ams1-sfu1: OS image 'ubuntu-2004' is not approved; allowed: debian-12",
        "server ams1-sfu1: instance type 'bm9.std.16' is not approved; allowed: bm7.std.16",
    ]


@pytest.mark.parametrize(
    ("cidr", "word"),
    [("0.0.0.0/0", "open to the world"), ("::/0", "open to the world"), ("10.0.0.0/8", "too wide")],
)
def test_world_open_or_wide_ssh_ranges_are_named(cidr: str, word: str) -> None:
    wide = deploy("ams1-sfu1", firewall={"admin_ranges": ["203.0.113.64/27", cidr]})
    [message] = rules.ssh_admin_ranges(wide, 16, 48)
    assert f"SSH admin range {cidr} is {word}" in message


def test_a_server_without_a_health_check_or_outside_the_pops_is_named() -> None:
    pop = healthy_pop()
    without = [r for r in pop if r.name != "ams1-sfu2-health"]
    [message] = rules.health_checked_servers(without)
    assert message.startswith("server ams1-sfu2 has no health check")
    uncounted = [
        rules.Resource(CHECK, r.name, {**r.props, "child_ids": ["h1"]})
        if r.name == "ams1-pop-health"
        else r
        for r in pop
    ]
    [message] = rules.health_checked_servers(uncounted)
    assert "ams1-sfu2: its health check h2 is not counted" in message
    ungated = [records(steered_check=None) if r.type == RECORDS else r for r in pop]
    [message] = rules.health_checked_servers(ungated)
    assert message.startswith("steered record sfu.voice.example.net. A (ams1-records)")


def test_unknown_values_of_a_preview_are_left_out_not_judged() -> None:
    from pulumi_policy.proxy import unknown_checking_proxy

    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown string
    props = unknown_checking_proxy({"name": "x", "records": unknown, "tags": ["a"]})
    resource = plain_resource(RECORDS, "r", props)
    assert resource.props == {"name": "x", "tags": ["a"]}
    assert list(rules.dns_ttls(resource, 20, 300)) == []


def test_the_team_config_file_names_every_policy_with_valid_settings() -> None:
    import jsonschema

    from stacks.project import PROJECT_DIR

    config = json.loads((PROJECT_DIR / "policies/config.json").read_text())
    by_name = {policy.name: policy for policy in policies()}
    assert set(config) == set(by_name)
    for name, entry in config.items():
        assert entry["enforcementLevel"] in ("mandatory", "advisory")
        settings = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        schema = by_name[name].config_schema
        properties = schema.properties if schema else {}
        assert set(settings) <= set(properties), name
        jsonschema.validate(settings, {"type": "object", "properties": properties})


def test_a_policys_settings_are_the_config_file_over_the_defaults() -> None:
    from policies.pack import TTLS, configured

    assert configured(None, TTLS) == {"min_ttl_s": 20, "max_ttl_s": 300}
    # numbers reach the pack as floats; integers are integers again
    assert configured({"max_ttl_s": 60.0}, TTLS) == {"min_ttl_s": 20, "max_ttl_s": 60}


def test_without_the_stacks_config_the_policies_that_need_it_say_so() -> None:
    """`pulumi policy analyze` hands a pack no config: nothing may pass unjudged."""
    empty = rules.StackConfig({})
    judged = [
        rules.server_redundancy([server("ams1-sfu1")], empty, "production", 2),
        rules.announced_prefixes(empty, REGISTRY),
        rules.host_deploys([server("ams1-sfu1")], empty, ["production"]),
        rules.secret_config(empty),
    ]
    for messages in judged:
        [message] = list(messages)
        assert "did not reach the policy pack" in message and "make policy-analyze" in message


def test_the_stacks_config_reaches_policy_analyze_as_the_environment() -> None:
    from policies.analyze import config_environment

    shown = {
        "voicepop:pop": {"value": '{"code": "ams1"}', "secret": False},
        "voicepop:bgpMd5": {"value": MD5, "secret": True},
    }
    environment = config_environment(shown)
    assert json.loads(environment["PULUMI_CONFIG"]) == {
        "voicepop:pop": '{"code": "ams1"}',
        "voicepop:bgpMd5": MD5,
    }
    assert json.loads(environment["PULUMI_CONFIG_SECRET_KEYS"]) == ["voicepop:bgpMd5"]


CALLS = {"bm7.std.8": 500, "bm7.std.16": 1000}


def test_a_pop_too_small_for_its_declared_peak_is_named_with_the_servers_it_needs() -> None:
    pop = healthy_pop()  # two bm7.std.16 servers: 1000 calls with one out
    gated = ["production", "staging"]
    assert list(rules.sized_for_peak(pop, pop_config(), CALLS, gated)) == []  # no peak: unsized
    fits = pop_config(capacity={"peak_calls": 1000})
    assert list(rules.sized_for_peak(pop, fits, CALLS, gated)) == []
    short = pop_config(capacity={"peak_calls": 1001})
    [message] = rules.sized_for_peak(pop, short, CALLS, gated)
    assert message == (
        "PoP ams1: 2 server(s) of 1000 calls carry 1000 with one out, below its peak of 1001; "
        "allowed: at least 3 servers (N+1)"
    )
    # a replacement in flight: the fewest calls of the types it holds count
    mixed = [*pop, server("ams1-sfu3", instance_type="bm7.std.8")]
    [message] = rules.sized_for_peak(mixed, pop_config(capacity={"peak_calls": 1001}), CALLS,
                                     gated)  # fmt: skip
    assert "3 server(s) of 500 calls carry 1000 with one out" in message
    unknown = [server("ams1-sfu1", instance_type="bm9.std.32"), *pop[1:]]
    [message] = rules.sized_for_peak(unknown, fits, CALLS, gated)
    assert "no calls per server for bm9.std.32" in message
    sandbox = pop_config(environment="sandbox", capacity={"peak_calls": 10_000})
    assert list(rules.sized_for_peak(pop, sandbox, CALLS, gated)) == []


def test_a_rollout_wave_below_the_peak_is_named() -> None:
    pop = [server(f"ams1-sfu{n}") for n in range(1, 7)]  # six of 1000 calls
    config = pop_config(capacity={"peak_calls": 4000}, deploy={"rollout": {"batch": "50%"}})
    [message] = rules.sized_for_peak(pop, config, CALLS, ["production"])
    assert message == (
        "PoP ams1: its rollout's largest wave (3 out) leaves 3000 calls, below its peak of "
        "4000; allowed: smaller waves"
    )
