"""What the roles do with a service they configure: restarted when its unit or config changed
in this deploy, and running, started at boot."""

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed


def runs_with(what: str, service: str, changed: list[OperationMeta]) -> None:
    """`service` (`what`, as the deploy's log names it) restarted when any of `changed`
    changed something, systemd reading its units again first; then running and enabled."""
    systemd.service(
        name=f"{what} takes its config",
        service=service,
        restarted=True,
        daemon_reload=True,
        _if=any_changed(*changed),
    )
    systemd.service(name=f"{what} running", service=service, running=True, enabled=True)
