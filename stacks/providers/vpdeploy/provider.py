"""The `vpdeploy` Pulumi provider plugin: `vpdeploy:index:HostDeploy`, one per server.

Create and update run the host's deploy (stacks/deploy/runner.py): the pyinfra site deploy,
then the verification suites as a gate; a failure fails `pulumi up` with the host and the step
or controls named, and leaves the resource as it was, so the next `pulumi up` runs it again.
They run only when the trigger (a content hash of the roles and the host's entry) or the
secrets changed. Delete drains the host before the server it depends on is released.

Progress goes to Pulumi's log through the engine's Log service (the address the engine starts
every plugin with), so `pulumi up` shows which step each host is at.
"""

import contextlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import grpc
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from stacks.deploy.runner import HostDeployFailed, HostRun, deploy_host, drain_host
from stacks.providers.errors import PartialState
from stacks.providers.properties import (
    COMPUTED,
    off_the_loop,
    plain_map,
    property_diff,
    serve,
    wrap,
    wrap_map,
)

PACKAGE = "vpdeploy"
HOST_DEPLOY = f"{PACKAGE}:index:HostDeploy"
VERSION = "0.1.0"
REQUIRED = ("host", "trigger")
RERUN_ON = ("trigger", "secrets")
COMPARED = (*RERUN_ON, "host", "settleS", "timeoutS")
OUTPUTS = ("changedOperations", "checksPassed", "deploySeconds", "verifySeconds", "deployedAt")
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


class DeployProvider(Provider):
    def __init__(self, log: EngineLog) -> None:
        self._log = log

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        return ConfigureResponse(accept_secrets=True, supports_preview=True)

    async def check(self, request: CheckRequest) -> CheckResponse:
        news = plain_map(request.new_inputs)
        failures = [CheckFailure(p, f"{p} is required") for p in REQUIRED if news.get(p) is None]
        return CheckResponse(inputs=request.new_inputs, failures=failures)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        olds, news = plain_map(request.old_state), plain_map(request.new_inputs)
        return deploy_diff(olds, news)

    async def create(self, request: CreateRequest) -> CreateResponse:
        inputs = plain_map(request.properties)
        if request.preview:
            return CreateResponse(properties=_state(inputs, None))
        resource_id = f"{host_of(inputs)['name']}-deploy"
        run = await self._run(request.urn, inputs, resource_id, {})
        return CreateResponse(resource_id, _state(inputs, run))

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        olds, news = plain_map(request.olds), plain_map(request.news)
        rerun = any(olds.get(k) != news.get(k) for k in RERUN_ON)
        if request.preview:
            return UpdateResponse(_state(news, None if rerun else olds))
        if not rerun:
            return UpdateResponse(_state(news, olds))
        run = await self._run(request.urn, news, request.resource_id, olds)
        return UpdateResponse(_state(news, run))

    async def read(self, request: ReadRequest) -> ReadResponse:
        # what a deploy left is proven by the verification suites, not by reading it back
        return ReadResponse(request.resource_id, request.properties, request.inputs)

    async def delete(self, request: DeleteRequest) -> None:
        state = plain_map(request.properties)
        outcome = await off_the_loop(
            lambda: drain_host(host_of(state), self._progress(request.urn))
        )
        severity: Any = engine_pb2.INFO if ": drained" in outcome else engine_pb2.WARNING
        self._log(request.urn, outcome, severity=severity)

    def _progress(self, urn: str) -> Callable[[str], None]:
        return lambda message: self._log(urn, message, ephemeral=True)

    async def _run(
        self, urn: str, inputs: dict[str, Any], resource_id: str, olds: dict[str, Any]
    ) -> HostRun:
        """The deploy; when it fails, the resource stays in the state marked failed (the
        engine's init errors), so the next `pulumi up` runs it again whatever changed."""
        secrets = {k: str(v) for k, v in (inputs.get("secrets") or {}).items()}
        host = host_of(inputs)
        try:
            return await self._deploy(urn, inputs, host, secrets)
        except HostDeployFailed as failed:
            failed.partial = PartialState(
                resource_id, _state({**inputs, "trigger": FAILED}, olds), engine_values(inputs)
            )
            raise

    async def _deploy(
        self, urn: str, inputs: dict[str, Any], host: dict[str, Any], secrets: dict[str, str]
    ) -> HostRun:
        run = await off_the_loop(
            lambda: deploy_host(
                host,
                secrets,
                float(inputs["settleS"]),  # the PoP spec's deploy section: no default here
                float(inputs["timeoutS"]),
                self._progress(urn),
            )
        )
        self._log(
            urn,
            f"{host['name']}: site deploy {run.deploy_s:.1f} s, operations changed: "
            f"{run.changed_operations}; verification {run.verify_s:.1f} s, checks "
            f"passed: {run.checks_passed}",
        )
        return run


def deploy_diff(olds: dict[str, Any], news: dict[str, Any]) -> DiffResponse:
    """Changes re-run the deploy in place; a new address is another server (the old one was
    replaced): the deploy is replaced too, so that the old server is drained before release."""
    changed = [k for k in COMPARED if news.get(k) is COMPUTED or olds.get(k) != news.get(k)]
    moved = (
        news.get("host") is not COMPUTED
        and "host" in olds
        and (host_of(olds)["address"] != host_of(news)["address"])
    )
    return property_diff(changed, replace_on=["host"] if moved else [])


def host_of(values: dict[str, Any]) -> dict[str, Any]:
    """The host's inventory entry: JSON, because the wire's one number type would turn a
    port 8088 into 8088.0 in the roles' data."""
    return dict(json.loads(values["host"]))


def _state(inputs: dict[str, Any], outcome: HostRun | dict[str, Any] | None) -> dict[str, Any]:
    """The resource's state: its inputs and the last run's figures."""
    if isinstance(outcome, HostRun):
        figures: dict[str, Any] = {
            "changedOperations": outcome.changed_operations,
            "checksPassed": outcome.checks_passed,
            "deploySeconds": round(outcome.deploy_s, 1),
            "verifySeconds": round(outcome.verify_s, 1),
            "deployedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    elif outcome is None:
        figures = dict.fromkeys(OUTPUTS, COMPUTED)
    else:
        figures = {k: outcome.get(k) for k in OUTPUTS}
    return engine_values({**inputs, **figures})


def engine_values(values: dict[str, Any]) -> dict[str, Any]:
    """Values for the engine, the secrets marked secret (the state encrypts them)."""
    wrapped = wrap_map({k: v for k, v in values.items() if k != "secrets"})
    if "secrets" in values:
        wrapped["secrets"] = wrap(values["secrets"], secret=True)
    return wrapped


def main() -> None:
    engine_address = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    serve(DeployProvider(EngineLog(engine_address)), VERSION)


if __name__ == "__main__":
    main()
