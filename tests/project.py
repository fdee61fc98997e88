"""The project's root, and commands run in the project's environment (tools/env.sh)."""

import os
import subprocess

from stacks.project import PROJECT_DIR

PROJECT_ROOT = PROJECT_DIR


def run_in_project_env(
    command: str, *, env: dict[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Runs a shell command from the project root with tools/env.sh sourced."""
    return subprocess.run(
        ["bash", "-c", f". tools/env.sh && {command}"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=check,
        timeout=600,
    )
