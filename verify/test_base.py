"""The base of a host as it really runs: sshd's effective config, chrony, journald, updates,
what a login meets and where the logs go. The suite's reads are one round trip per host."""

from typing import Any

import pytest

from roles.base import files as rendered
from roles.base.defaults import BaseSettings
from roles.host import HostEntry
from verify.batch import Read, read_all
from verify.controls import control
from verify.expect import expect

pytestmark = pytest.mark.verify

ROOT_ONLY = {**rendered.ROOT_ONLY_FILES, **rendered.ROOT_ONLY_FOLDERS}


def settings_of(declared: HostEntry) -> BaseSettings:
    return declared.base


@pytest.fixture(scope="module")
def base(remote: Any) -> dict[str, Read]:
    return read_all(
        remote,
        {
            "sshd": "sshd -T",
            "chrony_active": "systemctl is-active chrony",
            "chrony_enabled": "systemctl is-enabled chrony",
            "chrony_sources": f"cat {rendered.CHRONY_SOURCES}",
            "journald": f"cat {rendered.JOURNALD_DROPIN}",
            "unattended_installed": "dpkg-query -W -f '${Status}' unattended-upgrades",
            "unattended": f"cat {rendered.UNATTENDED_CONF}",
            "auto_upgrades": f"cat {rendered.AUTO_UPGRADES_CONF}",
            **{f"issue {path}": f"cat {path}" for path in rendered.ISSUE_FILES},
            "login_defs": f"grep -E '^[A-Z_]+[[:space:]]' {rendered.LOGIN_DEFS}",
            "session": f"cat {rendered.SESSION_PROFILE}",
            "modes": "stat -c '%a %n' " + " ".join(ROOT_ONLY),
            "rsyslog_active": "systemctl is-active rsyslog",
            "forward": f"cat {rendered.RSYSLOG_FORWARD}",
            "collector_connections": "ss -Htn state established",
        },
    )


@control(
    "VP-BASE-01",
    "sshd: keys only, no forwarding, bounded auth tries",
    "Passwords and forwarding turn a leaked credential into a foothold or a jump host.",
)
def test_sshd_runs_with_keys_only(
    request: pytest.FixtureRequest, base: dict[str, Read], declared: HostEntry
) -> None:
    effective = dict(line.split(" ", 1) for line in base["sshd"].output.splitlines() if " " in line)
    expected = rendered.sshd_effective(settings_of(declared))
    observed = {key: effective.get(key) for key in expected}
    expect(request, expected, observed, f"{declared.name}: sshd -T")


@control(
    "VP-BASE-02",
    "Time is synchronised from the declared sources",
    "RTCP, DTLS certificates and logs across PoPs need one clock.",
)
def test_time_sync_runs_with_the_declared_sources(
    base: dict[str, Read], declared: HostEntry
) -> None:
    assert base["chrony_active"].output == "active", f"{declared.name}: chronyd not running"
    assert base["chrony_enabled"].output == "enabled"
    assert base["chrony_sources"].output + "\n" == rendered.chrony_sources(settings_of(declared))


@control(
    "VP-BASE-03",
    "The journal is bounded in size and age",
    "An unbounded journal fills the disk of a busy SFU.",
    "advisory",
)
def test_journald_is_bounded(base: dict[str, Read], declared: HostEntry) -> None:
    assert base["journald"].output + "\n" == rendered.journald_dropin(settings_of(declared))


@control(
    "VP-BASE-04",
    "Unattended upgrades take Debian security updates, without reboots",
    "Security fixes land between deploys; an SFU is drained before any reboot.",
)
def test_security_updates_policy(base: dict[str, Read], declared: HostEntry) -> None:
    settings = settings_of(declared)
    assert base["unattended_installed"].output == "install ok installed"
    policy = base["unattended"].output + "\n"
    assert policy == rendered.unattended_upgrades(settings)
    assert f'Automatic-Reboot "{str(settings.automatic_reboot).lower()}"' in policy
    assert base["auto_upgrades"].output + "\n" == rendered.auto_upgrades(settings)


@control(
    "VP-BASE-05",
    "Logins meet a legal banner, a strict umask and an idle timeout; root's files are closed",
    "A notice makes unauthorised use unambiguous; files made by an operator are not world-"
    "readable; a forgotten root shell closes itself; sshd's and cron's files are root's alone.",
    "advisory",
)
def test_logins_are_bounded_and_roots_files_closed(
    request: pytest.FixtureRequest, base: dict[str, Read], declared: HostEntry
) -> None:
    settings = settings_of(declared)
    expected = {
        **{path: rendered.login_banner(settings) for path in rendered.ISSUE_FILES},
        **{key: [line.split()] for key, line in rendered.login_defs(settings).items()},
        rendered.SESSION_PROFILE: rendered.session_profile(settings),
    }
    set_in_login_defs: dict[str, list[list[str]]] = {}
    for line in base["login_defs"].output.splitlines():
        set_in_login_defs.setdefault(line.split()[0], []).append(line.split())
    observed = {
        **{path: base[f"issue {path}"].output + "\n" for path in rendered.ISSUE_FILES},
        **{key: set_in_login_defs.get(key, []) for key in rendered.login_defs(settings)},
        rendered.SESSION_PROFILE: base["session"].output + "\n",
    }
    pairs = (line.split(" ", 1) for line in base["modes"].output.splitlines() if " " in line)
    modes = {path: mode for mode, path in pairs}
    for path, mode in ROOT_ONLY.items():
        expected[path], observed[path] = mode, modes.get(path, "missing")
    expect(request, expected, observed, f"{declared.name}: banner, umask, timeout, modes")


@control(
    "VP-BASE-06",
    "Logs are shipped off the host to the declared collector",
    "An intruder with root edits the logs on the host; the collector's copy shows what "
    "happened, and the fleet's logs are read in one place.",
)
def test_logs_are_shipped_to_the_collector(
    request: pytest.FixtureRequest, base: dict[str, Read], declared: HostEntry
) -> None:
    settings = settings_of(declared)
    forward = rendered.rsyslog_forward(settings)
    if forward is None:
        assert base["forward"].status != 0, f"{rendered.RSYSLOG_FORWARD}: no collector declared"
        pytest.skip("no log collector declared for this host")
    peers = [line.split()[-1] for line in base["collector_connections"].output.splitlines()]
    collector = settings.log_collector
    connected = any(is_collector(peer, collector) for peer in peers)
    expected = {"rsyslog": "active", "config": forward, "connected to": collector}
    observed = {
        "rsyslog": base["rsyslog_active"].output,
        "config": base["forward"].output + "\n",
        "connected to": collector if connected else peers,
    }
    expect(request, expected, observed, f"{declared.name}: rsyslog's forwarding")


def is_collector(peer: str, collector: str | None) -> bool:
    """`ss -n` prints addresses: a collector declared by name matches on its port."""
    if collector is None or ":" not in peer:
        return False
    target, port = collector.rsplit(":", 1)
    peer_address, peer_port = peer.rsplit(":", 1)
    named = not target.replace(".", "").isdigit()
    return peer_port == port and (named or peer_address == target)
