"""The flexmetal plugin's properties, for the plugin and the stack program alike."""

import hashlib

from stacks.resources.schema import Schema

PACKAGE = "flexmetal"

# How long and how often the provider polls, and how long one request may take: the PoP spec's
# provider section under the same names. They are the provider's configuration, not a
# server's, so an imported server is released with them too; the plugin has no defaults.
TIMINGS = (
    "request_timeout_s",
    "delivery_poll_interval_s",
    "delivery_timeout_s",
    "release_poll_interval_s",
    "release_timeout_s",
)
PROVIDER = Schema(
    f"pulumi:providers:{PACKAGE}",
    inputs=("endpoint", "token", *TIMINGS),
    required=("endpoint", *TIMINGS),
    secret=("token",),
)

SERVER = Schema(
    f"{PACKAGE}:index:Server",
    inputs=(
        "name",
        "location",
        "instance_type",
        "os_slug",
        "ssh_keys",
        "identity_tag",
        "tags",
        "post_install_script",
    ),
    outputs=(
        "uuid",
        "status",
        "status_message",
        "ip_addresses",
        "primary_ip",
        "created_at",
        "delivered_at",
        "installation",
    ),
    required=("name", "location", "instance_type", "os_slug", "ssh_keys", "identity_tag"),
)
# a change to these replaces the server; to the name, OS, keys or script reinstalls it in place
SERVER_REPLACE_ON = ("location", "instance_type")
SERVER_REINSTALL_ON = ("name", "os_slug", "ssh_keys", "post_install_script")

SSH_KEY = Schema(
    f"{PACKAGE}:index:SshKey",
    inputs=("name", "public_key"),
    outputs=("uuid",),
    required=("name", "public_key"),
)

# A server's own tag: how a retried or interrupted create finds the server it ordered.
IDENTITY_TAG_PREFIX = "vpid-"


def identity_tag(project: str, stack: str, logical_name: str) -> str:
    """Stable, short and within the API's tag pattern, whatever the names' length."""
    digest = hashlib.sha256(f"{project}/{stack}/{logical_name}".encode()).hexdigest()
    return f"{IDENTITY_TAG_PREFIX}{digest[:24]}"
