"""The verification suites run against any inventory: the sandbox's, or production hosts in an
audit. VOICEPOP_VERIFY_INVENTORY names a JSON file listing the hosts and what was declared for
them: [{"name", "address", "ssh_key", "kernel_scope", "kernel_tuning"}, ...]. Without it the
suites have nothing to check and are not collected (the roles tests point them at hosts)."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra

INVENTORY = os.environ.get("VOICEPOP_VERIFY_INVENTORY", "")


def declared_hosts() -> list[dict[str, Any]]:
    return list(json.loads(Path(INVENTORY).read_text())) if INVENTORY else []


def pytest_ignore_collect(collection_path: Path) -> bool:
    return not INVENTORY and collection_path.name.startswith("test_")


@pytest.fixture(params=declared_hosts(), ids=lambda declared: declared["name"], scope="module")
def declared(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.param)


@pytest.fixture(scope="module")
def remote(declared: dict[str, Any]) -> Iterator[Any]:
    """The host over SSH (paramiko: several times faster than the ssh backend here)."""
    yield testinfra.get_host(
        f"paramiko://root@{declared['address']}",
        ssh_identity_file=declared["ssh_key"],
        ssh_extra_args="-o StrictHostKeyChecking=no",
    )
