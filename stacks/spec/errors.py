"""Spec errors that name the field, the bad value and what is allowed."""

import copy
import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
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
    value = detail.get("input", _MISSING) if kind != "missing" else _MISSING
    field = _field_at(model, location)
    context = detail.get("ctx") or {}
    if kind == "literal_error":
        return SpecError(path, value, "not one of the allowed values", str(context["expected"]))
    problem = _PLAIN_PROBLEMS.get(kind)
    if problem is None:
        message = detail["msg"].removeprefix("Value error, ")
        problem, _, allowed = message.partition("; allowed: ")
        if allowed:
            return SpecError(path, value, problem, allowed)
    return SpecError(path, value, problem, _describe_field(field))


_PLAIN_PROBLEMS = {
    "missing": "required key is missing",
    "int_parsing": "not a whole number",
    "int_type": "not a whole number",
    "int_from_float": "not a whole number",
    "bool_parsing": "not true or false",
    "bool_type": "not true or false",
    "string_type": "not a string",
    "list_type": "not a list",
    "dict_type": "not a mapping",
    "model_type": "not a mapping",
    "model_attributes_type": "not a mapping",
    "greater_than_equal": "below the minimum",
    "greater_than": "below the minimum",
    "less_than_equal": "above the maximum",
    "less_than": "above the maximum",
    "too_short": "too few items",
    "too_long": "too many items",
    "string_too_short": "too short",
    "string_too_long": "too long",
    "string_pattern_mismatch": "not of the expected form",
}


def locations_of(error: ValidationError) -> list[list[str | int]]:
    """Where each error of `error` is, in the raw document (validator tags left out)."""
    return [
        [part for part in detail["loc"] if not _is_validator_tag(part)] for detail in error.errors()
    ]


def without_locations(raw: Any, locations: Iterable[Location]) -> Any:
    """A deep copy of `raw` with the mapping key at each location removed. A location that ends
    in a list index removes the whole list (removing one item would renumber the others)."""
    pruned = copy.deepcopy(raw)
    for location in locations:
        keyed = list(location)
        while keyed and isinstance(keyed[-1], int):
            keyed.pop()
        parent = _walk(pruned, keyed[:-1]) if keyed else None
        if isinstance(parent, dict):
            parent.pop(keyed[-1], None)
    return pruned


def _walk(document: Any, location: Location) -> Any:
    for part in location:
        try:
            document = document[part]
        except (KeyError, IndexError, TypeError):
            return None
    return document


def paths_overlap(a: str, b: str) -> bool:
    """Whether one error path is the other or lies inside it (`x.y` and `x.y[0].z`)."""
    shorter, longer = sorted((a, b), key=len)
    return longer == shorter or longer.startswith((f"{shorter}.", f"{shorter}["))


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


def _field_at(model: type[BaseModel], location: Location) -> FieldInfo | None:
    parent = _model_at(model, location[:-1]) if location else None
    if parent is None or not isinstance(location[-1], str):
        return None
    return parent.model_fields.get(location[-1])


def _describe_field(field: FieldInfo | None) -> str:
    """What a field accepts: its bounds, its choices or form, and its description."""
    if field is None:
        return ""
    facts = []
    bounds = {type(item).__name__: item for item in field.metadata}
    low = getattr(bounds.get("Ge"), "ge", None)
    high = getattr(bounds.get("Le"), "le", None)
    if low is not None and high is not None:
        facts.append(f"{low} to {high}")
    elif low is not None:
        facts.append(f"at least {low}")
    elif high is not None:
        facts.append(f"at most {high}")
    if "MinLen" in bounds:
        facts.append(f"at least {bounds['MinLen'].min_length} item(s)")
    pattern = next((getattr(item, "pattern", None) for item in field.metadata), None)
    if pattern:
        facts.append(f"matching {pattern}")
    if field.description:
        facts.append(field.description)
    return "; ".join(facts)


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
