"""The program's side of the flexmetal provider: the provider and resource classes."""

from collections.abc import Sequence
from typing import Any

import pulumi

from stacks.resources.flexmetal.schema import PACKAGE, PROVIDER, SERVER, SSH_KEY


class FlexMetal(pulumi.ProviderResource):
    """An explicit provider: the API endpoint from the PoP spec, and optionally the token as a
    secret (without it, the plugin reads FLEXMETAL_TOKEN from its environment)."""

    def __init__(
        self,
        name: str,
        endpoint: str,
        token: pulumi.Input[str] | None,
        timings: dict[str, float],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`timings`: the schema's TIMINGS, from the PoP spec's provider section."""
        props: dict[str, Any] = {"endpoint": endpoint, **timings}
        if token is not None:
            props["token"] = pulumi.Output.secret(token)
        super().__init__(PACKAGE, name, PROVIDER.registration(props), opts)


class SshKey(pulumi.CustomResource):
    uuid: pulumi.Output[str]

    def __init__(
        self, name: str, public_key: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = SSH_KEY.registration({"name": name, "public_key": public_key})
        super().__init__(SSH_KEY.token, name, props, opts)


class Server(pulumi.CustomResource):
    uuid: pulumi.Output[str]
    status: pulumi.Output[str]
    primary_ip: pulumi.Output[str]
    installation: pulumi.Output[str]
    ip_addresses: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        name: str,
        location: str,
        instance_type: str,
        os_slug: str,
        ssh_keys: Sequence[pulumi.Input[str]],
        identity_tag: str,
        tags: Sequence[str] = (),
        post_install_script: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = SERVER.registration(
            {
                "name": name,
                "location": location,
                "instance_type": instance_type,
                "os_slug": os_slug,
                "ssh_keys": list(ssh_keys),
                "identity_tag": identity_tag,
                "tags": list(tags),
                "post_install_script": post_install_script,
            }
        )
        super().__init__(SERVER.token, resource_name, props, opts)
