"""The probing mesh's other end through the stacks, offline: the spec's `probing.peers`
checked before anything changes, a peer PoP read from its stack's `pop` output, what the
prober role renders for it, and the mesh it makes: the peer's service address and each of
its servers called from this PoP."""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ops.preview.hosts import peers_of
from quality.mesh import ANYCAST, UNICAST, mesh_calls, pop_end
from roles.prober import config as rendered
from stacks.host_data import host_entry, peer_pop, prober_data
from stacks.pop import pop_summary
from stacks.spec import PopSpec, SpecError, SpecInvalid, parse_pop
from stacks.spec.checks import StackContext, check_across_pops
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.roles

ADDRESSES = {"ams1-sfu01": "192.0.2.11", "ams1-sfu02": "192.0.2.12"}
PEER_ADDRESSES = {"fra1-sfu01": "198.18.30.11", "fra1-sfu02": "198.18.30.12"}


def ams1(**probing: Any) -> dict[str, Any]:
    raw = valid_pop()
    raw["probing"] = probing
    return raw


def spec_of(raw: dict[str, Any], stack: str = "ams1") -> PopSpec:
    context = StackContext(stack=stack, config_keys=VALID_CONTEXT.config_keys)
    return parse_pop(raw, context, f"Pulumi.{stack}.yaml")


def fra1(environment: str = "production") -> PopSpec:
    raw = valid_pop()
    raw |= {"code": "fra1", "name": "Frankfurt 1", "environment": environment}
    raw["provider"]["location"] = "EU: Frankfurt"
    raw["bgp"]["prefixes"] = [{"prefix": "198.51.100.0/24", "kind": "anycast"}]
    return spec_of(raw, "fra1")


def peer_errors(spec: PopSpec, *others: tuple[str, PopSpec]) -> list[SpecError]:
    specs = {"Pulumi.ams1.yaml": spec, **{f"Pulumi.{name}.yaml": s for name, s in others}}
    return [e for e in check_across_pops(specs)["Pulumi.ams1.yaml"] if ".peers" in e.path]


def test_a_peer_named_twice_or_without_a_prober_to_call_it_is_refused() -> None:
    with pytest.raises(SpecInvalid) as raised:
        spec_of(ams1(servers=["ams1-sfu01"], peers=["fra1", "fra1"]))
    [twice] = raised.value.errors
    assert (twice.path, twice.value, twice.problem) == (
        "voicepop:pop.probing.peers", "fra1", "named 2 times",
    )  # fmt: skip
    with pytest.raises(SpecInvalid) as raised:
        spec_of(ams1(peers=["fra1"]))
    [idle] = raised.value.errors
    assert idle.path == "voicepop:pop.probing.peers"
    assert idle.problem == "no prober would call them: probing.servers names none"


def test_a_peer_must_be_another_stack_of_the_repo_of_the_same_environment() -> None:
    spec = spec_of(ams1(servers=["ams1-sfu01"], peers=["lon1", "ams1", "fra1"]))
    unknown, itself, sandbox = peer_errors(spec, ("fra1", fra1("sandbox")))
    assert (unknown.path, unknown.value) == ("voicepop:pop.probing.peers[0]", "lon1")
    assert unknown.problem == "no such stack (no Pulumi.<stack>.yaml in the repo)"
    assert unknown.allowed == "a stack of the repo: fra1"
    assert (itself.path, itself.problem) == (
        "voicepop:pop.probing.peers[1]", "this PoP's own stack",
    )  # fmt: skip
    assert sandbox.path == "voicepop:pop.probing.peers[2]"
    assert sandbox.problem == "a sandbox PoP, this one is production"
    assert (
        peer_errors(spec_of(ams1(servers=["ams1-sfu01"], peers=["fra1"])), ("fra1", fra1())) == []
    )


