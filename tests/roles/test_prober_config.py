"""The prober role, offline: the spec's `probing` section checked before anything changes, each
server's share of it (the prober's section, the agents' sources, the prober's firewall
opening), the files the role renders, and what it ships: every module and wheel the prober
imports."""

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from quality.__main__ import _probing, parser
from quality.mesh import pop_end
from roles.firewall.rules import accept_paths, declared_ports, path_text, render_ruleset
from roles.prober import config as rendered
from roles.prober.deploy import PROBER
from roles.python_tools import pinned_version
from roles.sfu.access import Credentials
from stacks.host_data import addresses_needed, host_data, host_entry
from stacks.spec import PopSpec, SpecError, SpecInvalid, parse_pop
from tests.pop_specs import VALID_CONTEXT, valid_pop
from tests.project import PROJECT_ROOT

pytestmark = pytest.mark.roles

ADDRESSES = {"ams1-sfu01": "192.0.2.11", "ams1-sfu02": "192.0.2.12", "ams1-sfu03": "192.0.2.13"}


def pop_with(scrape_from: list[str] | None = None, **probing: Any) -> dict[str, Any]:
    raw = valid_pop()
    raw["servers"] = {"count": 3}
    raw["probing"] = probing
    if scrape_from:
        raw["firewall"] = {"scrape_from": scrape_from}
    return raw


def spec_with(scrape_from: list[str] | None = None, **probing: Any) -> PopSpec:
    return parse_pop(pop_with(scrape_from, **probing), VALID_CONTEXT, "Pulumi.ams1.yaml")


def errors_of(**probing: Any) -> list[SpecError]:
    with pytest.raises(SpecInvalid) as raised:
        spec_with(**probing)
    return raised.value.errors


def test_a_prober_on_a_server_the_pop_does_not_have_is_named_with_the_ones_it_has() -> None:
    [error] = errors_of(servers=["ams1-sfu01", "ams1-sfu07"])
    assert error.path == "voicepop:pop.probing.servers[1]"
    assert error.value == "ams1-sfu07"
    assert error.allowed == "ams1-sfu01, ams1-sfu02, ams1-sfu03"


def test_a_prober_named_twice_or_on_a_taken_port_is_refused() -> None:
    [twice] = errors_of(servers=["ams1-sfu01", "ams1-sfu01"])
    assert (twice.path, twice.problem) == ("voicepop:pop.probing.servers", "named 2 times")
    [port] = errors_of(servers=["ams1-sfu01"], port=443)
    assert port.path == "voicepop:pop.probing.port" and "sfu.tls.port" in port.problem
    [media] = errors_of(servers=["ams1-sfu01"], port=10500)
    assert "the media range 10000-20000" in media.problem


def test_probers_whose_calls_would_take_more_than_the_share_are_refused_with_the_figures() -> None:
    # 2 probers x 30 calls a minute of 2 s over 3 servers: 20 a minute each, 0.67 at once,
    # 1.33 % of 50 calls; at most 1 %
    [error] = errors_of(
        servers=["ams1-sfu01", "ams1-sfu02"],
        load={"calls_per_minute": 30, "call_s": 2, "server_capacity_calls": 50},
    )
    assert error.path == "voicepop:pop.probing.load.max_share_pct"
    assert "0.67 calls at once on each of its 3 server(s)" in error.problem
    assert "(20.0 a minute of 2 s), 1.33 % of its 50 calls" in error.problem
    assert error.allowed.startswith("at most 1.0 %")
    spec_with(servers=["ams1-sfu01"], load={"calls_per_minute": 30, "call_s": 2,
                                            "server_capacity_calls": 50})  # fmt: skip


def test_the_gates_return_bound_must_be_stricter_than_its_drain_bound() -> None:
    with pytest.raises(SpecInvalid, match=r"return_from_mos 3\.5 is below drain_below_mos 3\.6"):
        spec_with(gate={"return_from_mos": 3.5})


def test_only_the_named_servers_get_a_prober_and_it_calls_every_server_of_its_pop() -> None:
    spec = spec_with(servers=["ams1-sfu02"], scrape_from=["203.0.113.9"])
    assert host_data(spec, "ams1-sfu01", ADDRESSES).get("prober") is None
    prober = host_entry(spec, "ams1-sfu02", ADDRESSES["ams1-sfu02"], PROJECT_ROOT, ADDRESSES).prober
    assert prober is not None
    assert (prober.pop, prober.listen, prober.port, prober.probers) == (
        "ams1", "192.0.2.12", 9108, 1,
    )  # fmt: skip
    assert prober.floor == 2  # deploy.min_in_service 75 % of 3, rounded down
    assert [(s.name, s.address, s.dns_name, s.port) for s in prober.servers] == [
        (name, address, f"{name}.voice.example.net", 443) for name, address in ADDRESSES.items()
    ]


