"""What the anycast role asks a host before it changes anything."""

from pyinfra.api.facts import FactBase

from roles.anycast.config import HEALTHCHECKER_VENV


class HealthcheckerVersion(FactBase[str | None]):
    def command(self) -> str:
        return f"{HEALTHCHECKER_VENV}/bin/anycast-healthchecker --version 2>/dev/null || true"

    def process(self, output: list[str]) -> str | None:
        return output[0].split()[-1] if output else None
