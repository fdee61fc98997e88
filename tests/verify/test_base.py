"""The base of a host as it really runs: sshd's effective config, chrony, journald, updates."""

from typing import Any

import pytest

from roles.base import files as rendered
from roles.base.defaults import BaseSettings

pytestmark = pytest.mark.verify


def settings_of(declared: dict[str, Any]) -> BaseSettings:
    return BaseSettings.model_validate(declared.get("base") or {})


def test_sshd_runs_with_keys_only(remote: Any, declared: dict[str, Any]) -> None:
    effective = dict(
        line.split(" ", 1) for line in remote.check_output("sshd -T").splitlines() if " " in line
    )
    expected = rendered.sshd_effective(settings_of(declared))
    wrong = {k: (effective.get(k), v) for k, v in expected.items() if effective.get(k) != v}
    assert wrong == {}, f"{declared['name']}: sshd -T (actual, declared): {wrong}"


def test_time_sync_runs_with_the_declared_sources(remote: Any, declared: dict[str, Any]) -> None:
    assert remote.service("chrony").is_running, f"{declared['name']}: chronyd not running"
    assert remote.service("chrony").is_enabled
    sources = remote.file(rendered.CHRONY_SOURCES).content_string
    assert sources == rendered.chrony_sources(settings_of(declared))


def test_journald_is_bounded(remote: Any, declared: dict[str, Any]) -> None:
    limits = remote.file(rendered.JOURNALD_DROPIN).content_string
    assert limits == rendered.journald_dropin(settings_of(declared))


def test_security_updates_policy(remote: Any, declared: dict[str, Any]) -> None:
    settings = settings_of(declared)
    assert remote.package("unattended-upgrades").is_installed
    policy = remote.file(rendered.UNATTENDED_CONF).content_string
    assert policy == rendered.unattended_upgrades(settings)
    assert f'Automatic-Reboot "{str(settings.automatic_reboot).lower()}"' in policy
    assert remote.file(rendered.AUTO_UPGRADES_CONF).content_string == rendered.auto_upgrades(
        settings
    )
