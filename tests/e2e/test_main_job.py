"""The main job end to end on a sandbox of the test's own: `pulumi up` of the sandbox PoP with
the host deploy on delivers the servers, deploys and verifies them, announces and publishes
them; then a no-op up, one tuning knob, a server added, a server removed (drained first), a
broken deploy and its fixed re-run, and destroy. Every assertion reads real state: the hosts
over SSH, the upstream router's routes, the Route 53 stand-in's zone, the stack's state and
the inventories written from its outputs."""

import itertools
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml, Properties

from deploy.runner import DEPLOY_MARK
from ops.inventories import write_inventories
from quality import emodel
from quality.measure import BUFFER_START_MS
from roles.anycast.config import GRACEFUL_SHUTDOWN
from roles.sfu.janus import SANDBOX as JANUS_SANDBOX
from roles.unit_sandbox import render_dropin
from sandbox import settings as sandbox_settings
from sandbox.summary import zone_records
from sandbox.upstream import LearnedPath, learned_routes_of, parse_routes
from tests.project import run_in_project_env
from tests.sandbox_fixture import SandboxUnderTest, changed_pop
from tests.site_fixture import checks_on_a_container

pytestmark = [pytest.mark.e2e, pytest.mark.compliance]

ANYCAST_V4 = "198.18.10.0/24"
ZONE = "sandbox.voice.test"
DEFAULT_UDP_RMEM_MIN = 16_384
HOST_DEPLOY = "command:local:Command"  # a server's host deploy (`<server>-deploy`)
SERVER = "flexmetal:index:Server"
SANDBOX_AWS = {
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
    "AWS_REGION": "us-east-1",
}
NO_JANUS = "/etc/apt/preferences.d/99-test-no-janus"


def config(sandbox: SandboxUnderTest, count: int = 3, **changes: Any) -> Path:
    return sandbox.config(changed_pop(deploy__enabled=True, servers__count=count, **changes))


def resources(sandbox: SandboxUnderTest, kind: str) -> dict[str, dict[str, Any]]:
    """The state's resources of `kind`, by name (their outputs)."""
    return {
        r["urn"].rsplit("::", 1)[1]: r.get("outputs", {})
        for r in sandbox.state_resources()
        if r["type"] == kind
    }


def deploy_figures(sandbox: SandboxUnderTest) -> dict[str, dict[str, Any]]:
    """Each host deploy's last figures (its command's JSON, which the state encrypts)."""
    result = sandbox.pulumi("stack export --show-secrets", with_config=False)
    assert result.returncode == 0, result.stderr
    return {
        r["urn"].rsplit("::", 1)[1]: json.loads(r["outputs"]["stdout"])
        for r in json.loads(result.stdout)["deployment"].get("resources", [])
        if r["type"] == HOST_DEPLOY
        and r["urn"].endswith("-deploy")
        and r.get("outputs", {}).get("stdout")
    }


def deployed_at(sandbox: SandboxUnderTest) -> dict[str, str]:
    return {name: out["deployed_at"] for name, out in deploy_figures(sandbox).items()}


def learned(sandbox: SandboxUnderTest) -> list[LearnedPath]:
    return learned_routes_of(sandbox.root / "sandbox")


def announcing(sandbox: SandboxUnderTest) -> set[str]:
    """Next hops the upstream router learned the anycast prefix from."""
    return {p.next_hop for p in learned(sandbox) if p.prefix == ANYCAST_V4}


def addresses(sandbox: SandboxUnderTest) -> dict[str, str]:
    return {n: s["address"] for n, s in sandbox.outputs()["pop"]["servers"].items()}


def sysctl(sandbox: SandboxUnderTest, address: str, key: str) -> int:
    return int(sandbox.ssh(address, f"sysctl -n {key}"))


def sfu_pid(sandbox: SandboxUnderTest, address: str) -> str:
    return sandbox.ssh(address, "systemctl show -p MainPID --value janus")


def a_records(sandbox: SandboxUnderTest) -> dict[str, list[str]]:
    return {
        r["Name"].rstrip("."): sorted(v["Value"] for v in r["ResourceRecords"])
        for r in zone_records(sandbox.route53_endpoint, ZONE)
        if r["Type"] == "A" and "SetIdentifier" not in r
    }


