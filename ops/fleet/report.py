"""What a fleet run reports: a line per stack as it finishes, and a table at the end. Pure."""

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SHOWN_OPS = ("create", "update", "replace", "delete", "same")
NOT_RUN = "not run"  # a later wave of an `up` that stopped at a failed PoP


@dataclass
class StackResult:
    stack: str
    operation: str  # preview | up
    status: str = "ok"  # ok | failed | not run
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    wave: int = 0  # the `up`'s wave of PoPs (0: a preview)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def changes(self) -> int:
        return sum(n for op, n in self.counts.items() if op != "same")


def counts_text(counts: dict[str, int]) -> str:
    shown = [f"{op} {counts[op]}" for op in SHOWN_OPS if counts.get(op) and op != "same"]
    return ", ".join(shown) or "no changes"


def progress_line(result: StackResult, done: int, total: int) -> str:
    width = len(str(total))
    head = f"[{done:>{width}}/{total}] {result.stack}: {result.operation} {result.status}"
    if result.failed:
        return f"{head} after {result.seconds:.1f} s: {first_line(result.error)}"
    return f"{head}, {counts_text(result.counts)} ({result.seconds:.1f} s)"


def first_line(text: str) -> str:
    """The error's first line, with the line it introduces (`...: 1 error(s) in the PoP
    spec:` says nothing without the field that follows)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(no error message)"
    if lines[0].endswith(":") and len(lines) > 1:
        return f"{lines[0]} {lines[1]}"
    return lines[0]


def summary_table(results: list[StackResult]) -> str:
    """The run's results as an aligned text table, failed stacks first, then a total line."""
    ordered = sorted(results, key=lambda r: (r.status == "ok", r.status, r.wave, r.stack))
    header = ["stack", "wave", "result", *SHOWN_OPS, "seconds", "error"]
    rows = [
        [
            r.stack,
            str(r.wave) if r.wave else "",
            r.status,
            *(str(r.counts.get(op, 0)) if r.status != NOT_RUN else "" for op in SHOWN_OPS),
            f"{r.seconds:.1f}" if r.status != NOT_RUN else "",
            first_line(r.error)[:100] if r.error else "",
        ]
        for r in ordered
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    failed = sum(r.failed for r in results)
    not_run = sum(r.status == NOT_RUN for r in results)
    total = (
        f"{len(results)} stack(s): {len(results) - failed - not_run} ok, {failed} failed"
        + (f", {not_run} not run" if not_run else "")
        + f"; {sum(r.changes for r in results)} resource change(s)"
    )
    return "\n".join([*lines, total]) + "\n"


def as_json(results: list[StackResult]) -> str:
    documents: list[dict[str, Any]] = [asdict(r) for r in results]
    return json.dumps(documents, indent=1, sort_keys=True) + "\n"
