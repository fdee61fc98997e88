"""A sandbox of the tests' own: its own bridge, network, stand-in port and state folder, so it
runs beside (and never touches) a developer's sandbox; and the sandbox stack pointed at it
through a config file of the test's, on a backend of the test's."""

import copy
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import paramiko
import pytest
import yaml

from deploy.ssh import SSH_ATTEMPTS, SshUnreachable, open_ssh
from plugins.flexmetal.client import FlexMetalClient, RetryPolicy
from sandbox import settings as sandbox_settings
from tests.project import PROJECT_ROOT, run_in_project_env


def worker_sandbox_settings(
    worker: str = os.environ.get("PYTEST_XDIST_WORKER", ""),
) -> dict[str, str]:
    """The settings of a test worker's sandboxes (`make test` runs two workers, gw0 and gw1):
    a bridge, network and ports of each worker's own, so that the two run side by side (and
    beside a developer's sandbox, vpbr0, and the benchmarks', vpbench0 on 172.30.205.0/24)."""
    index = int(worker.removeprefix("gw") or 0)
    step = 100 * index
    return {
        "VOICEPOP_SANDBOX_BRIDGE": f"vptest{index}",
        "VOICEPOP_SANDBOX_NETWORK": f"172.30.{204 + 2 * index}.0/24",
        "VOICEPOP_SANDBOX_STANDIN_PORT": str(18787 + step),
        "VOICEPOP_SANDBOX_ROUTE53_PORT": str(18788 + step),
        "VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT": str(15001 + step),
        "VOICEPOP_SANDBOX_DNS_PORT": str(18053 + step),
    }


TEST_SANDBOX = worker_sandbox_settings()
API_TOKEN = "sandbox-api-token"


