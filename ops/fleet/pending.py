"""Which stacks `up` must run after a push: each stack compared with the commit it last
deployed successfully, so that every stack converges to the branch's head whatever the push
held (several commits at once) and whatever failed before (a stack whose `up` failed stays
pending until one succeeds). The commit is Pulumi's own record: every `pulumi up` run in a git
checkout keeps `git.head` in the stack's update history.

    python -m ops.fleet.pending [--project-dir DIR] [--head REV] [--skip S ...]

prints the pending stacks as a JSON list (for a CI matrix) and, on standard error, why each
is pending. Pure apart from `deployed_commit` (the engine) and `git_change` (git)."""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.affected import Change, affected_stacks, git, git_change, stacks_of
from ops.engine import stack_environment
from stacks.project import PROJECT_DIR

GIT_HEAD = "git.head"  # where the CLI records the checkout's commit in an update's environment


@dataclass(frozen=True)
class Pending:
    stack: str
    why: str


def last_deployed_commit(history: Sequence[Mapping[str, Any]]) -> str | None:
    """The commit of the newest successful update (`pulumi stack history --json`, newest
    first); None when there is none, or it ran outside a git checkout."""
    for update in history:
        if update.get("kind") == "update" and update.get("result") == "succeeded":
            commit = (update.get("environment") or {}).get(GIT_HEAD)
            return str(commit) if commit else None
    return None


def pending_stacks(
    stacks: Sequence[str],
    deployed: Mapping[str, str | None],
    head: str,
    change_since: Callable[[str], Change | None],
) -> list[Pending]:
    """The stacks whose last deployed commit is not `head` and whose files (or what every
    stack runs) changed since; `change_since` gives the change from a commit to `head`, or
    None when that commit is not in the history at hand."""
    pending = []
    changes: dict[str, Change | None] = {}
    for stack in stacks:
        commit = deployed.get(stack)
        if commit is None:
            pending.append(Pending(stack, "never deployed from a commit (no successful up)"))
            continue
        if commit == head:
            continue
        if commit not in changes:
            changes[commit] = change_since(commit)
        change = changes[commit]
        if change is None:
            pending.append(Pending(stack, f"its last deployed commit {commit[:12]} is unknown"))
            continue
        reasons = affected_stacks(change).stacks.get(stack)
        if reasons:
            pending.append(Pending(stack, f"since {commit[:12]}: " + "; ".join(reasons)))
    return pending


def deployed_commit(stack: str, project_dir: Path) -> str | None:
    """The commit `stack` last deployed (None: never, or the backend has no such stack)."""
    if not os.environ.get("PULUMI_BACKEND_URL"):
        (project_dir / ".state").mkdir(exist_ok=True)  # the embedded default's folder
    result = subprocess.run(
        ["pulumi", "stack", "history", "--stack", stack, "--json", "--page-size", "50"],
        cwd=project_dir,
        env={**os.environ, **stack_environment(stack)},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        if "no stack named" in result.stderr:
            return None
        raise RuntimeError(f"pulumi stack history --stack {stack}: {result.stderr.strip()}")
    return last_deployed_commit(json.loads(result.stdout or "[]"))


def change_since(repo: Path, head: str) -> Callable[[str], Change | None]:
    def since(commit: str) -> Change | None:
        try:
            return git_change(repo, commit, head)
        except subprocess.CalledProcessError:  # not in this clone's history
            return None

    return since


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.fleet.pending", description=__doc__)
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--head", default="HEAD", help="the revision every stack converges to")
    parser.add_argument("--skip", nargs="+", default=[], help="never these")
    args = parser.parse_args(argv)
    repo = args.project_dir.resolve()
    head = git(repo, "rev-parse", args.head).strip()
    stacks = [s for s in stacks_of(repo) if s not in args.skip]
    deployed = {stack: deployed_commit(stack, repo) for stack in stacks}
    pending = pending_stacks(stacks, deployed, head, change_since(repo, head))
    for found in pending:
        print(f"pending: {found.stack}: {found.why}", file=sys.stderr)
    print(json.dumps([found.stack for found in pending]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
