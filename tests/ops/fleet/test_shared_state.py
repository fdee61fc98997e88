"""A team's shared state on an S3-compatible bucket (moto's S3 server), Pulumi's own backend
and locking: stacks initialised, updated and previewed there; a second `up` of a locked stack
fails at once; a stale lock left by a killed `up` is cleared with `pulumi cancel` and the
re-run converges (no server orphaned or duplicated); `up`s of different stacks run side by
side; and a stack moved from the file backend to the bucket without losing anything."""

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ops.fleet.simulate import write_fleet
from sandbox.processes import process_tree
from tests.ops.fleet.conftest import SimulatedFleet
from tests.project import PROJECT_ROOT, run_in_project_env

pytestmark = pytest.mark.fleet

BUCKET = "voicepop-team-state"
POPS = ["xba1", "xbb1"]  # stacks of their own: the other module's live in a file backend
FIRST = 26  # pop_code(26) == "xba1"


class Team:
    """Engineers sharing the bucket: pulumi commands on the fleet's stacks, state in S3."""

    def __init__(self, fleet: SimulatedFleet, folder: Path, backend: str) -> None:
        self.fleet = fleet
        self.folder = folder
        self.backend = backend
        self.s3 = boto3.client(
            "s3",
            endpoint_url=fleet.at.route53,  # moto's one server answers S3 as well
            region_name="us-east-1",
            aws_access_key_id="simulation",
            aws_secret_access_key="simulation",
        )

    @property
    def env(self) -> dict[str, str]:
        return {**self.fleet.env, "PULUMI_BACKEND_URL": self.backend}

    def write(self, servers: int, **kernel: Any) -> None:
        write_fleet(self.folder, len(POPS), servers, self.fleet.at, kernel, first=FIRST)

    def pulumi(
        self, command: str, backend: str | None = None, folder: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_in_project_env(
            f"cd {folder or self.folder} && pulumi {command} --non-interactive",
            env={**self.env, "PULUMI_BACKEND_URL": backend or self.backend},
        )

    def start_up(self, stack: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["bash", "-c", f". tools/env.sh && cd {self.folder} && "
             f"exec pulumi up --yes --skip-preview --non-interactive --stack {stack}"],
            cwd=PROJECT_ROOT, env={**os.environ, **self.env}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def objects(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]

    def wait_for_lock(self, stack: str, running: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 60
        while not self.objects(f".pulumi/locks/organization/voicepop/{stack}/"):
            assert running.poll() is None, running.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the up never took its lock"
            time.sleep(0.1)

    def slow_deliveries(self, step_delay_s: float) -> None:
        run_in_project_env(
            f"python -m sandbox.flexmetal --endpoint {self.fleet.at.flexmetal.removesuffix('/v3')}"
            f" settings step_delay_s={step_delay_s}",
            env={"FLEXMETAL_TOKEN": self.fleet.env["FLEXMETAL_TOKEN"]},
            check=True,
        )


@pytest.fixture(scope="module")
def team(simulated: SimulatedFleet) -> Iterator[Team]:
    host = simulated.at.route53.removeprefix("http://")
    backend = (
        f"s3://{BUCKET}?endpoint={host}&region=us-east-1&s3ForcePathStyle=true"
        "&disableSSL=true&response_checksum_validation=when_required"
    )
    shared = Team(simulated, simulated.root / "team", backend)
    shared.s3.create_bucket(Bucket=BUCKET)
    shared.write(servers=2)
    yield shared
    shared.slow_deliveries(0.02)


def fleet(team: Team, *args: str) -> subprocess.CompletedProcess[str]:
    return team.fleet.fleet(*args, "--project-dir", str(team.folder), env=team.env)


def test_stacks_are_initialised_updated_and_previewed_on_the_bucket(team: Team) -> None:
    up = fleet(team, "up", "--stacks", "xba1")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert ".pulumi/stacks/voicepop/xba1.json" in team.objects(".pulumi/stacks/"), team.objects("")
    assert team.objects(".pulumi/locks/") == [], "the up left its lock"
    preview = team.pulumi("preview --stack xba1 --expect-no-changes")
    assert preview.returncode == 0, preview.stdout[-3000:] + preview.stderr[-3000:]
    assert len(team.fleet.servers_of("xba1")) == 2


def test_a_second_up_of_a_locked_stack_fails_at_once(team: Team) -> None:
    team.write(servers=3)  # a third server: the first up waits on its delivery
    team.slow_deliveries(1.0)
    first = team.start_up("xba1")
    team.wait_for_lock("xba1", first)
    second = team.pulumi("up --yes --skip-preview --stack xba1")
    assert first.poll() is None, "the first up was to be still running"
    assert second.returncode != 0
    assert "the stack is currently locked by 1 lock(s)" in second.stdout + second.stderr
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output[-3000:]
    assert len(team.fleet.servers_of("xba1")) == 3


def test_a_stale_lock_is_cleared_with_cancel_and_the_rerun_converges(team: Team) -> None:
    team.write(servers=4)
    killed = team.start_up("xba1")
    team.wait_for_lock("xba1", killed)
    time.sleep(2)  # the fourth server's create is under way at the provider
    # the machine running it dies: the engine, its language host and plugins at once (they
    # run in process groups of their own, so a kill of the engine alone would leave them)
    for pid in process_tree(killed.pid):
        os.kill(pid, signal.SIGKILL)
    killed.wait()
    locked = team.pulumi("up --yes --skip-preview --stack xba1")
    assert locked.returncode != 0 and "currently locked" in locked.stdout + locked.stderr
    cancelled = team.pulumi("cancel --yes --stack xba1")
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert team.objects(".pulumi/locks/") == []
    team.slow_deliveries(0.02)
    # the killed run's create is pending in the state: refresh settles it, the provider
    # finds the server it had ordered by its identity tag instead of ordering another
    refreshed = team.pulumi("refresh --yes --clear-pending-creates --stack xba1")
    assert refreshed.returncode == 0, refreshed.stdout[-3000:] + refreshed.stderr[-3000:]
    rerun = team.pulumi("up --yes --skip-preview --stack xba1")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    names = sorted(s["name"] for s in team.fleet.servers_of("xba1"))
    assert names == [f"xba1-sfu0{n}" for n in (1, 2, 3, 4)], names


def test_ups_of_different_stacks_run_side_by_side(team: Team) -> None:
    team.write(servers=4, udp_rmem_min_bytes=32_768)
    run = fleet(team, "up", "--workers", "2", "--json", str(team.folder / "up.json"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = {r["stack"]: r for r in json.loads((team.folder / "up.json").read_text())}
    assert {s: r["status"] for s, r in results.items()} == dict.fromkeys(POPS, "ok")
    assert len(team.fleet.servers_of("xbb1")) == 4


def test_a_stack_moves_from_the_file_backend_to_the_bucket(team: Team, tmp_path: Path) -> None:
    """The README's move: export from the old backend, init and import on the bucket."""
    (tmp_path / "file-state").mkdir()
    old = (tmp_path / "file-state").as_uri()
    project = tmp_path / "project"
    write_fleet(project, 1, 2, team.fleet.at, first=FIRST + 2)  # xbc1, on the file backend

    def pulumi(command: str, backend: str | None = None) -> subprocess.CompletedProcess[str]:
        result = team.pulumi(command, backend, project)
        assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        return result

    pulumi("stack init xbc1", old)
    pulumi("up --yes --skip-preview --stack xbc1", old)
    exported = tmp_path / "xbc1.json"
    pulumi(f"stack export --stack xbc1 --file {exported}", old)
    pulumi("stack init xbc1")
    pulumi(f"stack import --stack xbc1 --file {exported}")
    pulumi("preview --stack xbc1 --expect-no-changes")
    assert ".pulumi/stacks/voicepop/xbc1.json" in team.objects(".pulumi/stacks/")
    assert len(team.fleet.servers_of("xbc1")) == 2
