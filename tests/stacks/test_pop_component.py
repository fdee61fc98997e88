"""The VoicePop component under Pulumi's mocks: what it registers and what it exports."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from stacks.pop import StackIdentity
from stacks.spec import parse_pop
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.spec

IDENTITY = StackIdentity(project="voicepop", stack="ams1", project_dir=Path("/nonexistent"))
TOKEN_SECRET = "sfu-token-secret-" + "y" * 40
MD5 = "mock-md5-value"


class RecordingMocks(pulumi.runtime.Mocks):
    """Custom resources echo their inputs; servers get an address as the provider would."""

    def __init__(self) -> None:
        self.registered: dict[str, dict[str, Any]] = {}
        self.stacks: dict[str, dict[str, Any]] = {}  # other stacks' outputs, by full name

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "flexmetal:index:Server":
            index = int(args.name[-2:])
            outputs.update(primary_ip=f"192.0.2.{10 + index}", uuid=f"uuid-{args.name}")
        if args.typ == "flexmetal:index:SshKey":
            outputs["uuid"] = f"key-{args.name}"
        if args.typ == "pulumi:pulumi:StackReference":
            stack = args.resource_id  # a read of the stack by its full name
            outputs = {"name": stack, "outputs": self.stacks.get(stack or "", {})}
        self.registered[args.name] = {"type": args.typ, **outputs}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], Any]:
        return {}, None


@pytest.fixture
def mocks() -> RecordingMocks:
    # the SDK's mocks run on the current event loop: one of the test's own, whatever an earlier
    # test (asyncio.run closes its loop) left behind
    asyncio.set_event_loop(asyncio.new_event_loop())
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(
        recording, project="voicepop", stack="ams1", preview=False, organization="organization"
    )
    pulumi.runtime.set_config("voicepop:bgpMd5", MD5)
    pulumi.runtime.set_config("voicepop:sfuTokenSecret", TOKEN_SECRET)
    pulumi.runtime.set_config("voicepop:acmeRoute53SecretKey", "acme-secret")
    return recording


def _spec_with_unicast_prefix() -> Any:
    raw = valid_pop()
    raw["servers"] = {"count": 3}
    raw["bgp"]["prefixes"].append(
        {"prefix": "203.0.113.0/24", "kind": "unicast", "servers": ["ams1-sfu02"]}
    )
    raw["bgp"]["neighbors"][0]["servers"] = ["ams1-sfu01", "ams1-sfu02"]
    return parse_pop(raw, VALID_CONTEXT, "x")


@pulumi.runtime.test
def test_one_server_component_per_server(mocks: RecordingMocks) -> Any:
    from stacks.pop import POP_TYPE, SERVER_TYPE, VoicePop

    pop = VoicePop(_spec_with_unicast_prefix(), IDENTITY)

    def check(urns: list[str]) -> None:
        # urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>
        assert [urn.rsplit("::", 1)[1] for urn in urns] == [
            "ams1-sfu01",
            "ams1-sfu02",
            "ams1-sfu03",
        ]
        assert all(f"{POP_TYPE}${SERVER_TYPE}" in urn for urn in urns)

    return pulumi.Output.all(*(server.urn for server in pop.servers.values())).apply(check)


@pulumi.runtime.test
def test_server_fqdns_are_in_the_pop_zone(mocks: RecordingMocks) -> Any:
    from stacks.pop import VoicePop

    pop = VoicePop(_spec_with_unicast_prefix(), IDENTITY)

    def check(fqdns: list[str]) -> None:
        assert fqdns == [f"ams1-sfu0{n}.voice.example.net" for n in (1, 2, 3)]

    return pulumi.Output.all(*(server.fqdn for server in pop.servers.values())).apply(check)


@pulumi.runtime.test
def test_each_server_announces_only_its_prefixes(mocks: RecordingMocks) -> Any:
    from stacks.pop import VoicePop

    pop = VoicePop(_spec_with_unicast_prefix(), IDENTITY)
    anycast = ["198.51.100.0/24", "2001:db8:100::/48"]

    def check(per_server: list[list[str]]) -> None:
        assert per_server == [anycast, [*anycast, "203.0.113.0/24"], anycast]

    return pulumi.Output.all(*(server.announced_prefixes for server in pop.servers.values())).apply(
        check
    )


@pulumi.runtime.test
def test_per_server_neighbors(mocks: RecordingMocks) -> Any:
    from stacks.pop import VoicePop

    pop = VoicePop(_spec_with_unicast_prefix(), IDENTITY)

    def check(per_server: list[list[str]]) -> None:
        assert per_server == [["rtr1"], ["rtr1"], []]

    return pulumi.Output.all(*(server.bgp_neighbors for server in pop.servers.values())).apply(
        check
    )


@pulumi.runtime.test
def test_summary_names_the_pop_and_its_dns(mocks: RecordingMocks) -> Any:
    from stacks.pop import VoicePop

    pop = VoicePop(_spec_with_unicast_prefix(), IDENTITY)

    def check(summary: dict[str, Any]) -> None:
        assert summary["code"] == "ams1"
        assert summary["pop_fqdn"] == "ams1.voice.example.net"
        assert summary["service_fqdn"] == "sfu.voice.example.net"
        assert set(summary["servers"]) == {"ams1-sfu01", "ams1-sfu02", "ams1-sfu03"}
        assert MD5 not in repr(summary)  # the key's config name only, never its value
        hosts = [server["host"] for server in summary["servers"].values()]
        assert [host["address"] for host in hosts] == ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
        assert summary["dns"] == {"zone": "voice.example.net", "api_endpoint": None}

    return pop.summary.apply(check)


@pulumi.runtime.test
def test_each_server_is_rented_with_its_identity_tag_and_the_admin_keys(
    mocks: RecordingMocks,
) -> Any:
    from stacks.pop import VoicePop
    from stacks.resources.flexmetal.schema import identity_tag

    pop = VoicePop(_spec_with_unicast_prefix(), IDENTITY)

    def check(addresses: list[str]) -> None:
        assert addresses == ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
        server = mocks.registered["ams1-sfu02"]
        assert server["type"] == "flexmetal:index:Server"
        assert server["identity_tag"] == identity_tag("voicepop", "ams1", "ams1-sfu02")
        assert server["location"] == "EU: Rotterdam"
        assert server["ssh_keys"] == ["key-ams1-admin-0"]
        assert "vp-pop:ams1" in server["tags"]

    return pulumi.Output.all(*(s.address for s in pop.servers.values())).apply(check)


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def unwrapped(value: Any) -> Any:
    """A value the mocks hand back under the secret marker, without it."""
    return value["value"] if isinstance(value, dict) and SECRET_SIG in value else value


@pulumi.runtime.test
def test_each_server_gets_its_deploy_with_its_own_host_data_and_secrets(
    mocks: RecordingMocks,
) -> Any:
    from stacks.pop import VoicePop

    pop = VoicePop(_spec_with_unicast_prefix(), IDENTITY)

    def check(_: Any) -> None:
        deploys = {
            n: unwrapped(r["environment"])
            for n, r in mocks.registered.items()
            if r["type"] == "command:local:Command" and n.endswith("-deploy")
        }
        assert sorted(deploys) == ["ams1-sfu01-deploy", "ams1-sfu02-deploy", "ams1-sfu03-deploy"]
        second = deploys["ams1-sfu02-deploy"]
        host = json.loads(second["VOICEPOP_HOST"])  # JSON: the role data keeps its integers
        assert (host["name"], host["address"]) == ("ams1-sfu02", "192.0.2.12")
        assert host["firewall"]["tcp_service_ports"] == [443]  # the TLS front
        assert "203.0.113.0/24" in host["bgp"]["prefixes"]
        assert MD5 not in second["VOICEPOP_HOST"]  # the key's name only; its value: a secret
        assert second["VOICEPOP_SECRET_bgpMd5"] == MD5
        secret = mocks.registered["ams1-sfu02-deploy"]["environment"]
        assert secret.get(SECRET_SIG), "under the secret marker: the state encrypts it"
        assert second["VOICEPOP_SECRET_sfuTokenSecret"] == TOKEN_SECRET
        assert TOKEN_SECRET not in second["VOICEPOP_SFU_DIGEST"]
        assert second["VOICEPOP_SECRET_acmeRoute53SecretKey"] == "acme-secret"
        # no BGP session: the SFU's token secret and the ACME client's key only
        assert sorted(k for k in deploys["ams1-sfu03-deploy"] if "SECRET_" in k) == [
            "VOICEPOP_SECRET_acmeRoute53SecretKey",
            "VOICEPOP_SECRET_sfuTokenSecret",
        ]
        triggers = {d["VOICEPOP_TRIGGER"] for d in deploys.values()}
        assert len(triggers) == 3, "each host's trigger is its own"

    return pulumi.Output.all(*(s.deploy.id for s in pop.servers.values() if s.deploy)).apply(check)


@pulumi.runtime.test
def test_no_deploy_when_the_spec_turns_it_off(mocks: RecordingMocks) -> Any:
    from stacks.pop import VoicePop

    raw = valid_pop()
    raw["environment"] = "sandbox"  # only a sandbox may turn the deploy off
    raw["deploy"] = {"enabled": False}
    pop = VoicePop(parse_pop(raw, VALID_CONTEXT, "x"), IDENTITY)

    def check(_: Any) -> None:
        kinds = {r["type"] for r in mocks.registered.values()}
        assert "command:local:Command" not in kinds

    return pulumi.Output.all(*(s.address for s in pop.servers.values())).apply(check)


@pulumi.runtime.test
def test_the_deploys_are_registered_wave_by_wave(mocks: RecordingMocks) -> Any:
    from stacks.pop import VoicePop

    raw = valid_pop()
    raw["servers"] = {"count": 4}
    raw["deploy"] = {"rollout": {"canary": 1, "batch": 2}, "min_in_service": "50%"}
    pop = VoicePop(parse_pop(raw, VALID_CONTEXT, "x"), IDENTITY)

    def check(_: Any) -> None:
        deploys = [
            name
            for name, r in mocks.registered.items()
            if r["type"] == "command:local:Command" and name.endswith("-deploy")
        ]
        # registered (so started by the engine) in the waves' order: a wave's deploys wait
        # for the previous wave's (their dependencies, which the e2e rollout tests time);
        # the wave is no input of theirs: a move to another wave has nothing to do
        # (within a wave, in any order: its deploys' inputs resolve when they resolve)
        waves = [deploys[:1], sorted(deploys[1:3]), deploys[3:]]
        assert waves == [[f"ams1-sfu0{n}-deploy" for n in wave] for wave in ((1,), (2, 3), (4,))]
        assert not [r for r in mocks.registered.values() if "VOICEPOP_WAVE" in str(r)]

    return pulumi.Output.all(*(s.deploy.id for s in pop.servers.values() if s.deploy)).apply(check)


@pulumi.runtime.test
def test_a_probers_entry_names_every_servers_address_and_the_others_name_the_prober(
    mocks: RecordingMocks,
) -> Any:
    """The program makes every server first, then the entries: a prober's calls every server
    of its PoP, each other server's agent follows the prober (stacks/host_data.py)."""
    from stacks.pop import VoicePop

    raw = valid_pop()
    raw["servers"] = {"count": 3}
    raw["probing"] = {"servers": ["ams1-sfu03"]}
    pop = VoicePop(parse_pop(raw, VALID_CONTEXT, "x"), IDENTITY)

    def check(_: Any) -> None:
        hosts = {
            name.removesuffix("-deploy"): json.loads(unwrapped(r["environment"])["VOICEPOP_HOST"])
            for name, r in mocks.registered.items()
            if r["type"] == "command:local:Command" and name.endswith("-deploy")
        }
        prober = hosts["ams1-sfu03"]["prober"]
        assert [(s["name"], s["address"]) for s in prober["servers"]] == [
            (f"ams1-sfu0{n}", f"192.0.2.1{n}") for n in (1, 2, 3)
        ]
        assert prober["floor"] == 2 and prober["listen"] == "192.0.2.13"
        for name in ("ams1-sfu01", "ams1-sfu02"):
            assert "prober" not in hosts[name]
            assert hosts[name]["bgp"]["media_gate_sources"] == ["192.0.2.13:9108"]
        assert hosts["ams1-sfu03"]["firewall"]["prober_clients"] == [
            "192.0.2.11", "192.0.2.12", "192.0.2.13",
        ]  # fmt: skip

    return pulumi.Output.all(*(s.deploy.id for s in pop.servers.values() if s.deploy)).apply(check)


