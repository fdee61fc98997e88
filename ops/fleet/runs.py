"""Fleet runs: stacks previewed or updated at once through the Automation API (ops/engine.py),
in parallel and bounded by the machine's cores: a small preview's cost is mostly the engine's
and the plugins' start-up, so more workers than cores gain nothing. One stack's failure is its
own result; it never hides the others'. `up` goes in waves of PoPs and refuses to remove
servers below a PoP's capacity floor unless told.

Previews skip the engine's checkpoints (it re-serialises the whole deployment after every
step, even in a preview); an `up` keeps them, so a failed `up` loses no step."""

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from ops.engine import (
    PREVIEW_ENV,
    Progress,
    error_tail,
    missing_passphrase,
    run_parallel,
    stack_environment,
    with_stack,
)
from ops.fleet.report import NOT_RUN, StackResult
from stacks.project import PROJECT_DIR
from stacks.spec.capacity import removal_below_floor
from stacks.spec.loading import read_stack_file
from stacks.spec.models import PopSpec


@dataclass(frozen=True)
class FleetOptions:
    project_dir: Path = PROJECT_DIR  # a Pulumi.yaml and the stack files (a simulated fleet's)
    policy_packs: tuple[Path, ...] = ()
    policy_pack_configs: tuple[Path, ...] = ()  # one per pack, in the same order
    workers: int = 0  # 0: as many as the machine has cores
    env: dict[str, str] = field(default_factory=dict)  # e.g. PULUMI_BACKEND_URL
    allow_capacity_loss: bool = False  # up: remove servers below a PoP's capacity floor

    @property
    def parallel(self) -> int:
        return self.workers or os.cpu_count() or 1


def run_stack(stack: str, operation: str, options: FleetOptions) -> StackResult:
    """One stack's `preview` or `up`; a failure is in the result, never raised."""
    env = {
        **stack_environment(stack),
        **options.env,
        **(PREVIEW_ENV if operation == "preview" else {}),
    }
    if missing_passphrase(env):
        return StackResult(
            stack, operation, "failed",
            error=f"stack {stack} needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE",
        )  # fmt: skip
    errors: list[str] = []
    started = time.monotonic()
    try:
        counts = with_stack(
            stack,
            options.project_dir,
            env,
            lambda automated: _run(automated, operation, options, _errors_into(errors)),
        )
    except Exception as error:  # the engine's failure, a bad config, a lock: this stack's alone
        message = "\n".join(errors) or error_tail(str(error))
        return StackResult(stack, operation, "failed", {}, time.monotonic() - started, message)
    return StackResult(stack, operation, "ok", counts, time.monotonic() - started)


def _run(
    stack: auto.Stack, operation: str, options: FleetOptions, on_event: Callable[[Any], None]
) -> dict[str, int]:
    common: dict[str, Any] = {
        "color": "never",
        "on_event": on_event,
        "policy_packs": [str(p) for p in options.policy_packs] or None,
        "policy_pack_configs": [str(c) for c in options.policy_pack_configs] or None,
    }
    if operation == "preview":
        preview = stack.preview(**common)
        return op_counts(preview.change_summary)
    if not options.allow_capacity_loss:
        refuse_capacity_loss(stack, options.project_dir)
    up = stack.up(**common, suppress_progress=True)
    return op_counts(up.summary.resource_changes or {})


class CapacityLoss(Exception):
    """An up that would remove servers below the PoP's capacity floor."""


def refuse_capacity_loss(stack: auto.Stack, project_dir: Path) -> None:
    """Raises before anything changes when the spec drops servers the stack deployed and the
    PoP would fall below its floor (outside a sandbox); the stack's last outputs name them."""
    outputs = stack.outputs()
    pop = outputs["pop"].value if "pop" in outputs else None
    if not isinstance(pop, dict) or not pop.get("servers"):
        return
    raw = read_stack_file(project_dir / f"Pulumi.{stack.name}.yaml").raw_pop
    why = removal_below_floor(PopSpec.model_validate(raw), sorted(pop["servers"]))
    if why:
        raise CapacityLoss(f"{stack.name}: {why}")


def op_counts(summary: Mapping[Any, int]) -> dict[str, int]:
    """The engine's change summary by operation name (its keys may be OpType members)."""
    return {str(getattr(op, "value", op)): n for op, n in summary.items()}


def _errors_into(errors: list[str]) -> Callable[[Any], None]:
    def on_event(event: Any) -> None:
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity == "error":
            errors.append(diagnostic.message.strip())

    return on_event


def preview_fleet(
    stacks: Sequence[str], options: FleetOptions, progress: Progress[StackResult]
) -> list[StackResult]:
    return run_parallel(
        stacks, lambda stack: run_stack(stack, "preview", options), options.parallel, progress
    )


def up_fleet(
    waves: list[list[str]], options: FleetOptions, progress: Progress[StackResult]
) -> list[StackResult]:
    """`up` wave by wave of PoPs; a wave with a failed PoP is the last one run (its other
    PoPs finish), and the later waves are reported as not run."""
    results: list[StackResult] = []
    for number, wave in enumerate(waves, 1):
        ran = run_parallel(
            wave, lambda stack: run_stack(stack, "up", options), options.parallel, progress
        )
        for result in ran:
            result.wave = number
        results += ran
        if any(result.failed for result in ran):
            later = [(n, s) for n, w in enumerate(waves[number:], number + 1) for s in w]
            results += [StackResult(s, "up", NOT_RUN, wave=n) for n, s in later]
            break
    return results
