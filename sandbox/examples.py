"""`make examples`: every file of docs/examples/ from one sandbox run, by the commands the
README names, so that what the README shows is what the project does. Run after `make up`
(the sandbox PoP deployed); it leaves the PoP as it found it (the drift it makes is repaired,
the change it previews is never applied).

    python -m sandbox.examples [--out docs/examples]

Writes: pr-comment.md (a tuning knob and a server fewer, previewed with the policy pack),
drift-report.md and repair.txt (a sysctl, an extra accept rule and a provider tag changed
behind Pulumi's back, found, then repaired through `pulumi up`), audit/ (JSON, JUnit, HTML
and a screenshot of it), quality/ (one call's JSON and its summary, a call on the anycast
address from the callers' namespace, the exporter's metrics), fleet/ (a preview of the
sample stacks, an up of simulated PoPs in waves stopped by a broken one) and monitoring/
(the sandbox watch's scorecard, its Prometheus graph of the mesh's MOS, the alert rules'
unit tests)."""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from deploy.drain import run_on
from ops.fleet import simulate
from ops.inventories import inventory_hosts, stack_outputs
from ops.scorecard.prometheus import SERVICE_CALLS, ScorecardError, by_pop
from plugins.flexmetal.client import FlexMetalClient, RetryPolicy
from quality.report import CallReport, summary
from roles.host import HostEntry
from sandbox import callers, settings
from stacks.anycast_addresses import anycast_service_addresses
from stacks.spec import parse_pop
from stacks.spec.loading import read_stack_file

PROJECT_DIR = settings.PROJECT_DIR
SANDBOX_STACKS = ("sandbox", "sandbox2")  # the sandbox's two PoPs: never the sample fleet's
SAMPLE_PASSPHRASE = "voicepop-sample-stacks"  # the sample production stacks' (README)
CHROMIUM = "/usr/bin/chromium"
POLICY_FLAGS = ["--policy-pack", "policies", "--policy-pack-config", "policies/config.json"]
DRIFTED_SYSCTL = "net.ipv4.conf.all.accept_redirects"


