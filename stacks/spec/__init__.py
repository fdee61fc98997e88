"""The PoP spec: typed models, their checks, and loading from stack files or stack config."""

from stacks.spec.errors import SpecError, SpecInvalid
from stacks.spec.loading import (
    parse_pop,
    pop_from_stack_config,
    read_stack_file,
    stack_files,
    validate_stack_files,
)
from stacks.spec.models import PopSpec

__all__ = [
    "PopSpec",
    "SpecError",
    "SpecInvalid",
    "parse_pop",
    "pop_from_stack_config",
    "read_stack_file",
    "stack_files",
    "validate_stack_files",
]