def test_every_announcing_server_follows_the_pops_probers_first_then_the_specs_sources() -> None:
    raw = pop_with(servers=["ams1-sfu03", "ams1-sfu01"])
    raw["anycast"] = {"media_gate_sources": ["198.51.100.200:9108"]}
    spec = parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    for server in ADDRESSES:
        bgp = host_data(spec, server, ADDRESSES)["bgp"]
        assert bgp["media_gate_sources"] == [
            "192.0.2.13:9108", "192.0.2.11:9108", "198.51.100.200:9108",
        ]  # fmt: skip
    assert host_data(spec_with(), "ams1-sfu01", ADDRESSES)["bgp"]["media_gate_sources"] == []


def test_an_entry_names_only_the_addresses_it_needs() -> None:
    spec = spec_with(servers=["ams1-sfu02"])
    assert addresses_needed(spec, "ams1-sfu02") == list(ADDRESSES)
    assert addresses_needed(spec, "ams1-sfu01") == ["ams1-sfu02"]
    assert addresses_needed(spec_with(), "ams1-sfu01") == []
    # a server not delivered yet: called once it is (its address changes the prober's entry)
    two = {k: v for k, v in ADDRESSES.items() if k != "ams1-sfu03"}
    prober = host_data(spec, "ams1-sfu02", two)["prober"]
    assert [server["name"] for server in prober["servers"]] == list(two)
    assert prober["floor"] == 1  # 75 % of the 2 delivered, rounded down


def test_the_probers_port_is_open_to_its_pops_servers_and_the_scrapers_only() -> None:
    spec = spec_with(servers=["ams1-sfu02"], scrape_from=["203.0.113.0/28", "2001:db8::9"])
    policy = host_entry(spec, "ams1-sfu02", "192.0.2.12", PROJECT_ROOT, ADDRESSES).firewall.policy()
    paths = [path_text(path) for path in accept_paths(policy)]
    assert paths[-4:-2] == [  # bird_exporter's, to the scrapers only
        "tcp dport 9324 ip saddr @scrapers4 accept",
        "tcp dport 9324 ip6 saddr @scrapers6 accept",
    ]
    assert paths[-2:] == [
        "tcp dport 9108 ip saddr @prober_clients4 accept",
        "tcp dport 9108 ip6 saddr @prober_clients6 accept",
    ]
    text = render_ruleset(policy)
    assert (
        "set prober_clients4 { type ipv4_addr; flags interval; elements = { 192.0.2.11, "
        "192.0.2.12, 192.0.2.13, 203.0.113.0/28 } }"
    ) in text
    assert (
        "set prober_clients6 { type ipv6_addr; flags interval; elements = { 2001:db8::9/128 }"
        in text
    )
    assert (9108, 9108) in declared_ports(policy)[0]
    assert "set scrapers4 { type ipv4_addr; flags interval; elements = { 203.0.113.0/28 } }" in text
    other = host_entry(spec, "ams1-sfu01", "192.0.2.11", PROJECT_ROOT, ADDRESSES).firewall
    assert "9108" not in render_ruleset(other.policy())
    assert "tcp dport 9324 ip saddr @scrapers4 accept" in render_ruleset(other.policy())


def prober_host(**changes: Any) -> rendered.ProberHost:
    spec = spec_with(servers=["ams1-sfu02"], **changes)
    prober = host_entry(spec, "ams1-sfu02", "192.0.2.12", PROJECT_ROOT, ADDRESSES).prober
    assert prober is not None
    return prober


def test_the_unit_runs_the_prober_on_the_hosts_address_as_a_user_of_its_own() -> None:
    unit = rendered.render_unit(prober_host())
    assert (
        "ExecStart=/opt/voicepop/prober/venv/bin/python -m quality prober --source-pop ams1 "
        "--inventory /etc/voicepop/prober/pops/ams1.json "
        "--settings /etc/voicepop/prober/settings.json --floor 2 --probers-per-pop 1 "
        "--listen 192.0.2.12:9108\n"
    ) in unit
    assert "Environment=PYTHONPATH=/opt/voicepop/prober/lib\n" in unit
    assert "EnvironmentFile=/etc/voicepop/prober/secret.env\nDynamicUser=yes\n" in unit
    assert "REQUESTS_CA_BUNDLE" not in unit  # a public CA: the system's roots
    raw_acme = {"route53_access_key_id": "AKIAIOSFODNN7EXAMPLE", "ca_bundle": "ca.pem"}
    raw = pop_with(servers=["ams1-sfu02"])
    raw["sfu"] = {"tls": {"acme": raw_acme}}
    spec = parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    prober = host_entry(spec, "ams1-sfu02", "192.0.2.12", PROJECT_ROOT, ADDRESSES).prober
    assert prober is not None and prober.ca_bundle == "ca.pem"
    assert "Environment=REQUESTS_CA_BUNDLE=/etc/voicepop/prober/ca-bundle.pem\n" in (
        rendered.render_unit(prober)
    )