def run(
    command: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`command` from the project with tools/env.sh sourced (as make runs its recipes)."""
    shell = " ".join(f"'{part}'" if " " in part else part for part in command)
    return subprocess.run(
        ["bash", "-c", f". tools/env.sh && {shell}"],
        cwd=PROJECT_DIR,
        env={**os.environ, **settings.CALLER_ENVIRONMENT, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
    )


def in_sandbox(*command: str) -> subprocess.CompletedProcess[str]:
    return run(["tools/stack-env.sh", "sandbox", *command])


def checked(result: subprocess.CompletedProcess[str], what: str, ok: Sequence[int] = (0,)) -> str:
    if result.returncode not in ok:
        sys.exit(f"examples: {what} exited {result.returncode}:\n{result.stdout[-3000:]}"
                 f"\n{result.stderr[-3000:]}")  # fmt: skip
    return result.stdout


def transcript(command: str, output: str, note: str = "") -> str:
    return f"$ {command}" + (f"   # {note}" if note else "") + "\n" + output


# --- calls ---------------------------------------------------------------------------------


def write_calls(hosts: list[HostEntry], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    host = hosts[-1]
    raw = checked(
        run(["python", "-m", "quality", "call", host.address, "--server", host.name,
             "--name", host.dns_names[0], "--duration", "5", "--json", "--full-reference"]),
        "the call",
    )  # fmt: skip
    report = CallReport(**json.loads(raw))
    (out / "call.json").write_text(json.dumps(json.loads(raw), indent=2) + "\n")
    (out / "call.txt").write_text(summary(report).rstrip("\n") + "\n")  # the same call
    anycast = anycast_service_addresses(pop_spec())[0]
    through = checked(
        run(callers.command_in_namespace(
            [sys.executable, "-m", "quality", "call", anycast, "--service",
             "--name", host.dns_names[-1], "--duration", "5"]
        )),
        "the call on the anycast address",
    )  # fmt: skip
    (out / "call-anycast.txt").write_text(through)
    (out / "metrics.txt").write_text(exporter_metrics([host.name for host in hosts]))


def call_up(metrics: str, server: str) -> bool:
    """The exporter's page has a call of `server` that carried media."""
    line = rf'^voicepop_call_up{{[^}}]*target_server="{re.escape(server)}"}} 1\.0$'
    return re.search(line, metrics, re.MULTILINE) is not None


def exporter_metrics(servers: list[str]) -> str:
    """The exporter's page once it has a call of every server."""
    port = free_port()
    inventory = PROJECT_DIR / "inventories" / "sandbox.json"
    exporter = subprocess.Popen(
        [sys.executable, "-m", "quality", "exporter", "--inventory", str(inventory),
         "--interval", "60", "--duration", "3", "--listen", f"127.0.0.1:{port}"],
        cwd=PROJECT_DIR, env={**os.environ, **settings.CALLER_ENVIRONMENT},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
                    text = page.read().decode()
            except OSError:
                continue
            if all(call_up(text, name) for name in servers):
                return "\n".join(line for line in text.splitlines() if "voicepop_" in line) + "\n"
        sys.exit("examples: the exporter had no call of every server within 120 s")
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)


def pop_spec() -> Any:
    stack_file = read_stack_file(PROJECT_DIR / "Pulumi.sandbox.yaml")
    return parse_pop(stack_file.raw_pop, stack_file.context, "Pulumi.sandbox.yaml")


# --- the PR comment ------------------------------------------------------------------------


def write_pr_comment(out: Path) -> None:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.sandbox.yaml").read_text())
    pop = document["config"]["voicepop:pop"]
    pop["servers"]["count"] = pop["servers"]["count"] - 1
    pop.setdefault("tuning", {}).setdefault("kernel", {})["udp_rmem_min_bytes"] = 32_768
    with tempfile.TemporaryDirectory() as folder:
        changed = Path(folder) / "Pulumi.sandbox.yaml"
        changed.write_text(yaml.safe_dump(document, sort_keys=False))
        checked(
            run(["python", "-m", "ops.preview", "comment", "--stacks", "sandbox",
                 "--config-file", str(changed), *POLICY_FLAGS,
                 "--out", str(out / "pr-comment.md")]),
            "the PR comment",
        )  # fmt: skip


# --- drift and its repair ------------------------------------------------------------------


def ssh(host: HostEntry, command: str) -> str:
    status, output = run_on(host, command)
    if status != 0:
        sys.exit(f"examples: {command!r} on {host.name}: {output}")
    return output


def write_drift_and_repair(hosts: list[HostEntry], out: Path) -> None:
    drifted = hosts[0]
    ssh(drifted, f"sysctl -qw {DRIFTED_SYSCTL}=1")
    ssh(drifted, "nft insert rule inet voicepop input tcp dport 6379 accept")
    tag_a_server(hosts[1].name, "oob:someone")
    checked(
        in_sandbox("python", "-m", "ops.drift", "sandbox",
                   "--out", str(out / "drift-report.md")),
        "make drift",
        ok=(2,),
    )  # fmt: skip
    repaired = in_sandbox("python", "-m", "ops.repair", "sandbox", *POLICY_FLAGS)
    output = checked(repaired, "make repair")
    (out / "repair.txt").write_text(
        transcript("make repair STACK=sandbox", output, f"after {drifted.name} drifted")
    )


def tag_a_server(name: str, tag: str) -> None:
    """A tag added at the provider behind Pulumi's back (its API, as a person would)."""
    client = FlexMetalClient(
        f"http://{settings.STANDIN_LISTEN}/v3", settings.API_TOKEN, RetryPolicy(10.0)
    )
    [server] = [s for s in client.list_servers() if s.get("name") == name and
                s.get("status") != "released"]  # fmt: skip
    client.add_tag(server["uuid"], tag)


# --- the audit -----------------------------------------------------------------------------


def write_audit(out: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        checked(in_sandbox("python", "-m", "audit", "--stack", "sandbox", "--out", folder),
                "make audit")  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        for name in ("audit.json", "audit.junit.xml", "audit.html"):
            shutil.copy(Path(folder) / name, out / name)
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={folder}/profile", f"--screenshot={out / 'audit.png'}",
             "--window-size=1280,900", (out / "audit.html").as_uri()],
            capture_output=True,
            timeout=120,
            check=True,
        )  # fmt: skip


# --- fleet runs ----------------------------------------------------------------------------


