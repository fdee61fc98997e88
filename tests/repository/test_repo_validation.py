"""Validation across the stack files of a repo, and the `make validate` command."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.spec import validate_stack_files
from stacks.spec.routing import REGISTRY_FILE, Roa, rpki_state
from tests.pop_specs import valid_pop
from tests.project import PROJECT_ROOT

pytestmark = pytest.mark.spec


def write_stack(directory: Path, stack: str, pop: dict[str, Any]) -> Path:
    """A stack file in `directory`, beside a copy of the repo's routing registry."""
    registry = directory / REGISTRY_FILE
    if not registry.exists():
        registry.parent.mkdir(exist_ok=True)
        registry.write_text((PROJECT_ROOT / REGISTRY_FILE).read_text())
    pop["code"] = stack
    path = directory / f"Pulumi.{stack}.yaml"
    config = {
        "voicepop:pop": pop,
        "voicepop:bgpMd5": {"secure": "v1:not-decrypted-here"},
        "voicepop:sfuTokenSecret": {"secure": "v1:not-decrypted-here"},
        "voicepop:acmeRoute53SecretKey": {"secure": "v1:not-decrypted-here"},
    }
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def register(directory: Path, prefix: str, origin_asn: int = 396507) -> None:
    """Publishes a ROA and a route object for `prefix` in the directory's registry."""
    path = directory / REGISTRY_FILE
    registry = yaml.safe_load(path.read_text())
    length = int(prefix.split("/")[1])
    registry["roas"].append({"prefix": prefix, "origin_asn": origin_asn, "max_length": length})
    registry["route_objects"].append({"prefix": prefix, "origin_asn": origin_asn})
    path.write_text(yaml.safe_dump(registry))


def pop_announcing(code: str, *prefixes: tuple[str, str]) -> dict[str, Any]:
    """A valid PoP announcing `prefixes` (prefix, kind); unicast ones from its first server."""
    pop = valid_pop()
    pop["bgp"]["prefixes"] = [
        {
            "prefix": prefix,
            "kind": kind,
            **({"servers": [f"{code}-sfu01"]} if kind == "unicast" else {}),
        }
        for prefix, kind in prefixes
    ]
    return pop


def test_the_repos_own_stacks_are_valid() -> None:
    result = validate_stack_files(sorted(PROJECT_ROOT.glob("Pulumi.*.yaml")))
    assert result.ok, {
        source: [e.render() for e in errors] for source, errors in result.errors.items()
    }
    assert {"Pulumi.sandbox.yaml", "Pulumi.ams1.yaml", "Pulumi.iad1.yaml"} <= set(result.specs)
    continents = {spec.provider.location.split(":")[0] for spec in result.specs.values()}
    assert len(continents - {"EU"}) >= 1, "samples on at least two continents"


def test_the_same_anycast_prefix_in_two_pops_is_allowed(tmp_path: Path) -> None:
    paths = [
        write_stack(tmp_path, "ams1", pop_announcing("ams1", ("198.51.100.0/24", "anycast"))),
        write_stack(tmp_path, "lon1", pop_announcing("lon1", ("198.51.100.0/24", "anycast"))),
    ]
    assert validate_stack_files(paths).ok


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (("198.51.100.0/24", "unicast"), ("198.51.100.0/24", "unicast")),
        (("198.51.100.0/24", "anycast"), ("198.51.0.0/16", "anycast")),
        (("2001:db8:100::/48", "anycast"), ("2001:db8:100::/48", "unicast")),
    ],
)
def test_prefixes_overlapping_another_pop(
    tmp_path: Path, ours: tuple[str, str], theirs: tuple[str, str]
) -> None:
    paths = [
        write_stack(tmp_path, "ams1", pop_announcing("ams1", ours)),
        write_stack(tmp_path, "lon1", pop_announcing("lon1", theirs)),
    ]
    register(tmp_path, theirs[0])
    result = validate_stack_files(paths)
    errors = result.errors["Pulumi.lon1.yaml"]
    assert len(errors) == 1, [e.render() for e in errors]
    assert errors[0].path == "voicepop:pop.bgp.prefixes[0].prefix"
    assert f"overlaps {ours[0]} of Pulumi.ams1.yaml" in errors[0].problem
    [mirrored] = result.errors["Pulumi.ams1.yaml"]
    assert f"overlaps {theirs[0]} of Pulumi.lon1.yaml" in mirrored.problem


def test_one_stack_file_is_checked_against_the_stack_files_beside_it(tmp_path: Path) -> None:
    write_stack(tmp_path, "ams1", pop_announcing("ams1", ("198.51.100.0/24", "anycast")))
    lon1 = write_stack(tmp_path, "lon1", pop_announcing("lon1", ("198.51.0.0/16", "anycast")))
    register(tmp_path, "198.51.0.0/16")
    for path in ("Pulumi.lon1.yaml", str(lon1)):
        checked = run_validate(path, cwd=tmp_path)
        assert checked.returncode == 1, checked.stdout
        assert "overlaps 198.51.100.0/24 of Pulumi.ams1.yaml" in checked.stdout
        assert "Pulumi.ams1.yaml" not in checked.stdout.replace("of Pulumi.ams1.yaml", "")


