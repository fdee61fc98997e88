"""A simulated fleet for the folder: the provider stand-in (API-only: servers without hosts)
and moto's server (Route 53 for the stacks, S3 for the shared-state backend) on loopback
ports of the tests' own, started once for the folder and stopped after it."""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops.fleet.simulate import (
    TOKEN,
    Endpoints,
    fleet_environment,
    running_standins,
    write_fleet,
)
from plugins.flexmetal.client import FlexMetalClient, RetryPolicy
from tests.loopback import free_port
from tests.project import run_in_project_env


@dataclass
class SimulatedFleet:
    root: Path
    at: Endpoints

    @property
    def project(self) -> Path:
        return self.root / "fleet"

    @property
    def env(self) -> dict[str, str]:
        return fleet_environment(self.root)

    def write(self, pops: int, servers: int, **kernel: Any) -> list[str]:
        return write_fleet(self.project, pops, servers, self.at, kernel)

    def fleet(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_in_project_env(
            "python -m ops.fleet " + " ".join(args), env={**self.env, **(env or {})}
        )

    def servers_of(self, pop: str) -> list[dict[str, Any]]:
        client = FlexMetalClient(self.at.flexmetal, TOKEN, RetryPolicy(request_timeout_s=10.0))
        return [
            s
            for s in client.list_servers()
            if f"vp-pop:{pop}" in (s.get("tags") or []) and s["status"] != "released"
        ]


@pytest.fixture(scope="package")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    root = tmp_path_factory.mktemp("fleet")
    with running_standins(root, free_port(), free_port()) as at:
        yield SimulatedFleet(root, at)
