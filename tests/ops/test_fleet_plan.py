"""Fleet runs, offline: the selection and the waves of PoPs, the progress lines and table,
the simulated fleet's stack files, and previews saved apart and joined into one comment."""

import json
from pathlib import Path

import pytest
import yaml

from ops.fleet.plan import FleetError, Selection, pop_waves, selected
from ops.fleet.report import (
    NOT_RUN,
    StackResult,
    as_json,
    first_line,
    progress_line,
    summary_table,
)
from ops.fleet.simulate import Endpoints, pop_code, project_file, simulated_pop, write_fleet
from ops.preview.comment import render
from ops.preview.events import PropertyChange, ResourceChange, StackPreview
from ops.preview.saved import load, save
from stacks.spec import parse_pop
from stacks.spec.checks import StackContext

pytestmark = pytest.mark.fleet

AT = Endpoints("http://127.0.0.1:1/v3", "http://127.0.0.1:2")


def test_the_canary_goes_alone_then_waves_of_the_size_asked() -> None:
    stacks = ("ams1", "fra1", "iad1", "lax1", "sin1")
    assert pop_waves(Selection(stacks, ("iad1",), 2)) == [
        ["iad1"],
        ["ams1", "fra1"],
        ["lax1", "sin1"],
    ]
    assert pop_waves(Selection(stacks)) == [list(stacks)]
    assert pop_waves(Selection(stacks, ("ams1", "fra1"))) == [
        ["ams1", "fra1"],
        ["iad1", "lax1", "sin1"],
    ]


def test_bad_selections_say_what_is_allowed() -> None:
    with pytest.raises(FleetError, match="no stack zzz1; the stacks here: ams1, iad1"):
        selected(["ams1", "iad1"], ["zzz1"], [])
    with pytest.raises(FleetError, match="--canary lax1: not among the stacks of this run"):
        pop_waves(Selection(("ams1",), ("lax1",)))
    with pytest.raises(FleetError, match="--wave-size -1"):
        pop_waves(Selection(("ams1",), (), -1))
    assert selected(["ams1", "iad1", "sandbox"], [], ["sandbox"]) == ["ams1", "iad1"]


def test_a_line_per_stack_and_a_table_that_puts_failures_first() -> None:
    results = [
        StackResult("ams1", "up", counts={"update": 8, "same": 34}, seconds=41.2, wave=1),
        StackResult(
            "fra1", "up", "failed", seconds=3.0, error="Pulumi.fra1.yaml: 1 error(s)\n  x", wave=2
        ),
        StackResult("iad1", "up", NOT_RUN, wave=3),
    ]
    assert progress_line(results[0], 1, 12) == "[ 1/12] ams1: up ok, update 8 (41.2 s)"
    assert progress_line(results[1], 2, 12) == (
        "[ 2/12] fra1: up failed after 3.0 s: Pulumi.fra1.yaml: 1 error(s)"
    )
    table = summary_table(results).splitlines()
    assert table[0].split() == [
        "stack",
        "wave",
        "result",
        "create",
        "update",
        "replace",
        "delete",
        "same",
        "seconds",
        "error",
    ]
    assert (
        table[1].startswith("fra1") and table[2].startswith("iad1") and table[3].startswith("ams1")
    )
    assert table[-1] == "3 stack(s): 1 ok, 1 failed, 1 not run; 8 resource change(s)"
    assert json.loads(as_json(results))[2]["status"] == NOT_RUN
    spec_error = "Pulumi.x.yaml: 1 error(s) in the PoP spec:\n  voicepop:pop.code: 'X': bad"
    assert first_line(spec_error) == (
        "Pulumi.x.yaml: 1 error(s) in the PoP spec: voicepop:pop.code: 'X': bad"
    )


def test_simulated_pops_are_valid_specs_with_the_deploy_simulated() -> None:
    assert [pop_code(i) for i in (0, 1, 25, 26, 675, 676)] == [
        "xaa1", "xab1", "xaz1", "xba1", "xzz1", "xaa2",
    ]  # fmt: skip
    raw = simulated_pop(3, 20, AT, {"udp_rmem_min_bytes": 32_768})["config"]["voicepop:pop"]
    spec = parse_pop(raw, StackContext(stack="xad1", config_keys={}), "Pulumi.xad1.yaml")
    assert len(spec.server_names) == 20 and spec.deploy.simulate
    assert spec.tuning.kernel.udp_rmem_min_bytes == 32_768
    assert spec.provider.api_endpoint == AT.flexmetal and spec.dns.api_endpoint == AT.route53


def test_a_simulated_fleet_is_a_project_of_its_own_that_keeps_each_stacks_salt(
    tmp_path: Path,
) -> None:
    project = yaml.safe_load(project_file())
    assert project["name"] == "voicepop" and "backend" not in project
    assert Path(project["runtime"]["options"]["virtualenv"]).is_absolute()
    assert write_fleet(tmp_path, 3, 2, AT) == ["xaa1", "xab1", "xac1"]
    assert (tmp_path / "stacks").is_symlink()
    salted = tmp_path / "Pulumi.xab1.yaml"
    salted.write_text(salted.read_text() + "encryptionsalt: v1:salt\n")
    assert write_fleet(tmp_path, 2, 4, AT, {"udp_rmem_min_bytes": 32_768}) == ["xaa1", "xab1"]
    assert not (tmp_path / "Pulumi.xac1.yaml").exists()
    assert yaml.safe_load(salted.read_text())["encryptionsalt"] == "v1:salt"


def test_previews_saved_apart_join_into_the_comment_they_would_have_made(tmp_path: Path) -> None:
    change = ResourceChange(
        urn="urn:pulumi:ams1::voicepop::command:local:Command::ams1-sfu01-deploy",
        type="command:local:Command",
        op="update",
        properties=(PropertyChange("host.sfu.log_level", 4, 5),),
        wave="wave 1 of 3 (canary)",
    )
    previews = [
        StackPreview("ams1", changes=[change], counts={"update": 1, "same": 40}),
        StackPreview("iad1", errors=["Pulumi.iad1.yaml: 1 error(s) in the PoP spec"]),
    ]
    save(previews[:1], tmp_path / "preview-ams1.json")
    save(previews[1:], tmp_path / "preview-iad1.json")
    joined = load([tmp_path])
    assert joined == previews
    assert render(joined, []) == render(previews, [])
