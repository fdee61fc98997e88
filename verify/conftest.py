"""The verification suites run against any inventory: the sandbox's, or production hosts in an
audit. VOICEPOP_VERIFY_INVENTORY names a JSON file listing the hosts and what was declared for
them: [{"name", "address", "ssh_key", "kernel_tuning", ...}, ...], as
`python -m ops.inventories STACK` writes it (inventories/STACK.json). Without it the
suites have nothing to check and are not collected (the roles tests point them at hosts).

In parallel over hosts: `pytest -n <hosts> verify` runs each host's checks on one xdist
worker (one SSH connection per host, reused by all its checks)."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra
from xdist.scheduler import LoadScopeScheduling

from roles.host import HostEntry
from roles.host_kind import DETECT_CONTAINER, KernelScope, kernel_scope_of
from verify.inventory import read_hosts

INVENTORY = os.environ.get("VOICEPOP_VERIFY_INVENTORY", "")


def declared_hosts() -> list[HostEntry]:
    """Every host of the inventory, parsed once for the whole run."""
    return read_hosts(Path(INVENTORY)) if INVENTORY else []


def pytest_ignore_collect(collection_path: Path) -> bool:
    return not INVENTORY and collection_path.name.startswith("test_")


class OneWorkerPerHost(LoadScopeScheduling):  # type: ignore[misc]
    """xdist units of work by host (the test id's last bracket), not by module."""

    def _split_scope(self, nodeid: str) -> str:
        return nodeid.rsplit("[", 1)[-1] if nodeid.endswith("]") else nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> OneWorkerPerHost:
    return OneWorkerPerHost(config, log)


@pytest.fixture(params=declared_hosts(), ids=lambda declared: declared.name, scope="module")
def declared(request: pytest.FixtureRequest) -> HostEntry:
    """The host's entry, as declared: what each check compares the host with."""
    entry: HostEntry = request.param
    return entry


@pytest.fixture(scope="module")
def remote(declared: HostEntry) -> Iterator[Any]:
    """The host over SSH (paramiko: several times faster than the ssh backend here)."""
    yield testinfra.get_host(
        f"paramiko://{declared.ssh_user}@{declared.address}",
        ssh_identity_file=declared.ssh_key,  # none: the operator's SSH agent
        ssh_extra_args="-o StrictHostKeyChecking=no",
    )


@pytest.fixture(scope="module")
def kernel_scope(remote: Any) -> KernelScope:
    """What the host owns of the kernel, read on it as the roles read it."""
    return kernel_scope_of(remote.check_output(DETECT_CONTAINER))
