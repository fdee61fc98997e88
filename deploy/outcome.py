"""What pyinfra's and pytest's output say about a host's deploy: how many operations changed
something, at which step a failed deploy stopped and why, which controls failed. Pure."""

import re
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTING = re.compile(r"--> Starting (?:[\w ]+ )?operation: (?P<name>.+?)(?: \(.*\))?$")
GRAND_TOTAL = re.compile(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)")
FAILED_CONTROL = re.compile(r"^(?:FAILED|ERROR) (?P<test>verify/\S+?)(?: - (?P<why>.*))?$")
HOST_LINE = re.compile(r"^\[[^\]]+\] ")  # `[host] what the host answered`
DETAIL_LINES = 12


def plain_lines(output: str) -> list[str]:
    return [ANSI.sub("", line).rstrip() for line in output.splitlines()]


@dataclass(frozen=True)
class Totals:
    changed: int
    errors: int


def grand_total(output: str) -> Totals | None:
    """pyinfra's results table ends with `Grand total <ops> <success> <error> <no change>`,
    "success" counting the operations that changed something ("-" for none); None when there
    is no table (the run stopped before it)."""
    match = GRAND_TOTAL.search("\n".join(plain_lines(output)))
    if not match:
        return None
    changed, errors = (0 if value == "-" else int(value) for value in match.group(2, 3))
    return Totals(changed, errors)


@dataclass(frozen=True)
class DeployFailure:
    step: str  # the operation that failed, or the phase before operations ran
    detail: list[str]


def deploy_failure(output: str) -> DeployFailure:
    """Where a failed pyinfra run stopped: the last operation it started and what the host
    answered to it (or, failing before any operation, pyinfra's error lines)."""
    lines = plain_lines(output)
    step, start = "preparing the deploy (facts, inventory, role code)", 0
    for index, line in enumerate(lines):
        match = STARTING.search(line)
        if match:
            step, start = match.group("name"), index + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i].startswith("--> Results")), len(lines)
    )
    after = [line.strip() for line in lines[start:end] if line.strip()]
    answered = [line for line in after if HOST_LINE.match(line)]
    errors = [line for line in after if "rror" in line]
    return DeployFailure(step, (answered or errors or after)[-DETAIL_LINES:])


def passed_checks(output: str) -> int:
    """How many checks `pytest -q verify` reports passed."""
    return _reported(output, "passed")


def skipped_checks(output: str) -> int:
    """How many checks `pytest -q verify` reports skipped (a host without what they check)."""
    return _reported(output, "skipped")


def _reported(output: str, outcome: str) -> int:
    counted = re.search(rf"(\d+) {outcome}", "\n".join(plain_lines(output)))
    return int(counted.group(1)) if counted else 0


def _failed_lines(output: str) -> list[re.Match[str]]:
    """The lines of `pytest -rfE verify`'s summary naming a check failed or in error."""
    matches = (FAILED_CONTROL.match(line.strip()) for line in plain_lines(output))
    return [match for match in matches if match]


def failed_checks(output: str) -> list[str]:
    """The node ids of the checks reported failed or in error, each once: what a settle loop
    runs again."""
    return list(dict.fromkeys(match.group("test") for match in _failed_lines(output)))


def failed_controls(output: str) -> list[str]:
    """The controls `pytest -rfE verify` reports failed, as `module::check[host] - why`."""
    failed = []
    for match in _failed_lines(output):
        control = match.group("test").removeprefix("verify/")
        why = (match.group("why") or "").strip()
        failed.append(f"{control} - {why}" if why else control)
    return failed
