"""A new region in one command, in a copy of the project (its stack files, registry and
Pulumi.yaml; the code linked): a bad flag gets the spec's error and creates nothing; a good
one writes the stack file, initialises the stack with the template PoP's MD5 key and
previews it on the real engine."""

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ops.new_region import Region, main, scaffold, template_of
from stacks.spec.catalogue import load_catalogue
from tests.project import PROJECT_ROOT

pytestmark = pytest.mark.preview

SAMPLE_PASSPHRASE = "voicepop-sample-stacks"  # the sample production stacks' (tools/env.sh)
# the project's own state and the files the test writes are the copy's; every other folder
# (the program, plugins, roles, tools, the virtualenv, ...) is linked
LARGE = load_catalogue("flexmetal").calls_per_server["bm7.std.16"]
OWN = (".git", ".state", "routing", "inventories")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.ams1.yaml", "Pulumi.iad1.yaml", "Pulumi.sandbox.yaml"):
        shutil.copy(PROJECT_ROOT / name, copy / name)
    shutil.copytree(PROJECT_ROOT / "routing", copy / "routing")
    for entry in PROJECT_ROOT.iterdir():
        if entry.is_dir() and entry.name not in OWN:
            (copy / entry.name).symlink_to(entry)
    return copy


def in_project(
    project: Path, command: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f". tools/env.sh && {command}"],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def stack_files(project: Path) -> list[str]:
    return sorted(p.name for p in project.glob("Pulumi.*.yaml"))


def test_the_scaffold_takes_the_fleet_from_the_template() -> None:
    name, raw = template_of(PROJECT_ROOT, None)
    assert name == "ams1"
    pop = scaffold(Region("lax1", "NA: Los Angeles", 4), raw)
    assert pop["code"] == "lax1" and pop["servers"] == {"count": 4}
    assert pop["provider"] == {"location": "NA: Los Angeles", "instance_type": "bm7.std.16"}
    assert pop["bgp"]["local_asn"] == raw["bgp"]["local_asn"]
    assert pop["bgp"]["neighbors"] == raw["bgp"]["neighbors"]  # the provider's routers
    assert [p["kind"] for p in pop["bgp"]["prefixes"]] == ["anycast", "anycast"]
    # a PoP's peak is its own: never the template's, given or none
    assert raw["capacity"]["peak_calls"] == 1000 and "capacity" not in pop
    sized = scaffold(Region("lax1", "NA: Los Angeles", 4, peak_calls=2500), raw)
    assert sized["capacity"] == {"peak_calls": 2500}


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (
            ["--prefix", "203.0.113.0/24"],  # iad1's unicast prefix
            "voicepop:pop.bgp.prefixes[0].prefix: '203.0.113.0/24': overlaps 203.0.113.0/24 "
            "of Pulumi.iad1.yaml",
        ),
        (["--servers", "0"], "voicepop:pop.servers.count: 0: a PoP needs at least one server"),
        (
            ["--peak-calls", str(LARGE + 50)],  # 2 servers of bm7.std.16: one's calls, one out
            f"voicepop:pop.capacity.peak_calls: {LARGE + 50}: 2 bm7.std.16 server(s) of {LARGE} "
            f"calls each carry {LARGE} calls with one out, 50 short of the peak; allowed: at "
            f"least {math.ceil((LARGE + 50) / LARGE) + 1} servers",
        ),
        (["--pop", "ams1"], "Pulumi.ams1.yaml exists already"),
        (
            ["--like", "nosuch"],
            "--like: 'nosuch': no such stack file; allowed: ams1, iad1, sandbox",
        ),
    ],
)
def test_a_bad_flag_gets_the_specs_error_and_creates_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], flags: list[str], error: str
) -> None:
    before = stack_files(project)
    argv = ["--pop", "lax1", "--location", "NA: Los Angeles", *flags]
    assert main(argv, project_dir=project) == 2
    reported = capsys.readouterr().err
    assert "nothing created" in reported and error in reported, reported
    assert stack_files(project) == before
    assert not (project / ".state").exists()  # no backend was touched


def test_an_unknown_location_lists_the_known_ones(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--pop", "xyz1", "--location", "Mars"], project_dir=project) == 2
    reported = capsys.readouterr().err
    assert "voicepop:pop.provider.location: 'Mars': unknown flexmetal location" in reported
    assert "'NA: Los Angeles'" in reported


@pytest.mark.engine
def test_a_new_region_is_written_initialised_and_previewed(project: Path, tmp_path: Path) -> None:
    backend = (tmp_path / "backend").as_uri()
    (tmp_path / "backend").mkdir()
    env = {"PULUMI_BACKEND_URL": backend, "PULUMI_CONFIG_PASSPHRASE": SAMPLE_PASSPHRASE}
    command = "python -m ops.new_region --pop lax1 --location 'NA: Los Angeles' --servers 3"
    result = in_project(project, command, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Pulumi.lax1.yaml written and stack lax1 initialised (from ams1)" in result.stdout
    assert not (PROJECT_ROOT / "Pulumi.lax1.yaml").exists()  # only in the project it ran in
    document = yaml.safe_load((project / "Pulumi.lax1.yaml").read_text())
    assert document["config"]["voicepop:pop"]["servers"] == {"count": 3}
    assert document["config"]["voicepop:bgpMd5I3d"]["secure"]  # encrypted, never plain
    assert "encryptionsalt" in document
    assert "lax1-sfu03" in result.stdout and "create" in result.stdout  # the preview
    key = in_project(project, "pulumi config get bgpMd5I3d --stack lax1", env)
    template_key = in_project(project, "pulumi config get bgpMd5I3d --stack ams1", env)
    assert key.stdout and key.stdout == template_key.stdout


@pytest.mark.engine
def test_a_new_production_region_of_one_server_fails_its_first_preview_on_the_policies(
    project: Path, tmp_path: Path
) -> None:
    (tmp_path / "backend").mkdir()
    env = {
        "PULUMI_BACKEND_URL": (tmp_path / "backend").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": SAMPLE_PASSPHRASE,
    }
    command = "python -m ops.new_region --pop lax1 --location 'NA: Los Angeles' --servers 1"
    result = in_project(project, command, env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "production-server-redundancy" in output
    assert "production PoP lax1 has 1 server(s) (lax1-sfu01)" in output
