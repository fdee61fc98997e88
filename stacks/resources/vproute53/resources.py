"""The program's side of the vproute53 provider: the provider and resource classes."""

from typing import Any

import pulumi

from stacks.resources.vproute53.schema import HEALTH_CHECK, PACKAGE, RECORD_SETS, ZONE


class Route53(pulumi.ProviderResource):
    """An explicit provider: AWS when `endpoint` is empty, else that Route 53 endpoint."""

    def __init__(
        self, name: str, endpoint: str | None, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(PACKAGE, name, {"endpoint": endpoint or ""}, opts)


class Zone(pulumi.CustomResource):
    zone_id: pulumi.Output[str]

    def __init__(
        self, name: str, zone: str, create: bool, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = ZONE.registration({"name": zone, "create": create})
        super().__init__(ZONE.token, name, props, opts)


class HealthCheck(pulumi.CustomResource):
    health_check_id: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(HEALTH_CHECK.token, name, HEALTH_CHECK.registration(props), opts)


class RecordSets(pulumi.CustomResource):
    """All of a PoP's record sets: one change batch per apply."""

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RECORD_SETS.token, name, RECORD_SETS.registration(props), opts)
