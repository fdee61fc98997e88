"""Runs one host's deploy from the control machine, as an operator would: the pyinfra site
deploy (roles/site.py) against the host, then the verification suites (verify) against
it until they pass or the settle time is up, then a synthetic call through its SFU (quality/,
the spec's sfu.call_gate); and drains a host before it is released.

Each run's full output is kept in the deploy log folder (one file per host); what goes to
Pulumi's log is the progress and the outcome. Secret values never reach either: they go to
pyinfra through its environment only, and any text that leaves here is scrubbed of them.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from deploy import drain
from deploy.outcome import (
    STARTING,
    deploy_failure,
    failed_controls,
    grand_total,
    plain_lines,
)
from deploy.record import (
    HostRecord,
    drain_plan,
    parse_record,
    read_command,
    write_command,
)
from deploy.results import DrainPlan, HostDeployFailed, HostRun
from deploy.verification import settle, verification_command
from quality.report import CallReport, figures_line
from roles.anycast.config import DRAIN_COMMAND
from roles.host import HostEntry, ServiceState
from roles.inventory import render_pyinfra
from roles.secrets import PREFIX as SECRET_PREFIX
from stacks.project import PROJECT_DIR
from verify import FOLDER as SUITES_FOLDER
from verify.inventory import render_verify

Progress = Callable[[str], None]


def log_folder() -> Path:
    folder = Path(os.environ.get("VOICEPOP_DEPLOY_LOG_DIR") or PROJECT_DIR / ".deploy-logs")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def scrub(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "[secret]")
    return text


def deploy_host(
    host: HostEntry,
    secrets: dict[str, str],
    settle_s: float,
    timeout_s: float,
    progress: Progress,
    sfu_digest: str = "",
    owner: str = "",
    redeploy: str = "",
) -> HostRun:
    """Site deploy then verification of `host` (an inventory entry: name, address, ssh_user,
    ssh_key, role data); raises HostDeployFailed naming the host and what failed. With an
    `owner` (the deploy resource's), the run reads the host's record first (deploy/record.py):
    a host deployed before is drained around a run that restarts its SFU (`sfu_digest` moved,
    or a repair's new `redeploy` token); the record then names this deploy and what it left."""
    log = log_folder() / f"{host.name}.log"
    with tempfile.TemporaryDirectory(prefix="voicepop-deploy-") as workdir:
        inventory = Path(workdir) / "inventory.py"
        declared = Path(workdir) / "hosts.json"
        inventory.write_text(render_pyinfra([host]))
        with log.open("w", buffering=1) as sink:  # by line: `tail -f` shows where a host is
            mark(sink, "start")
            drained = False
            before = _read_record(host, sink) if owner else HostRecord()
            try:
                plan = drain_plan(before, sfu_digest, redeploy) if owner else DrainPlan()
                drained, service = _out_of_service(host, plan, progress, sink)
                if owner:
                    _write_record(host, replace(before, owner=owner), sink)
                declared.write_text(render_verify([expecting(host, service)]))
                started = time.monotonic()
                changed = _site_deploy(host, inventory, secrets, timeout_s, progress, sink)
                deployed = time.monotonic()
                mark(sink, "deployed")
                progress("verifying")
                passed = _verification(host, declared, settle_s, sink, secrets.values())
                verified = time.monotonic()
                mark(sink, "verified")
                call = call_gate(host, progress, sink, secrets)
                called = time.monotonic()
                mark(sink, "gate passed")
                if drained:
                    _back_in_service(host, Path(workdir), settle_s, progress, sink)
            except HostDeployFailed as failed:
                failed.left_drained = drained
                mark(sink, "failed" + (" (left drained)" if drained else ""))
                if owner:
                    _note_failure(host, replace(before, owner=owner, left_drained=drained), sink)
                if drained:
                    failed.args = (f"{failed}\n{LEFT_DRAINED.format(name=host.name)}",)
                raise
            if owner:
                taken = redeploy or before.redeploy_token
                _write_record(host, HostRecord(owner, sfu_digest, False, taken), sink)
            mark(sink, "done")
    return HostRun(
        changed, deployed - started, passed, verified - deployed, call, called - verified, drained
    )


DEPLOY_MARK = "# voicepop-deploy"
LEFT_DRAINED = (
    "{name} is left drained (out of service, announcing nothing): the next pulumi up deploys "
    "it again and returns it to service once its gate passes"
)


def mark(sink: Any, event: str) -> None:
    """A timestamped line in the host's deploy log: where a rollout's hosts were, when."""
    sink.write(f"{DEPLOY_MARK} {time.time():.3f} {event}\n")


def expecting(host: HostEntry, service: ServiceState) -> HostEntry:
    """The host as the verification suites take it, with its announcements' expected state."""
    return host if service == "in-service" else host.model_copy(update={"drain_expected": service})


def drain_wait_of(host: HostEntry) -> int:
    """The spec's bgp.drain_wait_s, as the host's entry carries it."""
    return host.bgp.drain_wait_s if host.bgp else 0


def _out_of_service(
    host: HostEntry, plan: DrainPlan, progress: Progress, sink: Any
) -> tuple[bool, ServiceState]:
    """Whether this run holds the server drained, and the drain state the host is in now."""
    if not plan.deployed_before:
        return False, "in-service"
    state = _drain_command(host, "status", sink)
    if state == NOT_INSTALLED:  # a failed first run stopped before the anycast role
        return False, "in-service"
    if state == "in-service" and plan.restarts_sfu:
        wait_s = drain_wait_of(host)
        progress(f"draining before the SFU's restart (withdrawn after {wait_s} s)")
        _drain_command(host, f"drain {wait_s}", sink)
        mark(sink, "drained")
        return True, "drained"
    if state != "in-service" and plan.left_drained:
        mark(sink, "drained (by the failed run before)")
        return True, "drained"
    return False, "in-service" if state == "in-service" else "drained"


COMMAND_NOT_FOUND = 127
NOT_INSTALLED = "not-installed"  # no anycast role yet: nothing announced, nothing to drain


def _read_record(host: HostEntry, sink: Any) -> HostRecord:
    return parse_record(_on_host(host, read_command(), "read its deploy record", sink))


def _write_record(host: HostEntry, record: HostRecord, sink: Any) -> None:
    _on_host(host, write_command(record), f"record its deploy ({record})", sink)


def _on_host(host: HostEntry, command: str, what: str, sink: Any) -> str:
    """`command`'s output on the host; raises HostDeployFailed saying it could not `what`."""
    try:
        status, output = drain.run_on(host, command)
    except Exception as error:  # SSH: unreachable, refused, auth
        status, output = -1, str(error)
    sink.write(f"{what}: {output or status}\n")
    if status != 0:
        raise HostDeployFailed(
            f"{host.name}: could not {what}: {output or f'exit {status}'} (full log: {sink.name})"
        )
    return output


def _note_failure(host: HostEntry, record: HostRecord, sink: Any) -> None:
    """What a failed run left, for the next run; the failure itself is what is reported."""
    with contextlib.suppress(HostDeployFailed):
        _write_record(host, record, sink)


def _drain_command(host: HostEntry, action: str, sink: Any) -> str:
    try:
        status, output = drain.run_on(host, f"{DRAIN_COMMAND} {action}")
    except Exception as error:  # SSH: unreachable, refused, auth
        status, output = -1, str(error)
    sink.write(f"voicepop-drain {action}: {output}\n")
    if action == "status" and status == COMMAND_NOT_FOUND:
        return NOT_INSTALLED  # a reinstalled host, a first run that failed early
    if status != 0:
        raise HostDeployFailed(
            f"{host.name}: `voicepop-drain {action}` failed: {output or f'exit {status}'}"
            f" (full log: {sink.name})"
        )
    return output.splitlines()[-1].strip() if output else ""


def _back_in_service(
    host: HostEntry, workdir: Path, settle_s: float, progress: Progress, sink: Any
) -> None:
    """Undrain, then the announcement controls until the server announces again."""
    progress("returning to service")
    _drain_command(host, "undrain", sink)
    declared = workdir / "in-service.json"
    declared.write_text(render_verify([host]))
    _verification(host, declared, settle_s, sink, (), suites=ANNOUNCEMENT_SUITE)
    mark(sink, "in service")


def _site_deploy(
    host: HostEntry,
    inventory: Path,
    secrets: dict[str, str],
    timeout_s: float,
    progress: Progress,
    sink: Any,
) -> int:
    env = {**os.environ, **{SECRET_PREFIX + key: value for key, value in secrets.items()}}
    command = [
        str(Path(sys.executable).with_name("pyinfra")),
        "-y",
        "--no-wait",
        str(inventory),
        "roles/site.py",
    ]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    lines = []
    role = ""
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            sink.write(scrub(line, secrets.values()))
            starting = STARTING.search(plain_lines(line)[0]) if line.strip() else None
            # one line per role: the engine keeps what a deploy prints in the state too
            if starting and (now := starting.group("name").split(" | ")[0]) != role:
                role = now
                progress(f"deploying: {role}")
        status = process.wait()
    finally:
        timer.cancel()
    output = scrub("".join(lines), secrets.values())
    totals = grand_total(output)
    if status == 0 and totals is not None and totals.errors == 0:
        return totals.changed
    failure = deploy_failure(output)
    why = "timed out" if status < 0 else "failed"
    raise HostDeployFailed(
        f"{host.name}: site deploy {why} at step {failure.step!r}:\n  "
        + "\n  ".join(failure.detail)
        + f"\n(full log: {sink.name})"
    )


ANNOUNCEMENT_SUITE = f"{SUITES_FOLDER}/test_anycast.py"


def _verification(
    host: HostEntry,
    declared: Path,
    settle_s: float,
    sink: Any,
    secrets: Iterable[str],
    suites: str = SUITES_FOLDER,
) -> int:
    """How many checks passed, the failed ones run again for up to `settle_s` (settle)."""

    def run(targets: Sequence[str]) -> tuple[int, str]:
        result = subprocess.run(
            verification_command("-rfE", targets=targets),
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "VOICEPOP_VERIFY_INVENTORY": str(declared)},
            timeout=600,
        )
        output = scrub(result.stdout + result.stderr, secrets)
        sink.write(output)
        sink.flush()
        return result.returncode, output

    settled = settle(run, settle_s, suites)
    if settled.returncode == 0:
        return settled.passed
    output = settled.outputs[-1]
    failed = failed_controls(output)
    raise HostDeployFailed(
        f"{host.name}: verification failed, {len(failed)} control(s):\n  "
        + "\n  ".join(failed or plain_lines(output)[-8:])
        + f"\n(full log: {sink.name})"
    )


CALL_ATTEMPTS = 2  # a call lost to a moment's hiccup is placed once more before failing


def call_gate(
    host: HostEntry, progress: Progress, sink: Any, secrets: Mapping[str, str] | None = None
) -> CallReport | None:
    """A synthetic call through the host's SFU (`python -m quality call`, in a process of its
    own, with the deploy's `secrets`: it signs its token with the stack's); raises
    HostDeployFailed naming the host and the figures when it cannot be placed or scores below
    the spec's sfu.call_gate.min_mos."""
    sfu = host.sfu
    gate = sfu.call_gate
    if not gate.enabled:
        return None
    command = [
        sys.executable, "-m", "quality", "call", host.address,
        "--server", host.name, "--name", host.dns_names[0] if host.dns_names else "",
        "--port", str(sfu.tls.port),
        "--duration", str(gate.duration_s), "--codec", gate.codec_profile,
        "--setup-timeout", str(gate.setup_timeout_s), "--json",
    ]  # fmt: skip
    report = None
    for attempt in range(1, CALL_ATTEMPTS + 1):
        progress(f"synthetic call ({gate.duration_s:g} s), attempt {attempt}")
        report = _placed_call(
            host, command, gate.duration_s + gate.setup_timeout_s + 30, secrets or {}
        )
        sink.write(f"synthetic call, attempt {attempt}: {figures_line(report)}\n")
        if report.ok and report.mos >= gate.min_mos:
            return report
        if attempt < CALL_ATTEMPTS:
            time.sleep(2)
    assert report is not None
    if not report.ok:
        why = f"could not be placed: {report.error}"
    else:
        why = f"scored below sfu.call_gate.min_mos {gate.min_mos:g}: {figures_line(report)}"
    raise HostDeployFailed(
        f"{host.name}: the synthetic call through its SFU ({host.address}) {why} "
        f"(after {CALL_ATTEMPTS} attempts; full log: {sink.name})"
    )


def _placed_call(
    host: HostEntry, command: list[str], timeout_s: float, secrets: Mapping[str, str]
) -> CallReport:
    env = {**os.environ, **{SECRET_PREFIX + key: value for key, value in secrets.items()}}
    bundle = host.sfu.tls.acme.ca_bundle
    if bundle:  # a CA the system does not trust (the sandbox's): the caller trusts it
        env["REQUESTS_CA_BUNDLE"] = str(PROJECT_DIR / bundle)
    try:
        result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True,
                                text=True, timeout=timeout_s, check=False)  # fmt: skip
        return CallReport(**json.loads(result.stdout))
    except subprocess.TimeoutExpired:
        error = f"the probe did not finish within {timeout_s:g} s"
    except (ValueError, TypeError):
        error = f"the probe failed: {(result.stderr or result.stdout).strip()[-500:]}"
    return CallReport(server=host.name, address=host.address, ok=False, error=error)


SUPERSEDED = "not drained: a newer deploy of the same host owns it"


def drain_host(host: HostEntry, progress: Progress, owner: str | None = None) -> str:
    """Withdraws the host's announcements gracefully (roles/anycast's voicepop-drain, after
    bgp.drain_wait_s) so that traffic has moved before the server is released. A host that
    cannot be reached or has no drain command announces nothing to drain: that is reported,
    not raised, so that a dead server can still be released. A host that another deploy owns
    now (this one was replaced by a newer deploy of the same host) is left in service."""
    wait_s = drain_wait_of(host)
    try:
        _, recorded = drain.run_on(host, read_command())
        current = parse_record(recorded).owner
        if current and current != owner:
            return f"{host.name}: {SUPERSEDED} ({current}), left in service"
        progress(f"draining (withdrawing announcements after {wait_s} s)")
        status, output = drain.run_on(host, f"{DRAIN_COMMAND} drain {wait_s}")
    except Exception as error:  # SSH: unreachable, refused, auth: the server is gone
        return f"{host.name}: not drained, unreachable ({error}); releasing it anyway"
    if status != 0:
        return f"{host.name}: not drained ({output or f'exit {status}'}); releasing it anyway"
    return f"{host.name}: drained: {output}"
