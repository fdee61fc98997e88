"""Stack previews saved as JSON and read back, so that previews run apart (one CI matrix job
per stack) render as one comment. Pure apart from reading and writing the files."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ops.preview.events import (
    HostChange,
    PolicyResult,
    PropertyChange,
    ResourceChange,
    StackPreview,
)

SAVED_SUFFIX = ".json"


def save(previews: Sequence[StackPreview], path: Path) -> None:
    path.write_text(json.dumps([asdict(p) for p in previews], indent=1, default=str) + "\n")


def preview_of(document: dict[str, Any]) -> StackPreview:
    return StackPreview(
        stack=document["stack"],
        changes=[
            ResourceChange(
                **{
                    **change,
                    "properties": tuple(PropertyChange(**p) for p in change["properties"]),
                    "replace_reasons": tuple(change["replace_reasons"]),
                }
            )
            for change in document["changes"]
        ],
        counts=dict(document["counts"]),
        policies=[PolicyResult(**p) for p in document["policies"]],
        errors=list(document["errors"]),
        host_changes=[HostChange(**h) for h in document["host_changes"]],
        host_errors=list(document["host_errors"]),
        duration_s=document.get("duration_s"),
        ops=dict(document.get("ops") or {}),
        min_in_service=document.get("min_in_service"),
        peak_calls=document.get("peak_calls"),
        instance_type=document.get("instance_type"),
    )


def load(paths: Iterable[Path]) -> list[StackPreview]:
    """Every preview in the files (a folder: its *.json), by stack name."""
    files = [
        found
        for path in paths
        for found in (sorted(path.glob(f"*{SAVED_SUFFIX}")) if path.is_dir() else [path])
    ]
    previews = [preview_of(d) for file in files for d in json.loads(file.read_text())]
    return sorted(previews, key=lambda p: p.stack)
