"""`make setup`'s step for pulumi-command's plugin: an installed plugin of the pinned version is
used as it is; otherwise it is built from the source folder (a fake `go` stands in, so nothing
compiles) into the cache and installed with `pulumi plugin install --file`; without a source
folder the released plugin is fetched. A fake `pulumi` records what it was asked."""

import re
import subprocess
from pathlib import Path

from tests.project import PROJECT_ROOT

SETUP = PROJECT_ROOT / "tools/pulumi-command/setup.sh"
PINNED = re.search(
    r"^pulumi-command==([0-9.]+)", (PROJECT_ROOT / "requirements.in").read_text(), re.M
)


def executable(path: Path, script: str) -> None:
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def run(tmp_path: Path, with_source: bool) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    executable(tools / "pulumi", f'echo "pulumi $*" >> {tmp_path}/asked')
    # `go env GOPROXY`, then the build: it writes the binary where -o says
    executable(
        tools / "go",
        'if [ "$1" = env ]; then echo off; exit 0; fi\n'
        'while [ "$1" != -o ]; do shift; done; echo built > "$2"; chmod +x "$2"',
    )
    third_party = tmp_path / "third_party"
    if with_source:
        source = third_party / "pulumi-command/provider"
        source.mkdir(parents=True)
        (source / "go.mod").write_text("module github.com/pulumi/pulumi-command/provider\n")
        (source / "go.sum").write_text("")
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "VOICEPOP_CACHE_DIR": str(tmp_path / "cache"),
        "VOICEPOP_THIRD_PARTY": str(third_party),
    }
    return subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, env=env)


def asked(tmp_path: Path) -> str:
    return (tmp_path / "asked").read_text() if (tmp_path / "asked").exists() else ""


def test_it_builds_from_the_source_into_the_cache_and_installs_the_file(tmp_path: Path) -> None:
    assert PINNED
    done = run(tmp_path, with_source=True)
    assert done.returncode == 0, done.stderr
    [built] = (tmp_path / "cache/pulumi-command").glob(
        f"{PINNED.group(1)}-*/pulumi-resource-command"
    )
    assert f"pulumi plugin install resource command {PINNED.group(1)} --file {built}" in asked(
        tmp_path
    )


def test_an_installed_plugin_is_used_as_it_is(tmp_path: Path) -> None:
    assert PINNED
    installed = tmp_path / f"pulumi-home/plugins/resource-command-v{PINNED.group(1)}"
    installed.mkdir(parents=True)
    executable(installed / "pulumi-resource-command", "exit 0")
    done = run(tmp_path, with_source=True)
    assert done.returncode == 0 and "installed" in done.stdout
    assert asked(tmp_path) == "" and not (tmp_path / "cache").exists()


def test_without_the_source_the_released_plugin_is_fetched(tmp_path: Path) -> None:
    assert PINNED
    done = run(tmp_path, with_source=False)
    assert done.returncode == 0, done.stderr
    assert asked(tmp_path) == f"pulumi plugin install resource command {PINNED.group(1)}\n"
