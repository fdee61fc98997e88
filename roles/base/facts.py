"""What the base role reads on a host before it changes it: pending security updates and the
services still running replaced libraries."""

from pyinfra.api.facts import FactBase

from roles.base.files import NEVER_RESTARTED, PENDING_SECURITY_UPDATES, STALE_LIBRARY_UNITS


class PendingSecurityUpdates(FactBase[list[str]]):
    """The packages with an update from Debian's security archive (a simulated upgrade)."""

    def command(self) -> str:
        return PENDING_SECURITY_UPDATES

    def process(self, output: list[str]) -> list[str]:
        return sorted(line.strip() for line in output if line.strip())


class StaleLibraryUnits(FactBase[list[str]]):
    """The units a deploy restarts because they still run replaced libraries ("init": PID 1)."""

    def command(self) -> str:
        return STALE_LIBRARY_UNITS

    def process(self, output: list[str]) -> list[str]:
        return sorted({line.strip() for line in output if line.strip()} - set(NEVER_RESTARTED))
