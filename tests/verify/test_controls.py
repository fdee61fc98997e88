"""The controls as an auditor reads them: one ID names one check."""

import ast
from collections import Counter

from tests.project import PROJECT_ROOT


def control_ids() -> list[str]:
    """The first argument of every `@control(...)` decorator of the suites."""
    ids = []
    for path in sorted((PROJECT_ROOT / "verify").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "control"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                ids.append(str(node.args[0].value))
    return ids


def test_every_control_id_names_one_check() -> None:
    ids = control_ids()
    assert len(ids) > 30
    assert [i for i, n in Counter(ids).items() if n > 1] == []
