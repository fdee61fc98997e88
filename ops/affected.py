"""Which stacks a change touches: a stack file is its own stack; the stack program, the roles,
the verification suites, the engine and the pinned requirements are every stack's; the
routing registry is the stacks announcing a prefix whose ROA or route object changed.

Pure: `affected_stacks` reads texts; `git_change` reads them from a repository."""

import ipaddress
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGISTRY = "routing/registry.yaml"
STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.yaml$")
# what every stack runs: its program, its plugins, what it deploys and verifies, and the tools
# running it
EVERY_STACK = (
    "stacks/",
    "plugins/",
    "deploy/",
    "roles/",
    "verify/",
    "policies/",
    "tools/pulumi-engine/",
    "requirements.txt",
    "Pulumi.yaml",
)


@dataclass(frozen=True)
class Change:
    """What the pure logic reads of a change: the paths it touches, the stack files after it
    and the routing registry before and after it (None: not there, or not readable)."""

    paths: tuple[str, ...]
    stack_files: Mapping[str, str]  # stack name -> the stack file's text after the change
    registry_before: str | None
    registry_after: str | None


@dataclass
class Affected:
    stacks: dict[str, list[str]] = field(default_factory=dict)  # stack -> why
    removed: list[str] = field(default_factory=list)  # stack files the change deletes

    def add(self, stack: str, reason: str) -> None:
        reasons = self.stacks.setdefault(stack, [])
        if reason not in reasons:
            reasons.append(reason)

    def as_dict(self) -> dict[str, Any]:
        return {"stacks": dict(sorted(self.stacks.items())), "removed": self.removed}


def stack_of(path: str) -> str | None:
    found = STACK_FILE.match(path)
    return found["stack"] if found else None


def affected_stacks(change: Change) -> Affected:
    affected = Affected()
    shared: dict[str, int] = {}  # what every stack runs: files changed under each
    for path in change.paths:
        stack = stack_of(path)
        if stack is not None:
            if stack in change.stack_files:
                affected.add(stack, f"{path} changed")
            else:
                affected.removed.append(stack)
        elif (area := next((a for a in EVERY_STACK if path.startswith(a)), None)) is not None:
            shared[area] = shared.get(area, 0) + 1
    for area, count in shared.items():
        files = "" if not area.endswith("/") else f" ({count} file{'s' if count > 1 else ''})"
        for every in change.stack_files:
            affected.add(every, f"{area}{files} changed: every stack runs it")
    if REGISTRY in change.paths:
        for stack, reason in registry_affected(change).items():
            affected.add(stack, reason)
    affected.removed.sort()
    return affected


def registry_affected(change: Change) -> dict[str, str]:
    """The stacks announcing a prefix whose registry entries changed, and why."""
    before, after = (
        registry_entries(change.registry_before),
        registry_entries(change.registry_after),
    )
    if before is None or after is None:
        why = f"{REGISTRY} is missing or unreadable on one side: every stack"
        return dict.fromkeys(change.stack_files, why)
    changed = {entry_prefix(entry) for entry in before ^ after}
    reasons = {}
    for stack, text in change.stack_files.items():
        announced = announced_prefixes(text)
        if announced is None:
            reasons[stack] = f"{REGISTRY} changed and the stack file's prefixes are unreadable"
            continue
        touched = sorted({p for p in announced for c in changed if overlaps(p, c)}, key=str)
        if touched:
            reasons[stack] = f"{REGISTRY} changed for {', '.join(touched)}"
    return reasons


def registry_entries(text: str | None) -> frozenset[tuple[str, tuple[tuple[str, str], ...]]] | None:
    """Every ROA and route object as a comparable entry; None when it cannot be read."""
    if text is None:
        return None
    try:
        document = yaml.safe_load(text) or {}
        return frozenset(
            (kind, tuple(sorted((str(k), str(v)) for k, v in entry.items())))
            for kind in ("roas", "route_objects")
            for entry in document.get(kind) or []
        )
    except (yaml.YAMLError, AttributeError, TypeError):
        return None


def entry_prefix(entry: tuple[str, tuple[tuple[str, str], ...]]) -> str:
    return dict(entry[1]).get("prefix", "")


def announced_prefixes(stack_file: str) -> list[str] | None:
    """The prefixes a stack file's PoP announces, read without validating the rest of it
    (a stack file that does not validate is still previewed, to show its error)."""
    try:
        document = yaml.safe_load(stack_file) or {}
        pop = (document.get("config") or {}).get("voicepop:pop") or {}
        return [str(p["prefix"]) for p in (pop.get("bgp") or {}).get("prefixes") or []]
    except (yaml.YAMLError, AttributeError, TypeError, KeyError):
        return None


def overlaps(a: str, b: str) -> bool:
    try:
        first, second = ipaddress.ip_network(a, strict=False), ipaddress.ip_network(b, strict=False)
    except ValueError:
        return False
    return first.version == second.version and first.overlaps(second)


# --- from a git repository -------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def file_at(repo: Path, revision: str, path: str) -> str | None:
    found = subprocess.run(
        ["git", "-C", str(repo), "show", f"{revision}:{path}"], capture_output=True, text=True
    )
    return found.stdout if found.returncode == 0 else None


def git_change(repo: Path, base: str, head: str) -> Change:
    """The change a pull request makes: from the merge base of BASE and HEAD to HEAD (what
    `BASE...HEAD` means), so that what landed on BASE meanwhile is not counted."""
    paths = git(repo, "diff", "--name-only", "--no-renames", f"{base}...{head}").split()
    merge_base = git(repo, "merge-base", base, head).strip()
    names = git(repo, "ls-tree", "--name-only", head).split()
    stack_files = {
        stack: file_at(repo, head, name) or ""
        for name in names
        if (stack := stack_of(name)) is not None
    }
    return Change(
        tuple(paths),
        stack_files,
        file_at(repo, merge_base, REGISTRY),
        file_at(repo, head, REGISTRY),
    )


def affected_in(repo: Path, base: str, head: str) -> Affected:
    return affected_stacks(git_change(repo, base, head))


def stacks_of(repo: Path) -> list[str]:
    """The stacks whose files the work tree holds."""
    return sorted(s for path in repo.glob("Pulumi.*.yaml") if (s := stack_of(path.name)))
