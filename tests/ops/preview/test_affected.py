"""Which stacks a change touches, on real git histories made in the test."""

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.affected import affected_in
from ops.preview.__main__ import main
from tests.project import PROJECT_ROOT

pytestmark = pytest.mark.preview

STACKS = ("sandbox", "ams1", "iad1")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository holding the project's stack files, registry and a role, on `main`."""
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "test@example.invalid")
    git(tmp_path, "config", "user.name", "test")
    for stack in STACKS:
        name = f"Pulumi.{stack}.yaml"
        (tmp_path / name).write_text((PROJECT_ROOT / name).read_text())
    (tmp_path / "routing").mkdir()
    (tmp_path / "routing/registry.yaml").write_text(
        (PROJECT_ROOT / "routing/registry.yaml").read_text()
    )
    (tmp_path / "roles/base").mkdir(parents=True)
    (tmp_path / "roles/base/defaults.py").write_text("SWAPPINESS = 10\n")
    (tmp_path / "README.md").write_text("voicepop\n")
    commit(tmp_path, "base")
    git(tmp_path, "checkout", "-q", "-b", "change")
    return tmp_path


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


def affected(repo: Path) -> dict[str, list[str]]:
    return affected_in(repo, "main", "HEAD").stacks


def test_a_stack_file_is_its_own_stack(repo: Path) -> None:
    edit(repo / "Pulumi.ams1.yaml", lambda d: d["config"]["voicepop:pop"].update(site="x"))
    commit(repo, "ams1")
    assert affected(repo) == {"ams1": ["Pulumi.ams1.yaml changed"]}


def test_a_role_change_is_every_stack(repo: Path) -> None:
    (repo / "roles/base/defaults.py").write_text("SWAPPINESS = 1\n")
    commit(repo, "role")
    assert sorted(affected(repo)) == sorted(STACKS)


def test_a_readme_change_is_no_stack(repo: Path) -> None:
    (repo / "README.md").write_text("voicepop, the fleet\n")
    commit(repo, "docs")
    assert affected(repo) == {}


def test_a_registry_change_is_the_stacks_announcing_its_prefixes(repo: Path) -> None:
    registry = repo / "routing/registry.yaml"
    sandbox = [
        p["prefix"]
        for p in yaml.safe_load((repo / "Pulumi.sandbox.yaml").read_text())["config"][
            "voicepop:pop"
        ]["bgp"]["prefixes"]
    ]
    edit(
        registry,
        lambda d: d["roas"].append(
            {"prefix": "198.18.12.0/24", "origin_asn": 64512, "max_length": 24}
        ),
    )
    commit(repo, "a ROA inside the sandbox's /15 only: no stack announces it")
    assert affected(repo) == {}

    def tighten(document: dict[str, Any]) -> None:
        for roa in document["roas"]:
            if roa["prefix"] == "198.18.0.0/15":
                roa["max_length"] = 23

    edit(registry, tighten)
    commit(repo, "the ROA covering the sandbox's prefix")
    found = affected(repo)
    assert list(found) == ["sandbox"], found
    assert any(p.split("/")[0] in found["sandbox"][0] for p in sandbox)


def test_what_landed_on_main_meanwhile_is_not_counted(repo: Path) -> None:
    edit(repo / "Pulumi.iad1.yaml", lambda d: d["config"]["voicepop:pop"].update(site="y"))
    commit(repo, "iad1 on the branch")
    git(repo, "checkout", "-q", "main")
    edit(repo / "Pulumi.ams1.yaml", lambda d: d["config"]["voicepop:pop"].update(site="z"))
    commit(repo, "ams1 on main")
    git(repo, "checkout", "-q", "change")
    assert list(affected(repo)) == ["iad1"]


def test_a_deleted_stack_file_is_named_not_previewed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "Pulumi.iad1.yaml").unlink()
    commit(repo, "close iad1")
    assert main(["affected", "main", "HEAD", "--json", "--repo", str(repo)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"stacks": {}, "removed": ["iad1"]}
    assert "iad1: its stack file is deleted" in err


def test_an_unknown_revision_is_a_clear_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["affected", "no-such-branch", "HEAD", "--repo", str(repo)]) == 1
    assert "no-such-branch" in capsys.readouterr().err
