"""A control's expected and observed values, kept on the test item for the audit's reports
(JUnit properties, JSON, HTML) and asserted."""

import json
from typing import Any

import pytest


def shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def expect(request: pytest.FixtureRequest, expected: Any, observed: Any, what: str = "") -> None:
    """Assert that `observed` equals `expected`, both recorded for the audit."""
    record(request, expected, observed)
    assert observed == expected, (
        f"{what or 'observed'}: {shown(observed)}; expected {shown(expected)}"
    )


def record(request: pytest.FixtureRequest, expected: Any, observed: Any) -> None:
    properties = request.node.user_properties
    properties[:] = [p for p in properties if p[0] not in ("expected", "observed")]
    properties += [("expected", shown(expected)), ("observed", shown(observed))]