def wait_until(condition: Any, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def pop(test_sandbox: SandboxUnderTest) -> Iterator[SandboxUnderTest]:
    """The test sandbox, its stack run in the order of this module's tests; this process
    reads the Route 53 stand-in with the sandbox's credentials, as tools/stack-env.sh sets."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SANDBOX_AWS.items():
            patch.setenv(name, value)
        yield test_sandbox


def test_up_delivers_deploys_verifies_announces_and_publishes(
    pop: SandboxUnderTest, tmp_path: Path
) -> None:
    result = pop.up(config(pop))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    outputs = pop.outputs()
    servers = addresses(pop)
    assert sorted(servers) == ["sbx1-sfu01", "sbx1-sfu02", "sbx1-sfu03"]
    assert {name: d["checks_passed"] for name, d in outputs["deploys"].items()} == dict.fromkeys(
        servers, checks_on_a_container()
    )
    # each deploy ended with a synthetic call through the server's SFU, scored by the E-model
    clean = emodel.best_mos(emodel.CODECS["opus"], BUFFER_START_MS) - 0.1  # a clean path's
    assert all(d["call_mos"] >= clean for d in outputs["deploys"].values()), outputs["deploys"]
    for address in servers.values():
        assert pop.ssh(address, "systemctl is-active janus bird") == "active\nactive"
        assert sysctl(pop, address, "net.ipv4.udp_rmem_min") == DEFAULT_UDP_RMEM_MIN
    wait_until(lambda: announcing(pop) == set(servers.values()))
    records = a_records(pop)
    for name, address in servers.items():
        assert records[f"{name}.{ZONE}"] == [address]
    assert records[f"sbx1.{ZONE}"] == sorted(servers.values())
    # the inventories on-call engineers use, from the real outputs
    folder = tmp_path / "inventories"
    folder.mkdir()
    (folder / "outputs.json").write_text(json.dumps(outputs))
    written = write_inventories("sandbox", outputs, folder)
    listed = subprocess.run(
        ["ansible-inventory", "-i", str(folder / "sandbox.yml"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    assert {n: v["ansible_host"] for n, v in hostvars.items()} == servers
    assert [p.name for p in written] == ["sandbox.py", "sandbox.yml", "sandbox.json"]


def test_a_second_up_changes_nothing_and_deploys_nothing(pop: SandboxUnderTest) -> None:
    before = deployed_at(pop)
    preview = pop.pulumi("preview --json", config(pop))
    assert preview.returncode == 0, preview.stderr[-3000:]
    ops = {step["op"] for step in json.loads(preview.stdout)["steps"]}
    assert ops == {"same"}
    result = pop.up(config(pop))
    assert result.returncode == 0, result.stderr[-3000:]
    assert deployed_at(pop) == before


FIXTURE = Path(__file__).parent / "fixtures" / "vpdeploy-state.json"
RECORD_FILES_SINCE = "/var/lib/voicepop/{sfu-digest,left-drained,redeploy-token}"


def as_the_old_plugin_wrote_it(
    deployment: dict[str, Any], owners: dict[str, str]
) -> dict[str, Any]:
    """The live deployment with each host deploy as the vpdeploy plugin wrote it: the
    fixture's resources (exported from a sandbox that plugin deployed) with this sandbox's
    entries, triggers, digests, secrets (encrypted for this stack) and owners."""
    written = json.loads(FIXTURE.read_text())["resources"]
    by_name = {r["urn"].rsplit("::", 1)[1]: r for r in written}
    commands = {
        r["urn"].rsplit("::", 1)[1]: r["inputs"]["environment"]
        for r in deployment["resources"]
        if r["type"] == HOST_DEPLOY
    }
    old = [by_name["sbx1-deployer"]]
    for server, owner in owners.items():
        env = commands[f"{server}-deploy"]
        inputs = {
            "host": env["VOICEPOP_HOST"],
            "trigger": env["VOICEPOP_TRIGGER"],
            "sfu_digest": env["VOICEPOP_SFU_DIGEST"],
            "wave": by_name[f"{server}-deploy"]["inputs"]["wave"],  # the plugin's label
            "settle_s": float(env["VOICEPOP_SETTLE_S"]),
            "timeout_s": float(env["VOICEPOP_TIMEOUT_S"]),
            "secrets": {
                k.removeprefix("VOICEPOP_SECRET_"): v
                for k, v in env.items()
                if k.startswith("VOICEPOP_SECRET_")
            },
        }
        template = by_name[f"{server}-deploy"]
        outputs = {**template["outputs"], **inputs, "owner": owner}
        old.append({**template, "inputs": inputs, "outputs": outputs})
    kept = [
        r
        for r in deployment["resources"]
        if r["type"] not in (HOST_DEPLOY, "pulumi:providers:command")
    ]
    return {**deployment, "resources": kept + old}


def test_a_stack_the_vpdeploy_plugin_deployed_moves_over_without_a_drain_or_a_release(
    pop: SandboxUnderTest, tmp_path: Path
) -> None:
    """The one-time move (README, "Moving a stack from the old vpdeploy plugin"): a state and
    hosts as the plugin left them; `python -m ops.migrate_deploys`, then `pulumi up`: each
    deploy is created in its wave, no host drained, no server touched, every host announcing."""
    servers = addresses(pop)
    machines = {n: o["uuid"] for n, o in resources(pop, SERVER).items()}
    owners = {n: pop.ssh(a, "cat /var/lib/voicepop/deploy-owner") for n, a in servers.items()}
    for address in servers.values():  # the plugin recorded the owner alone
        pop.ssh(address, f"rm -f {RECORD_FILES_SINCE}; echo done")
    exported = json.loads(pop.pulumi("stack export", with_config=False).stdout)
    exported["deployment"] = as_the_old_plugin_wrote_it(exported["deployment"], owners)
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps(exported))
    imported = pop.pulumi(f"stack import --file {legacy}", with_config=False)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert {r["type"] for r in pop.state_resources()} >= {"vpdeploy:index:HostDeploy"}

    migrate = "python -m ops.migrate_deploys sandbox"
    env = {"PULUMI_BACKEND_URL": pop.backend, **pop.env}
    dry = run_in_project_env(f"{migrate} --dry-run", env=env)
    assert "would migrate the host deploys of sbx1-sfu01, sbx1-sfu02, sbx1-sfu03" in dry.stdout
    moved = run_in_project_env(migrate, env=env)
    assert moved.returncode == 0, moved.stdout[-3000:] + moved.stderr[-3000:]
    kinds = {r["type"] for r in pop.state_resources()}
    assert not {k for k in kinds if "vpdeploy" in k}, kinds

    started = time.time()
    result = pop.up(config(pop))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert changes_of(up_counts(result)) == {"create": 6}  # each deploy and its marker
    assert {n: o["uuid"] for n, o in resources(pop, SERVER).items()} == machines
    figures = deploy_figures(pop)
    for name, address in servers.items():
        marks = deploy_marks(pop, name, started)
        assert "done" in marks and "drained" not in marks, (name, marks)
        assert pop.ssh(address, "voicepop-drain status") == "in-service"
        owner = figures[f"{name}-deploy"]["owner"]  # the new deploy owns its host now
        assert owner != owners[name]
        assert pop.ssh(address, "cat /var/lib/voicepop/deploy-owner") == owner
    wait_until(lambda: announcing(pop) == set(servers.values()))


def test_a_server_replacement_previews_with_its_deploy(pop: SandboxUnderTest) -> None:
    """Another instance type replaces every server; each deploy's host is unknown until its
    new server is delivered (the engine sends such a value as its unknown sentinel), and the
    preview still plans every server and deploy."""
    preview = pop.pulumi("preview --json", config(pop, provider__instance_type="bm7.std.16"))
    assert preview.returncode == 0, preview.stdout[-3000:] + preview.stderr[-3000:]
    planned: dict[str, set[str]] = {}
    for step in json.loads(preview.stdout)["steps"]:
        kind = step["urn"].split("::")[-2].rsplit("$", 1)[-1]
        planned.setdefault(kind, set()).add(step["op"])
    assert "replace" in planned[SERVER], planned
    assert planned[HOST_DEPLOY] - {"same"}, planned


def drift(pop: SandboxUnderTest) -> dict[str, Any]:
    """`make drift`'s figures for the sandbox (exit 0 none, 2 drift, 1 error)."""
    result = run_in_project_env(
        f"python -m ops.drift sandbox --json --config-file {config(pop)}",
        env={"PULUMI_BACKEND_URL": pop.backend, **pop.env},
    )
    assert result.returncode in (0, 2), result.stdout[-3000:] + result.stderr[-3000:]
    figures = dict(json.loads(result.stdout))
    assert figures["exit_status"] == result.returncode and figures["errors"] == []
    return figures


def repair(pop: SandboxUnderTest) -> subprocess.CompletedProcess[str]:
    """`make repair` on the sandbox, with the policy pack as the make target runs it."""
    return run_in_project_env(
        f"python -m ops.repair sandbox --config-file {config(pop)} "
        "--policy-pack policies --policy-pack-config policies/config.json",
        env={"PULUMI_BACKEND_URL": pop.backend, **pop.env},
    )


def test_drift_is_found_and_the_repair_deploys_exactly_the_drifted_host_again(
    pop: SandboxUnderTest,
) -> None:
    """Behind Pulumi's back: a sysctl, an extra accept rule and an edited SFU config on one
    host, a tag on another server at the provider. `make drift` finds each; `make repair`
    deploys that host again through `pulumi up` (drained around it, gated), puts the tag
    back, leaves the others alone, and its drift check after ends clean; so does a preview."""
    servers = addresses(pop)
    drifted, tagged = sorted(servers)[:2]
    pop.ssh(
        servers[drifted],
        f"sysctl -qw {BROKEN_SYSCTL}=1 && "
        "nft insert rule inet voicepop input tcp dport 6379 accept && "
        "echo '# edited by hand' >> /etc/janus/janus.jcfg",
    )
    pop.client().add_tag(resources(pop, SERVER)[tagged]["uuid"], "oob:someone")
    found = drift(pop)
    assert found["exit_status"] == 2
    assert found["resources"] == {tagged: "update"}
    assert f"{drifted}: Kernel tuning | Set {BROKEN_SYSCTL}" in found["host_changes"]
    assert [c for c in found["failed_controls"] if f"[{drifted}]" in c], found["failed_controls"]

    before = deployed_at(pop)
    started = time.time()
    repaired = repair(pop)
    assert repaired.returncode == 0, repaired.stdout[-4000:] + repaired.stderr[-3000:]
    first_check, after_repair = repaired.stdout.split(f"deploying again: {drifted}\n")
    assert "⚠️ **Drift found**" in first_check and f"`{drifted}`" in first_check
    assert "✅ **No drift**" in after_repair  # the repair's own check after it
    after = deployed_at(pop)
    assert {name for name in after if after[name] != before[name]} == {f"{drifted}-deploy"}
    marks = deploy_marks(pop, drifted, started)
    assert {"drained", "in service"} <= set(marks), marks  # out of service while redeployed
    assert sysctl(pop, servers[drifted], BROKEN_SYSCTL) == 0
    assert "6379" not in pop.ssh(servers[drifted], "nft list ruleset")
    assert (
        "oob:someone" not in pop.client().get_server(resources(pop, SERVER)[tagged]["uuid"])["tags"]
    )
    assert pop.pulumi("preview --expect-no-changes", config(pop)).returncode == 0
    wait_until(lambda: announcing(pop) == set(servers.values()))


def test_a_forced_redeploy_by_replace_leaves_the_server_announcing(pop: SandboxUnderTest) -> None:
    """`pulumi up --replace` of a host deploy: the new deploy runs and owns the host, and the
    old one's delete leaves the server in service (it used to drain it for good)."""
    servers = addresses(pop)
    forced = sorted(servers)[1]
    urn = next(
        r["urn"]
        for r in pop.state_resources()
        if r["type"] == HOST_DEPLOY and r["urn"].endswith(f"::{forced}-deploy")
    )
    owner_before = deploy_figures(pop)[f"{forced}-deploy"]["owner"]
    result = pop.pulumi(f"up --yes --skip-preview --replace '{urn}'", config(pop))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "a newer deploy of the same host owns it" in result.stdout
    owner = deploy_figures(pop)[f"{forced}-deploy"]["owner"]
    assert owner and owner != owner_before
    assert pop.ssh(servers[forced], "cat /var/lib/voicepop/deploy-owner") == owner
    assert pop.ssh(servers[forced], "voicepop-drain status") == "in-service"
    wait_until(lambda: announcing(pop) == set(servers.values()))


BROKEN_SYSCTL = "net.ipv4.conf.all.accept_redirects"
OPENED_HOST_MENDED = (
    "pkill -f 'http[.]server 6379'; for handle in $(nft -a list chain inet voicepop input "
    "| grep 'dport 6379' | sed 's/.*handle //'); do "
    "nft delete rule inet voicepop input handle $handle; done"
)


def audit(pop: SandboxUnderTest, out: Path) -> subprocess.CompletedProcess[str]:
    """`make audit INVENTORY=...` on the sandbox's inventory, as for production hosts."""
    out.mkdir(exist_ok=True)
    write_inventories("sandbox", pop.outputs(), out)
    return run_in_project_env(
        f"python -m audit --inventory {out / 'sandbox.json'} --out {out / 'report'}"
    )


def break_host(pop: SandboxUnderTest, address: str) -> None:
    """A sysctl flipped, the firewall flushed and the SFU's sandboxing removed, by hand."""
    pop.ssh(
        address,
        f"sysctl -qw {BROKEN_SYSCTL}=1 && nft flush ruleset && rm {JANUS_SANDBOX.dropin_path} "
        "&& systemctl daemon-reload && systemctl restart janus",
    )


def mend_host(pop: SandboxUnderTest, address: str) -> None:
    dropin = render_dropin(JANUS_SANDBOX).replace("'", "'\\''")
    pop.ssh(
        address,
        f"sysctl -qw {BROKEN_SYSCTL}=0 && systemctl restart nftables && "
        f"printf '%s' '{dropin}' > {JANUS_SANDBOX.dropin_path} && systemctl daemon-reload "
        "&& systemctl restart janus",
    )


def test_the_audit_names_the_broken_host_its_controls_expected_and_observed(
    pop: SandboxUnderTest, tmp_path: Path
) -> None:
    servers = addresses(pop)
    broken = sorted(servers)[1]
    break_host(pop, servers[broken])
    try:
        result = audit(pop, tmp_path)
    finally:
        mend_host(pop, servers[broken])
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "report/audit.json").read_text())
    failed = {
        (control["id"], r["host"]): r
        for control in report["controls"]
        for r in control["results"]
        if r["status"] == "failed"
    }
    assert {host for _, host in failed} == {broken}
    failed_ids = {control for control, _ in failed}
    assert {"VP-KERN-01", "VP-FW-01", "VP-HARD-06"} <= failed_ids, failed_ids
    sysctls = failed[("VP-KERN-01", broken)]
    assert f'"{BROKEN_SYSCTL}": "0"' in sysctls["expected"]
    assert f'"{BROKEN_SYSCTL}": "1"' in sysctls["observed"]
    sandboxing = failed[("VP-HARD-06", broken)]
    assert "exposure <= 2.5" in sandboxing["expected"]
    assert "drop-in missing or edited" in sandboxing["observed"]
    assert report["statistics"]["hosts"] == 3
    assert f"MANDATORY FAILED VP-KERN-01 on {broken}" in result.stdout

    suites = JUnitXml.fromfile(str(tmp_path / "report/audit.junit.xml"))
    cases = [case for suite in suites for case in suite]
    assert len(cases) == report["statistics"]["controls"] * 3  # one per control per host
    kern = next(c for c in cases if c.name == f"test_every_declared_sysctl_is_in_force[{broken}]")
    properties = {p.name: p.value for p in kern.child(Properties)}  # type: ignore[no-untyped-call]
    assert properties["control_id"] == "VP-KERN-01"
    assert properties["severity"] == "mandatory"
    assert properties["host"] == broken
    assert BROKEN_SYSCTL in properties["observed"]
    assert not kern.is_passed

    page = (tmp_path / "report/audit.html").read_text()
    assert "FAIL" in page and broken in page and "VP-HARD-06" in page

    # one accept rule more and a service nobody declared: every presence check still passes,
    # the exact comparison and the listeners' check do not
    opened = sorted(servers)[2]
    pop.ssh(servers[opened], "nft insert rule inet voicepop input tcp dport 6379 accept")
    pop.ssh(servers[opened], "nohup python3 -m http.server 6379 >/dev/null 2>&1 &")
    try:
        found = audit(pop, tmp_path / "opened")
    finally:
        pop.ssh(servers[opened], OPENED_HOST_MENDED)
    assert found.returncode == 1, found.stdout[-3000:]
    report = json.loads((tmp_path / "opened/report/audit.json").read_text())
    results = {
        (control["id"], r["host"]): r for control in report["controls"] for r in control["results"]
    }
    failed_now = {key for key, r in results.items() if r["status"] == "failed"}
    assert failed_now == {("VP-FW-07", opened), ("VP-FW-09", opened)}, failed_now
    exact = results[("VP-FW-07", opened)]
    assert "tcp dport 6379 accept" in exact["observed"]
    assert "tcp dport 6379 accept" not in exact["expected"]
    assert "tcp 0.0.0.0:6379" in results[("VP-FW-09", opened)]["observed"]
    # a pass reports what was read on the host
    passed = results[("VP-FW-07", broken)]
    assert (
        passed["status"] == "passed"
        and "tcp dport 22 ip saddr @admin4 accept" in (passed["observed"])
    )
    kernel = results[("VP-KERN-01", opened)]
    assert kernel["status"] == "passed" and BROKEN_SYSCTL in kernel["observed"]

    mended = audit(pop, tmp_path / "mended")
    assert mended.returncode == 0, mended.stdout[-3000:]


def test_the_policy_pack_checks_the_stacks_state_with_its_config(pop: SandboxUnderTest) -> None:
    """`make policy-analyze`: the pack over the state, the stack's config passed to it."""
    env = {"PULUMI_BACKEND_URL": pop.backend, **pop.env}
    pack = "--policy-pack policies --policy-pack-config policies/config.json"
    analyzed = run_in_project_env(
        f"tools/stack-env.sh sandbox python -m policies.analyze sandbox "
        f"--config-file {config(pop)} {pack}",
        env=env,
    )
    assert analyzed.returncode == 0, analyzed.stdout[-3000:] + analyzed.stderr[-2000:]
    # the engine's own command hands the pack no config: the policies needing it say so
    bare = pop.pulumi(f"policy analyze --stack sandbox {pack}", with_config=False)
    assert bare.returncode != 0
    assert "did not reach the policy pack" in bare.stdout


COUNTED = ("create", "update", "replace", "delete", "same")
UP_COUNTS = {
    "create": r"\+ (\d+) created",
    "update": r"~ (\d+) updated",
    "delete": r"- (\d+) deleted",
    "replace": r"\+-(\d+) replaced",
}


def pr_comment(pop: SandboxUnderTest, stack_config: Path) -> tuple[str, dict[str, int]]:
    """The pull-request comment for the sandbox changed to `stack_config`, and its counts."""
    out = pop.root / "pr-comment.md"
    result = run_in_project_env(
        f"python -m ops.preview comment --stacks sandbox --config-file {stack_config} --out {out}",
        env={"PULUMI_BACKEND_URL": pop.backend, **pop.env},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text()
    row = re.search(r"\| `sandbox` \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", text)
    assert row, text[:2000]
    return text, dict(zip(COUNTED, map(int, row.groups()), strict=True))


def up_counts(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """What `pulumi up` reports it did."""
    found = {op: re.search(pattern, result.stdout) for op, pattern in UP_COUNTS.items()}
    return {op: int(match.group(1)) for op, match in found.items() if match}


def changes_of(counts: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in counts.items() if op != "same" and n}


# --- rolling deploys: a canary, then batches of two ---------------------------------------

ROLLOUT: dict[str, Any] = {"deploy__rollout": {"canary": 1, "batch": 2}}
TUNED: dict[str, Any] = {"tuning__kernel__udp_rmem_min_bytes": 32_768}
# the drains and the failed gate of the tests below, shorter than the sandbox's (5 s, 10 s)
QUICK: dict[str, Any] = {"bgp__drain_wait_s": 2, "sfu__call_gate__setup_timeout_s": 6}
MEDIA_BLOCK = "vptest-media"  # a table of the test's own: the firewall role keeps to its own


class UpstreamWatch:
    """The upstream router's next hops for the anycast prefix, read every 0.2 s while a
    rollout runs (failed reads are skipped, not counted as losses)."""

    def __init__(self, sandbox: SandboxUnderTest) -> None:
        self.control = str(sandbox.root / "sandbox" / "upstream" / "bird.ctl")
        self.seen: list[tuple[float, set[str]]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self._done.is_set():
            result = subprocess.run(
                ["birdc", "-s", self.control, "show", "route", "all"],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0:
                hops = {p.next_hop for p in parse_routes(result.stdout) if p.prefix == ANYCAST_V4}
                self.seen.append((time.time(), hops))
            time.sleep(0.2)

    def __enter__(self) -> "UpstreamWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def fewest(self) -> int:
        return min(len(hops) for _, hops in self.seen)


def deploy_marks(pop: SandboxUnderTest, server: str, since: float) -> dict[str, float]:
    """The host's deploy log's timestamped marks (start, drained, deployed, verified, gate
    passed, in service, done, failed), if its deploy ran after `since`."""
    log = pop.root / "deploy-logs" / f"{server}.log"
    marks: dict[str, float] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        if line.startswith(DEPLOY_MARK):
            _, _, at, event = line.split(" ", 3)
            marks.setdefault(event.split(" (")[0].split(" wave")[0], float(at))
    return marks if marks.get("start", 0) > since else {}


def assert_in_waves(pop: SandboxUnderTest, since: float, waves: list[list[str]]) -> None:
    """Each wave started only after every deploy of the wave before it was done."""
    marks = {server: deploy_marks(pop, server, since) for wave in waves for server in wave}
    for earlier, later in itertools.pairwise(waves):
        done = max(marks[s]["done"] for s in earlier)
        started = min(marks[s]["start"] for s in later)
        assert done <= started, f"{later} started before {earlier} was done: {marks}"


def block_media(pop: SandboxUnderTest, address: str) -> None:
    """The media range dropped before it reaches the input hook: the verification passes (a
    table on the input hook would fail the exact audit's VP-FW-08), only a call finds it."""
    pop.ssh(
        address,
        f"nft add table inet {MEDIA_BLOCK} && nft add chain inet {MEDIA_BLOCK} pre "
        "'{ type filter hook prerouting priority -10; }' && "
        f"nft add rule inet {MEDIA_BLOCK} pre udp dport 10000-10999 drop; echo done",
    )


def test_one_tuning_knob_rolls_out_in_waves_without_draining(pop: SandboxUnderTest) -> None:
    """A sysctl over three servers, a canary then a batch of two: in waves, no server taken
    out of service, no SFU restarted, only the tuning changed."""
    servers = addresses(pop)
    machines = {n: o["uuid"] for n, o in resources(pop, SERVER).items()}
    pids = {name: sfu_pid(pop, address) for name, address in servers.items()}
    before = deployed_at(pop)
    tuned = config(pop, **TUNED, **ROLLOUT)
    comment, planned = pr_comment(pop, tuned)
    assert "Dangerous" not in comment
    assert "| Kernel tuning | Set net.ipv4.udp_rmem_min |" in comment  # the roles' plan
    assert (
        "wave 1 of 2 (canary): `sbx1-sfu01`; wave 2 of 2: `sbx1-sfu02`, `sbx1-sfu03`\n"
    ) in comment, comment[:3000]
    since = time.time()
    with UpstreamWatch(pop) as watch:
        result = pop.up(tuned)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # each host deploy and its attempt marker
    assert changes_of(planned) == up_counts(result) == {"update": 6}, (
        planned,
        result.stdout[-2000:],
    )
    assert_in_waves(pop, since, [["sbx1-sfu01"], ["sbx1-sfu02", "sbx1-sfu03"]])
    assert watch.fewest == 3, "a server was taken out of service for a sysctl"
    for name, address in servers.items():
        assert sysctl(pop, address, "net.ipv4.udp_rmem_min") == 32_768
        assert sfu_pid(pop, address) == pids[name], "the SFU was restarted for a sysctl"
        assert "drained" not in deploy_marks(pop, name, since)
    after = deployed_at(pop)
    assert all(after[name] != before[name] for name in before), "every host re-verified"
    deploys = pop.outputs()["deploys"]
    changed = {n: d["changed_operations"] for n, d in deploys.items()}
    assert all(0 < count <= 2 for count in changed.values()), changed
    assert not any(d["drained"] for d in deploys.values())
    assert {n: o["uuid"] for n, o in resources(pop, SERVER).items()} == machines


def test_adding_a_server_delivers_deploys_and_verifies_only_it(pop: SandboxUnderTest) -> None:
    before = deployed_at(pop)
    knob = {"tuning__kernel__udp_rmem_min_bytes": 32_768}
    comment, planned = pr_comment(pop, config(pop, count=4, **knob))
    assert "Dangerous" not in comment
    result = pop.up(config(pop, count=4, **knob))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # the server, its component, its deploy and its health check; the PoP's check and records
    # its component, server, health check, deploy and the deploy's attempt marker; the
    # others' deploys only moved to other waves: nothing to do, no change
    assert changes_of(planned) == up_counts(result) == {"create": 5, "update": 2}
    after = deployed_at(pop)
    assert {n: after[n] for n in before} == before, "the other servers were not re-deployed"
    servers = addresses(pop)
    new = servers["sbx1-sfu04"]
    assert pop.outputs()["deploys"]["sbx1-sfu04"]["checks_passed"] == checks_on_a_container()
    assert sysctl(pop, new, "net.ipv4.udp_rmem_min") == 32_768
    wait_until(lambda: new in announcing(pop))
    assert a_records(pop)[f"sbx1-sfu04.{ZONE}"] == [new]


def test_an_sfu_change_rolls_out_drained_wave_by_wave_stops_at_a_failed_gate_and_resumes(
    pop: SandboxUnderTest,
) -> None:
    """Four servers, a canary then batches of two; the SFU restarts, so each server is drained
    first and returned only after its gate. sbx1-sfu03's media is blocked: wave 2 fails, the
    rollout stops there, sbx1-sfu04 keeps its configuration and its announcement. Unblocked,
    the re-run returns sbx1-sfu03 to service and goes on with wave 3."""
    servers = addresses(pop)
    failing, untouched = servers["sbx1-sfu03"], servers["sbx1-sfu04"]
    pids = {name: sfu_pid(pop, address) for name, address in servers.items()}
    changed = config(pop, count=4, sfu__log_level=5, **TUNED, **ROLLOUT, **QUICK)
    comment, _ = pr_comment(pop, changed)
    assert (
        "wave 1 of 3 (canary): `sbx1-sfu01` (drained first: the SFU restarts); "
        "wave 2 of 3: `sbx1-sfu02`, `sbx1-sfu03` (drained first: the SFU restarts); "
        "wave 3 of 3: `sbx1-sfu04` (drained first: the SFU restarts)"
    ) in comment, comment[:3000]
    block_media(pop, failing)  # its deploy and verification pass; no call gets through
    since = time.time()
    try:
        with UpstreamWatch(pop) as first_watch:
            stopped = pop.up(changed)
    finally:
        pop.ssh(failing, f"nft delete table inet {MEDIA_BLOCK}; echo done")
    assert stopped.returncode != 0
    report = stopped.stdout + stopped.stderr
    assert f"sbx1-sfu03: the synthetic call through its SFU ({failing})" in report, report[-3000:]
    # the run's outcome says the server was left out of service
    assert "sbx1-sfu03 is left drained (out of service, announcing nothing)" in report
    first = {name: deploy_marks(pop, name, since) for name in servers}
    assert first["sbx1-sfu01"]["done"] <= min(
        first[s]["start"] for s in ("sbx1-sfu02", "sbx1-sfu03")
    )
    assert first["sbx1-sfu02"]["done"] and "failed" in first["sbx1-sfu03"]
    assert first["sbx1-sfu04"] == {}, "wave 3 started after a failed wave"
    assert "debug_level = 4" in pop.ssh(untouched, "cat /etc/janus/janus.jcfg")
    assert all(untouched in hops for _, hops in first_watch.seen), "wave 3 left service"
    # the failed server stays out of service, not returned with a failed gate
    assert pop.ssh(failing, "voicepop-drain status") == "drained"
    assert failing not in announcing(pop)

    resumed_at = time.time()
    with UpstreamWatch(pop) as second_watch:
        resumed = pop.up(changed)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
    assert deploy_marks(pop, "sbx1-sfu01", resumed_at) == {}, "the canary was not deployed again"
    assert_in_waves(pop, resumed_at, [["sbx1-sfu03"], ["sbx1-sfu04"]])
    # never more than one wave out of service: the batch of two at most
    assert min(first_watch.fewest, second_watch.fewest) == 2, first_watch.seen
    last_run = dict.fromkeys(("sbx1-sfu01", "sbx1-sfu02"), since)
    last_run |= dict.fromkeys(("sbx1-sfu03", "sbx1-sfu04"), resumed_at)
    for name, address in servers.items():
        marks = deploy_marks(pop, name, last_run[name])
        # drained before the SFU restarted (sbx1-sfu03: by the failed run, kept drained), and
        # returned to service only after its gate passed
        assert marks["start"] < marks["drained"] < marks["deployed"] < marks["gate passed"]
        assert marks["gate passed"] < marks["in service"] <= marks["done"]
        assert sfu_pid(pop, address) != pids[name]
        assert "debug_level = 5" in pop.ssh(address, "cat /etc/janus/janus.jcfg")
        assert pop.ssh(address, "voicepop-drain status") == "in-service"
    assert all(d["drained"] for d in pop.outputs()["deploys"].values())
    wait_until(lambda: announcing(pop) == set(servers.values()))
    # the rollout's timeline, kept with the test's sandbox (bench/rollout_timeline.py draws it)
    (pop.root / "rollout-timeline.json").write_text(
        json.dumps(
            {
                "runs": [first, {n: deploy_marks(pop, n, resumed_at) for n in servers}],
                "upstream": [(at, len(h)) for at, h in first_watch.seen + second_watch.seen],
                "waves": [["sbx1-sfu01"], ["sbx1-sfu02", "sbx1-sfu03"], ["sbx1-sfu04"]],
            }
        )
    )


def test_removing_a_server_drains_it_before_release(pop: SandboxUnderTest) -> None:
    leaving = addresses(pop)["sbx1-sfu04"]
    seen: list[list[tuple[int, int]]] = []  # the leaving server's path, as the upstream saw it
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            paths = [p for p in learned(pop) if p.next_hop == leaving and p.prefix == ANYCAST_V4]
            seen.append(paths[0].communities if paths else [])
            time.sleep(0.3)

    comment, planned = pr_comment(pop, config(pop, count=3, sfu__log_level=5, **TUNED, **QUICK))
    assert "**server released**: no longer in the spec — `sbx1-sfu04`" in comment
    assert "**DNS record deleted**: [sbx1-sfu04.sandbox.voice.test. A]" in comment
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = pop.up(config(pop, count=3, sfu__log_level=5, **TUNED, **QUICK))
    finally:
        done.set()
        watcher.join()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert changes_of(planned) == up_counts(result) == {"update": 2, "delete": 5}
    tagged = [i for i, communities in enumerate(seen) if GRACEFUL_SHUTDOWN in communities]
    assert tagged, "the upstream never saw the leaving server's route tagged GRACEFUL_SHUTDOWN"
    assert seen[-1] == [], "the route outlived the release"
    assert len(pop.live_servers("sbx1-sfu04")) == 0
    assert f"sbx1-sfu04.{ZONE}" not in a_records(pop)
    assert sorted(deployed_at(pop)) == [f"sbx1-sfu0{n}-deploy" for n in (1, 2, 3)]


def test_a_broken_deploy_names_host_and_step_and_a_fixed_rerun_converges(
    pop: SandboxUnderTest,
) -> None:
    broken = addresses(pop)["sbx1-sfu02"]
    # the SFU's package unavailable on one host: removed, and pinned away from apt
    pop.ssh(
        broken,
        f"printf 'Package: janus\\nPin: release *\\nPin-Priority: -1\\n' > {NO_JANUS}"
        " && apt-get remove -y -q janus >/dev/null 2>&1; echo done",
    )
    result = pop.up(config(pop))  # the knob back to its default: every host re-deploys
    assert result.returncode != 0
    report = result.stdout + result.stderr
    assert "sbx1-sfu02: site deploy failed at step 'SFU | Install janus'" in report
    assert "sbx1-sfu01: site deploy failed" not in report
    assert sysctl(pop, addresses(pop)["sbx1-sfu01"], "net.ipv4.udp_rmem_min") == 16_384
    before = deployed_at(pop)
    # the failed host stays marked in the state: even with the change reverted (which the
    # others undo), it is deployed again, not left half-done with its old trigger
    reverted = pop.pulumi("preview --json", config(pop, tuning__kernel__udp_rmem_min_bytes=32_768))
    planned = {
        step["urn"].rsplit("::", 1)[1]: step["op"] for step in json.loads(reverted.stdout)["steps"]
    }
    assert planned["sbx1-sfu02-deploy"] == "update", planned
    exported = pop.pulumi("stack export", with_config=False)
    assert sandbox_settings.UPSTREAM_MD5 not in exported.stdout, "a secret in clear in the state"
    assert sandbox_settings.SFU_TOKEN_SECRET not in exported.stdout, "the SFU's token secret too"
    assert sandbox_settings.ACME_ROUTE53_SECRET not in exported.stdout, "the ACME client's key"
    logs = "".join(path.read_text() for path in (pop.root / "deploy-logs").glob("*.log"))
    assert logs, "no deploy logs to look through"
    for secret in (sandbox_settings.ACME_ROUTE53_SECRET, sandbox_settings.SFU_TOKEN_SECRET):
        assert secret not in logs + report, "a secret in the deploy's logs or output"
    assert "PRIVATE KEY" not in logs + exported.stdout, "a private key left the host"

    pop.ssh(broken, f"rm -f {NO_JANUS}; echo done")
    fixed = pop.up(config(pop))
    assert fixed.returncode == 0, fixed.stdout[-4000:] + fixed.stderr[-4000:]
    after = deployed_at(pop)
    assert after["sbx1-sfu02-deploy"] != before["sbx1-sfu02-deploy"]
    assert {n: after[n] for n in after if n != "sbx1-sfu02-deploy"} == {
        n: before[n] for n in before if n != "sbx1-sfu02-deploy"
    }, "the hosts that succeeded were not deployed again"
    assert pop.ssh(broken, "systemctl is-active janus") == "active"
    assert len(pop.live_servers()) == 3
    assert sorted(resources(pop, HOST_DEPLOY)) == [
        f"sbx1-sfu0{n}-{kind}" for n in (1, 2, 3) for kind in ("attempt", "deploy")
    ]


def test_a_reinstall_wipes_the_hosts_and_their_deploy_runs_again(pop: SandboxUnderTest) -> None:
    servers = addresses(pop)
    before = deployed_at(pop)
    pop.ssh(servers["sbx1-sfu01"], "touch /root/from-before-the-reinstall")
    reinstall = config(pop, provider__os="debian-13")
    preview = pop.pulumi("preview --json", reinstall)
    assert preview.returncode == 0, preview.stderr[-3000:]
    planned = {
        step["urn"].rsplit("::", 1)[1]: step["op"] for step in json.loads(preview.stdout)["steps"]
    }
    assert {planned[f"{name}-deploy"] for name in servers} == {"update"}
    result = pop.up(reinstall)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    after = deployed_at(pop)
    assert all(after[name] != before[name] for name in before)
    marker = pop.ssh(servers["sbx1-sfu01"], "ls /root/from-before-the-reinstall || echo wiped")
    assert marker == "wiped"
    for address in servers.values():
        assert pop.ssh(address, "systemctl is-active janus bird") == "active\nactive"
    assert addresses(pop) == servers


def test_destroy_leaves_nothing(pop: SandboxUnderTest) -> None:
    result = pop.pulumi("destroy --yes --skip-preview", config(pop, provider__os="debian-13"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for name in ("sbx1-sfu01", "sbx1-sfu02", "sbx1-sfu03"):  # each drained before its release
        assert f"{name}: drained" in result.stdout, result.stdout[-4000:]
    assert pop.live_servers() == []
    assert pop.state_resources() == []
    assert zone_records(pop.route53_endpoint, ZONE) == []
    wait_until(lambda: announcing(pop) == set(), limit_s=15)
