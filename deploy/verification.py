"""The verification suites (`verify`) as product code: the gate of every host deploy
and the audit of any inventory. They stand alone: pytest loads no conftest above their
folder, and they import nothing from `tests/`."""

import sys
from collections.abc import Sequence

from verify import FOLDER as SUITES_FOLDER


def verification_command(*options: str, targets: Sequence[str] = (SUITES_FOLDER,)) -> list[str]:
    """pytest over the suites (or some of them, or some checks by their node ids), run from
    the project root; `options` go before them."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--confcutdir={SUITES_FOLDER}",
        *options,
        *targets,
    ]


def workers_for(hosts: int) -> list[str]:
    """xdist's option for one worker per host (the suites' conftest keeps each host's checks on
    one worker, over one SSH connection), at most eight."""
    return ["-n", str(min(hosts, 8))] if hosts > 1 else []
