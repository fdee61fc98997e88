"""The base role: chrony, a hardened sshd (checked with `sshd -t` before any reload, so a bad
file never locks the host out), journald limits, security updates applied at deploy and
unattended after, core dumps off and unused kernel protocols unloadable; a login banner, a
strict umask and idle timeout for login shells, logs shipped to a collector, privileged
commands audited, and what only root may read closed to others.

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
from roles.services import runs_with

# rsyslog ships the logs; libpam-tmpdir gives each login a private /tmp; debsums checks the
# installed files against the packages' checksums (VP-HARD-08)
PACKAGES = ["chrony", "unattended-upgrades", "openssh-server", "rsyslog", "libpam-tmpdir",
            "debsums"]  # fmt: skip
AUDIT_PACKAGES = ["auditd"]  # on hosts with a kernel of their own


def _put(path: str, content: str, name: str):  # type: ignore[no-untyped-def]
    return files.put(name=name, src=StringIO(content), dest=path, mode="644")


@deploy("Base")
def base(settings: BaseSettings) -> None:
    apt.packages(
        name="Base packages", packages=PACKAGES, update=True, cache_time=86_400, no_recommends=True
    )

    for issue in rendered.ISSUE_FILES:
        _put(issue, rendered.login_banner(settings), f"login banner: {issue}")
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
    runs_with("chrony", "chrony", chrony_changes)

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

    login_shells(settings)
    ship_logs(settings)
    if host.get_fact(HostKernelScope) == "full":
        audit_privileged_commands(settings)
    close_to_others()


def login_shells(settings: BaseSettings) -> None:
    for key, line in rendered.login_defs(settings).items():
        files.line(
            name=f"login.defs: {key}",
            path=rendered.LOGIN_DEFS,
            line=rendered.login_defs_pattern(key),
            replace=line,
        )
    _put(rendered.SESSION_PROFILE, rendered.session_profile(settings), "login shells' session")


def ship_logs(settings: BaseSettings) -> None:
    """rsyslog forwards every message to the collector, or keeps them on the host."""
    forward = rendered.rsyslog_forward(settings)
    if forward is None:
        changed = files.file(name="No log collector", path=rendered.RSYSLOG_FORWARD, present=False)
    else:
        changed = _put(rendered.RSYSLOG_FORWARD, forward, "logs shipped to the collector")
    server.shell(
        name="Check rsyslog's config, then restart it",
        _if=changed.did_change,
        commands=["rsyslogd -N1 -f /etc/rsyslog.conf", "systemctl restart rsyslog"],
    )
    systemd.service(name="rsyslog running", service="rsyslog", running=True, enabled=True)


def audit_privileged_commands(settings: BaseSettings) -> None:
    rules = rendered.audit_rules(settings)
    if rules is None:
        files.file(name="No audit of privileged commands", path=rendered.AUDIT_RULES,
                   present=False)  # fmt: skip
        return
    apt.packages(name="auditd", packages=AUDIT_PACKAGES, no_recommends=True)
    loaded = files.put(
        name="audit rules: privileged commands",
        src=StringIO(rules),
        dest=rendered.AUDIT_RULES,
        mode="640",
    )
    server.shell(name="auditd loads its rules", _if=loaded.did_change,
                 commands=["augenrules --load"])  # fmt: skip
    systemd.service(name="auditd running", service="auditd", running=True, enabled=True)


def close_to_others() -> None:
    for path, mode in rendered.ROOT_ONLY_FILES.items():
        files.file(name=f"{path} root's only", path=path, mode=mode)
    for path, mode in rendered.ROOT_ONLY_FOLDERS.items():
        files.directory(name=f"{path} root's only", path=path, mode=mode)


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
