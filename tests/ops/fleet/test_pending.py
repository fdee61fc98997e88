"""CI's `up` converges every stack to main: each stack is compared with the commit it last
deployed successfully (the engine's own record of the checkout's commit), on a real git
history made here and real `up`s of a simulated fleet: three commits in one push, a stack
that failed once and stays pending until an `up` of it succeeds."""

import json
import subprocess
from pathlib import Path

import pytest

from ops.affected import Change
from ops.fleet.pending import Pending, last_deployed_commit, pending_stacks
from ops.fleet.simulate import write_fleet
from tests.ops.fleet.conftest import SimulatedFleet
from tests.project import run_in_project_env

pytestmark = pytest.mark.fleet

POPS = ["xka1", "xkb1", "xkc1"]  # the folder's other tests' fleet is xaa1, xab1, ...
FIRST = 260


@pytest.fixture
def pending_fleet(simulated: SimulatedFleet) -> SimulatedFleet:
    """A fleet of three PoPs of two servers in a folder (a git repository) of its own, on the
    folder's stand-ins."""
    fleet = SimulatedFleet(simulated.root / "pending", simulated.at)
    (fleet.root / "state").mkdir(parents=True)  # its own backend
    assert write_fleet(fleet.project, len(POPS), 2, fleet.at, first=FIRST) == POPS
    return fleet


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def pending(fleet: SimulatedFleet) -> list[str]:
    listed = run_in_project_env(
        f"python -m ops.fleet.pending --project-dir {fleet.project}", env=fleet.env
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    print(listed.stderr)  # why each is pending, shown when a test fails
    return list(json.loads(listed.stdout))


def up(fleet: SimulatedFleet, *stacks: str) -> subprocess.CompletedProcess[str]:
    return fleet.fleet("up", "--project-dir", str(fleet.project), "--stacks", *stacks)


def edit(fleet: SimulatedFleet, pop: str, old: str, new: str) -> None:
    path = fleet.project / f"Pulumi.{pop}.yaml"
    path.write_text(path.read_text().replace(old, new, 1))


def test_every_stack_converges_to_head_whatever_the_push_held_or_failed(
    pending_fleet: SimulatedFleet,
) -> None:
    fleet = pending_fleet
    repo = fleet.project
    # the stacks created first: creating one writes its secrets' salt into its stack file,
    # which a team commits with the file
    created = fleet.fleet("preview", "--project-dir", str(repo))
    assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-3000:]
    git(repo, "init", "-q")
    commit(repo, "the fleet")
    assert pending(fleet) == POPS  # nothing deployed yet
    ran = up(fleet, *POPS)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert pending(fleet) == []

    # one push of three commits: xaa1 changed in the first, xab1 in the second, nothing in
    # the third (the push's last commit alone, HEAD~1..HEAD, touches no stack)
    edit(fleet, "xka1", "count: 2", "count: 3")
    commit(repo, "xka1: a third server")
    edit(fleet, "xkb1", "count: 2", "count: 1")
    commit(repo, "xkb1: a server fewer")
    (repo / "NOTES.md").write_text("nothing that any stack runs\n")
    commit(repo, "notes")
    assert pending(fleet) == ["xka1", "xkb1"]

    # xkb1's up fails; xka1's succeeds: xkb1 stays pending through a later push that does
    # not touch it
    edit(fleet, "xkb1", "simulate: true", "simulate: true\n      rollout: {batch: '0'}")
    commit(repo, "xkb1: a broken rollout")
    assert up(fleet, "xka1").returncode == 0
    assert up(fleet, "xkb1").returncode == 1
    (repo / "NOTES.md").write_text("still nothing any stack runs\n")
    commit(repo, "more notes")
    assert pending(fleet) == ["xkb1"]

    edit(fleet, "xkb1", "\n      rollout: {batch: '0'}", "")
    commit(repo, "xkb1: fixed")
    assert up(fleet, "xkb1").returncode == 0
    assert pending(fleet) == []


def test_the_newest_successful_update_counts() -> None:
    history = [
        {"kind": "update", "result": "failed", "environment": {"git.head": "c3"}},
        {"kind": "refresh", "result": "succeeded", "environment": {"git.head": "c2"}},
        {"kind": "update", "result": "succeeded", "environment": {"git.head": "c1"}},
    ]
    assert last_deployed_commit(history) == "c1"
    assert last_deployed_commit([]) is None
    assert last_deployed_commit([{"kind": "update", "result": "succeeded"}]) is None


def test_a_commit_missing_from_the_history_is_pending_not_skipped() -> None:
    def unknown(_: str) -> Change | None:
        return None

    found = pending_stacks(["ams1", "iad1"], {"ams1": "abc", "iad1": "head"}, "head", unknown)
    assert found == [Pending("ams1", "its last deployed commit abc is unknown")]