def test_pop_codes_are_unique_in_the_repo(tmp_path: Path) -> None:
    first = write_stack(tmp_path, "ams1", pop_announcing("ams1", ("198.51.100.0/24", "anycast")))
    sandbox = pop_announcing("sandbox", ("198.18.10.0/24", "anycast"))
    sandbox["environment"] = "sandbox"
    sandbox["bgp"]["local_asn"] = 64512
    second = write_stack(tmp_path, "sandbox", sandbox)
    text = second.read_text().replace("code: sandbox", "code: ams1")
    second.write_text(text)
    errors = validate_stack_files([first, second]).errors
    assert [error.problem for error in errors["Pulumi.sandbox.yaml"]] == [
        "also the code of Pulumi.ams1.yaml"
    ]
    assert [error.problem for error in errors["Pulumi.ams1.yaml"]] == [
        "also the code of Pulumi.sandbox.yaml"
    ]


def test_invalid_yaml_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad1.yaml"
    path.write_text("config: [unclosed\n")
    errors = validate_stack_files([path]).errors["Pulumi.bad1.yaml"]
    assert "not valid YAML" in errors[0].problem


def run_validate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stacks.spec.validate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_validate_command_passes_on_the_repo() -> None:
    result = run_validate(cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    Pulumi.sandbox.yaml" in result.stdout
    assert ", 0 invalid" in result.stdout


def test_validate_command_lists_every_error_and_fails(tmp_path: Path) -> None:
    good = write_stack(tmp_path, "ams1", pop_announcing("ams1", ("198.51.100.0/24", "anycast")))
    bad_pop = pop_announcing("lon1", ("198.51.100.0/25", "anycast"))
    bad_pop["dns"]["ttl_s"] = 1
    bad_pop["servers"] = {"count": 0}
    bad = write_stack(tmp_path, "lon1", bad_pop)
    result = run_validate(str(good), str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "ok    Pulumi.ams1.yaml" in result.stdout
    assert "FAIL  Pulumi.lon1.yaml: 3 error(s)" in result.stdout
    for path in ("bgp.prefixes[0].prefix", "dns.ttl_s", "servers.count"):
        assert f"voicepop:pop.{path}" in result.stdout


def test_validate_command_names_a_file_that_is_not_a_stack_file(tmp_path: Path) -> None:
    """`--help` is the usage, not a file the check crashes on; a missing or foreign file is
    named, before any check runs."""
    assert "usage: python -m stacks.spec.validate" in run_validate("--help", cwd=tmp_path).stdout
    (tmp_path / "notes.yaml").write_text("a: 1\n")
    result = run_validate("Pulumi.nosuch.yaml", "notes.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "validate: Pulumi.nosuch.yaml: no such file; notes.yaml: not a Pulumi.<stack>.yaml; "
        "allowed: Pulumi.<stack>.yaml files\n"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("prefix", "origin", "problem"),
    [
        ("192.0.2.0/24", 396507, "RPKI-not-found for origin AS396507"),
        ("198.51.100.0/24", 2914, "RPKI-invalid for origin AS2914"),  # another origin's ROA
        ("198.51.100.0/24", 396507, None),
    ],
)
def test_announced_prefixes_must_be_rpki_valid_and_registered(
    tmp_path: Path, prefix: str, origin: int, problem: str | None
) -> None:
    pop = pop_announcing("ams1", (prefix, "anycast"))
    pop["bgp"]["local_asn"] = origin
    result = validate_stack_files([write_stack(tmp_path, "ams1", pop)])
    problems = [e.problem for e in result.errors["Pulumi.ams1.yaml"]]
    if problem is None:
        assert problems == []
    else:
        assert problems == [
            f"{problem}: transit would drop it",
            f"no IRR route object with origin AS{origin}",
        ]


@pytest.mark.parametrize(
    ("prefix", "origin", "state"),
    [
        ("198.51.100.0/24", 396507, "valid"),
        ("198.51.100.0/25", 396507, "invalid"),  # longer than the ROA's max length
        ("198.51.100.0/24", 2914, "invalid"),  # covered, another origin
        ("192.0.2.0/24", 396507, "not-found"),
        ("2001:db8:100::/48", 396507, "not-found"),  # another family is never covering
    ],
)
def test_origin_validation_follows_rfc_6811(prefix: str, origin: int, state: str) -> None:
    roas = [Roa(prefix="198.51.100.0/24", origin_asn=396507, max_length=24)]
    assert rpki_state(prefix, origin, roas) == state
