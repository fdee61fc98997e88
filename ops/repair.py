"""`make repair STACK=...`: drift repaired through `pulumi up` itself, so the state and its
history stay Pulumi's. The drift check (ops/drift.py) finds the drifted hosts; one
`pulumi up --refresh` deploys exactly those again (VOICEPOP_REDEPLOY: each gets a new redeploy
token, drained, in the PoP's waves, with the verification and the call as its gate) and puts
back what was changed at the provider; the drift check then runs again and must be clean.
A host that cannot be reached is reported and left alone, never redeployed blindly.

Exit status: 0 repaired (or nothing drifted), 2 drift is left, 1 an error or a host out of
reach."""

import argparse
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from ops.drift import ERROR, NO_DRIFT, DriftReport, drift_report, render_drift
from ops.inventories import inventory_hosts, stack_outputs
from ops.preview.hosts import last_line
from stacks.project import PROJECT_DIR
from stacks.rollout.redeploy import REDEPLOY_ENV

SSH_PORT = 22
REACH_TIMEOUT_S = 5.0


def drifted_hosts(report: DriftReport, hosts: Iterable[str]) -> list[str]:
    """The hosts the roles would change or whose controls fail now."""
    found = {change.host for change in report.resources.host_changes}
    for control in report.failed_controls:
        host = host_of_control(control, hosts)
        if host:
            found.add(host)
    return sorted(found)


def host_of_control(control: str, hosts: Iterable[str]) -> str | None:
    """The host a failed control's test id names: pytest joins a test's parameters with "-"
    (`test_sysctl[sbx1-sfu03-net.core.rmem_max]`), so the longest host name the id holds
    between dashes."""
    test_id = re.search(r"\[(.*)\]", control.split(" - ", 1)[0])
    if not test_id:
        return None
    padded = f"-{test_id.group(1)}-"
    named = [host for host in hosts if f"-{host}-" in padded]
    return max(named, key=len, default=None)


def reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((address, SSH_PORT), timeout=timeout_s) as connection:
            connection.settimeout(timeout_s)
            return connection.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def up_command(stack: str, config_file: Path | None, policy_flags: Sequence[str]) -> list[str]:
    command = ["tools/stack-env.sh", stack, "pulumi", "up", "--yes", "--non-interactive"]
    command += ["--refresh", "--suppress-progress", "--stack", stack, *policy_flags]
    return command + (["--config-file", str(config_file)] if config_file else [])


def repair(
    stack: str,
    config_file: Path | None = None,
    policy_flags: Sequence[str] = (),
    project_dir: Path = PROJECT_DIR,
) -> int:
    hosts = {h.name: h.address for h in inventory_hosts(stack_outputs(stack))}
    out_of_reach = sorted(name for name, address in hosts.items() if not reachable(address))
    for name in out_of_reach:
        print(f"repair: {name} ({hosts[name]}): SSH does not answer; not checked, not redeployed")
    before = drift_report(stack, project_dir, config_file, skip_hosts=out_of_reach)
    if before.errors:
        print(render_drift(before))
        print("repair: the drift check could not check everything: nothing was changed")
        return ERROR
    redeploy = drifted_hosts(before, hosts)
    if not before.drifted:
        print(f"repair: no drift on {stack}: nothing to do")
        return ERROR if out_of_reach else NO_DRIFT
    print(render_drift(before), flush=True)
    print(
        f"repair: pulumi up --refresh of {stack}, deploying again: "
        + (", ".join(redeploy) or "no host (the provider's drift only)"),
        flush=True,
    )
    env = {**os.environ, REDEPLOY_ENV: ",".join(redeploy)}
    up = subprocess.run(up_command(stack, config_file, policy_flags), cwd=project_dir, env=env)
    if up.returncode != 0:
        print(f"repair: pulumi up failed (exit {up.returncode}): see its output above")
        return ERROR
    after = drift_report(stack, project_dir, config_file, skip_hosts=out_of_reach)
    print(render_drift(after))
    if after.exit_status != NO_DRIFT:
        return after.exit_status
    print(f"repair: {stack} repaired: " + (", ".join(redeploy) or "the provider's drift"))
    return ERROR if out_of_reach else NO_DRIFT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.repair", description=__doc__)
    parser.add_argument("stack")
    parser.add_argument("--config-file", type=Path, help="the stack's config, if not its file")
    parser.add_argument("--policy-pack", action="append", default=[], type=Path)
    parser.add_argument("--policy-pack-config", action="append", default=[], type=Path)
    args = parser.parse_args(argv)
    flags = [f"--policy-pack={pack}" for pack in args.policy_pack]
    flags += [f"--policy-pack-config={config}" for config in args.policy_pack_config]
    try:
        return repair(args.stack, args.config_file, flags)
    except subprocess.CalledProcessError as error:
        print(f"repair: cannot read the stack: {last_line(error.stderr)}", file=sys.stderr)
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
