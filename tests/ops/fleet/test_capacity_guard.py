"""A fleet `up` that would remove servers below a production PoP's capacity floor is refused
before anything changes, naming the servers and the floor; the explicit flag lets it through
to the engine. Real: a PoP's stack deployed (simulated servers), its outputs read from the
backend."""

import pytest

from ops.fleet.simulate import write_fleet
from tests.ops.fleet.conftest import SimulatedFleet

pytestmark = pytest.mark.fleet

POP = "xma1"  # the folder's other fleets are xaa1.., xka1.., xla1


def test_a_removal_below_the_floor_is_refused_unless_accepted(simulated: SimulatedFleet) -> None:
    fleet = SimulatedFleet(simulated.root / "guard", simulated.at)
    (fleet.root / "state").mkdir(parents=True)
    assert write_fleet(fleet.project, 1, 4, fleet.at, first=312) == [POP]
    up = fleet.fleet("up", "--project-dir", str(fleet.project))
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert len(fleet.servers_of(POP)) == 4

    # the same PoP declared as staging with two servers fewer: 2 of 4 in service < 3 (75 %)
    path = fleet.project / f"Pulumi.{POP}.yaml"
    path.write_text(
        path.read_text()
        .replace("environment: sandbox", "environment: staging")
        .replace("count: 4", "count: 2")
    )
    refused = fleet.fleet("up", "--project-dir", str(fleet.project))
    assert refused.returncode == 1
    assert (
        f"removing {POP}-sfu03, {POP}-sfu04 leaves 2 of 4 servers in service, below "
        "deploy.min_in_service (75%: 3 server(s))" in refused.stdout
    ), refused.stdout[-3000:]
    assert len(fleet.servers_of(POP)) == 4  # nothing changed

    accepted = fleet.fleet("up", "--project-dir", str(fleet.project), "--allow-capacity-loss")
    # past the guard, the engine runs the program, whose spec check refuses what only a
    # sandbox may (its own zone, simulated deploys): the flag lets the up reach the engine
    assert accepted.returncode == 1
    assert "error(s) in the PoP spec" in accepted.stdout, accepted.stdout[-3000:]
    assert "removing" not in accepted.stdout
