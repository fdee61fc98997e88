"""The `vpdeploy` Pulumi provider plugin: `vpdeploy:index:HostDeploy`, one per server.

Create and update run the host's deploy (deploy/runner.py): the pyinfra site deploy,
then the verification suites as a gate; a failure fails `pulumi up` with the host and the step
or controls named, and leaves the resource as it was, so the next `pulumi up` runs it again.
They run only when the trigger (a content hash of the roles and the host's entry) or the
secrets changed, or when the drift repair asks (a new `redeploy` token). Delete drains the host
before the server it depends on is released, unless a newer deploy of the same host owns it
(`pulumi up --replace` of a deploy: the old one's delete must not take the host out).

Progress goes to Pulumi's log through the engine's Log service (the address the engine starts
every plugin with), so `pulumi up` shows which step each host is at.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from deploy.results import DrainPlan, HostDeployFailed, HostRun
from plugins.errors import PartialState, PlainError
from plugins.plugin import Call, Changes, PluginProvider, ResourceHandlers
from plugins.properties import COMPUTED, off_the_loop, serve
from stacks.resources.vpdeploy.schema import (
    HOST_DEPLOY,
    NOT_A_CHANGE,
    PACKAGE,
    REDEPLOY,
    RERUN_ON,
)

if TYPE_CHECKING:
    from roles.host import HostEntry

VERSION = "0.1.0"
SIMULATED = HostRun(changed_operations=0, deploy_s=0.0, checks_passed=0, verify_s=0.0)
FAILED = "failed: runs again on the next pulumi up"  # the trigger of a failed deploy


class EngineLog:
    """Messages to the engine's log, tied to a resource (shown beside it by `pulumi up`)."""

    def __init__(self, engine_address: str) -> None:
        self._stub = (
            engine_pb2_grpc.EngineStub(grpc.insecure_channel(engine_address))
            if engine_address
            else None
        )

    def __call__(
        self, urn: str, message: str, *, ephemeral: bool = False, severity: Any = engine_pb2.INFO
    ) -> None:
        if self._stub is None:
            return
        # the log is a courtesy: the deploy's outcome does not depend on it
        with contextlib.suppress(grpc.RpcError):
            self._stub.Log(
                engine_pb2.LogRequest(
                    severity=severity, message=message, urn=urn, ephemeral=ephemeral
                )
            )


