"""The verification suites (`verify`) as product code: the gate of every host deploy
and the audit of any inventory. They stand alone: pytest loads no conftest above their
folder, and they import nothing from `tests/`."""

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deploy.outcome import failed_checks, passed_checks
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


@dataclass(frozen=True)
class Settled:
    """The suites' last exit status, each run's output in turn, the checks passed over all."""

    returncode: int
    outputs: list[str]
    passed: int


SETTLE_PAUSE_S = 2.0


def settle(
    run: Callable[[Sequence[str]], tuple[int, str]], settle_s: float, suites: str = SUITES_FOLDER
) -> Settled:
    """`run(targets)` (pytest over `targets`: its exit status and output) over `suites`, then
    again until it passes or `settle_s` is up, each time over only the checks that failed:
    what settles is the slow ones (announcements follow a restarted SFU by seconds), a check
    passed stays passed. A run that names no failed check (the run itself failed) is followed
    by all of them again."""
    deadline = time.monotonic() + settle_s
    targets, passed, outputs = [suites], 0, []
    while True:
        returncode, output = run(targets)
        outputs.append(output)
        passed += passed_checks(output)
        if returncode == 0 or time.monotonic() > deadline:
            return Settled(returncode, outputs, passed)
        targets = failed_checks(output)
        if not targets:
            targets, passed = [suites], 0
        time.sleep(SETTLE_PAUSE_S)
