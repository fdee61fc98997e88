"""Previews of several stacks through the real engine, in parallel (bounded by the machine's
cores: start-up dominates a small preview, so more workers than cores gain nothing), each
read from the engine's JSON event stream, which carries policy events (`--json` alone leaves
them out). A preview whose stack fails shows the engine's error; the others still run."""

import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stacks.preview.events import StackPreview, stack_preview
from stacks.preview.hosts import roles_dry_run

PROJECT_DIR = Path(__file__).resolve().parents[2]
ERROR_TAIL_LINES = 30


@dataclass(frozen=True)
class PreviewOptions:
    policy_packs: tuple[Path, ...] = ()
    policy_pack_configs: tuple[Path, ...] = ()  # one per pack, in the same order (pulumi's rule)
    config_files: dict[str, Path] = field(default_factory=dict)  # stack -> a config file
    timeout_s: float = 900.0
    hosts: bool = True  # also what the roles would change on the live hosts


def preview_command(stack: str, options: PreviewOptions) -> list[str]:
    command = [
        "tools/stack-env.sh",
        stack,
        "pulumi",
        "preview",
        "--stack",  # never the workspace's selected stack: parallel runs select others
        stack,
        "--json",
        "--non-interactive",
    ]
    if stack in options.config_files:
        command += ["--config-file", str(options.config_files[stack])]
    for pack in options.policy_packs:
        command += ["--policy-pack", str(pack)]
    for config in options.policy_pack_configs:
        command += ["--policy-pack-config", str(config)]
    return command


def preview_environment() -> dict[str, str]:
    return {
        **os.environ,
        # the event stream, with policy events, on standard output
        "PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true",
        # a preview writes no state: re-serialising it after every step only costs time
        "PULUMI_SKIP_CHECKPOINTS": "true",
    }


def preview_stack(stack: str, options: PreviewOptions = PreviewOptions()) -> StackPreview:
    try:
        result = subprocess.run(
            preview_command(stack, options),
            cwd=PROJECT_DIR,
            env=preview_environment(),
            capture_output=True,
            text=True,
            timeout=options.timeout_s,
        )
    except subprocess.TimeoutExpired:
        return StackPreview(stack, errors=[f"preview timed out after {options.timeout_s:.0f} s"])
    preview = stack_preview(stack, result.stdout.splitlines())
    if result.returncode != 0 and not preview.errors:
        tail = (result.stderr or result.stdout).strip().splitlines()[-ERROR_TAIL_LINES:]
        preview.errors.append("\n".join(tail) or f"pulumi preview exited {result.returncode}")
    if options.hosts and not preview.failed:
        preview.host_changes, preview.host_errors = roles_dry_run(
            stack, PROJECT_DIR, options.config_files.get(stack)
        )
    return preview


def preview_stacks(
    stacks: Sequence[str],
    options: PreviewOptions = PreviewOptions(),
    preview: Callable[[str, PreviewOptions], StackPreview] = preview_stack,
) -> list[StackPreview]:
    """Each stack's preview, in the order given."""
    workers = max(1, min(len(stacks), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda stack: preview(stack, options), stacks))
