"""The policy pack (policies/) through the real engine: a preview of a PoP with a violating
change fails on the mandatory policies, with the resource, the value and what is allowed in
the PR comment; the stacks as committed pass."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.preview.comment import render
from ops.preview.run import PreviewOptions, preview_stack
from tests.project import PROJECT_ROOT, ensure_peer_stacks, run_in_project_env

pytestmark = [pytest.mark.compliance, pytest.mark.engine]

PACK = (PROJECT_ROOT / "policies",)
TEAM_CONFIG = (PROJECT_ROOT / "policies/config.json",)


@pytest.fixture(autouse=True)
def own_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.ssh import ensure_ssh_key

    ensure_ssh_key()  # the sandbox stack names the sandbox's generated key
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "state").as_uri())
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "voicepop-sample-stacks")  # ams1's


def changed_stack_file(tmp_path: Path, stack: str, **pop_changes: Any) -> Path:
    """A stack file with its PoP spec changed (secrets and salt kept), as a PR would."""
    document = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
    pop = document["config"]["voicepop:pop"]
    for path, value in pop_changes.items():
        *parents, leaf = path.split("__")
        section = pop
        for parent in parents:
            section = section.setdefault(parent, {})
        section[leaf] = value
    changed = tmp_path / f"Pulumi.{stack}-changed.yaml"
    changed.write_text(yaml.safe_dump(document))
    return changed


def preview(stack: str, config_file: Path | None = None) -> Any:
    return preview_stack(
        stack,
        PreviewOptions(
            policy_packs=PACK,
            policy_pack_configs=TEAM_CONFIG,
            config_files={stack: config_file} if config_file else {},
            hosts=False,
        ),
    )


@pytest.mark.parametrize("stack", ["sandbox", "ams1"])
def test_the_stacks_as_committed_pass_every_policy(stack: str) -> None:
    ensure_peer_stacks(stack)  # the sandbox's prober calls sandbox2 (never brought up here)
    result = preview(stack)
    assert not result.failed, result.errors
    assert result.policies == []


def test_a_production_pop_of_one_server_on_another_os_fails_the_preview(tmp_path: Path) -> None:
    # unsized (no peak): the spec's check of N+1 would refuse one server before the policies
    unsized = {"capacity__peak_calls": None}
    changed = changed_stack_file(
        tmp_path, "ams1", servers__count=1, provider__os="ubuntu-2404-lts", **unsized
    )
    result = preview("ams1", changed)
    assert result.failed
    by_policy = {p.policy: p for p in result.policies}
    assert set(by_policy) == {"production-server-redundancy", "approved-os-and-instance-types"}
    redundancy = by_policy["production-server-redundancy"]
    assert redundancy.level == "mandatory"
    # the environment and the code come from the stack's config, handed to the pack
    assert "production PoP ams1 has 1 server(s) (ams1-sfu01)" in redundancy.message
    assert "at least 2" in redundancy.message
    image = by_policy["approved-os-and-instance-types"]
    assert "OS image 'ubuntu-2404-lts' is not approved; allowed: debian-12" in image.message
    assert image.urn.endswith("flexmetal:index:Server::ams1-sfu01")

    comment = render([result])
    assert "⛔ 2 mandatory policy violation(s)" in comment
    assert "production-server-redundancy" in comment
    assert "OS image 'ubuntu-2404-lts' is not approved" in comment
    assert "| ⛔ mandatory | voicepop/production-server-redundancy | `voicepop-ams1` |" in comment
    assert "production PoP ams1 has 1 server(s) (ams1-sfu01); allowed: at least 2," in comment


def test_a_production_pop_without_deploys_is_refused_before_any_policy(tmp_path: Path) -> None:
    """The spec refuses it first (the policy servers-deployed-and-verified is tried on a
    deployed state: tests/ops/fleet/test_policies_on_state.py)."""
    result = preview("ams1", changed_stack_file(tmp_path, "ams1", deploy__enabled=False))
    assert result.failed and result.policies == []
    assert "voicepop:pop.deploy.enabled: False: skips the host deploys" in "\n".join(result.errors)


def test_a_plain_token_and_a_secret_in_a_tag_fail_the_preview(tmp_path: Path) -> None:
    """Two more mandatory policies through the engine, on changes the spec accepts: the
    provider token stored in plain text, and a secret's value copied into a server tag (the
    state keeps tags unencrypted)."""
    changed = changed_stack_file(tmp_path, "ams1")
    secret_set = run_in_project_env(
        f"tools/stack-env.sh ams1 pulumi config set --secret tagSecret sneaky_tag_value "
        f"--stack ams1 --config-file {changed}"
    )
    assert secret_set.returncode == 0, secret_set.stderr
    document = yaml.safe_load(changed.read_text())
    document["config"]["flexmetal:token"] = "a-token-in-plain-text"
    document["config"]["voicepop:pop"]["provider"]["server_tags"] = ["sneaky_tag_value"]
    changed.write_text(yaml.safe_dump(document))
    result = preview("ams1", changed)
    assert result.failed
    by_policy = {p.policy: p for p in result.policies}
    assert set(by_policy) == {"secret-config-encrypted", "no-plain-secrets"}, by_policy
    assert all(by_policy[p].level == "mandatory" for p in by_policy)
    assert "config flexmetal:token is stored in plain text" in (
        by_policy["secret-config-encrypted"].message
    )
    plain = by_policy["no-plain-secrets"].message
    assert "holds the value of secret config voicepop:tagSecret" in plain
    assert "sneaky_tag_value" not in plain  # the message names the key, never the value


def test_a_staging_pop_of_one_server_is_advised_without_failing(tmp_path: Path) -> None:
    changed = changed_stack_file(
        tmp_path, "ams1", environment="staging", servers__count=1, capacity__peak_calls=None
    )
    result = preview("ams1", changed)
    assert not result.failed, result.errors
    [advice] = result.policies
    assert (advice.policy, advice.level) == ("staging-server-redundancy", "advisory")
    assert "staging PoP ams1 has 1 server(s)" in advice.message
