"""Fixtures shared by every test folder, and the test tiers: each test is marked with what it
needs, from the fixtures it uses (and an explicit `engine` mark for tests that run the engine
without a sandbox):
  offline  nothing but the virtualenv: no root, no bridge, no engine (`make test-offline`)
  engine   the Pulumi engine built by `make setup`
  hosts    a sandbox of its own: bridge, provider stand-in, container hosts (root)
  vm       a QEMU VM host as well (the slow tier; global kernel and NIC knobs)
  browser  headless Chromium (Debian's, installed by `make setup`) to look at HTML reports"""

import pytest

from tests.sandbox_fixture import sandbox_machine, test_sandbox, vm_instance_type  # noqa: F401
from tests.scheduling import SandboxScopeScheduling, order_longest_first
from tests.standin_fixture import standin  # noqa: F401

TIERS_OF_FIXTURE = {
    "sandbox_machine": ("hosts",),
    "test_sandbox": ("hosts", "engine"),  # its teardown destroys the stack with the engine
    "vm_instance_type": ("hosts", "engine", "vm"),
    "simulated": ("engine",),  # a simulated fleet: stand-ins on loopback, the engine
}
NEEDS_SOMETHING = ("engine", "hosts", "vm", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        for tier in {tier for name in fixtures for tier in TIERS_OF_FIXTURE.get(name, ())}:
            item.add_marker(tier)
        if not any(item.get_closest_marker(tier) for tier in NEEDS_SOMETHING):
            item.add_marker("offline")
    order_longest_first(items)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> SandboxScopeScheduling:
    return SandboxScopeScheduling(config, log)
