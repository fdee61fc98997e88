"""`make setup`'s engine step uses an installed Pulumi engine of the pinned version (a CI
runner's, an operator's) instead of compiling one, and builds where there is none, or another
version, or when told to. A fake release on PATH stands in for the install and a fake `go`
says whether a build started; nothing is compiled and the project's .tools is not touched."""

import re
import subprocess
from pathlib import Path

from tests.project import PROJECT_ROOT

BUILD = PROJECT_ROOT / "tools/pulumi-engine/build.sh"
PINNED = re.search(
    r"github.com/pulumi/pulumi/pkg/v3 (v[0-9.]+)",
    (PROJECT_ROOT / "tools/pulumi-engine/go.mod").read_text(),
)
RELEASED = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec",
            "pulumi-resource-pulumi-python")  # fmt: skip


def executable(path: Path, script: str) -> None:
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def fake_release(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True)
    executable(folder / "pulumi", f"echo {version}")
    for name in RELEASED[1:]:
        executable(folder / name, "exit 0")
    return folder


def build(tmp_path: Path, *path: Path, force: bool = False) -> subprocess.CompletedProcess[str]:
    go = tmp_path / "go-bin"
    go.mkdir(exist_ok=True)
    executable(go / "go", "echo 'a build started' >&2; exit 3")
    env = {
        "PATH": ":".join([*map(str, path), str(go), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "VOICEPOP_TOOLS_BIN": str(tmp_path / "tools-bin"),
        "VOICEPOP_CACHE_DIR": str(tmp_path / "cache"),
        **({"VOICEPOP_BUILD_ENGINE": "1"} if force else {}),
    }
    return subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, env=env)


def test_an_installed_engine_of_the_pinned_version_is_linked_and_nothing_built(
    tmp_path: Path,
) -> None:
    assert PINNED
    release = fake_release(tmp_path / "pulumi-install", PINNED.group(1))
    done = build(tmp_path, release)
    assert done.returncode == 0, done.stderr
    assert "nothing built" in done.stdout and "a build started" not in done.stderr
    for name in RELEASED:
        assert (tmp_path / "tools-bin" / name).resolve() == release / name


def test_another_installed_version_or_a_forced_build_compiles(tmp_path: Path) -> None:
    assert PINNED
    other = fake_release(tmp_path / "old-install", "v3.100.0")
    done = build(tmp_path, other)
    assert done.returncode != 0 and "a build started" in done.stderr
    assert f"is v3.100.0, not the pinned {PINNED.group(1)}" in done.stderr
    pinned = fake_release(tmp_path / "pulumi-install", PINNED.group(1))
    forced = build(tmp_path, pinned, force=True)
    assert forced.returncode != 0 and "a build started" in forced.stderr
    assert not (tmp_path / "tools-bin" / "pulumi").exists()


def test_without_an_installed_engine_it_builds(tmp_path: Path) -> None:
    done = build(tmp_path)
    assert done.returncode != 0 and "a build started" in done.stderr