def write_fleet(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    preview = run(
        ["python", "-m", "ops.fleet", "preview", "--skip", *SANDBOX_STACKS, *POLICY_FLAGS],
        env={"PULUMI_CONFIG_PASSPHRASE": SAMPLE_PASSPHRASE},
    )
    (out / "fleet-preview.txt").write_text(
        transcript('PULUMI_CONFIG_PASSPHRASE=... make fleet-preview SKIP="sandbox sandbox2"',
                   checked(preview, "make fleet-preview"),
                   "the sample stacks, never run: everything to create")
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with simulate.running_standins(root, free_port(), free_port()) as at:
            simulate.write_fleet(root / "fleet", 6, 5, at)
            broken = root / "fleet" / "Pulumi.xad1.yaml"
            broken.write_text(
                broken.read_text().replace(
                    "simulate: true", "simulate: true\n      rollout: {batch: '0'}"
                )
            )
            command = ["python", "-m", "ops.fleet", "up", "--project-dir", str(root / "fleet"),
                       "--canary", "xaa1", "--wave-size", "2"]  # fmt: skip
            up = run(command, env=simulate.fleet_environment(root))
            text = checked(up, "the simulated fleet's up", ok=(1,)).replace(str(root), "FLEET")
    (out / "fleet-up-waves.txt").write_text(
        transcript("python -m ops.fleet up --project-dir FLEET --canary xaa1 --wave-size 2",
                   text, "6 simulated PoPs of 5 servers; xad1's stack file has a bad knob")
    )  # fmt: skip


# --- the sandbox's watch: scorecard, graph, alert rules ------------------------------------

MOS_PANEL = 'voicepop_call_mos{path="unicast"}'


def prometheus_has_calls(base: str) -> bool:
    """The watch's Prometheus holds calls to the service address (the scorecard's reading)."""
    placed = f"count by (target_pop) (voicepop_calls_total{{{SERVICE_CALLS}}})"
    try:
        return bool(by_pop(base, placed, time.time()))
    except ScorecardError:
        return False  # still starting


def write_watch(out: Path) -> None:
    """What the sandbox's watch (started by `make up`) has seen so far."""
    base = f"http://{settings.PROMETHEUS_LISTEN}"
    deadline = time.monotonic() + 180
    while not prometheus_has_calls(base):
        if time.monotonic() > deadline:
            sys.exit(f"examples: the watch's Prometheus ({base}) has no call: `make up` starts it")
        time.sleep(5)
    out.mkdir(parents=True, exist_ok=True)
    checked(
        run(["python", "-m", "ops.scorecard", "--prometheus", base, "--last", "1h",
             "--inventory", "inventories/sandbox.json", "--drills",
             "bench/results/reconnect.json", "--step", "5", "--out", str(out)]),
        "make scorecard",
    )  # fmt: skip
    rules = run(["promtool", "test", "rules", "monitoring/rules/voicepop.test.yml"])
    (out / "rules-test.txt").write_text(
        transcript("promtool test rules monitoring/rules/voicepop.test.yml",
                   checked(rules, "the rules' unit tests"))
    )  # fmt: skip
    graph = urllib.parse.urlencode({"g0.expr": MOS_PANEL, "g0.tab": "0", "g0.range_input": "15m"})
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={folder}/profile", f"--screenshot={out / 'prometheus-mos.png'}",
             "--window-size=1280,900", "--virtual-time-budget=15000", f"{base}/graph?{graph}"],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.examples", description=__doc__)
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "docs" / "examples")
    args = parser.parse_args(argv)
    hosts = inventory_hosts(stack_outputs("sandbox"))
    if not hosts:
        sys.exit("examples: the sandbox PoP has no delivered server: run `make up` first")
    steps: list[tuple[str, Callable[[], None]]] = [
        ("calls", lambda: write_calls(hosts, args.out / "quality")),
        ("PR comment", lambda: write_pr_comment(args.out)),
        ("drift and repair", lambda: write_drift_and_repair(hosts, args.out)),
        ("audit", lambda: write_audit(args.out / "audit")),
        ("fleet runs", lambda: write_fleet(args.out / "fleet")),
        ("the watch", lambda: write_watch(args.out / "monitoring")),
    ]
    for name, step in steps:
        started = time.monotonic()
        step()
        print(f"examples: {name} ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
