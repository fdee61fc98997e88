"""What the roles would change on a stack's live hosts: pyinfra's own change detection
(`pyinfra --json` without `--yes` plans and reports, touching nothing), run with the role data
the change would deploy (the stack file as changed, the addresses the stack delivered) and
the stack's secrets in the environment, as a deploy gets them."""

import json
import os
import subprocess
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from ops.inventories import stack_outputs
from ops.preview.events import HostChange
from roles.host import HostEntry
from roles.inventory import render_pyinfra
from roles.prober.config import PeerPop
from roles.secrets import PREFIX as SECRET_PREFIX
from stacks.host_data import host_entry
from stacks.spec import SpecInvalid
from stacks.spec.loading import parse_pop, read_stack_file

DRY_RUN_TIMEOUT_S = 600.0


def planned_host_changes(plan: Mapping[str, Any]) -> list[HostChange]:
    """The operations pyinfra detected would change, per host (conditional ones, which run
    only after a change, are left out)."""
    return [
        HostChange(host, *split_name(operation["name"]))
        for operation in plan.get("plan") or []
        for host in operation.get("hosts_with_change") or []
    ]


def split_name(name: str) -> tuple[str, str]:
    role, _, operation = name.partition(" | ")
    return (role, operation) if operation else ("", name)


def pulumi_json(stack: str, project_dir: Path, *command: str) -> Any:
    """A pulumi command's JSON answer for `stack`; `command` may end with --config-file."""
    result = subprocess.run(
        ["tools/stack-env.sh", stack, "pulumi", *command, "--stack", stack, "--json"],
        cwd=project_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout or "{}")


def hosts_to_plan(
    stack: str, project_dir: Path, config: Path | None, outputs: Mapping[str, Any]
) -> list[HostEntry]:
    """Each delivered server's entry as the changed stack file would deploy it."""
    servers = (outputs.get("pop") or {}).get("servers") or {}
    stack_file = read_stack_file(config or project_dir / f"Pulumi.{stack}.yaml")
    spec = parse_pop(stack_file.raw_pop, stack_file.context, f"Pulumi.{stack}.yaml")
    addresses = {
        name: server["address"] for name, server in servers.items() if server.get("address")
    }
    return [
        host_entry(spec, name, server["address"], project_dir, addresses, peers_of(server["host"]))
        for name, server in sorted(servers.items())
        if server.get("host") and name in spec.server_names
    ]


def peers_of(entry: Mapping[str, Any]) -> list[PeerPop]:
    """The peer PoPs a prober's last deploy got (its stack's StackReferences, read at `up`):
    a preview plans with them as they were."""
    prober = entry.get("prober") or {}
    return [PeerPop.model_validate(peer) for peer in prober.get("peers") or []]


def stack_secrets(stack: str, project_dir: Path, config_file: Path | None) -> dict[str, str]:
    from_file = ["--config-file", str(config_file)] if config_file else []
    config = pulumi_json(stack, project_dir, "config", "--show-secrets", *from_file)
    return {
        key.split(":", 1)[1]: str(entry.get("value"))
        for key, entry in config.items()
        if key.startswith("voicepop:") and entry.get("secret")
    }


def roles_dry_run(
    stack: str,
    project_dir: Path,
    config_file: Path | None = None,
    skip: Collection[str] = (),
    outputs: Mapping[str, Any] | None = None,
) -> tuple[list[HostChange], list[str]]:
    """The host changes of `stack` (its stack file, or `config_file` instead), or why they
    could not be planned; the servers in `skip` (gone) are not asked. `outputs`: the stack's,
    when the caller has them already."""
    try:
        outputs = stack_outputs(stack) if outputs is None else outputs
        planned = hosts_to_plan(stack, project_dir, config_file, outputs)
        hosts = [h for h in planned if h.name not in skip]
        secrets = stack_secrets(stack, project_dir, config_file) if hosts else {}
    except subprocess.CalledProcessError as error:
        return [], [f"cannot read the stack: {last_line(error.stderr)}"]
    except (SpecInvalid, yaml.YAMLError) as error:
        return [], [f"the stack file does not validate: {last_line(str(error))}"]
    if not hosts:
        return [], []
    with tempfile.TemporaryDirectory(prefix="voicepop-plan-") as folder:
        inventory = Path(folder) / "inventory.py"
        inventory.write_text(render_pyinfra(hosts))
        env = {**os.environ, **{SECRET_PREFIX + k: v for k, v in secrets.items()}}
        try:
            result = subprocess.run(
                [".venv/bin/pyinfra", "--json", str(inventory), "roles/site.py"],
                cwd=project_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=DRY_RUN_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return [], [f"the roles' dry run took over {DRY_RUN_TIMEOUT_S:.0f} s"]
    if result.returncode != 0 or not result.stdout.strip().startswith("{"):
        return [], [f"the roles' dry run failed: {last_line(result.stderr)}"]
    return planned_host_changes(json.loads(result.stdout)), []


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