@dataclass
class SandboxUnderTest:
    root: Path
    settings: dict[str, str] = field(default_factory=lambda: dict(TEST_SANDBOX))
    owner_pid: int = field(default_factory=os.getpid)

    @property
    def env(self) -> dict[str, str]:
        return {
            **self.settings,
            "VOICEPOP_SANDBOX_DIR": str(self.root / "sandbox"),
            "VOICEPOP_SANDBOX_API_TOKEN": API_TOKEN,
            "VOICEPOP_DEPLOY_LOG_DIR": str(self.root / "deploy-logs"),
            # this test run owns it: a later run stops it (`sandbox sweep`) if this one dies
            "VOICEPOP_SANDBOX_OWNER_PID": str(self.owner_pid),
            # the sandbox's callers sign their SFU tokens with the sandbox's secret and trust
            # its ACME CA's roots
            **sandbox_settings.SFU_TOKEN_ENVIRONMENT,
            "REQUESTS_CA_BUNDLE": str(self.acme_trust),
        }

    @property
    def acme_trust(self) -> Path:
        return self.root / "sandbox" / "acme" / "trust.pem"

    @property
    def bridge_address(self) -> str:
        return str(next(ipaddress.ip_network(self.settings["VOICEPOP_SANDBOX_NETWORK"]).hosts()))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.settings['VOICEPOP_SANDBOX_STANDIN_PORT']}/v3"

    @property
    def route53_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.settings['VOICEPOP_SANDBOX_ROUTE53_PORT']}"

    @property
    def upstream_address(self) -> str:
        """The sandbox's upstream router (sandbox/settings.py: the network's second host)."""
        network = ipaddress.ip_network(self.settings["VOICEPOP_SANDBOX_NETWORK"])
        return str(list(network.hosts())[1])

    @property
    def second_network(self) -> str:
        """The sandbox's second site (sandbox/settings.py SECOND_NETWORK, by its rule)."""
        third = ipaddress.ip_network(self.settings["VOICEPOP_SANDBOX_NETWORK"]).network_address
        return f"172.31.{third.packed[2]}.0/24"

    @property
    def second_gateway(self) -> str:
        """The upstream router's leg on the second site."""
        return str(next(ipaddress.ip_network(self.second_network).hosts()))

    @property
    def collected_log(self) -> Path:
        """What the sandbox's log collector received from the hosts (sandbox/collector.py)."""
        return self.root / "sandbox" / "logs" / "collected.log"

    @property
    def ssh_key(self) -> Path:
        return self.root / "sandbox" / "ssh" / "id_ed25519"

    @property
    def backend(self) -> str:
        return (self.root / "backend").as_uri()

    def sandbox(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sandbox", *command],
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    def standin(self, *command: str) -> Any:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "sandbox.flexmetal",
                "--endpoint",
                self.endpoint.removesuffix("/v3"),
                *command,
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return json.loads(result.stdout)

    def client(self) -> FlexMetalClient:
        return FlexMetalClient(
            self.endpoint, API_TOKEN, RetryPolicy(request_timeout_s=30.0, attempts=2)
        )

    def deliver(self, name: str, instance_type: str) -> dict[str, Any]:
        """A server ordered straight from the stand-in, once it is delivered (SSH answers)."""
        client = self.client()
        key = self.ssh_key.with_suffix(".pub").read_text().strip()
        server = client.create_server(
            {
                "name": name,
                "location": "EU: Rotterdam",
                "instanceType": instance_type,
                "os": {"slug": "debian-12"},
                "sshKey": [key],
            }
        )
        deadline = time.monotonic() + 300
        while (server := client.get_server(server["uuid"]))["status"] != "delivered":
            assert server["status"] != "failed", f"{name}: {server['statusMessage']}"
            assert time.monotonic() < deadline, f"{name} not delivered: {server['status']}"
            time.sleep(0.5)
        return server

    def ensure_zone(self, zone: str) -> None:
        """The hosted zone in this sandbox's Route 53, made if missing."""
        route53 = boto3.client("route53", endpoint_url=self.route53_endpoint,
                               region_name="us-east-1", aws_access_key_id="sandbox",
                               aws_secret_access_key="sandbox")  # fmt: skip
        zones = route53.list_hosted_zones_by_name(DNSName=zone)["HostedZones"]
        if not any(found["Name"].rstrip(".") == zone for found in zones):
            route53.create_hosted_zone(Name=zone, CallerReference=f"tests-{zone}")

    def live_servers(self, name: str | None = None) -> list[dict[str, Any]]:
        return [
            s
            for s in self.client().list_servers()
            if s["status"] not in ("released", "failed") and name in (None, s["name"])
        ]

    # --- the stack under test -------------------------------------------------------------

    def config(
        self, change: Callable[[dict[str, Any]], None] | None = None, stack: str = "sandbox"
    ) -> Path:
        """The sandbox stack's config aimed at this sandbox, optionally changed; `stack`:
        sandbox2, the second sandbox PoP's (on the second site)."""
        document = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
        pop = document["config"]["voicepop:pop"]
        pop["provider"]["api_endpoint"] = self.endpoint
        pop["access"]["ssh_admin_ranges"] = [self.settings["VOICEPOP_SANDBOX_NETWORK"]]
        second_site = pop["provider"]["location"] == sandbox_settings.SECOND_LOCATION
        for neighbor in pop["bgp"]["neighbors"]:
            neighbor["peer_address"] = self.second_gateway if second_site else self.upstream_address
        pop["dns"]["api_endpoint"] = self.route53_endpoint
        acme = pop["sfu"]["tls"]["acme"]
        acme["directory_url"] = f"https://{self.bridge_address}:14000/dir"
        route53_port = self.settings["VOICEPOP_SANDBOX_ROUTE53_PORT"]
        acme["route53_endpoint"] = f"http://{self.bridge_address}:{route53_port}"
        acme["ca_bundle"] = str(self.acme_trust)
        pop["base"]["log_collector"] = f"{self.bridge_address}:{sandbox_settings.COLLECTOR_PORT}"
        # no prober unless a test runs one (tests/roles/anycast, tests/roles/test_prober_role):
        # the stack file's is the developer's sandbox's
        pop.pop("probing", None)
        pop.setdefault("anycast", {})["media_gate_sources"] = []
        # this sandbox's Prometheus, if a test runs one, scrapes from its bridge address
        pop["firewall"]["scrape_from"] = [self.bridge_address]
        pop["access"]["ssh_public_keys"] = [f"file:{self.ssh_key}.pub"]
        # the provider's and DNS tests run many ups: the host deploy only where a test asks
        pop["deploy"] = {
            "enabled": False,
            "ssh_private_key": str(self.ssh_key),
            "rollout": pop["deploy"]["rollout"],
        }
        if change:
            change(pop)
        path = self.root / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(document))
        return path

    def pulumi(
        self,
        command: str,
        config: Path | None = None,
        *,
        with_config: bool = True,
        stack: str = "sandbox",
    ) -> subprocess.CompletedProcess[str]:
        """A pulumi command on the test's backend; with this sandbox's config unless told not
        to (stack output and export take no config)."""
        config_flag = f" --config-file {config or self.config(stack=stack)}" if with_config else ""
        return run_in_project_env(
            f"tools/stack-env.sh {stack} pulumi {command} --stack {stack} --non-interactive"
            f"{config_flag}",
            env={"PULUMI_BACKEND_URL": self.backend, **self.env},
        )

    def up(
        self, config: Path | None = None, stack: str = "sandbox"
    ) -> subprocess.CompletedProcess[str]:
        return self.pulumi("up --yes --skip-preview", config, stack=stack)

    def outputs(self, stack: str = "sandbox") -> dict[str, Any]:
        result = self.pulumi("stack output --json --show-secrets", with_config=False, stack=stack)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def state_resources(self) -> list[dict[str, Any]]:
        result = self.pulumi("stack export", with_config=False)
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout)["deployment"].get("resources", []))

    def ssh(self, address: str, command: str, attempts: int = SSH_ATTEMPTS) -> str:
        """`command`'s output on the host; the connection and its session are tried `attempts`
        times, as the deploy's connection is (roles/connection.py): the emulated VM, busy
        after a long module, now and then answers the key exchange but not the session's
        opening within its timeout. A failure names the host."""
        for attempt in range(1, attempts + 1):
            client = open_ssh(address, key_filename=str(self.ssh_key), attempts=attempts)
            try:
                _, stdout, _ = client.exec_command(command, timeout=30)
                return str(stdout.read().decode().strip())
            except paramiko.SSHException as error:
                if attempt == attempts:
                    raise SshUnreachable(f"SSH to {address}: {error}") from error
            finally:
                client.close()
        raise AssertionError("unreachable")  # the loop returns or raises


