"""Spec errors that name the field, the bad value and what is allowed."""

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

Location = Sequence[str | int]


@dataclass(frozen=True)
class SpecError:
    path: str
    value: Any
    problem: str
    allowed: str = ""

    def render(self) -> str:
        shown = "(missing)" if self.value is _MISSING else repr(self.value)
        allowed = f"; allowed: {self.allowed}" if self.allowed else ""
        return f"{self.path}: {shown}: {self.problem}{allowed}"


class SpecInvalid(Exception):
    """Raised with every error found, before any resource is registered."""

    def __init__(self, source: str, errors: Sequence[SpecError]) -> None:
        self.source = source
        self.errors = list(errors)
        listed = "\n".join(f"  {error.render()}" for error in self.errors)
        super().__init__(f"{source}: {len(self.errors)} error(s) in the PoP spec:\n{listed}")


_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "(missing)"})()


def format_path(root: str, location: Location) -> str:
    path = root
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def errors_from_validation(
    root: str, model: type[BaseModel], error: ValidationError
) -> list[SpecError]:
    return [_translate(root, model, detail) for detail in error.errors()]


def _translate(root: str, model: type[BaseModel], detail: ErrorDetails) -> SpecError:
    location = [part for part in detail["loc"] if not _is_validator_tag(part)]
    path = format_path(root, location)
    kind = detail["type"]
    if kind == "extra_forbidden":
        return _unknown_key(path, location, model)
    if kind == "missing":
        return SpecError(
            path, _MISSING, "required key is missing", _describe_field(model, location)
        )
    message = detail["msg"].removeprefix("Value error, ")
    problem, _, allowed = message.partition("; allowed: ")
    if not allowed:
        allowed = _describe_field(model, location)
    return SpecError(path, detail.get("input"), problem, allowed)


def _is_validator_tag(part: str | int) -> bool:
    # pydantic adds the validator's name to the location of errors raised inside it
    return isinstance(part, str) and part.startswith("function-")


def _unknown_key(path: str, location: Location, model: type[BaseModel]) -> SpecError:
    key = str(location[-1])
    parent = _model_at(model, location[:-1])
    known = sorted(parent.model_fields) if parent else []
    close = difflib.get_close_matches(key, known, n=1)
    problem = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    return SpecError(path, key, problem, ", ".join(known))


def _describe_field(model: type[BaseModel], location: Location) -> str:
    parent = _model_at(model, location[:-1]) if location else None
    if parent is None or not isinstance(location[-1], str):
        return ""
    field = parent.model_fields.get(location[-1])
    return (field.description or "") if field else ""


def _model_at(model: type[BaseModel], location: Location) -> type[BaseModel] | None:
    """The model class found by walking `location` down from `model`, if it names one."""
    current: Any = model
    for part in location:
        current = _unwrap(current)
        if isinstance(part, int):
            continue  # a list index: the element type is already unwrapped
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strips Optional, list and Annotated down to the one model type inside, if any."""
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            candidates = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            annotation = candidates[0] if len(candidates) == 1 else annotation
            if len(candidates) != 1:
                return annotation
        elif origin in (list, tuple, typing.Annotated):
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


def sorted_errors(errors: Iterable[SpecError]) -> list[SpecError]:
    return sorted(errors, key=lambda error: error.path)
