"""The base role: chrony, a hardened sshd (checked with `sshd -t` before any reload, so a bad
file never locks the host out), journald limits, security updates applied at deploy and
unattended after, core dumps off and unused kernel protocols unloadable.

Host data: `base` (overrides of roles/base/defaults.py). A container host (read on it,
roles/host_kind.py) runs chrony without clock control.
"""

from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.facts.systemd import SystemdEnabled
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from roles.base import files as rendered
from roles.base.defaults import BaseSettings
from roles.base.facts import PendingSecurityUpdates, StaleLibraryUnits
from roles.host_kind import HostKernelScope

PACKAGES = ["chrony", "unattended-upgrades", "openssh-server"]


def _put(path: str, content: str, name: str):  # type: ignore[no-untyped-def]
    return files.put(name=name, src=StringIO(content), dest=path, mode="644")


@deploy("Base")
def base(settings: BaseSettings) -> None:
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
    if settings.security_updates:
        enable_apt_timers()
    if settings.apply_security_updates:
        apply_security_updates()

    _put(rendered.MODPROBE_DROPIN, rendered.disabled_modules(settings), "unused protocols")
    no_core = [
        _put(path, content, f"no core dumps: {path}")
        for path, content in rendered.core_dump_files(settings).items()
    ]
    server.shell(
        name="systemd takes its core dump limit",
        _if=any_changed(*no_core) if no_core else lambda: False,
        commands=["systemctl daemon-reexec"],
    )


def enable_apt_timers() -> None:
    """The timers that run unattended-upgrades, enabled (unmasked if a delivered image masked
    them) for every boot; not started here, so no apt run ever races a deploy."""
    enabled = host.get_fact(SystemdEnabled, services=list(rendered.APT_TIMERS))
    for timer in rendered.APT_TIMERS:
        if not enabled.get(timer):
            server.shell(
                name=f"{timer} enabled",
                commands=[f"systemctl unmask {timer}", f"systemctl enable {timer}"],
            )


def apply_security_updates() -> None:
    """The pending security updates installed now, and the services still running replaced
    libraries restarted (PID 1 re-executed), so none keeps running the vulnerable code."""
    pending = host.get_fact(PendingSecurityUpdates)
    if pending:
        server.shell(
            name=f"Install {len(pending)} pending security update(s)",
            commands=[
                "DEBIAN_FRONTEND=noninteractive apt-get install -y --only-upgrade "
                "-o Dpkg::Options::=--force-confold " + " ".join(pending)
            ],
        )
    elif not host.get_fact(StaleLibraryUnits):
        return  # (an update installed earlier, e.g. unattended, can leave some)
    never = " ".join(rendered.NEVER_RESTARTED)
    server.shell(
        name="Restart the services still running replaced libraries",
        commands=[
            f"for unit in $({rendered.STALE_LIBRARY_UNITS}); do "
            f'case " {never} " in *" $unit "*) continue;; esac; '
            'if [ "$unit" = init ]; then systemctl daemon-reexec; '
            'else systemctl try-restart "$unit"; fi; done'
        ],
    )
