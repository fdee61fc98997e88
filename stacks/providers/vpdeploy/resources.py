"""The program's side of the vpdeploy provider: the provider and HostDeploy."""

from typing import Any

import pulumi

from stacks.providers.vpdeploy.provider import HOST_DEPLOY, OUTPUTS, PACKAGE


class Deployer(pulumi.ProviderResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(PACKAGE, name, {}, opts)


class HostDeploy(pulumi.CustomResource):
    """The site deploy and verification of one delivered server."""

    changedOperations: pulumi.Output[int]
    checksPassed: pulumi.Output[int]
    deployedAt: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(HOST_DEPLOY, name, {**props, **dict.fromkeys(OUTPUTS)}, opts)
