"""The FlexMetal stand-in run in-process on an ephemeral loopback port, for tests that need
its API but no hosts (wire format, client, lifecycle, faults)."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from plugins.flexmetal.client import FlexMetalClient, RetryPolicy
from sandbox.flexmetal.api import FlexMetalApi
from sandbox.flexmetal.server import RunningStandIn, StandIn
from sandbox.flexmetal.store import Store
from sandbox.hosts.backend import ApiOnlyHosts
from stacks.spec.catalogue import load_catalogue

TOKEN = "test-token-do-not-log"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBu6vfDlsDmDNDgwYrLztXTn0q3 test"


def create_body(**overrides: Any) -> dict[str, Any]:
    """A valid request to rent a server, as the API document describes it."""
    return {
        "name": "ams1-sfu01",
        "location": "EU: Rotterdam",
        "instanceType": "bm7.std.8",
        "os": {"slug": "debian-12"},
        "sshKey": [SSH_KEY],
        "tags": ["vp-pop:ams1"],
        **overrides,
    }


@dataclass
class StandInUnderTest:
    running: RunningStandIn
    state_file: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.running.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.base}/v3"

    @property
    def api(self) -> FlexMetalApi:
        return self.running.standin.api

    def fault(self, kind: str, **rule: Any) -> None:
        self.admin("POST", "faults", json={"kind": kind, **rule}).raise_for_status()

    def settings(self, **values: Any) -> None:
        self.admin("PUT", "settings", json=values).raise_for_status()

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The stand-in's admin API (faults, settings), with the API token it asks for."""
        headers = {"PRIVATE-TOKEN": TOKEN, **kwargs.pop("headers", {})}
        url = f"{self.base}/_standin/{path}"
        return requests.request(method, url, headers=headers, timeout=5, **kwargs)

    def client(self, attempts: int = 4) -> FlexMetalClient:
        retry = RetryPolicy(
            attempts=attempts, base_delay_s=0.01, max_delay_s=0.05, request_timeout_s=2.0
        )
        return FlexMetalClient(self.endpoint, TOKEN, retry)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"PRIVATE-TOKEN": TOKEN, **kwargs.pop("headers", {})}
        return requests.request(method, self.endpoint + path, headers=headers, timeout=5, **kwargs)

    def servers(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in s.items() if not k.startswith("_")}
            for s in self.api.store.all("server")
        ]


def start_standin(state_file: Path, read_timeout_s: float = 10.0) -> StandInUnderTest:
    store = Store(state_file)
    store.set_setting("step_delay_s", 0)
    store.set_setting("release_delay_s", 0)
    api = FlexMetalApi(store, load_catalogue("flexmetal"), ApiOnlyHosts())
    standin = StandIn(api, TOKEN, read_timeout_s)
    running = RunningStandIn(standin, "127.0.0.1", 0, poll_interval_s=0.02)
    return StandInUnderTest(running, state_file)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandInUnderTest]:
    under_test = start_standin(tmp_path / "standin.db")
    yield under_test
    under_test.running.stop()
