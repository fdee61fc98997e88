"""What the README points to is in the repository: every path it names in backticks (a
file or a folder of the project) is tracked by git, so no example or module it shows is
missing from a clone."""

import re
import subprocess

from tests.project import PROJECT_ROOT

TOP = (
    "docs", "stacks", "roles", "tests", "sandbox", "audit", "quality", "policies", "tools",
    "bench", "routing", "inventories", ".github", ".ci",
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
