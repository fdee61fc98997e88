"""The policies a first preview cannot judge (the values come from delivered servers) or the
program never lets through (the spec refuses first), tried through the real engine on a
deployed (simulated) PoP's state: a TTL above the team's maximum and an SSH range wider than
a stricter team allows, in a preview; an unregistered prefix, a simulated deploy in a
production PoP and a server without its health check, in `make policy-analyze` over the
state (which runs no program)."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.fleet.simulate import write_fleet
from tests.ops.fleet.conftest import SimulatedFleet
from tests.project import PROJECT_ROOT

pytestmark = [pytest.mark.fleet, pytest.mark.compliance]

POP = "xla1"  # the folder's other fleets are xaa1.., xka1..
PACK = PROJECT_ROOT / "policies"
TEAM_CONFIG = PROJECT_ROOT / "policies/config.json"
HEALTH_CHECK = "vproute53:index:HealthCheck"


@pytest.fixture(scope="module")
def deployed(simulated: SimulatedFleet) -> SimulatedFleet:
    fleet = SimulatedFleet(simulated.root / "policies", simulated.at)
    (fleet.root / "state").mkdir(parents=True)
    assert write_fleet(fleet.project, 1, 2, fleet.at, first=286) == [POP]
    up = fleet.fleet("up", "--project-dir", str(fleet.project))
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    return fleet


def in_fleet(fleet: SimulatedFleet, command: str) -> subprocess.CompletedProcess[str]:
    """A command in the fleet's project folder with the project's environment."""
    return subprocess.run(
        ["bash", "-c", f". {PROJECT_ROOT}/tools/env.sh && cd {fleet.project} && {command}"],
        env={**os.environ, **fleet.env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def changed_config(fleet: SimulatedFleet, tmp_path: Path, **pop: Any) -> Path:
    document = yaml.safe_load((fleet.project / f"Pulumi.{POP}.yaml").read_text())
    document["config"]["voicepop:pop"].update(pop)
    changed = tmp_path / f"Pulumi.{POP}-changed.yaml"
    changed.write_text(yaml.safe_dump(document))
    return changed


def analyze(fleet: SimulatedFleet, config: Path) -> str:
    result = in_fleet(
        fleet,
        f"python -m policies.analyze {POP} --config-file {config} "
        f"--policy-pack {PACK} --policy-pack-config {TEAM_CONFIG}",
    )
    assert result.returncode != 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def test_a_long_ttl_and_a_range_wider_than_the_team_allows_fail_the_preview(
    deployed: SimulatedFleet, tmp_path: Path
) -> None:
    pop = yaml.safe_load((deployed.project / f"Pulumi.{POP}.yaml").read_text())
    dns = {**pop["config"]["voicepop:pop"]["dns"], "ttl_s": 600}
    changed = changed_config(deployed, tmp_path, dns=dns)
    team = json.loads(TEAM_CONFIG.read_text())
    team["ssh-admin-ranges-not-world-open"]["min_ipv4_prefix_len"] = 28
    strict = tmp_path / "strict-team.json"
    strict.write_text(json.dumps(team))
    result = in_fleet(
        deployed,
        f"pulumi preview --stack {POP} --config-file {changed} --non-interactive "
        f"--policy-pack {PACK} --policy-pack-config {strict}",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "dns-ttl-within-policy" in output and "600" in output
    assert "ssh-admin-ranges-not-world-open" in output and "203.0.113.64/27" in output


def test_an_unregistered_prefix_fails_the_analysis_of_the_state(
    deployed: SimulatedFleet, tmp_path: Path
) -> None:
    pop = yaml.safe_load((deployed.project / f"Pulumi.{POP}.yaml").read_text())
    bgp = {**pop["config"]["voicepop:pop"]["bgp"], "prefixes": [{"prefix": "192.0.2.0/24"}]}
    output = analyze(deployed, changed_config(deployed, tmp_path, bgp=bgp))
    assert "announced-prefixes-registered" in output
    assert "192.0.2.0/24" in output and "RPKI-not-found" in output


def test_a_production_pop_with_simulated_deploys_fails_the_analysis(
    deployed: SimulatedFleet, tmp_path: Path
) -> None:
    output = analyze(deployed, changed_config(deployed, tmp_path, environment="production"))
    assert "servers-deployed-and-verified" in output
    assert f"PoP {POP} (production) sets deploy.simulate" in output
    assert "its host deploy is simulated" in output


def test_a_server_without_its_health_check_fails_the_analysis(
    deployed: SimulatedFleet, tmp_path: Path
) -> None:
    exported = in_fleet(deployed, f"pulumi stack export --stack {POP}")
    assert exported.returncode == 0, exported.stderr
    state = json.loads(exported.stdout)
    resources = state["deployment"]["resources"]
    [dropped] = [r for r in resources if r["type"] == HEALTH_CHECK and "-pop-" not in r["urn"]][:1]
    server = dropped["urn"].rsplit("::", 1)[1].removesuffix("-health")
    kept = [r for r in resources if r is not dropped]
    for resource in kept:  # nothing may depend on the dropped check any more
        resource["dependencies"] = [
            d for d in resource.get("dependencies", []) if d != dropped["urn"]
        ]
        for prop, depends in (resource.get("propertyDependencies") or {}).items():
            resource["propertyDependencies"][prop] = [d for d in depends if d != dropped["urn"]]
    state["deployment"]["resources"] = kept
    edited = tmp_path / "state.json"
    edited.write_text(json.dumps(state))
    imported = in_fleet(deployed, f"pulumi stack import --stack {POP} --file {edited}")
    assert imported.returncode == 0, imported.stderr
    try:
        output = analyze(deployed, deployed.project / f"Pulumi.{POP}.yaml")
        assert "servers-health-checked" in output
        assert f"server {server} has no health check" in output, output[-2000:]
    finally:  # the state as it was, for nothing else to trip on
        original = tmp_path / "original.json"
        original.write_text(exported.stdout)
        in_fleet(deployed, f"pulumi stack import --stack {POP} --file {original} --force")
