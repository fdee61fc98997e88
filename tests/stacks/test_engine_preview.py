"""The real Pulumi engine built by `make setup` previews the stacks on a file backend."""

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.project import PROJECT_ROOT, ensure_peer_stacks, run_in_project_env

pytestmark = [pytest.mark.spec, pytest.mark.engine]


@pytest.fixture(autouse=True)
def sandbox_ssh_key() -> None:
    """The sandbox stack names the sandbox's generated key; previews need it to exist."""
    from sandbox.ssh import ensure_ssh_key

    ensure_ssh_key()


def engine_version() -> str:
    go_mod = (PROJECT_ROOT / "tools/pulumi-engine/go.mod").read_text()
    match = re.search(r"github.com/pulumi/pulumi/pkg/v3 (v[0-9.]+)", go_mod)
    assert match, "go.mod pins pkg/v3"
    return match.group(1)


def preview_json(stack: str, backend: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = run_in_project_env(
        f"tools/stack-env.sh {stack} pulumi preview --json --non-interactive {' '.join(extra)}",
        env={"PULUMI_BACKEND_URL": backend.as_uri()},
    )
    document = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.returncode, document, result.stderr


def test_engine_reports_its_stamped_version() -> None:
    result = run_in_project_env("pulumi version", check=True)
    assert result.stdout.strip() == engine_version()
    language_host = run_in_project_env("command -v pulumi-language-python", check=True)
    assert language_host.stdout.strip() == str(PROJECT_ROOT / ".tools/bin/pulumi-language-python")


def test_the_language_host_stops_once_the_engine_that_started_it_is_gone() -> None:
    """The engine starts the host with a pipe on its standard input and holds the other end
    until the host exits. An engine that fails before it closes its plugins (a command on a
    stack the backend does not hold), or is killed, never sends its SIGINT: its end of the
    pipe closes with it, and the host stops on its own."""
    host = subprocess.Popen(
        [PROJECT_ROOT / ".tools/bin/pulumi-language-python", "127.0.0.1:1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert host.stdout is not None and host.stdin is not None
        assert host.stdout.readline().strip().isdigit()  # serving: it printed its port
        time.sleep(1)
        assert host.poll() is None, "the host stopped while its engine held the pipe"
        host.stdin.close()  # the engine is gone
        assert host.wait(timeout=30) == 0
    finally:
        host.kill()
        host.wait()
        if host.stdout:
            host.stdout.close()


def test_sandbox_preview_plans_the_pop_its_servers_and_its_dns(tmp_path: Path) -> None:
    ensure_peer_stacks("sandbox", {"PULUMI_BACKEND_URL": tmp_path.as_uri()})
    code, document, stderr = preview_json("sandbox", tmp_path)
    assert code == 0, stderr
    planned = {
        (step["op"], step["newState"]["type"], step["urn"].rsplit("::", 1)[1])
        for step in document["steps"]
    }
    server_names = {f"sbx1-sfu0{n}" for n in (1, 2, 3)}
    assert planned == {
        ("create", "pulumi:pulumi:Stack", "voicepop-sandbox"),
        ("create", "voicepop:index:Pop", "sbx1"),
        # its prober's peer (probing.peers): the second sandbox PoP's outputs, read
        ("read", "pulumi:pulumi:StackReference", "peer-sandbox2"),
        ("create", "pulumi:providers:flexmetal", "sbx1-flexmetal"),
        ("create", "flexmetal:index:SshKey", "sbx1-admin-0"),
        *(("create", "voicepop:index:Server", name) for name in server_names),
        *(("create", "flexmetal:index:Server", name) for name in server_names),
        ("create", "voicepop:dns:PopDns", "sbx1-dns"),
        ("create", "pulumi:providers:vproute53", "sbx1-route53"),
        ("create", "vproute53:index:Zone", "sbx1-zone"),
        *(("create", "vproute53:index:HealthCheck", f"{name}-health") for name in server_names),
        ("create", "vproute53:index:HealthCheck", "sbx1-pop-health"),
        ("create", "vproute53:index:RecordSets", "sbx1-records"),
        *(("create", "command:local:Command", f"{name}-deploy") for name in server_names),
        *(("create", "command:local:Command", f"{name}-attempt") for name in server_names),
    }
    assert document["changeSummary"] == {"create": 24}
    servers = [s for s in document["steps"] if s["newState"]["type"] == "voicepop:index:Server"]
    pop_urn = next(
        s["urn"] for s in document["steps"] if s["newState"]["type"] == "voicepop:index:Pop"
    )
    assert all(server["newState"]["parent"] == pop_urn for server in servers)
    # the state lives in the backend the test chose, nowhere else
    assert list(tmp_path.glob(".pulumi/stacks/voicepop/sandbox.json*"))


def test_preview_rejects_a_bad_spec_before_registering_anything(tmp_path: Path) -> None:
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.sandbox.yaml").read_text())
    pop = document["config"]["voicepop:pop"]
    pop["bgp"]["prefixes"][0]["prefix"] = "198.18.10.0/25"
    pop["sfu"]["media_ports"] = {"first": 40_000, "last": 41_000}
    pop["servres"] = 2
    bad_config = tmp_path / "Pulumi.sandbox.yaml"
    bad_config.write_text(yaml.safe_dump(document))

    code, result, stderr = preview_json("sandbox", tmp_path, f"--config-file {bad_config}")
    assert code != 0
    messages = "".join(d["message"] for d in result.get("diagnostics", [])) or stderr
    assert "voicepop:pop.bgp.prefixes[0].prefix: '198.18.10.0/25'" in messages
    assert "voicepop:pop.servres: 'servres': unknown key (did you mean 'servers'?)" in messages
    assert "Traceback" not in messages
    registered = {step["newState"]["type"] for step in result.get("steps", [])}
    assert registered <= {"pulumi:pulumi:Stack"}


@pytest.mark.parametrize("stack", ["ams1", "iad1"])
def test_production_samples_preview_with_their_passphrase(tmp_path: Path, stack: str) -> None:
    result = run_in_project_env(
        f"tools/stack-env.sh {stack} pulumi preview --json --non-interactive",
        env={
            "PULUMI_BACKEND_URL": tmp_path.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": "voicepop-sample-stacks",
        },
    )
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    servers = [s for s in steps if s["newState"]["type"] == "voicepop:index:Server"]
    expected = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
    servers_spec = expected["config"]["voicepop:pop"]["servers"]
    assert len(servers) == servers_spec.get("count", len(servers_spec.get("names", [])))


def test_a_production_stack_without_a_passphrase_is_refused(tmp_path: Path) -> None:
    result = run_in_project_env(
        "unset PULUMI_CONFIG_PASSPHRASE PULUMI_CONFIG_PASSPHRASE_FILE; "
        "tools/stack-env.sh ams1 pulumi preview --non-interactive",
        env={"PULUMI_BACKEND_URL": tmp_path.as_uri()},
    )
    assert result.returncode == 2
    assert "needs PULUMI_CONFIG_PASSPHRASE" in result.stderr
