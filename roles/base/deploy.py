"""The base role: chrony, a hardened sshd (checked with `sshd -t` before any reload, so a bad
file never locks the host out), journald limits, and unattended security updates.

Host data: `base` (overrides of roles/base/defaults.py). A container host (read on it,
roles/host_kind.py) runs chrony without clock control.
"""

from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from roles.base import files as rendered
from roles.base.defaults import BaseSettings
from roles.host_kind import HostKernelScope

PACKAGES = ["chrony", "unattended-upgrades", "openssh-server"]


def _put(path: str, content: str, name: str):  # type: ignore[no-untyped-def]
    return files.put(name=name, src=StringIO(content), dest=path, mode="644")


@deploy("Base")
def base() -> None:
    settings = BaseSettings.model_validate(host.data.get("base") or {})
    apt.packages(
        name="Base packages", packages=PACKAGES, update=True, cache_time=86_400, no_recommends=True
    )

    sshd = _put(rendered.SSHD_DROPIN, rendered.sshd_dropin(settings), "sshd hardening")
    server.shell(
        name="Check sshd's config, then reload it",
        _if=sshd.did_change,
        commands=["sshd -t", "systemctl reload ssh"],
    )

    journald = _put(rendered.JOURNALD_DROPIN, rendered.journald_dropin(settings), "journald limits")
    systemd.service(
        name="journald takes its limits",
        service="systemd-journald",
        restarted=True,
        _if=journald.did_change,
    )

    chrony_changes = [
        _put(rendered.CHRONY_SOURCES, rendered.chrony_sources(settings), "chrony sources")
    ]
    if host.get_fact(HostKernelScope) == "network-namespace":
        chrony_changes.append(
            _put(
                rendered.CHRONY_CONTAINER_DROPIN,
                rendered.CHRONY_CONTAINER,
                "chrony without clock control in a container",
            )
        )
    systemd.service(
        name="chrony takes its config",
        service="chrony",
        restarted=True,
        daemon_reload=True,
        _if=any_changed(*chrony_changes),
    )
    systemd.service(name="chrony running", service="chrony", running=True, enabled=True)

    _put(rendered.UNATTENDED_CONF, rendered.unattended_upgrades(settings), "security updates")
    _put(rendered.AUTO_UPGRADES_CONF, rendered.auto_upgrades(settings), "periodic upgrades")