@pulumi.runtime.test
def test_a_probers_entry_names_the_peer_pops_its_stack_references_read(
    mocks: RecordingMocks,
) -> Any:
    """Each of probing.peers is a StackReference in the stack's organization and project; its
    `pop` output makes the prober's peer (stacks/host_data.py `peer_pop`), and a peer stack
    without that output (never brought up) adds nothing."""
    from stacks.pop import VoicePop
    from tests.roles.test_prober_peers import PEER_ADDRESSES, fra1, peer_output

    mocks.stacks["organization/voicepop/fra1"] = {"pop": peer_output(fra1(), PEER_ADDRESSES)}
    raw = valid_pop()
    raw["probing"] = {"servers": ["ams1-sfu02"], "peers": ["fra1", "lon1"]}
    pop = VoicePop(parse_pop(raw, VALID_CONTEXT, "x"), IDENTITY)

    def check(_: Any) -> None:
        references = sorted(
            r["name"]
            for r in mocks.registered.values()
            if r["type"] == "pulumi:pulumi:StackReference"
        )
        assert references == ["organization/voicepop/fra1", "organization/voicepop/lon1"]
        deploy = mocks.registered["ams1-sfu02-deploy"]
        prober = json.loads(unwrapped(deploy["environment"])["VOICEPOP_HOST"])["prober"]
        [peer] = prober["peers"]
        assert peer["pop"] == "fra1"
        assert [(s["name"], s["address"]) for s in peer["servers"]] == sorted(
            PEER_ADDRESSES.items()
        )
        other = mocks.registered["ams1-sfu01-deploy"]
        assert "prober" not in json.loads(unwrapped(other["environment"])["VOICEPOP_HOST"])

    return pulumi.Output.all(*(s.deploy.id for s in pop.servers.values() if s.deploy)).apply(check)
