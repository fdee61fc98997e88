"""The verification suites are product code (the deploy's gate, the compliance audit): they
import nothing from the rest of `tests/`, and pytest loads no conftest above their folder."""

import ast
import subprocess
from pathlib import Path

from deploy.verification import verification_command
from tests.pop_specs import an_entry
from tests.project import PROJECT_ROOT
from verify import FOLDER as SUITES_FOLDER
from verify.inventory import render_verify

SUITES = PROJECT_ROOT / SUITES_FOLDER


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_the_suites_import_nothing_from_the_rest_of_tests() -> None:
    outside = {
        f"{path.name}: {module}"
        for path in SUITES.glob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] == "tests" and not module.startswith("verify")
    }
    assert SUITES.glob("*.py") and not outside


def test_the_verification_command_loads_no_conftest_of_the_test_suite(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.json"
    inventory.write_text(render_verify([an_entry("h1")]))
    collected = subprocess.run(
        verification_command("--collect-only", "--trace-config"),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"VOICEPOP_VERIFY_INVENTORY": str(inventory), "PATH": "/usr/bin:/bin"},
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "test_sfu.py::" in collected.stdout
    registered = [line for line in collected.stdout.splitlines() if "PLUGIN registered" in line]
    assert any("'verify.conftest'" in line for line in registered)
    assert not any("'tests.conftest'" in line for line in registered), registered
