"""Previews of several stacks through the real engine, run by Pulumi's Automation API and in
parallel (bounded by the machine's cores: start-up dominates a small preview, so more workers
than cores gain nothing), each read from the engine's JSON event stream, which carries policy
events (`--json` alone leaves them out). A preview whose stack fails shows the engine's error;
the others still run."""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from pulumi import automation as auto

from ops.engine import (
    PREVIEW_ENV,
    error_tail,
    run_parallel,
    stack_environment,
    with_stack,
)
from ops.preview.events import ResourceChange, StackPreview, stack_preview
from ops.preview.hosts import roles_dry_run
from stacks.project import PROJECT_DIR
from stacks.resources.host_deploy import RESOURCE_SUFFIX
from stacks.rollout.waves import Wave, waves_of
from stacks.spec.loading import read_stack_file
from stacks.spec.models import PopSpec

# the event stream, with policy events, on standard output
STREAMING_ENV = {"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"}


@dataclass(frozen=True)
class PreviewOptions:
    policy_packs: tuple[Path, ...] = ()
    policy_pack_configs: tuple[Path, ...] = ()  # one per pack, in the same order (pulumi's rule)
    config_files: dict[str, Path] = field(default_factory=dict)  # stack -> a config file
    timeout_s: float = 900.0
    hosts: bool = True  # also what the roles would change on the live hosts


def preview_environment() -> dict[str, str]:
    """For a preview run as a command (drift's refresh preview): the event stream, no
    checkpoints."""
    return {**os.environ, **PREVIEW_ENV, **STREAMING_ENV}


def engine_preview(stack: str, options: PreviewOptions) -> tuple[list[str], str]:
    """The engine's event lines of a preview of `stack`, and its error text if it failed."""
    env = {**stack_environment(stack), **PREVIEW_ENV, **STREAMING_ENV}
    lines: list[str] = []
    config = options.config_files.get(stack)

    def preview(automated: auto.Stack) -> None:
        lines.clear()  # a first attempt on a stack not created yet printed no event
        automated.preview(
            json=True,
            color="never",
            on_output=lines.append,
            config_file=str(config) if config else None,
            policy_packs=[str(p) for p in options.policy_packs] or None,
            policy_pack_configs=[str(c) for c in options.policy_pack_configs] or None,
        )

    try:
        with_stack(stack, PROJECT_DIR, env, preview)
    except Exception as error:  # the engine failed this stack: its events say why, or this
        return lines, error_tail(str(error)) or "pulumi preview failed"
    return lines, ""


def preview_stack(stack: str, options: PreviewOptions = PreviewOptions()) -> StackPreview:
    lines, failure = engine_preview(stack, options)
    preview = stack_preview(stack, lines)
    spec = spec_of(options.config_files.get(stack) or PROJECT_DIR / f"Pulumi.{stack}.yaml")
    if spec is not None:
        preview.min_in_service = spec.deploy.min_in_service
        preview.peak_calls = spec.capacity.peak_calls
        preview.instance_type = spec.provider.instance_type
        preview.changes = with_waves(preview.changes, waves_of(spec))
    if failure and not preview.errors:
        preview.errors.append(failure)
    if options.hosts and not preview.failed:
        preview.host_changes, preview.host_errors = roles_dry_run(
            stack, PROJECT_DIR, options.config_files.get(stack)
        )
    return preview


def spec_of(stack_file: Path) -> PopSpec | None:
    """The PoP's spec as its stack file gives it, for its capacity floor and its waves (None:
    it does not parse; the preview says why)."""
    try:
        return PopSpec.model_validate(read_stack_file(stack_file).raw_pop)
    except (OSError, ValueError, yaml.YAMLError):
        return None


def with_waves(changes: list[ResourceChange], waves: list[Wave]) -> list[ResourceChange]:
    """Each host deploy's change labelled with its wave, as the program orders the deploys
    (the same waves: stacks/rollout/waves.py). Pure."""
    labels = {server: wave.label(len(waves)) for wave in waves for server in wave.servers}
    return [
        replace(change, wave=labels.get(change.name.removesuffix(RESOURCE_SUFFIX), ""))
        if change.host_deploy
        else change
        for change in changes
    ]


def preview_stacks(
    stacks: Sequence[str],
    options: PreviewOptions = PreviewOptions(),
    preview: Callable[[str, PreviewOptions], StackPreview] = preview_stack,
) -> list[StackPreview]:
    """Each stack's preview, in the order given."""
    return run_parallel(stacks, lambda stack: preview(stack, options), os.cpu_count() or 1)
