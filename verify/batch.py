"""Many reads of a host in one SSH round trip: a suite of dozens of checks per host then costs
one command, not one per check."""

import hashlib
import shlex
from dataclasses import dataclass
from typing import Any

MARKER = "#vp-read# "


@dataclass(frozen=True)
class Read:
    status: int
    output: str


def batch_script(commands: dict[str, str]) -> str:
    return "".join(
        f'out=$( {{ {command} ; }} 2>&1 ); echo "{MARKER}{name} $?"; printf "%s\\n" "$out"; '
        for name, command in commands.items()
    )


def parse_batch(output: str) -> dict[str, Read]:
    reads = {}
    for chunk in output.split(MARKER)[1:]:
        header, _, body = chunk.partition("\n")
        name, status = header.rsplit(" ", 1)
        reads[name] = Read(int(status), body.removesuffix("\n"))
    return reads


def read_all(remote: Any, commands: dict[str, str]) -> dict[str, Read]:
    return parse_batch(remote.run(batch_script(commands)).stdout)


def file_digest(path: str) -> str:
    return f"sha256sum {shlex.quote(path)} | cut -c1-64"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
