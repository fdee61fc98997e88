"""One deployed PoP for the whole folder: the announcement tests and the call tests share its
two hosts (delivered and deployed once: ~55 s). Each test leaves them as it found them:
announcing, healthy, undrained."""

from collections.abc import Iterator

import pytest

from tests.roles.anycast.pop import ALLOWED_ORIGIN, DRAIN_WAIT_S, HEALTH, HOSTS
from tests.sandbox_fixture import SandboxUnderTest, running_sandbox
from tests.site_fixture import Inventory, deliver_and_declare, deploy, sandbox_spec


@pytest.fixture(scope="package")
def test_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxUnderTest]:
    yield from running_sandbox(tmp_path_factory)


@pytest.fixture(scope="package")
def inventory(test_sandbox: SandboxUnderTest) -> Inventory:
    spec = sandbox_spec(
        test_sandbox,
        bgp__health=HEALTH,
        bgp__drain_wait_s=DRAIN_WAIT_S,
        sfu__allowed_origin=ALLOWED_ORIGIN,
    )
    inventory = deliver_and_declare(test_sandbox, spec, HOSTS)
    deployed = deploy(inventory)
    assert deployed.returncode == 0, deployed.stdout[-3000:]
    return inventory
