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


def ensure_peer_stacks(stack: str, env: dict[str, str] | None = None) -> None:
    """The stacks the committed `stack`'s probers name (`probing.peers`), made on the backend
    of `env` (empty) where missing: a PoP's preview reads each peer's outputs and fails on a
    stack the backend does not hold (a peer never brought up has no outputs: none called)."""
    from stacks.spec.loading import read_stack_file

    raw = read_stack_file(PROJECT_ROOT / f"Pulumi.{stack}.yaml").raw_pop or {}
    for peer in (raw.get("probing") or {}).get("peers") or []:
        run_in_project_env(f"tools/stack-env.sh {peer} true", env=env, check=True)