def peer_output(spec: PopSpec, addresses: Mapping[str, str | None]) -> dict[str, Any]:
    """The peer stack's `pop` output, as its program exports it (stacks/pop.py)."""
    entries = {
        name: host_entry(spec, name, address, Path("/repo")) if address else None
        for name, address in addresses.items()
    }
    exported: dict[str, Any] = json.loads(json.dumps(pop_summary(spec, dict(addresses), entries)))
    return exported


def test_a_peer_is_read_from_its_stacks_output_with_its_delivered_servers_only() -> None:
    peer = peer_pop(peer_output(fra1(), {"fra1-sfu01": "198.18.30.11", "fra1-sfu02": None}))
    assert peer is not None and peer.pop == "fra1"
    [server] = peer.servers
    assert (server.name, server.address, server.port) == ("fra1-sfu01", "198.18.30.11", 443)
    assert server.dns_names == [
        "fra1-sfu01.voice.example.net", "fra1.voice.example.net", "sfu.voice.example.net",
    ]  # fmt: skip
    assert server.prefixes == ["198.51.100.0/24"]
    assert peer_pop(None) is None and peer_pop({}) is None  # a stack never brought up


def test_the_prober_calls_each_peer_at_its_service_address_and_on_each_server() -> None:
    spec = spec_of(ams1(servers=["ams1-sfu02"], peers=["fra1"]))
    peer = peer_pop(peer_output(fra1(), PEER_ADDRESSES))
    assert peer is not None
    empty = peer.model_copy(update={"pop": "lon1", "servers": []})
    prober = prober_data(spec, "ams1-sfu02", ADDRESSES, [peer, empty])
    assert prober is not None and [p.pop for p in prober.peers] == ["fra1"]  # none to call: out
    assert prober.inventory_paths == [
        "/etc/voicepop/prober/pops/ams1.json", "/etc/voicepop/prober/pops/fra1.json",
    ]  # fmt: skip
    assert (
        "--inventory /etc/voicepop/prober/pops/ams1.json "
        "--inventory /etc/voicepop/prober/pops/fra1.json --settings"
    ) in rendered.prober_command(prober)
    ends = [
        pop_end(json.loads(rendered.render_inventory(prober)), "ams1.json"),
        pop_end(json.loads(rendered.render_peer_inventory(peer)), "fra1.json"),
    ]
    assert ends[1].service is not None
    assert (ends[1].service.address, ends[1].service.name) == (
        "198.51.100.1", "sfu.voice.example.net",
    )  # fmt: skip
    calls = [(c.target_pop, c.path, c.target.server if c.target else None)
             for c in mesh_calls("ams1", ends)]  # fmt: skip
    assert calls == [
        ("ams1", UNICAST, "ams1-sfu01"),
        ("ams1", UNICAST, "ams1-sfu02"),
        ("fra1", ANYCAST, None),
        ("fra1", UNICAST, "fra1-sfu01"),
        ("fra1", UNICAST, "fra1-sfu02"),
    ]


def test_a_peer_of_the_pop_itself_is_never_called_as_a_peer() -> None:
    spec = spec_of(ams1(servers=["ams1-sfu02"], peers=["fra1"]))
    itself = peer_pop(peer_output(spec, ADDRESSES))
    assert itself is not None
    prober = prober_data(spec, "ams1-sfu02", ADDRESSES, [itself])
    assert prober is not None and prober.peers == []


def test_a_preview_plans_the_prober_with_the_peers_its_last_deploy_got() -> None:
    """ops/preview/hosts.py reads the peers from the stack's outputs (what the last `up`'s
    StackReferences read), so a preview never plans to remove a peer's inventory."""
    spec = spec_of(ams1(servers=["ams1-sfu02"], peers=["fra1"]))
    peer = peer_pop(peer_output(fra1(), PEER_ADDRESSES))
    assert peer is not None
    deployed = host_entry(spec, "ams1-sfu02", "192.0.2.12", Path("/repo"), ADDRESSES, [peer])
    assert peers_of(json.loads(json.dumps(deployed.as_json()))) == [peer]
    assert peers_of(host_entry(spec, "ams1-sfu01", "192.0.2.11", Path("/repo")).as_json()) == []