class HostDeploys(ResourceHandlers):
    schema = HOST_DEPLOY

    def __init__(self, log: EngineLog) -> None:
        self._log = log

    def diff(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> Changes:
        """Changes re-run the deploy in place; a new address is another server (the old one
        was replaced): the deploy is replaced too, so that the old server is drained before
        its release. A server moved to another wave of the rollout has nothing to do."""
        changed = [
            name
            for name in super().diff(olds, news).changed
            if name not in NOT_A_CHANGE and (name != REDEPLOY or redeploy_requested(olds, news))
        ]
        moved = (
            news.get("host") is not COMPUTED
            and "host" in olds
            and host_field(olds, "address") != host_field(news, "address")
        )
        return Changes(changed, ["host"] if moved else [])

    async def create(self, call: Call, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        resource_id = f"{host_field(inputs, 'name')}-deploy"
        owner = new_owner()
        if inputs.get("simulate"):
            return resource_id, figures(SIMULATED, owner)
        run = await self._run(call.urn, inputs, resource_id, {}, owner)
        return resource_id, figures(run, owner)

    def planned_update(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        return self.planned_create(news) if reruns(olds, news) else self.kept_outputs(olds)

    async def update(
        self, call: Call, resource_id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> dict[str, Any]:
        if not reruns(olds, news):
            return self.kept_outputs(olds)
        owner = str(olds.get("owner") or new_owner())  # a state from before owners: one now
        if news.get("simulate"):
            return figures(SIMULATED, owner)
        return figures(await self._run(call.urn, news, resource_id, olds, owner), owner)

    async def delete(self, call: Call, resource_id: str, state: dict[str, Any]) -> None:
        if state.get("simulate"):
            return
        # a preview never runs a host's deploy
        from deploy.runner import SUPERSEDED, drain_host

        outcome = await off_the_loop(
            lambda: drain_host(host_of(state), self._progress(call.urn), state.get("owner"))
        )
        left_as_it_should = ": drained" in outcome or SUPERSEDED in outcome
        severity: Any = engine_pb2.INFO if left_as_it_should else engine_pb2.WARNING
        self._log(call.urn, outcome, severity=severity)

    def _progress(self, urn: str) -> Callable[[str], None]:
        return lambda message: self._log(urn, message, ephemeral=True)

    async def _run(
        self, urn: str, inputs: dict[str, Any], resource_id: str, olds: dict[str, Any], owner: str
    ) -> HostRun:
        """The deploy; when it fails, the resource stays in the state marked failed (the
        engine's init errors), so the next `pulumi up` runs it again whatever changed. What
        a deploy left is proven by the verification suites, never read back."""
        secrets = {k: str(v) for k, v in (inputs.get("secrets") or {}).items()}
        host = host_of(inputs)
        try:
            return await self._deploy(urn, inputs, host, secrets, drain_plan(olds, inputs), owner)
        except HostDeployFailed as failed:
            state = {
                **inputs,
                "trigger": FAILED,
                # what the host last ran: the next run compares against it, not the failed one
                "sfu_digest": olds.get("sfu_digest", inputs.get("sfu_digest")),
                **self.kept_outputs(olds),
                "left_drained": failed.left_drained,
                "owner": owner,
            }
            shown = PlainError(str(failed))  # the message alone, the resource marked failed
            shown.partial = PartialState(resource_id, state, inputs, self.schema.secret)
            raise shown from failed

    async def _deploy(
        self,
        urn: str,
        inputs: dict[str, Any],
        host: HostEntry,
        secrets: dict[str, str],
        plan: DrainPlan,
        owner: str,
    ) -> HostRun:
        # a preview never runs a host's deploy
        from deploy.runner import deploy_host
        from quality.report import figures_line

        wave = str(inputs.get("wave") or "")
        if wave:
            self._log(urn, f"{host.name}: {wave}", ephemeral=True)
        run = await off_the_loop(
            lambda: deploy_host(
                host,
                secrets,
                float(inputs["settle_s"]),
                float(inputs["timeout_s"]),
                self._progress(urn),
                plan,
                wave,
                owner,
            )
        )
        self._log(
            urn,
            f"{host.name}: site deploy {run.deploy_s:.1f} s, operations changed: "
            f"{run.changed_operations}; verification {run.verify_s:.1f} s, checks "
            f"passed: {run.checks_passed}"
            + (f"; synthetic call {figures_line(run.call)}" if run.call else "")
            + ("; drained around the deploy, back in service" if run.drained else ""),
        )
        return run


def drain_plan(olds: Mapping[str, Any], news: Mapping[str, Any]) -> DrainPlan:
    """A deployed host whose SFU configuration changes is drained around its deploy."""
    sfu_moved = olds.get("sfu_digest") != news.get("sfu_digest")
    return DrainPlan(
        deployed_before=bool(olds),
        restarts_sfu=bool(olds) and (sfu_moved or redeploy_requested(olds, news)),
        left_drained=bool(olds.get("left_drained")),
    )


def reruns(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    return any(olds.get(k) != news.get(k) for k in RERUN_ON) or redeploy_requested(olds, news)


def redeploy_requested(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """The drift repair asked for this host (a token not seen before); a run without one (every
    other run) asks nothing."""
    return bool(news.get(REDEPLOY)) and news.get(REDEPLOY) != olds.get(REDEPLOY)


def new_owner() -> str:
    return uuid.uuid4().hex


def host_field(values: Mapping[str, Any], key: str) -> Any:
    """One field of the host's entry, read without the roles' models (a preview's diff)."""
    return json.loads(values["host"]).get(key)


def host_of(values: Mapping[str, Any]) -> HostEntry:
    """The host's entry, parsed once: JSON text on the wire, because the wire's one number
    type would turn a port 8088 into 8088.0 in the roles' data."""
    from roles.host import HostEntry  # the roles' models: not at a preview's start-up

    return HostEntry.model_validate_json(values["host"])


def figures(run: HostRun, owner: str) -> dict[str, Any]:
    """The outputs: the last run's figures, and the deploy that owns the host."""
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
        "owner": owner,
    }


def plugin(engine_address: str) -> PluginProvider:
    return PluginProvider(PACKAGE, [HostDeploys(EngineLog(engine_address))])


def main() -> None:
    engine_address = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    serve(plugin(engine_address), VERSION)


if __name__ == "__main__":
    main()
