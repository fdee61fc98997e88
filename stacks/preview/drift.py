"""Drift of a deployed stack: what changed behind Pulumi's back at the provider and in
Route 53 (`pulumi refresh --preview-only`, which writes nothing), what the roles would change
on the live hosts (pyinfra's plan of the stack file as it is), and which verification
controls fail on them now. `make drift STACK=...`; exit 0 no drift, 2 drift, 1 error (as
scheduled drift jobs expect)."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.deploy.outcome import failed_controls
from stacks.deploy.verification import verification_command
from stacks.inventories import inventory_hosts, render_verify, stack_outputs
from stacks.preview.capacity import SERVER
from stacks.preview.comment import render_drift
from stacks.preview.events import StackPreview, stack_preview
from stacks.preview.hosts import last_line, roles_dry_run
from stacks.preview.run import PROJECT_DIR, preview_environment

NO_DRIFT, ERROR, DRIFT = 0, 1, 2
VERIFY_TIMEOUT_S = 900.0


@dataclass
class DriftReport:
    stack: str
    resources: StackPreview  # the refresh's findings, and the hosts' planned changes
    failed_controls: list[str] = field(default_factory=list)
    hosts_verified: int = 0
    hosts_checked: bool = True  # False: --no-hosts, the provider and Route 53 only

    @property
    def errors(self) -> list[str]:
        return [*self.resources.errors, *self.resources.host_errors]

    @property
    def drifted(self) -> bool:
        return self.resources.changed or bool(self.failed_controls)

    @property
    def exit_status(self) -> int:
        if self.errors:
            return ERROR
        return DRIFT if self.drifted else NO_DRIFT


def refresh_preview(stack: str, project_dir: Path, config_file: Path | None) -> StackPreview:
    command = ["tools/stack-env.sh", stack, "pulumi", "refresh", "--preview-only"]
    command += ["--stack", stack, "--json", "--non-interactive"]
    command += ["--config-file", str(config_file)] if config_file else []
    result = subprocess.run(
        command, cwd=project_dir, env=preview_environment(), capture_output=True, text=True
    )
    found = stack_preview(stack, result.stdout.splitlines())
    if result.returncode != 0 and not found.errors:
        found.errors.append(last_line(result.stderr) or f"refresh exited {result.returncode}")
    return found


def verify_hosts(
    project_dir: Path, outputs: Mapping[str, Any], skip: Collection[str] = ()
) -> tuple[int, list[str], list[str]]:
    """The verification suites over the stack's deployed hosts (less those in `skip`): how
    many hosts, the failed controls, and errors (the suites could not run)."""
    hosts = [h for h in inventory_hosts(dict(outputs)) if h["name"] not in skip]
    if not hosts:
        return 0, [], []
    with tempfile.TemporaryDirectory(prefix="voicepop-drift-") as folder:
        declared = Path(folder) / "hosts.json"
        declared.write_text(render_verify(hosts))
        result = subprocess.run(
            verification_command("-rfE"),
            cwd=project_dir,
            env={**os.environ, "VOICEPOP_VERIFY_INVENTORY": str(declared)},
            capture_output=True,
            text=True,
            timeout=VERIFY_TIMEOUT_S,
        )
    failed = failed_controls(result.stdout)
    if result.returncode not in (0, 1) or (result.returncode == 1 and not failed):
        return (
            len(hosts),
            failed,
            [f"the verification suites failed to run: {last_line(result.stdout)}"],
        )
    return len(hosts), failed, []


def drift_report(
    stack: str,
    project_dir: Path = PROJECT_DIR,
    config_file: Path | None = None,
    hosts: bool = True,
    skip_hosts: Collection[str] = (),
) -> DriftReport:
    """`config_file`: the stack's config from there instead of its stack file; without
    `hosts`, the provider and Route 53 only (no SSH reach needed); `skip_hosts`: hosts not to
    ask (the repair's unreachable ones)."""
    resources = refresh_preview(stack, project_dir, config_file)
    # a server the refresh found gone has no host to ask
    gone = {c.name for c in resources.changes if c.type == SERVER and c.op == "delete"}
    gone |= set(skip_hosts)
    if not hosts:
        return DriftReport(stack, resources, hosts_checked=False)
    try:
        outputs = stack_outputs(stack)  # once, for the roles' plan and the suites
    except subprocess.CalledProcessError as error:
        resources.host_errors.append(f"cannot read the stack's outputs: {last_line(error.stderr)}")
        return DriftReport(stack, resources)
    if not resources.failed:
        resources.host_changes, resources.host_errors = roles_dry_run(
            stack, project_dir, config_file, skip=gone, outputs=outputs
        )
    verified, failed, errors = verify_hosts(project_dir, outputs, skip=gone)
    resources.host_errors += errors
    return DriftReport(stack, resources, failed, verified)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.preview.drift")
    parser.add_argument("stack")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    parser.add_argument("--json", action="store_true", help="the report's figures as JSON")
    parser.add_argument("--config-file", type=Path, help="the stack's config, if not its file")
    parser.add_argument(
        "--no-hosts", action="store_true", help="the provider and Route 53 only (no SSH)"
    )
    args = parser.parse_args(argv)
    report = drift_report(args.stack, config_file=args.config_file, hosts=not args.no_hosts)
    text = render_drift(report)
    if args.out:
        args.out.write_text(text)
    if args.json:
        print(json.dumps(drift_figures(report), indent=2))
    else:
        print(text)
    return report.exit_status


def drift_figures(report: DriftReport) -> dict[str, object]:
    return {
        "stack": report.stack,
        "exit_status": report.exit_status,
        "resources": {c.name: c.op for c in report.resources.changes},
        "host_changes": sorted(
            {f"{c.host}: {c.role} | {c.operation}" for c in report.resources.host_changes}
        ),
        "failed_controls": report.failed_controls,
        "errors": report.errors,
    }


if __name__ == "__main__":
    sys.exit(main())
