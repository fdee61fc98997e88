"""The program's side of the flexmetal provider: the provider and resource classes."""

import re
from collections.abc import Sequence
from typing import Any

import pulumi

from stacks.providers.flexmetal.provider import SERVER, SSH_KEY


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _CamelCaseOnTheWire(pulumi.CustomResource):
    """Python attributes in snake_case; the provider's properties in camelCase."""

    def translate_output_property(self, prop: str) -> str:
        return _snake(prop)

    def translate_input_property(self, prop: str) -> str:
        return _camel(prop)


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
        """`timings`: the provider's TIMINGS (camelCase), from the PoP spec's provider section."""
        props: dict[str, Any] = {"endpoint": endpoint, **timings}
        if token is not None:
            props["token"] = pulumi.Output.secret(token)
        super().__init__("flexmetal", name, props, opts)


class SshKey(_CamelCaseOnTheWire):
    uuid: pulumi.Output[str]

    def __init__(
        self, name: str, public_key: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            SSH_KEY, name, {"name": name, "public_key": public_key, "uuid": None}, opts
        )


class Server(_CamelCaseOnTheWire):
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
        props: dict[str, Any] = {
            "name": name,
            "location": location,
            "instance_type": instance_type,
            "os_slug": os_slug,
            "ssh_keys": list(ssh_keys),
            "identity_tag": identity_tag,
            "tags": list(tags),
            "post_install_script": post_install_script,
        }
        outputs = (
            "uuid",
            "status",
            "status_message",
            "ip_addresses",
            "primary_ip",
            "created_at",
            "delivered_at",
            "installation",
        )
        super().__init__(SERVER, resource_name, {**props, **dict.fromkeys(outputs)}, opts)
