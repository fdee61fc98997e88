"""Each check of the suites is a control an auditor reads: a stable ID, a title, why it matters
and its severity, written beside the check as its decorator (`@control(...)`). The audit
(audit/plugin.py) reads them from the collected checks; a check without one is refused."""

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

Severity = Literal["mandatory", "advisory"]
MARK = "control"


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    rationale: str
    severity: Severity = "mandatory"


def control(
    id_: str, title: str, rationale: str, severity: Severity = "mandatory"
) -> pytest.MarkDecorator:
    """A check's control, as its decorator."""
    mark: pytest.MarkDecorator = getattr(pytest.mark, MARK)
    return mark(Control(id_, title, rationale, severity))


class UncatalogedCheck(Exception):
    """A check of the suites without its control."""


def control_of(item: Any) -> Control:
    """The control of a collected check (a pytest item, or the test function itself)."""
    marks = item.iter_markers(MARK) if hasattr(item, "iter_markers") else _marks_of(item)
    found = [mark.args[0] for mark in marks]
    if not found or not isinstance(found[0], Control):
        raise UncatalogedCheck(f"{getattr(item, 'nodeid', item)}: no @control(...) on the check")
    return found[0]


def _marks_of(function: Any) -> list[pytest.Mark]:
    return [mark for mark in getattr(function, "pytestmark", []) if mark.name == MARK]


def host_of(nodeid: str) -> str:
    """The host of a check's test id, such as verify/test_base.py::test_x[host]."""
    return nodeid.rsplit("[", 1)[1].rstrip("]") if nodeid.endswith("]") else ""


def catalogue(folder: Path) -> dict[str, Control]:
    """Every check of the suites in `folder` (the project's `verify`) and its control, by
    `test_x.py::test_y`; the suites' modules are imported, never run."""
    found: dict[str, Control] = {}
    for path in sorted(folder.glob("test_*.py")):
        module = importlib.import_module(f"{folder.name}.{path.stem}")
        for name, check in vars(module).items():
            if name.startswith("test_") and callable(check):
                found[f"{path.name}::{name}"] = control_of(check)
    return found
