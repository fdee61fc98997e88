"""Errors the project's provider plugins report to `pulumi up` as their message alone (the
SDK's server would append the plugin's Python traceback): what the user must read, such as a
provider's answer or a host's failed deploy; and the one way they treat a thing that is gone
already. No Pulumi imports, so API clients can use it."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class PartialState:
    """What a resource that was created (or changed) but failed to initialise leaves in the
    state: the engine records it and updates the resource on the next run. Plain values, with
    the names of the secret ones (the state encrypts those)."""

    resource_id: str
    properties: Mapping[str, Any]
    inputs: Mapping[str, Any]
    secret: tuple[str, ...] = field(default=())


class PlainError(Exception):
    """An error `pulumi up` shows as its message alone; with `partial`, the resource is
    recorded as failed to initialise instead of not at all."""

    partial: PartialState | None = None


def unless_gone(call: Callable[[], T], gone: Callable[[Exception], bool]) -> T | None:
    """`call()`'s answer, or None when it failed because its object is gone already (deleted
    out of band, or by an earlier, interrupted run): `gone` tells those errors apart."""
    try:
        return call()
    except Exception as error:
        if gone(error):
            return None
        raise
