"""What a host's deploy run reports, and how it treats the server's service: the types its
callers need at start-up, apart from the runner (which imports the roles' models)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quality.report import CallReport


class HostDeployFailed(Exception):
    """The deploy or its verification failed; the message names the host and the step or
    the failed controls."""

    left_drained = False  # the run drained the server and did not return it to service


@dataclass(frozen=True)
class DrainPlan:
    """What a deploy does about the server's service. A deploy that restarts the SFU takes a
    server in service out first (voicepop-drain, the spec's bgp.drain_wait_s) and returns it
    only after its gate passed; one that does not (a sysctl) leaves it in service. A server
    an operator drained stays drained."""

    deployed_before: bool = False  # the host has voicepop-drain (a created one does not yet)
    restarts_sfu: bool = False  # or the drift repair redeploys it: drained the same way
    left_drained: bool = False  # a failed run drained it: this one returns it after its gate


@dataclass(frozen=True)
class HostRun:
    changed_operations: int
    deploy_s: float
    checks_passed: int
    verify_s: float
    call: CallReport | None = None  # None: the spec switched the call gate off
    call_s: float = 0.0
    drained: bool = False  # drained for the deploy, returned to service after its gate