def changed_pop(**paths: Any) -> Callable[[dict[str, Any]], None]:
    """A config change: keys like provider__server_tags=[...] set nested fields."""

    def change(pop: dict[str, Any]) -> None:
        for dotted, value in paths.items():
            *parents, leaf = dotted.split("__")
            node = pop
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = copy.deepcopy(value)

    return change


@pytest.fixture(scope="session")
def sandbox_machine() -> None:
    """Tests that start sandboxes of their own ask for this: it marks them `hosts`."""
    assert os.geteuid() == 0, "sandboxes need root (bridges, mounts, containers)"


@pytest.fixture(scope="session")
def vm_instance_type() -> str:
    """An instance type the stand-in delivers as a QEMU VM; asking for it marks a test `vm`."""
    from sandbox.settings import VM_INSTANCE_TYPES

    return sorted(VM_INSTANCE_TYPES)[0]


def running_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxUnderTest]:
    """A sandbox of the tests' own, up until the generator is closed, then destroyed."""
    sandbox = SandboxUnderTest(tmp_path_factory.mktemp("test-sandbox"))
    (sandbox.root / "backend").mkdir()
    swept = sandbox.sandbox("sweep")  # a test run killed before its teardown left one
    assert swept.returncode == 0, swept.stdout + swept.stderr
    started = sandbox.sandbox("up")
    assert started.returncode == 0, started.stdout + started.stderr
    sandbox.standin("settings", "step_delay_s=0.05", "release_delay_s=0.05")
    # the tests' own callers (in this process) trust this sandbox's ACME CA, as its are
    trusted = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(sandbox.acme_trust)
    try:
        yield sandbox
    finally:
        if trusted is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = trusted
        sandbox.pulumi("destroy --yes --skip-preview")
        stopped = sandbox.sandbox("down")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@pytest.fixture(scope="module")
def test_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxUnderTest]:
    """A sandbox per test module; a folder whose modules share hosts overrides it per
    package (tests/roles/anycast/conftest.py)."""
    yield from running_sandbox(tmp_path_factory)
