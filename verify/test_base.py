"""The base of a host as it really runs: sshd's effective config, chrony, journald, updates.
The suite's reads are one round trip per host."""

from typing import Any

import pytest

from roles.base import files as rendered
from roles.base.defaults import BaseSettings
from roles.host import HostEntry
from verify.batch import Read, read_all
from verify.controls import control
from verify.expect import expect

pytestmark = pytest.mark.verify


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