def test_the_inventory_it_writes_is_the_pop_as_the_mesh_reads_it() -> None:
    hosts = json.loads(rendered.render_inventory(prober_host()))
    end = pop_end(hosts, "ams1.json")
    assert end.pop == "ams1" and end.service is None  # its own service address: never called
    assert [(t.server, t.address, t.port, t.name) for t in end.servers] == [
        (name, address, 443, f"{name}.voice.example.net") for name, address in ADDRESSES.items()
    ]
    # each server's health endpoint, where the prober reads who is out of service otherwise
    assert [t.health_url for t in end.servers] == [
        f"https://{name}.voice.example.net:443/janus/info" for name in ADDRESSES
    ]


def test_the_settings_it_writes_are_the_load_and_gate_the_prober_runs_with(tmp_path: Path) -> None:
    prober = prober_host(load={"calls_per_minute": 6, "call_s": 4}, gate={"bad_calls": 4})
    settings = tmp_path / "settings.json"
    settings.write_text(rendered.render_settings(prober))
    base = ["prober", "--source-pop", "ams1", "--inventory", "x.json", "--settings", str(settings)]
    read = _probing(parser().parse_args(base))
    assert (read.load, read.gate) == (prober.load, prober.gate)
    overridden = _probing(parser().parse_args([*base, "--calls-per-minute", "3"]))
    assert (overridden.load.calls_per_minute, overridden.load.call_s) == (3, 4)
    assert read.gate.bad_calls == 4


def test_the_secrets_environment_is_what_the_prober_reads() -> None:
    text = rendered.render_secret_env({"VOICEPOP_SECRET_sfuTokenSecret": "s3cret"})
    assert text == "VOICEPOP_SECRET_sfuTokenSecret=s3cret\n"


def test_the_secrets_the_role_writes_are_read_back_as_the_deploy_gave_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rotating = Credentials(("new-secret", "old-secret"))
    for key, value in rotating.environment().items():
        monkeypatch.setenv(key, value)
    assert Credentials.from_environment() == rotating
    assert Credentials(("only",)).environment() == {"VOICEPOP_SECRET_sfuTokenSecret": "only"}


def loaded_by_the_prober(attribute: str) -> list[str]:
    """`attribute` of every module importing `python -m quality prober` loads, in a fresh
    interpreter (not those its start loaded: setuptools' hook of the venv)."""
    script = (
        "import sys; before = set(sys.modules); import quality.__main__, quality.prober; "
        f"print('\\n'.join(sorted(str(getattr(sys.modules[m], '{attribute}', '')) "
        "for m in set(sys.modules) - before)))"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip


def installed_with(wanted: list[str]) -> set[str]:
    """The distributions pip installs for `wanted`: them and their dependencies (no extras)."""
    found: set[str] = set()
    todo = [canonical(name) for name in wanted]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" not in requirement:
                todo.append(canonical(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]))
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_prober_imports_is_installed_with_it() -> None:
    """The role installs PROBER's package and its `also` with their dependencies: a package the
    prober imports beyond them is missing on a host (numpy was, at first: aiortc does not need
    it, the probe's audio does)."""
    distributions = metadata.packages_distributions()
    imported = {name.split(".")[0] for name in loaded_by_the_prober("__name__")}
    needed = {
        canonical(distribution) for top in imported for distribution in distributions.get(top, [])
    }
    installed = installed_with([PROBER.package, *PROBER.also])
    assert "numpy" in needed and "aiortc" in needed
    assert needed <= installed, sorted(needed - installed)


def test_every_module_of_the_project_the_prober_imports_is_shipped() -> None:
    """A module the prober imports but the role does not copy fails only on a host."""
    loaded = [path for path in loaded_by_the_prober("__file__") if path.endswith(".py")]
    own = {
        Path(path).resolve().relative_to(PROJECT_ROOT).as_posix()
        for path in loaded
        if Path(path).resolve().is_relative_to(PROJECT_ROOT)
        and ".venv" not in Path(path).resolve().relative_to(PROJECT_ROOT).parts
    }
    shipped = {under for _, under in rendered.source_files(PROJECT_ROOT)}
    assert own, "no module of the project was loaded"
    assert own <= shipped, sorted(own - shipped)


def test_the_probers_wheels_are_pinned_as_the_project_pins_them() -> None:
    """The hosts run the versions the tests ran: each pin of the prober's requirements is the
    project's own (requirements.txt)."""
    project = PROJECT_ROOT / "requirements.txt"
    pins = [
        line.split("==")[0]
        for line in PROBER.requirements.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    ]
    assert "aiortc" in pins and "prometheus_client" in pins
    for package in pins:
        assert pinned_version(package, PROBER.requirements) == pinned_version(package, project)
