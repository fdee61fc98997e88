"""How `make test` spreads the suite over two workers (pytest-xdist): each worker runs its
sandboxes on a bridge and ports of its own (tests/sandbox_fixture.py), so the unit of work is
what shares one sandbox: a module, or a whole package whose modules share its hosts through a
package-scoped fixture. The longest units start first, so that neither worker is left with
one at the end while the other idles (durations from `make test`'s own report)."""

import os

import pytest
from xdist.scheduler import LoadScopeScheduling

# packages whose modules share one sandbox (a package-scoped fixture in their conftest.py)
SHARED_SANDBOX_PACKAGES = ("tests/roles/anycast/", "tests/ops/fleet/")

# the longest units, longest first (seconds in a serial run at issue 25's third stop)
LONGEST_FIRST = (
    "tests/roles/test_site_deploy.py",  # ~1050: the VM tier
    "tests/e2e/test_main_job.py",  # ~1000
    "tests/roles/anycast/",  # ~600 with the mesh (issue 26), ~400 before
    "tests/roles/test_prober_role.py",  # ~215 (issue 26)
    "tests/plugins/test_flexmetal_on_the_engine.py",  # ~200
    "tests/ops/fleet/",
)


def unit_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((package for package in SHARED_SANDBOX_PACKAGES if path.startswith(package)), path)


def rank(nodeid: str) -> int:
    unit = unit_of(nodeid)
    return next(
        (index for index, long in enumerate(LONGEST_FIRST) if unit.startswith(long)),
        len(LONGEST_FIRST),
    )


class SandboxScopeScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist: untyped
    """Whole units to one worker each, in the order collected (longest first)."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        config.option.loadscopereorder = False  # keep our order, not the tests' counts
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


def order_longest_first(items: list[pytest.Item]) -> None:
    """On the workers (their collections must agree): the longest units first, the rest as
    collected (a stable sort)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: rank(item.nodeid))
