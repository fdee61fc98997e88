"""Reading PoP specs: from stack files (offline, `make validate`) or from the running stack's
config (the Pulumi program). Both end in `parse_pop`, so both report the same errors."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stacks.spec.checks import ROOT, StackContext, check_across_pops, check_pop
from stacks.spec.errors import (
    SpecError,
    SpecInvalid,
    errors_from_validation,
    locations_of,
    paths_overlap,
    sorted_errors,
    without_locations,
)
from stacks.spec.models import PopSpec
from stacks.spec.routing import check_routing, load_registry
from stacks.yaml_files import DuplicateKey, read_yaml

NAMESPACE = "voicepop"
POP_KEY = "pop"


def parse_pop(raw: Any, context: StackContext, source: str) -> PopSpec:
    """The typed spec, or SpecInvalid listing every error found."""
    if not isinstance(raw, Mapping):
        shown = "(missing)" if raw is None else raw
        raise SpecInvalid(source, [SpecError(ROOT, shown, "no PoP spec", "a mapping")])
    try:
        spec = PopSpec.model_validate(raw)
    except ValidationError as error:
        field_errors = errors_from_validation(ROOT, PopSpec, error)
        related = _checks_of_what_parsed(raw, error, context, field_errors)
        raise SpecInvalid(source, sorted_errors([*field_errors, *related])) from None
    errors = check_pop(spec, context)
    if errors:
        raise SpecInvalid(source, errors)
    return spec


def _checks_of_what_parsed(
    raw: Mapping[str, Any],
    error: ValidationError,
    context: StackContext,
    reported: list[SpecError],
) -> list[SpecError]:
    """The relational checks of a spec with field errors: run on the spec without the bad
    fields (their defaults take their place), keeping only errors about other fields. A bad
    required field leaves nothing to check against, and then only the field errors stand."""
    try:
        rest = PopSpec.model_validate(without_locations(raw, locations_of(error)))
    except ValidationError:
        return []
    reported_paths = [found.path for found in reported]
    return [
        found
        for found in check_pop(rest, context)
        if not any(paths_overlap(found.path, path) for path in reported_paths)
    ]


@dataclass(frozen=True)
class StackFile:
    path: Path
    stack: str
    raw_pop: Any
    config_keys: dict[str, bool]

    @property
    def context(self) -> StackContext:
        return StackContext(stack=self.stack, config_keys=self.config_keys)


def stack_files(project_dir: Path) -> list[Path]:
    return sorted(project_dir.glob("Pulumi.*.yaml"))


def read_stack_file(path: Path) -> StackFile:
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    document = read_yaml(path) or {}
    config = document.get("config") or {}
    keys = {}
    for key, value in config.items():
        namespace, _, name = str(key).partition(":")
        if namespace == NAMESPACE and name != POP_KEY:
            keys[name] = isinstance(value, Mapping) and "secure" in value
    return StackFile(path, stack, config.get(f"{NAMESPACE}:{POP_KEY}"), keys)


@dataclass
class RepoValidation:
    specs: dict[str, PopSpec] = field(default_factory=dict)
    errors: dict[str, list[SpecError]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.errors.values())


def validate_stack_files(paths: Iterable[Path], beside: Iterable[Path] = ()) -> RepoValidation:
    """Every error of every stack file in `paths`, including overlaps between PoPs and
    prefixes the routing registry does not cover. The stack files `beside` them count for
    the overlaps only: their own errors are not reported."""
    result = RepoValidation()
    for path in paths:
        source = path.name
        try:
            stack_file = read_stack_file(path)
            result.specs[source] = parse_pop(stack_file.raw_pop, stack_file.context, source)
            result.errors[source] = list(
                check_routing(result.specs[source], load_registry(path.parent))
            )
        except SpecInvalid as invalid:
            result.errors[source] = invalid.errors
        except yaml.YAMLError as error:
            result.errors[source] = [yaml_error(source, error)]
    others = valid_specs(other for other in beside if other.name not in result.errors)
    for source, errors in check_across_pops({**result.specs, **others}).items():
        if source in result.errors:
            result.errors[source] = sorted_errors([*result.errors[source], *errors])
    return result


def yaml_error(source: str, error: yaml.YAMLError) -> SpecError:
    if isinstance(error, DuplicateKey):
        return SpecError(
            f"{source}, line {error.again_line}",
            error.key,
            f"key given twice in one mapping (lines {error.first_line} and {error.again_line}): "
            "the later value would silently win",
            "each key once",
        )
    return SpecError(source, "", f"not valid YAML: {error}")


def check_stack_file_syntax(path: Path) -> None:
    """SpecInvalid if the stack file gives a key twice: the engine keeps the later value."""
    try:
        read_yaml(path)
    except yaml.YAMLError as error:
        raise SpecInvalid(path.name, [yaml_error(path.name, error)]) from None


def valid_specs(paths: Iterable[Path]) -> dict[str, PopSpec]:
    """The specs of the stack files that parse, by file name; the others are left out (their
    own validation reports them)."""
    specs = {}
    for path in paths:
        try:
            stack_file = read_stack_file(path)
            specs[path.name] = parse_pop(stack_file.raw_pop, stack_file.context, path.name)
        except (SpecInvalid, yaml.YAMLError):
            continue
    return specs


def pop_from_stack_config(project_dir: Path, stack: str) -> PopSpec:
    """The running stack's spec, checked against the other stack files of the repo.

    Reads the config the engine passed to the program, so config set on the command line or
    by a team backend counts, not only what the stack file says."""
    import pulumi.runtime.config as runtime_config

    raw = pulumi_config_object(runtime_config.get_config(f"{NAMESPACE}:{POP_KEY}"))
    prefix = f"{NAMESPACE}:"
    keys = {
        key.removeprefix(prefix): runtime_config.is_config_secret(key)
        for key in runtime_config.get_config_env()
        if key.startswith(prefix) and key != f"{prefix}{POP_KEY}"
    }
    source = f"Pulumi.{stack}.yaml"
    if (project_dir / source).is_file():
        check_stack_file_syntax(project_dir / source)
    spec = parse_pop(raw, StackContext(stack=stack, config_keys=keys), source)

    others = valid_specs(path for path in stack_files(project_dir) if path.name != source)
    across = check_across_pops({source: spec, **others})[source]
    unregistered = list(check_routing(spec, load_registry(project_dir)))
    if across or unregistered:
        raise SpecInvalid(source, sorted_errors([*across, *unregistered]))
    return spec


def pulumi_config_object(value: Any) -> Any:
    """Structured config reaches the program as a JSON string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
