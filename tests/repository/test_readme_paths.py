"""What the README points to is in the repository: every path it names in backticks (a
file or a folder of the project) is tracked by git, so no example or module it shows is
missing from a clone; and its layout is the tree: every entry exists, every top folder is
there."""

import re
import subprocess

from tests.project import PROJECT_ROOT

TOP = (
    "docs", "stacks", "plugins", "deploy", "ops", "verify", "roles", "tests", "sandbox", "audit",
    "quality", "policies", "tools", "bench", "routing", "inventories", ".github", ".ci",
)  # fmt: skip
PATH = re.compile(rf"`((?:{'|'.join(re.escape(t) for t in TOP)})/[A-Za-z0-9_./-]*)`")


def tracked() -> set[str]:
    listed = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    folders = {"/".join(path.split("/")[:depth]) for path in listed
               for depth in range(1, path.count("/") + 1)}  # fmt: skip
    return set(listed) | folders


def test_every_path_the_readme_names_is_in_the_repository() -> None:
    named = set(PATH.findall((PROJECT_ROOT / "README.md").read_text()))
    here = tracked()
    missing = sorted(
        path for path in named
        if path.rstrip("/") not in here and not any(c in path for c in "*<")
    )  # fmt: skip
    assert named, "the README names no path"
    assert missing == [], missing


def layout_entries() -> list[str]:
    """The paths the README's layout names: top entries at four spaces, their children at
    six (several on one line are split at commas)."""
    text = (PROJECT_ROOT / "README.md").read_text()
    block = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    entries, parent = [], ""
    for line in block.splitlines():
        child = re.match(r"^      ([\w./-]+(?:, [\w./-]+)*)\s", line + " ")
        top = re.match(r"^    (\S+)\s", line + " ")
        if top and not line.startswith("     "):
            parent = top.group(1) if top.group(1).endswith("/") else ""
            entries.append(top.group(1))
        elif child and parent:
            entries += [parent + name for name in child.group(1).split(", ")]
    return entries


def test_the_readme_layout_is_the_tree() -> None:
    entries = layout_entries()
    here = tracked()
    named = {entry.rstrip("/") for entry in entries if "<" not in entry}
    assert sorted(e for e in named if e not in here) == []
    top_folders = {path.split("/")[0] for path in here if "/" in path}
    assert sorted(top_folders - {e.split("/")[0] for e in named}) == []
