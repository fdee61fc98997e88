"""One deployed PoP for the whole folder: the announcement tests and the call tests share its
two hosts (delivered and deployed once: ~55 s). Each test leaves them as it found them:
announcing, healthy, undrained."""

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from sandbox.settings import SFU_TOKEN_ENVIRONMENT
from tests.roles.anycast.pop import HOSTS, SPEC_CHANGES, media_gate_changes
from tests.sandbox_fixture import SandboxUnderTest, running_sandbox
from tests.site_fixture import (
    Inventory,
    deliver_and_declare,
    deploy,
    names_resolved,
    sandbox_spec,
)


@pytest.fixture(scope="package")
def test_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxUnderTest]:
    yield from running_sandbox(tmp_path_factory)


@pytest.fixture(autouse=True)
def deploy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy's environment where a test runs a part of the deploy in its own process (the
    call gate): the sandbox stack's token secret, as a deploy gets its stack's."""
    for key, value in SFU_TOKEN_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def server_names(inventory: Inventory) -> Iterator[dict[str, str]]:
    """Each server's name resolves to its address here (tests/site_fixture.py)."""
    with names_resolved(inventory.hosts()) as table:
        yield table


@pytest.fixture(scope="package")
def media_gate_source(test_sandbox: SandboxUnderTest) -> str:
    """host:port where the folder's prober inside the PoP serves its verdicts (this machine's
    address on the PoP's bridge): the servers' media gate agents ask it (test_mesh.py)."""
    network = ipaddress.ip_network(test_sandbox.settings["VOICEPOP_SANDBOX_NETWORK"])
    address = str(next(network.hosts()))
    with socket.socket() as probe:
        probe.bind((address, 0))
        return f"{address}:{probe.getsockname()[1]}"


@pytest.fixture(scope="package")
def inventory(test_sandbox: SandboxUnderTest, media_gate_source: str) -> Inventory:
    spec = sandbox_spec(test_sandbox, **SPEC_CHANGES, **media_gate_changes(media_gate_source))
    inventory = deliver_and_declare(test_sandbox, spec, HOSTS)
    deployed = deploy(inventory)
    assert deployed.returncode == 0, deployed.stdout[-3000:]
    return inventory
