"""Fixtures shared by every test folder."""

from tests.sandbox_fixture import test_sandbox  # noqa: F401
from tests.standin_fixture import standin  # noqa: F401
