"""The CI workflows: actionlint (built from its Go module by tools/actionlint/build.sh) passes
them, and each of their steps calls make targets this Makefile has, the ones the tests run."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.project import PROJECT_ROOT

pytestmark = pytest.mark.preview

WORKFLOWS = sorted((PROJECT_ROOT / ".github/workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """Built from its Go module (cached) as `make setup` builds the engine: the engine tier."""
    subprocess.run(["tools/actionlint/build.sh"], cwd=PROJECT_ROOT, check=True, capture_output=True)
    return PROJECT_ROOT / ".tools/bin/actionlint"


def lint(actionlint: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(actionlint), "-no-color", *map(str, files)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )


def workflow(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((PROJECT_ROOT / f".github/workflows/{name}.yml").read_text()))


def test_there_are_preview_drift_and_up_workflows() -> None:
    names = {path.stem for path in WORKFLOWS}
    assert {"preview", "drift", "up", "up-stack"} <= names


def test_the_preview_fans_out_per_stack_and_comments_once() -> None:
    jobs = workflow("preview")["jobs"]
    assert jobs["preview"]["strategy"]["matrix"]["stack"] == (
        "${{ fromJSON(needs.affected.outputs.stacks) }}"
    )
    assert jobs["preview"]["strategy"]["fail-fast"] is False
    sticky = [
        step
        for job in jobs.values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("marocchino/sticky-pull")
    ]
    assert len(sticky) == 1 and sticky[0]["with"]["path"] == "pr-comment.md"


def test_up_runs_one_job_per_stack_under_its_concurrency_group() -> None:
    job = workflow("up-stack")["jobs"]["up"]
    assert job["concurrency"] == {
        "group": "pulumi-up-${{ matrix.stack }}",
        "cancel-in-progress": False,
    }
    assert job["strategy"]["fail-fast"] is False
    callers = workflow("up")["jobs"]
    assert callers["rest"]["needs"] == ["affected", "canary"]
    assert "needs.canary.result == 'success'" in callers["rest"]["if"]
    # every stack converges to main: compared with the commit it last deployed, not HEAD~1
    [listing] = [s for s in callers["affected"]["steps"] if s.get("id") == "list"]
    assert "make -s pending" in listing["run"] and "HEAD~1" not in listing["run"]
    [checkout] = [s for s in callers["affected"]["steps"] if "checkout" in s.get("uses", "")]
    assert checkout["with"]["fetch-depth"] == 0


@pytest.mark.engine
def test_actionlint_passes_the_workflows(actionlint: Path) -> None:
    result = lint(actionlint, *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.engine
def test_actionlint_fails_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / ".github/workflows/broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
        "      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n"
    )
    result = lint(actionlint, broken)
    assert result.returncode != 0
    assert "no-such-input" in result.stdout and "untrusted" in result.stdout


def makefile_targets() -> set[str]:
    text = (PROJECT_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.MULTILINE))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.stem)
def test_every_make_target_a_workflow_calls_exists(workflow: Path) -> None:
    document = yaml.safe_load(workflow.read_text())
    called = {
        target
        for job in document["jobs"].values()
        for step in job.get("steps", [])  # a job calling a reusable workflow has none
        for target in re.findall(r"\bmake (?:-s )?([a-z][a-z-]*)", step.get("run", ""))
    }
    assert called, f"{workflow.name} calls no make target"
    assert called <= makefile_targets(), called - makefile_targets()


def test_the_drift_job_repairs_only_on_request_and_as_an_up_would() -> None:
    drift = workflow("drift")
    # YAML 1.1 reads the key `on` as true
    [triggers] = [value for key, value in drift.items() if key in ("on", True)]
    dispatch = triggers["workflow_dispatch"]
    assert dispatch["inputs"]["repair"] == {
        "description": "Repair the drift found through pulumi up (make repair)",
        "type": "boolean",
        "default": False,
    }
    job = drift["jobs"]["drift"]
    [step] = [s for s in job["steps"] if "make repair" in str(s.get("run", ""))]
    assert "inputs.repair" in step["if"] and "workflow_dispatch" in step["if"]
    assert "pulumi-up-{0}" in job["concurrency"]["group"]
    assert job["concurrency"]["cancel-in-progress"] is False
