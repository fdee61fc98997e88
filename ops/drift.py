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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.outcome import failed_controls
from deploy.verification import verification_command, workers_for
from ops.inventories import inventory_hosts, stack_outputs
from ops.preview.capacity import SERVER
from ops.preview.comment import footer, host_sections, properties_list, resources_table
from ops.preview.events import StackPreview, stack_preview
from ops.preview.hosts import last_line, roles_dry_run
from ops.preview.run import preview_environment
from stacks.project import PROJECT_DIR
from verify.inventory import render_verify

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
    hosts = [h for h in inventory_hosts(dict(outputs)) if h.name not in skip]
    if not hosts:
        return 0, [], []
    with tempfile.TemporaryDirectory(prefix="voicepop-drift-") as folder:
        declared = Path(folder) / "hosts.json"
        declared.write_text(render_verify(hosts))
        result = subprocess.run(
            verification_command("-rfE", *workers_for(len(hosts))),
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
    # the roles' plan and the suites only read the hosts: both at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        verification = pool.submit(verify_hosts, project_dir, outputs, skip=gone)
        if not resources.failed:
            resources.host_changes, resources.host_errors = roles_dry_run(
                stack, project_dir, config_file, skip=gone, outputs=outputs
            )
        verified, failed, errors = verification.result()
    resources.host_errors += errors
    return DriftReport(stack, resources, failed, verified)


DRIFT_MARKER = "<!-- voicepop-drift -->"


def render_drift(report: DriftReport) -> str:
    found = report.resources
    hosts = sorted({c.host for c in found.host_changes})
    operations = {(c.role, c.operation) for c in found.host_changes}
    verdict = (
        "❌ **Could not check all of it**"
        if report.errors
        else "⚠️ **Drift found**"
        if report.drifted
        else "✅ **No drift**: the provider, Route 53 and the hosts are as deployed"
    )
    on_hosts = (
        f"| Hosts (the roles' plan) | {len(operations)} operation(s) on {len(hosts)} host(s) |\n"
        f"| Verification ({report.hosts_verified} host(s)) | "
        f"{len(report.failed_controls)} failed control(s) |\n"
        if report.hosts_checked
        else "| Hosts | not checked (`--no-hosts`) |\n"
    )
    parts = [
        f"{DRIFT_MARKER}\n## Drift: `{report.stack}`\n\n{verdict}\n",
        "| Where | Drifted |\n|---|---|\n"
        f"| Provider and Route 53 (refresh) | {len(found.changes)} resource(s) |\n" + on_hosts,
    ]
    if found.changes:
        parts.append("### Changed behind Pulumi's back\n\n" + resources_table(found.changes))
        parts.append(properties_list(found.changes))
    if found.host_changes:
        parts.append("### On the hosts\n")
        parts.extend(section.text for section in host_sections(found))
    if report.failed_controls:
        listed = "\n".join(f"- `{control}`" for control in report.failed_controls)
        parts.append(f"### Failed controls\n\n{listed}\n")
    if report.errors:
        parts.append("### Errors\n\n```\n" + "\n".join(report.errors) + "\n```\n")
    if report.drifted:
        parts.append(
            f"**Repair** through `pulumi up` (the drifted hosts deployed again in the PoP's "
            f"waves, with their gate; the provider's drift refreshed and put back): "
            f"`make repair STACK={report.stack}`\n"
        )
    parts.append(
        footer(
            [
                f"make drift STACK={report.stack}",
                f"pulumi refresh --preview-only --diff --stack {report.stack}",
            ]
        )
    )
    return "\n".join(part for part in parts if part)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.drift")
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
