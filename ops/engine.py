"""Stacks run through Pulumi's Automation API: the engine's own CLI under a LocalWorkspace of
the project, each stack with its variables (tools/stack-vars.sh), several in parallel. Shared
by the fleet runs, the pull-request previews and the drift check."""

import functools
import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TypeVar

from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode

from stacks.project import PROJECT_DIR

PREVIEW_ENV = {"PULUMI_SKIP_CHECKPOINTS": "true"}

T = TypeVar("T")
Progress = Callable[[T, int, int], None]  # a stack's result, how many are done, of how many


STACK_VARS = PROJECT_DIR / "tools/stack-vars.sh"
SHELL_OWN = frozenset({"_", "SHLVL", "PWD", "OLDPWD"})


@functools.cache
def stack_environment(stack: str) -> dict[str, str]:
    """What `stack`'s commands run with, as tools/stack-vars.sh (the one place for it) sets
    it: the variables it sets, and those it unsets as empty ones."""
    shown = subprocess.run(
        ["bash", "-c", '. "$0" "$1" >&2 && env -0', str(STACK_VARS), stack],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    )
    after = dict(item.split("=", 1) for item in shown.stdout.decode().split("\0") if "=" in item)
    changed = {k: v for k, v in after.items() if os.environ.get(k) != v and k not in SHELL_OWN}
    unset = {k: "" for k in os.environ if k not in after and k.isidentifier()}
    return changed | unset


def missing_passphrase(env: dict[str, str]) -> bool:
    merged = {**os.environ, **env}
    return not (
        merged.get("PULUMI_CONFIG_PASSPHRASE") or merged.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    )


@functools.cache
def pulumi_command() -> auto.PulumiCommand:
    """The engine's CLI, one for every stack of a run: making one runs `pulumi version`."""
    return auto.PulumiCommand()


class UnselectedStack(auto.Stack):
    """A stack used without `pulumi stack select` (a CLI start, 0.16 CPU-s, for each stack
    of a fleet run): every command of a Stack names its stack with --stack anyway."""

    def __init__(self, name: str, workspace: auto.Workspace) -> None:
        self.name = name
        self.workspace = workspace
        self._mode = StackInitMode.SELECT


def with_stack(
    stack: str, project_dir: Path, env: dict[str, str], operation: Callable[[auto.Stack], T]
) -> T:
    """`operation` on the stack in a workspace of the project; a stack the backend does not
    hold yet is created (`pulumi stack init`) and the operation run again."""
    if not {**os.environ, **env}.get("PULUMI_BACKEND_URL"):
        (project_dir / ".state").mkdir(exist_ok=True)  # the embedded default's folder
    workspace = auto.LocalWorkspace(
        work_dir=str(project_dir), env_vars=env, pulumi_command=pulumi_command()
    )
    try:
        return operation(UnselectedStack(stack, workspace))
    except auto.StackNotFoundError:
        return operation(auto.Stack.create(stack, workspace))


ERROR_TAIL_LINES = 30


def error_tail(text: str) -> str:
    """The end of a failed command's text: where the engine says what went wrong."""
    return "\n".join(text.strip().splitlines()[-ERROR_TAIL_LINES:])


def run_parallel(
    stacks: Sequence[str],
    run_one: Callable[[str], T],
    workers: int,
    progress: Progress[T] | None = None,
) -> list[T]:
    """Each stack's result, in the order given; `progress` hears each as it finishes."""
    results: dict[str, T] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(stacks)))) as pool:
        futures = {pool.submit(run_one, stack): stack for stack in stacks}
        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if progress:
                progress(result, len(results), len(stacks))
    return [results[stack] for stack in stacks]
