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
from stacks.spec.errors import SpecError, SpecInvalid, errors_from_validation, sorted_errors
from stacks.spec.models import PopSpec
from stacks.spec.routing import check_routing, load_registry

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
        raise SpecInvalid(source, errors_from_validation(ROOT, PopSpec, error)) from None
    errors = check_pop(spec, context)
    if errors:
        raise SpecInvalid(source, errors)
    return spec


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
    document = yaml.safe_load(path.read_text()) or {}
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


def validate_stack_files(paths: Iterable[Path]) -> RepoValidation:
    """Every error of every stack file, including overlaps between PoPs and prefixes the
    routing registry does not cover."""
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
            result.errors[source] = [SpecError(source, "", f"not valid YAML: {error}")]
    for source, errors in check_across_pops(result.specs).items():
        result.errors[source] = sorted_errors([*result.errors[source], *errors])
    return result


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
    spec = parse_pop(raw, StackContext(stack=stack, config_keys=keys), source)

    others = {}
    for path in stack_files(project_dir):
        if path.name == source:
            continue
        try:
            other = read_stack_file(path)
            others[path.name] = parse_pop(other.raw_pop, other.context, path.name)
        except (SpecInvalid, yaml.YAMLError):
            continue  # `make validate` reports those; they must not block this stack
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
