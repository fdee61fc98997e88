"""The host deploy as its Command runs it (stacks/resources/host_deploy.py):

    python -m deploy up       create and update: the host's deploy (deploy/runner.py)
    python -m deploy leave    delete: the host is drained before its server is released
    python -m deploy attempt  the attempt marker's create and update: prints a new id

Everything comes from the environment the program gives the Command (the host's entry, its
trigger and SFU digest, the secrets) and from PULUMI_COMMAND_STDOUT, the last successful run's
figures. Standard output is one JSON document, this run's figures, which the state keeps for
the next run; standard error is the progress, which the engine shows beside the resource.
A failed run exits non-zero and leaves the state as it was, so the next `pulumi up` runs it
again; what it left on the host (drained or not) is in the host's own record (deploy/
record.py), where the next run finds it."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploy.results import HostDeployFailed, HostRun
from stacks.resources import host_deploy as contract

if TYPE_CHECKING:
    from roles.host import HostEntry

PREVIOUS = "PULUMI_COMMAND_STDOUT"  # pulumi-command sets it to the last successful stdout
SIMULATED = HostRun(changed_operations=0, deploy_s=0.0, checks_passed=0, verify_s=0.0)


class BadEnvironment(ValueError):
    """The Command's environment lacks what the program always gives it."""


@dataclass(frozen=True)
class DeployRequest:
    """One run's inputs, as the program declared them."""

    host_json: str
    trigger: str
    sfu_digest: str
    settle_s: float
    timeout_s: float
    simulate: bool
    redeploy: str
    secrets: dict[str, str]
    attempt: str = ""  # the attempt marker's id (stacks/resources/host_deploy.py)

    @property
    def name(self) -> str:
        return str(json.loads(self.host_json).get("name") or "the host")


def request_of(env: Mapping[str, str]) -> DeployRequest:
    missing = [
        name
        for name in (contract.HOST, contract.TRIGGER, contract.SETTLE_S, contract.TIMEOUT_S)
        if not env.get(name)
    ]
    if missing:
        raise BadEnvironment(
            f"the host deploy's environment lacks {', '.join(missing)}: it is run by the "
            "stack's Command (stacks/resources/host_deploy.py), which always sets them"
        )
    return DeployRequest(
        host_json=env[contract.HOST],
        trigger=env[contract.TRIGGER],
        sfu_digest=env.get(contract.SFU_DIGEST, ""),
        settle_s=float(env[contract.SETTLE_S]),
        timeout_s=float(env[contract.TIMEOUT_S]),
        simulate=env.get(contract.SIMULATE) == "1",
        redeploy=env.get(contract.REDEPLOY, ""),
        attempt=env.get(contract.ATTEMPT, ""),
        secrets={
            key.removeprefix(contract.SECRET_PREFIX): value
            for key, value in env.items()
            if key.startswith(contract.SECRET_PREFIX)
        },
    )


def previous_run(env: Mapping[str, str]) -> dict[str, Any]:
    """The last successful run's figures ({} for a deploy never run, or a state from before)."""
    try:
        previous = json.loads(env.get(PREVIOUS) or "{}")
    except ValueError:
        return {}
    return previous if isinstance(previous, dict) else {}


def nothing_to_do(request: DeployRequest, previous: Mapping[str, Any]) -> bool:
    """Only a deploy knob moved (settle or timeout), or the repair's token was dropped: the
    host is as the last successful run left it, which was this same attempt (a new trigger,
    SFU digest or secret makes a new one)."""
    return (
        previous.get("attempt") == request.attempt
        and previous.get("trigger") == request.trigger
        and previous.get("sfu_digest") == request.sfu_digest
        and (not request.redeploy or request.redeploy == previous.get("redeploy"))
    )


def figures(run: HostRun, request: DeployRequest, owner: str) -> dict[str, Any]:
    """The run's figures, and what the next run compares against."""
    return {
        "changed_operations": run.changed_operations,
        "checks_passed": run.checks_passed,
        "deploy_seconds": round(run.deploy_s, 1),
        "verify_seconds": round(run.verify_s, 1),
        "call_mos": run.call.mos if run.call else None,
        "call_seconds": round(run.call_s, 1),
        "drained": run.drained,
        "left_drained": False,
        "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # which deploy owns the host (the host records it too): the delete of a deploy that a
        # newer one of the same host superseded (`pulumi up --replace`) drains nothing
        "owner": owner,
        "trigger": request.trigger,
        "sfu_digest": request.sfu_digest,
        "attempt": request.attempt,
        "redeploy": request.redeploy,
    }


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def up(env: Mapping[str, str]) -> dict[str, Any]:
    request = request_of(env)
    previous = previous_run(env)
    owner = str(previous.get("owner") or uuid.uuid4().hex)
    if request.simulate:
        return figures(SIMULATED, request, owner)
    if previous and nothing_to_do(request, previous):
        progress(f"{request.name}: nothing to do on the host")
        return dict(previous)
    from deploy.runner import deploy_host, log_folder  # the roles' models: not when simulated
    from deploy.slots import deploy_slot, slot_count
    from roles.host import HostEntry

    host = HostEntry.model_validate_json(request.host_json)
    with deploy_slot(
        log_folder(), slot_count(), lambda: progress(f"{host.name}: waiting for a deploy slot")
    ):
        run = deploy_host(
            host,
            request.secrets,
            request.settle_s,
            request.timeout_s,
            lambda message: progress(f"{host.name}: {message}"),
            request.sfu_digest,
            owner,
            request.redeploy,
        )
    progress(summary_line(host, run))
    return figures(run, request, owner)


def summary_line(host: HostEntry, run: HostRun) -> str:
    from quality.report import figures_line

    return (
        f"{host.name}: site deploy {run.deploy_s:.1f} s, operations changed: "
        f"{run.changed_operations}; verification {run.verify_s:.1f} s, checks passed: "
        f"{run.checks_passed}"
        + (f"; synthetic call {figures_line(run.call)}" if run.call else "")
        + ("; drained around the deploy, back in service" if run.drained else "")
    )


def leave(env: Mapping[str, str]) -> str:
    """Drains the host unless a newer deploy owns it; reports, never fails: a dead server can
    still be released."""
    request = request_of(env)
    if request.simulate:
        return f"{request.name}: simulated, nothing to drain"
    from deploy.runner import drain_host
    from roles.host import HostEntry

    host = HostEntry.model_validate_json(request.host_json)
    owner = previous_run(env).get("owner")
    return drain_host(host, lambda message: progress(f"{host.name}: {message}"), owner)


def main(argv: list[str], env: Mapping[str, str]) -> int:
    if argv not in (["up"], ["leave"], ["attempt"]):
        print(
            "usage: python -m deploy up|leave|attempt (run by the stack's host deploy)",
            file=sys.stderr,
        )
        return 2
    if argv == ["attempt"]:
        print(uuid.uuid4().hex)
        return 0
    try:
        if argv == ["leave"]:
            progress(leave(env))
            return 0
        print(json.dumps(up(env), sort_keys=True))
        return 0
    except (BadEnvironment, HostDeployFailed) as failed:
        print(str(failed), file=sys.stderr, flush=True)
        return 1
