"""What the roles do with a service they configure: its files written from text, restarted
when its unit or config changed in this deploy, and running, started at boot."""

from io import StringIO

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from roles.unit_sandbox import UnitSandbox, render_dropin


def put_text(path: str, content: str, name: str, mode: str = "644") -> OperationMeta:
    """`content` as the file at `path` (`name`: the deploy's log's)."""
    return files.put(name=name, src=StringIO(content), dest=path, mode=mode)


def sandboxed(sandbox: UnitSandbox) -> OperationMeta:
    """The service's systemd sandbox, its drop-in written."""
    return put_text(sandbox.dropin_path, render_dropin(sandbox), f"{sandbox.unit} sandboxing")


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
