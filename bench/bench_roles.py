"""Benchmark: the site deploy and the verification suites on sandbox hosts.

Usage (as root, after `make setup`): .venv/bin/python bench/bench_roles.py
Runs its own sandbox (bridge vpbench0, 172.30.205.0/24, stand-in port 28787) with 3 container
hosts and 1 VM host of the sandbox PoP, and prints: the first site deploy and a no-op re-run on
the 3 containers and on the VM, the verification suites on each host alone, and on all 4 at
once (one xdist worker per host).
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from deploy.verification import verification_command
from roles.host import HostEntry
from roles.inventory import render_pyinfra
from stacks.host_data import host_data
from stacks.spec import parse_pop
from stacks.spec.checks import StackContext
from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import SandboxUnderTest
from verify.inventory import render_verify

SETTINGS = {
    "VOICEPOP_SANDBOX_BRIDGE": "vpbench0",
    "VOICEPOP_SANDBOX_NETWORK": "172.30.205.0/24",
    "VOICEPOP_SANDBOX_STANDIN_PORT": "28787",
    "VOICEPOP_SANDBOX_ROUTE53_PORT": "28788",
    "VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT": "25000",
    "VOICEPOP_SANDBOX_DNS_PORT": "28053",
}
CONTAINERS = [("sbx1-sfu01", "bm7.std.8"), ("sbx1-sfu02", "bm7.std.8"), ("sbx1-sfu03", "bm7.std.8")]
VM = ("sbx1-sfu04", "bm9.std.16")


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def write_inventories(folder: Path, name: str, hosts: list[dict[str, Any]]) -> Path:
    """Both inventories as `python -m ops.inventories` renders them."""
    entries = [HostEntry.model_validate(host) for host in hosts]
    (folder / f"{name}.py").write_text(render_pyinfra(entries))
    (folder / f"{name}.json").write_text(render_verify(entries))
    return folder / name


def deploy(inventory: Path) -> float:
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    return timed([pyinfra, "-y", "--no-wait", f"{inventory}.py", "roles/site.py"])


def verify(inventory: Path, workers: int) -> float:
    return timed(
        verification_command("-n", str(workers)),
        {"VOICEPOP_VERIFY_INVENTORY": f"{inventory}.json"},
    )


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-roles-"))
    sandbox = SandboxUnderTest(folder, settings=SETTINGS)
    if (started := sandbox.sandbox("up")).returncode != 0:
        sys.exit(started.stdout + started.stderr)
    try:
        sandbox.standin("settings", "step_delay_s=0.05", "release_delay_s=0.05")
        raw = yaml.safe_load(sandbox.config().read_text())["config"]["voicepop:pop"]
        context = StackContext(stack="sandbox", config_keys={"bgpMd5Upstream": True})
        spec = parse_pop(raw, context, "Pulumi.sandbox.yaml")
        declared = {}
        for name, instance_type in [*CONTAINERS, VM]:
            server = sandbox.deliver(name, instance_type)
            declared[name] = {
                "name": name,
                "address": server["ipAddresses"][0]["ipAddress"],
                "ssh_user": "root",
                "ssh_key": str(sandbox.ssh_key),
                **host_data(spec, name),
            }
        containers = write_inventories(folder, "containers", [declared[n] for n, _ in CONTAINERS])
        vm = write_inventories(folder, "vm", [declared[VM[0]]])
        print(
            f"site deploy, 3 containers: first {deploy(containers):.1f} s, "
            f"re-run {deploy(containers):.1f} s"
        )
        print(f"site deploy, VM: first {deploy(vm):.1f} s, re-run {deploy(vm):.1f} s")
        for name in declared:
            alone = write_inventories(folder, name, [declared[name]])
            print(f"verification suites, {name} alone: {verify(alone, 1):.1f} s")
        everyone = write_inventories(folder, "all", list(declared.values()))
        print(f"verification suites, 4 hosts, -n 4: {verify(everyone, 4):.1f} s")
    finally:
        sandbox.sandbox("down")


if __name__ == "__main__":
    main()
