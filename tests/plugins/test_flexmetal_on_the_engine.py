"""The real engine runs the sandbox stack against the provider stand-in, whose delivered
servers are real hosts (containers) reachable over SSH: up, re-run, in-place changes,
reinstall, refresh, import, faults, destroy. The tests run in order and share one sandbox."""

import ipaddress
import json
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ops.inventories import write_inventories
from stacks.resources.schema import camel_case
from tests.project import run_in_project_env
from tests.sandbox_fixture import SandboxUnderTest, changed_pop

pytestmark = [pytest.mark.servers, pytest.mark.engine]

SERVERS = ["sbx1-sfu01", "sbx1-sfu02", "sbx1-sfu03"]


def uuids_by_name(sandbox: SandboxUnderTest) -> dict[str, str]:
    return {s["name"]: s["uuid"] for s in sandbox.live_servers()}


def preview_ops(sandbox: SandboxUnderTest, config: Any) -> dict[str, set[str]]:
    """The planned operations per flexmetal:index:Server name."""
    result = sandbox.pulumi("preview --json", config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    ops: dict[str, set[str]] = {}
    for step in json.loads(result.stdout)["steps"]:
        if step["urn"].split("::")[-2].endswith("flexmetal:index:Server"):
            ops.setdefault(step["urn"].rsplit("::", 1)[1], set()).add(step["op"])
    return ops


def test_up_delivers_every_server_as_a_host_reachable_over_ssh(
    test_sandbox: SandboxUnderTest,
) -> None:
    result = test_sandbox.up()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    outputs = test_sandbox.outputs()
    servers = outputs["pop"]["servers"]
    assert sorted(servers) == SERVERS
    for name, server in servers.items():
        assert test_sandbox.ssh(server["address"], "hostname") == name
    assert sorted(uuids_by_name(test_sandbox)) == SERVERS
    # the NOC request (FlexMetal has no BGP API) names the delivered addresses
    sessions = outputs["noc"]["sessions"]
    assert {(s["server"], s["server_address"]) for s in sessions} == {
        (name, server["address"]) for name, server in servers.items()
    }


def test_the_inventories_come_from_the_delivered_servers(test_sandbox: SandboxUnderTest) -> None:
    outputs = test_sandbox.outputs()
    folder = test_sandbox.root / "inventories"
    folder.mkdir(exist_ok=True)
    write_inventories("sandbox", outputs, folder)
    delivered = {name: server["address"] for name, server in outputs["pop"]["servers"].items()}
    verify_hosts = json.loads((folder / "sandbox.json").read_text())
    assert {h["name"]: h["address"] for h in verify_hosts} == delivered
    listed = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-inventory")),
            "-i",
            str(folder / "sandbox.yml"),
            "--list",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    assert {name: v["ansible_host"] for name, v in hostvars.items()} == delivered


def test_a_second_up_changes_nothing(test_sandbox: SandboxUnderTest) -> None:
    result = test_sandbox.pulumi("preview --expect-no-changes")
    assert result.returncode == 0, result.stdout[-3000:]


PLUGIN_TYPES = ("flexmetal:index:", "vproute53:index:", "pulumi:providers:flexmetal")


def with_camelcase_names(deployment: dict[str, Any]) -> dict[str, Any]:
    """The state as the plugins wrote it before their properties were snake_case."""
    for resource in deployment["deployment"]["resources"]:
        if resource["type"].startswith(PLUGIN_TYPES):
            for part in ("inputs", "outputs"):
                values = resource.get(part, {})
                resource[part] = {camel_case(key): value for key, value in values.items()}
    return deployment


def test_a_state_with_the_old_camelcase_names_upgrades_in_place(
    test_sandbox: SandboxUnderTest,
) -> None:
    """A stack recorded before the plugins' names were snake_case: its next `pulumi up`
    rewrites the names in place, replaces and releases nothing, and the one after changes
    nothing."""
    before = uuids_by_name(test_sandbox)
    exported = test_sandbox.pulumi("stack export", with_config=False)
    assert exported.returncode == 0, exported.stderr
    legacy = with_camelcase_names(json.loads(exported.stdout))
    assert any("primaryIp" in r.get("outputs", {}) for r in legacy["deployment"]["resources"])
    state = test_sandbox.root / "legacy-state.json"
    state.write_text(json.dumps(legacy))
    imported = test_sandbox.pulumi(f"stack import --file {state}", with_config=False)
    assert imported.returncode == 0, imported.stderr
    preview = test_sandbox.pulumi("preview --json")
    assert preview.returncode == 0, preview.stdout[-3000:] + preview.stderr
    ops = {step["op"] for step in json.loads(preview.stdout)["steps"]}
    assert ops <= {"same", "update"} and "update" in ops
    upgraded = test_sandbox.up()
    assert upgraded.returncode == 0, upgraded.stdout[-3000:] + upgraded.stderr
    assert uuids_by_name(test_sandbox) == before
    assert test_sandbox.pulumi("preview --expect-no-changes").returncode == 0
    outputs = [r.get("outputs", {}) for r in test_sandbox.state_resources()]
    assert not any("primaryIp" in values for values in outputs)


def test_a_provider_timing_change_updates_the_provider_and_touches_no_server(
    test_sandbox: SandboxUnderTest,
) -> None:
    """Timings are the provider's configuration (so imported servers are released with them
    too): changing one updates the provider in place (the engine's own comparison, as the
    plugin answers DiffConfig "unknown"), never replaces it and its servers."""
    before = uuids_by_name(test_sandbox)
    config = test_sandbox.config(changed_pop(provider__release_timeout_s=600))
    result = test_sandbox.pulumi("preview --json", config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    ops = {
        step["urn"].rsplit("::", 1)[1]: step["op"]
        for step in json.loads(result.stdout)["steps"]
        if step["op"] != "same"
    }
    assert ops == {"sbx1-flexmetal": "update"}
    updated = test_sandbox.up(config)
    assert updated.returncode == 0, updated.stdout[-3000:] + updated.stderr
    assert uuids_by_name(test_sandbox) == before


def test_a_tag_change_is_an_in_place_update(test_sandbox: SandboxUnderTest) -> None:
    before = uuids_by_name(test_sandbox)
    config = test_sandbox.config(changed_pop(provider__server_tags=["team:voice"]))
    assert preview_ops(test_sandbox, config) == {name: {"update"} for name in SERVERS}
    result = test_sandbox.up(config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert uuids_by_name(test_sandbox) == before
    assert all("team:voice" in s["tags"] for s in test_sandbox.live_servers())


def test_an_os_change_reinstalls_in_place(test_sandbox: SandboxUnderTest) -> None:
    before = uuids_by_name(test_sandbox)
    address = test_sandbox.outputs()["pop"]["servers"]["sbx1-sfu01"]["address"]
    test_sandbox.ssh(address, "touch /root/from-before-the-reinstall")
    config = test_sandbox.config(
        changed_pop(provider__server_tags=["team:voice"], provider__os="debian-13")
    )
    assert preview_ops(test_sandbox, config) == {name: {"update"} for name in SERVERS}
    result = test_sandbox.up(config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert uuids_by_name(test_sandbox) == before  # the same servers, not replacements
    assert test_sandbox.ssh(address, "ls /root/from-before-the-reinstall || echo wiped") == "wiped"
    assert {s["os"]["slug"] for s in test_sandbox.live_servers()} == {"debian-13"}


def back_to_the_spec(test_sandbox: SandboxUnderTest) -> Any:
    return test_sandbox.config(
        changed_pop(provider__server_tags=["team:voice"], provider__os="debian-13")
    )


def test_a_release_out_of_band_is_seen_by_refresh(test_sandbox: SandboxUnderTest) -> None:
    config = back_to_the_spec(test_sandbox)
    gone = uuids_by_name(test_sandbox)["sbx1-sfu02"]
    test_sandbox.client().release_server(gone)
    for _ in range(100):
        if test_sandbox.client().get_server(gone)["status"] == "released":
            break
        time.sleep(0.1)
    drift = run_in_project_env(
        f"python -m ops.drift sandbox --json --no-hosts --config-file {config}",
        env={"PULUMI_BACKEND_URL": test_sandbox.backend, **test_sandbox.env},
    )
    assert drift.returncode == 2, drift.stdout[-3000:] + drift.stderr[-3000:]
    assert json.loads(drift.stdout)["resources"] == {"sbx1-sfu02": "delete"}  # `make drift` saw it
    refreshed = test_sandbox.pulumi("refresh --yes --skip-preview", config)
    assert refreshed.returncode == 0, refreshed.stderr
    in_state = [
        r["id"] for r in test_sandbox.state_resources() if r["type"] == "flexmetal:index:Server"
    ]
    assert gone not in in_state
    assert len(in_state) == 2
    # the next up rents a new server for it
    result = test_sandbox.up(config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    replacement = uuids_by_name(test_sandbox)["sbx1-sfu02"]
    assert replacement != gone
    address = test_sandbox.outputs()["pop"]["servers"]["sbx1-sfu02"]["address"]
    assert test_sandbox.ssh(address, "hostname") == "sbx1-sfu02"


def test_import_of_a_server_created_directly_through_the_api(
    test_sandbox: SandboxUnderTest,
) -> None:
    client = test_sandbox.client()
    public_key = test_sandbox.ssh_key.with_suffix(".pub").read_text().strip()
    server = client.create_server(
        {
            "name": "legacy-sfu",
            "location": "EU: Rotterdam",
            "instanceType": "bm7.std.8",
            "os": {"slug": "debian-12"},
            "sshKey": [public_key],
            "tags": ["owner:ops"],
        }
    )
    for _ in range(200):
        if client.get_server(server["uuid"])["status"] == "delivered":
            break
        time.sleep(0.1)
    provider_urn = next(
        r["urn"]
        for r in test_sandbox.state_resources()
        if r["type"] == "pulumi:providers:flexmetal"
    )
    result = test_sandbox.pulumi(
        f"import flexmetal:index:Server legacy-sfu {server['uuid']} --yes "
        f"--generate-code=false --provider {shlex.quote(f'sbx1-flexmetal={provider_urn}')}",
        back_to_the_spec(test_sandbox),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    imported = next(r for r in test_sandbox.state_resources() if r.get("id") == server["uuid"])
    assert imported["type"] == "flexmetal:index:Server"
    assert imported["outputs"]["location"] == "EU: Rotterdam"
    assert imported["outputs"]["tags"] == ["owner:ops"]
    assert imported["outputs"]["primary_ip"]
    assert imported["protect"] is True  # an adopted server is not released by accident
    # it is not in the PoP spec: unprotected, the next up releases it, out of later tests' way
    unprotected = test_sandbox.pulumi(
        f"state unprotect {shlex.quote(imported['urn'])} --yes", with_config=False
    )
    assert unprotected.returncode == 0, unprotected.stderr
    result = test_sandbox.up(back_to_the_spec(test_sandbox))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert client.get_server(server["uuid"])["status"] == "released"


def add_server(count: int) -> Any:
    return changed_pop(
        provider__server_tags=["team:voice"], provider__os="debian-13", servers={"count": count}
    )


def test_a_5xx_burst_during_create_leaves_one_server(test_sandbox: SandboxUnderTest) -> None:
    test_sandbox.standin(
        "fault",
        "error",
        "--status",
        "503",
        "--count",
        "3",
        "--method",
        "POST",
        "--path",
        "/v3/flexMetal/servers",
    )
    result = test_sandbox.up(test_sandbox.config(add_server(4)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert len(test_sandbox.live_servers("sbx1-sfu04")) == 1


def test_client_timeouts_during_create_leave_one_server(test_sandbox: SandboxUnderTest) -> None:
    # longer than the sandbox's 5 s request timeout: the client gives up, the server appears
    test_sandbox.standin(
        "fault", "slow", "--delay-s", "6", "--method", "POST", "--path", "/v3/flexMetal/servers"
    )
    result = test_sandbox.up(test_sandbox.config(add_server(5)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert len(test_sandbox.live_servers("sbx1-sfu05")) == 1
    assert len(test_sandbox.live_servers()) == 5


def test_failed_provisioning_is_a_clear_error_and_a_rerun_converges(
    test_sandbox: SandboxUnderTest,
) -> None:
    test_sandbox.standin(
        "fault", "fail_provisioning", "--message", "provisioning failed: RAID controller not found"
    )
    config = test_sandbox.config(add_server(6))
    failed = test_sandbox.up(config)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "server sbx1-sfu06" in output
    assert "RAID controller not found" in output
    converged = test_sandbox.up(config)
    assert converged.returncode == 0, converged.stderr
    assert len(test_sandbox.live_servers("sbx1-sfu06")) == 1
    assert test_sandbox.pulumi("preview --expect-no-changes", config).returncode == 0


def test_a_standin_restart_mid_run_loses_nothing(test_sandbox: SandboxUnderTest) -> None:
    test_sandbox.standin("settings", "step_delay_s=0.5")
    config = test_sandbox.config(add_server(7))
    outcome: dict[str, subprocess.CompletedProcess[str]] = {}
    run = threading.Thread(target=lambda: outcome.setdefault("up", test_sandbox.up(config)))
    run.start()
    for _ in range(300):  # restart once the new server is on its way
        if test_sandbox.live_servers("sbx1-sfu07"):
            break
        time.sleep(0.1)
    restarted = test_sandbox.sandbox("restart-standin")
    assert restarted.returncode == 0, restarted.stderr
    run.join(timeout=300)
    test_sandbox.standin("settings", "step_delay_s=0.05")
    assert outcome["up"].returncode == 0, outcome["up"].stderr
    assert len(test_sandbox.live_servers("sbx1-sfu07")) == 1


def test_the_second_sandbox_pop_opens_behind_the_upstream_and_the_first_probers_peer_reads_it(
    test_sandbox: SandboxUnderTest,
) -> None:
    """The second sandbox PoP (Pulumi.sandbox2.yaml) opens in the second site: its server is a
    host on the second site's bridge, reached over SSH through the upstream router. The first
    PoP's prober names it in probing.peers: a StackReference on the real engine reads its
    outputs into the prober's entry; named before its first up, the preview fails naming it."""
    probing = {"servers": ["sbx1-sfu01"], "peers": ["sandbox2"]}
    first = test_sandbox.config(changed_pop(probing=probing))
    early = test_sandbox.pulumi("preview", first)
    assert early.returncode != 0
    assert 'unknown stack "organization/voicepop/sandbox2"' in early.stdout + early.stderr
    second = test_sandbox.config(changed_pop(servers__count=1), stack="sandbox2")
    opened = test_sandbox.up(second, stack="sandbox2")
    assert opened.returncode == 0, opened.stdout[-3000:] + opened.stderr
    [(name, server)] = test_sandbox.outputs("sandbox2")["pop"]["servers"].items()
    address = server["address"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(test_sandbox.second_network)
    assert test_sandbox.ssh(address, "hostname") == name == "sbx2-sfu01"
    route = test_sandbox.ssh(
        address, f"ip route show {test_sandbox.settings['VOICEPOP_SANDBOX_NETWORK']}"
    )
    assert f"via {test_sandbox.second_gateway}" in route
    try:
        read = test_sandbox.up(first)
        assert read.returncode == 0, read.stdout[-3000:] + read.stderr
        prober = test_sandbox.outputs()["pop"]["servers"]["sbx1-sfu01"]["host"]["prober"]
        [peer] = prober["peers"]
        assert peer["pop"] == "sbx2"
        assert [(s["name"], s["address"]) for s in peer["servers"]] == [(name, address)]
        assert peer["servers"][0]["prefixes"] == ["198.18.20.0/24"]
    finally:
        closed = test_sandbox.pulumi("destroy --yes --skip-preview", second, stack="sandbox2")
        assert closed.returncode == 0, closed.stdout[-3000:] + closed.stderr


def test_destroy_releases_every_server_and_stops_its_host(test_sandbox: SandboxUnderTest) -> None:
    result = test_sandbox.pulumi("destroy --yes --skip-preview")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert test_sandbox.live_servers() == []
    status = json.loads(test_sandbox.sandbox("status").stdout)
    assert status["hosts"] == []
