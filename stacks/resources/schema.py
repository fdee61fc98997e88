"""A resource type's properties as its plugin and the stack program both use them, written
once: the program's resource class registers them, the plugin's handlers check and return
them. Names are snake_case on the wire, the same as in the PoP spec. No Pulumi imports: the
stack program loads it without a plugin's dependencies."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Schema:
    token: str  # package:module:Type
    inputs: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    required: tuple[str, ...] = ()  # inputs that must be given and not empty
    secret: tuple[str, ...] = ()  # inputs the state keeps encrypted

    def __post_init__(self) -> None:
        unknown = {*self.required, *self.secret} - set(self.inputs)
        if unknown:
            raise ValueError(f"{self.token}: {sorted(unknown)} are not among its inputs")

    @property
    def properties(self) -> tuple[str, ...]:
        return (*self.inputs, *self.outputs)

    def registration(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The properties a resource class registers: its inputs, and its outputs unset."""
        unknown = sorted(set(inputs) - set(self.inputs))
        if unknown:
            raise ValueError(f"{self.token} has no input {unknown}; its inputs: {self.inputs}")
        return {**inputs, **dict.fromkeys(self.outputs)}


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def with_current_names(
    schema: Schema, values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Values a plugin wrote before its properties were snake_case (`primaryIp`), under the
    schema's names (`primary_ip`); and the names that were moved, so that the first `pulumi up`
    after the upgrade rewrites them in the state."""
    current = dict(values)
    moved = []
    for name in schema.properties:
        legacy = camel_case(name)
        if legacy != name and legacy in current and name not in current:
            current[name] = current.pop(legacy)
            moved.append(name)
    return current, moved
