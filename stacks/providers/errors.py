"""Errors the project's provider plugins report to `pulumi up` as their message alone (the
SDK's server would append the plugin's Python traceback): what the user must read, such as a
provider's answer or a host's failed deploy. No Pulumi imports, so API clients can use it."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PartialState:
    """What a resource that was created (or changed) but failed to initialise leaves in the
    state: the engine records it and updates the resource on the next run. Values are the
    SDK's PropertyValues."""

    resource_id: str
    properties: dict[str, Any]
    inputs: dict[str, Any]


class PlainError(Exception):
    """An error `pulumi up` shows as its message alone; with `partial`, the resource is
    recorded as failed to initialise instead of not at all."""

    partial: PartialState | None = None
