"""Fixtures shared by every test folder."""

from pathlib import Path

import pytest

from tests.project import PROJECT_ROOT
from tests.sandbox_fixture import test_sandbox  # noqa: F401
from tests.standin_fixture import standin  # noqa: F401


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT
