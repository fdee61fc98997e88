"""Fleet runs through the Automation API on a simulated fleet of five PoPs of three servers:
an `up` in waves of PoPs that stops at the first failed PoP, previews of every stack at once
with one failing, a role change seen on every host deploy, and the fleet converged."""

import json
from pathlib import Path
from typing import Any

import pytest

from ops.fleet.report import NOT_RUN
from tests.ops.fleet.conftest import SimulatedFleet

pytestmark = pytest.mark.fleet

POPS = ["xaa1", "xab1", "xac1", "xad1", "xae1"]
SERVERS = 3
BROKEN = "xac1"
BAD_BATCH = "voicepop:pop.deploy.rollout.batch"


def break_pop(fleet: SimulatedFleet, pop: str) -> None:
    path = fleet.project / f"Pulumi.{pop}.yaml"
    path.write_text(
        path.read_text().replace("simulate: true", "simulate: true\n      rollout: {batch: '0'}")
    )


def results(path: Path) -> dict[str, dict[str, Any]]:
    return {r["stack"]: r for r in json.loads(path.read_text())}


def test_an_up_runs_the_canary_then_waves_and_stops_after_a_failed_pop(
    simulated: SimulatedFleet,
) -> None:
    assert simulated.write(len(POPS), SERVERS) == POPS
    break_pop(simulated, BROKEN)
    out = simulated.root / "up.json"
    run = simulated.fleet(
        "up", "--project-dir", str(simulated.project), "--canary", "xaa1", "--wave-size", "2",
        "--json", str(out),
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "waves of PoPs: xaa1 → xab1, xac1 → xad1, xae1" in run.stdout
    found = results(out)
    assert {s: (r["wave"], r["status"]) for s, r in found.items()} == {
        "xaa1": (1, "ok"),
        "xab1": (2, "ok"),
        "xac1": (2, "failed"),
        "xad1": (3, NOT_RUN),
        "xae1": (3, NOT_RUN),
    }
    assert BAD_BATCH in found[BROKEN]["error"], found[BROKEN]["error"]
    assert found["xaa1"]["counts"]["create"] > 3 * SERVERS
    # the progress line of each stack run, and the table at the end
    assert "xaa1: up ok, create" in run.stdout
    assert "5 stack(s): 2 ok, 1 failed, 2 not run" in run.stdout
    for pop in ("xaa1", "xab1"):
        assert len(simulated.servers_of(pop)) == SERVERS
    for pop in (BROKEN, "xad1", "xae1"):
        assert simulated.servers_of(pop) == [], f"{pop} was not to be touched"


def test_a_preview_of_every_stack_names_the_failing_one_and_shows_the_others(
    simulated: SimulatedFleet,
) -> None:
    out = simulated.root / "preview.json"
    run = simulated.fleet(
        "preview", "--project-dir", str(simulated.project), "--workers", "2", "--json", str(out)
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    found = results(out)
    assert found[BROKEN]["status"] == "failed" and BAD_BATCH in found[BROKEN]["error"]
    for pop in ("xaa1", "xab1"):  # up to date
        assert found[pop]["status"] == "ok"
        assert set(found[pop]["counts"]) == {"same"}, found[pop]
    for pop in ("xad1", "xae1"):  # never run: everything to create
        assert found[pop]["counts"].get("create", 0) > 3 * SERVERS
    assert "5 stack(s): 4 ok, 1 failed" in run.stdout


def test_a_role_change_updates_every_host_deploy_and_the_fleet_converges(
    simulated: SimulatedFleet,
) -> None:
    simulated.write(len(POPS), SERVERS, udp_rmem_min_bytes=32_768)
    out = simulated.root / "changed.json"
    run = simulated.fleet(
        "preview", "--project-dir", str(simulated.project), "--stacks", "xaa1", "xab1",
        "--json", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for pop, result in results(out).items():
        # every host deploy's trigger changed, nothing else
        # each host deploy and its attempt marker
        assert result["counts"].get("update") == 2 * SERVERS, (pop, result)
        assert set(result["counts"]) == {"same", "update"}, (pop, result)

    up = simulated.fleet("up", "--project-dir", str(simulated.project))
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert "5 stack(s): 5 ok, 0 failed" in up.stdout
    for pop in POPS:
        assert len(simulated.servers_of(pop)) == SERVERS
    again = simulated.fleet("preview", "--project-dir", str(simulated.project), "--json", str(out))
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(set(r["counts"]) == {"same"} for r in results(out).values())


def test_bad_flags_are_named_before_any_stack_runs(simulated: SimulatedFleet) -> None:
    unknown = simulated.fleet("up", "--project-dir", str(simulated.project), "--stacks", "zzz9")
    assert unknown.returncode == 2
    assert "no stack zzz9; the stacks here: xaa1, xab1" in unknown.stderr
    canary = simulated.fleet(
        "up", "--project-dir", str(simulated.project), "--stacks", "xaa1", "--canary", "xab1"
    )
    assert canary.returncode == 2 and "--canary xab1: not among the stacks" in canary.stderr
    ordered = simulated.fleet(
        "preview", "--project-dir", str(simulated.project), "--wave-size", "2"
    )
    assert ordered.returncode == 2 and "a preview runs every stack at once" in ordered.stderr
