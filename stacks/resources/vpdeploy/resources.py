"""The program's side of the vpdeploy provider: the provider and HostDeploy."""

from typing import Any

import pulumi

from stacks.resources.vpdeploy.schema import HOST_DEPLOY, PACKAGE


class Deployer(pulumi.ProviderResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(PACKAGE, name, {}, opts)


class HostDeploy(pulumi.CustomResource):
    """The site deploy and verification of one delivered server."""

    changed_operations: pulumi.Output[int]
    checks_passed: pulumi.Output[int]
    deploy_seconds: pulumi.Output[float]
    verify_seconds: pulumi.Output[float]
    call_mos: pulumi.Output[float | None]
    call_seconds: pulumi.Output[float]
    drained: pulumi.Output[bool]
    left_drained: pulumi.Output[bool]
    deployed_at: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(HOST_DEPLOY.token, name, HOST_DEPLOY.registration(props), opts)
