"""The site deploy run for real from tests: sandbox hosts delivered, inventories written from
the sandbox spec (pyinfra's, and the verification suites' JSON), pyinfra and the suites run
as users run them."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from deploy.outcome import grand_total, skipped_checks
from deploy.verification import settle, verification_command, workers_for
from roles.host import HostEntry
from roles.inventory import render_pyinfra
from sandbox import settings as sandbox_settings
from stacks.host_data import host_data
from stacks.spec import PopSpec, parse_pop
from stacks.spec.checks import StackContext
from tests.pop_specs import an_entry
from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import SandboxUnderTest, changed_pop
from verify import FOLDER as SUITES_FOLDER
from verify.inventory import render_verify

# the deploy's secrets, as the stack's deploy step exports them (roles/secrets.py)
SECRETS = {
    "VOICEPOP_SECRET_bgpMd5Upstream": sandbox_settings.UPSTREAM_MD5,
    **sandbox_settings.SFU_TOKEN_ENVIRONMENT,
    **sandbox_settings.ACME_SECRET_ENVIRONMENT,
}


def sandbox_spec(sandbox: SandboxUnderTest, **changes: Any) -> PopSpec:
    raw = yaml.safe_load(sandbox.config(changed_pop(**changes)).read_text())
    context = StackContext(
        stack="sandbox",
        config_keys={"bgpMd5Upstream": True, "sfuTokenSecret": True, "acmeRoute53SecretKey": True},
    )
    return parse_pop(raw["config"]["voicepop:pop"], context, "Pulumi.sandbox.yaml")


# How long a VM of the sandbox takes from delivery request to SSH on a machine of this kind
# at its usual speed (test-hosts notes: 15-17 s boot, plus delivery).
VM_DELIVERY_REFERENCE_S = 20.0


@dataclass
class Inventory:
    declared: Path  # the verification suites' hosts
    pyinfra: Path
    # How much slower than usual this machine runs the hosts, measured on the slowest tier
    # delivered (a VM's boot under emulation); every wait on the hosts is scaled by it.
    slowness: float = 1.0

    def hosts(self) -> list[dict[str, Any]]:
        return list(json.loads(self.declared.read_text()))

    def host(self, name: str) -> dict[str, Any]:
        return next(h for h in self.hosts() if h["name"] == name)

    def write(self, hosts: list[dict[str, Any]]) -> None:
        """Both inventories as `python -m ops.inventories` renders them, from the hosts' entries
        (a test changes them as JSON; each must still be a valid entry)."""
        entries = [HostEntry.model_validate(host) for host in hosts]
        self.declared.write_text(render_verify(entries))
        self.pyinfra.write_text(render_pyinfra(entries))

    def change(self, change: Any, only: str | None = None) -> None:
        """Applies `change(host_data)` to every host, or to the one named `only`."""
        hosts = self.hosts()
        for host in hosts:
            if only in (None, host["name"]):
                change(host)
        self.write(hosts)


def deliver_and_declare(
    sandbox: SandboxUnderTest, spec: PopSpec, hosts: tuple[tuple[str, str], ...]
) -> Inventory:
    """`hosts`: (name, instance type) of each server to deliver; the spec's zone made in the
    sandbox's Route 53, as the stack would (the servers' ACME client writes its challenges
    there)."""
    sandbox.ensure_zone(spec.dns.zone)
    addresses = {}
    slowness = 1.0
    for name, instance_type in hosts:
        started = time.monotonic()
        server = sandbox.deliver(name, instance_type)
        if instance_type in sandbox_settings.VM_INSTANCE_TYPES:
            boot_s = time.monotonic() - started
            slowness = max(slowness, boot_s / VM_DELIVERY_REFERENCE_S)
        addresses[name] = server["ipAddresses"][0]["ipAddress"]
    declared = [
        {
            "name": name,
            "address": address,
            "ssh_user": "root",
            "ssh_key": str(sandbox.ssh_key),
            **host_data(spec, name, addresses),
        }
        for name, address in addresses.items()
    ]
    inventory = Inventory(
        sandbox.root / "declared.json", sandbox.root / "inventory.py", slowness=slowness
    )
    inventory.write(declared)
    return inventory


def deploy(
    inventory: Inventory, secrets: dict[str, str] | None = None, only: str | None = None
) -> subprocess.CompletedProcess[str]:
    """pyinfra's log (the results table too) goes to stderr: both land in stdout here.
    `only`: one host (pyinfra's --limit), for what needs no kernel of its own. A run whose
    results count an error fails (returncode 1): with --no-wait, pyinfra 3 exits 0 when one
    host's operation failed and the others went on (seen: a certificate refused on one host)."""
    ran = subprocess.run(
        [
            str(Path(sys.executable).with_name("pyinfra")),
            "-y",
            "--no-wait",
            *(["--limit", only] if only else []),
            str(inventory.pyinfra),
            "roles/site.py",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=600 * inventory.slowness,
        env={**os.environ, **(SECRETS if secrets is None else secrets)},
    )
    totals = grand_total(ran.stdout)
    if ran.returncode == 0 and (totals is None or totals.errors):
        ran.returncode = 1
    return ran


@dataclass
class Verified:
    """The suites' outcome over one or more runs: each run's output in turn; the checks passed
    over all of them, skipped in the first."""

    returncode: int
    stdout: str
    passed: int
    skipped: int


def verify(inventory: Inventory, settle_s: float = 0, only: str | None = None) -> Verified:
    """The suites over every host at once (one xdist worker per host), or `only` one; with
    `settle_s`, the failed checks again until they pass or that time is up, as a deploy's
    verification does (deploy.verification.settle), the time scaled by the machine's measured
    slowness."""
    hosts = [h for h in inventory.hosts() if only in (None, h["name"])]
    with tempfile.TemporaryDirectory() as folder:
        declared = Path(folder) / "hosts.json"
        declared.write_text(render_verify([HostEntry.model_validate(h) for h in hosts]))

        def run(targets: Sequence[str]) -> tuple[int, str]:
            result = subprocess.run(
                verification_command("-rfE", *workers_for(len(hosts)), targets=targets),
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                check=False,
                timeout=600 * inventory.slowness,
                env={**os.environ, "VOICEPOP_VERIFY_INVENTORY": str(declared)},
            )
            return result.returncode, result.stdout

        settled = settle(run, settle_s * inventory.slowness)
    return Verified(
        settled.returncode,
        "\n".join(settled.outputs),
        settled.passed,
        skipped_checks(settled.outputs[0]),
    )


def changed_operations(output: str) -> int:
    """How many operations changed something, from pyinfra's results table; none may fail."""
    totals = grand_total(output)
    assert totals, f"no pyinfra results table in: {output[-1500:]}"
    assert totals.errors == 0, f"pyinfra reports errors: {output[-1500:]}"
    return totals.changed


# the checks a container host skips: the audit of privileged commands (VP-HARD-07), for want
# of an audit subsystem of its own
CONTAINER_SKIPS = 1


def checks_on_a_container() -> int:
    """What a fully verified container host passes."""
    return checks_per_host() - CONTAINER_SKIPS


def checks_per_host(suites: str = SUITES_FOLDER) -> int:
    """How many checks the verification suites (or one of them) hold for one host (collected,
    not run): what a fully verified host passes."""
    with tempfile.TemporaryDirectory() as folder:
        declared = Path(folder) / "hosts.json"
        declared.write_text(render_verify([an_entry("h1")]))
        listing = subprocess.run(
            verification_command("--collect-only", targets=[suites]),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "VOICEPOP_VERIFY_INVENTORY": str(declared)},
        ).stdout
    return sum(1 for line in listing.splitlines() if line.endswith("[h1]"))


@contextlib.contextmanager
def names_resolved(hosts: Sequence[dict[str, Any]]) -> Iterator[dict[str, str]]:
    """The hosts' own DNS names resolve to their addresses in this process, as a caller's
    resolver would resolve them (the sandbox's zone is in none this machine asks): requests
    to https://<server name>/ then check the certificate against that name."""
    table = {host["dns_names"][0]: host["address"] for host in hosts if host.get("dns_names")}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(table.get(host, host), *args, **kwargs)

    with mock.patch("socket.getaddrinfo", getaddrinfo):
        yield table


# The nftables table a test adds on a host to impair its media (`media_loss`), and removes.
IMPAIRMENT_TABLE = "vptest"


def media_loss(percent: int) -> str:
    """A host command dropping `percent` % of the host's outgoing UDP at random, BFD's ports
    aside (its sessions stay up): this machine's kernel has no netem for the containers'
    links. `nft delete table inet vptest` removes it."""
    table = f"inet {IMPAIRMENT_TABLE}"
    return (
        f"nft add table {table}; nft add chain {table} out "
        "'{ type filter hook output priority 0; }'; nft add rule "
        f"{table} out meta l4proto udp udp dport != '{{ 3784, 3785, 4784 }}' "
        f"numgen random mod 100 '<' {percent} drop"
    )


# Stopped on a server a benchmark measures: on the emulated VM they took the CPU its SFU
# forwards with (the health checker's curl every second, the upgrades' run after boot, the
# exporter's scrapes): with them a clean path stalled 100-280 ms several times a call (97th
# percentile of the delay beyond the fastest packet 175 ms), without them 18 ms
BENCHMARK_QUIET = ("anycast-healthchecker", "unattended-upgrades", "prometheus-bird-exporter")


def quieted_for_a_benchmark(sandbox: SandboxUnderTest, address: str) -> None:
    sandbox.ssh(address, f"systemctl stop {' '.join(BENCHMARK_QUIET)}")
