"""Kernel tuning as the kernel reports it, against what the role declared for the host."""

from typing import Any

import pytest

from roles.host import HostEntry
from roles.host_kind import KernelScope
from roles.kernel_tuning.sysctls import DROPIN_PATH, plan_for, render_dropin
from verify.controls import control
from verify.expect import record

pytestmark = pytest.mark.verify


def read_sysctls(remote: Any, keys: list[str]) -> dict[str, str]:
    """Every key in one round trip; multi-value keys come back tab-separated."""
    output = remote.check_output("sysctl -n " + " ".join(keys))
    return dict(zip(keys, output.split("\n"), strict=True))


@control(
    "VP-KERN-01",
    "Every declared sysctl is in force (tuning and network hardening)",
    "UDP buffers carry the media; redirects, source routing and martians are refused.",
)
def test_every_declared_sysctl_is_in_force(
    request: pytest.FixtureRequest,
    remote: Any,
    declared: HostEntry,
    kernel_scope: KernelScope,
) -> None:
    plan = plan_for(declared.kernel_tuning, kernel_scope)
    actual = read_sysctls(remote, sorted(plan.applied))
    record(request, dict(plan.applied), actual)  # every key as read, passed or not
    wrong = {key: actual[key] for key, want in plan.applied.items() if actual[key] != want}
    assert not wrong, (
        f"{declared.name}: sysctl: {wrong}; expected { {key: plan.applied[key] for key in wrong} }"
    )


@control(
    "VP-KERN-02",
    "The sysctl drop-in persists the tuning across reboots",
    "A rebooted server must come back tuned and hardened.",
)
def test_the_dropin_persists_the_tuning_across_reboots(
    remote: Any, declared: HostEntry, kernel_scope: KernelScope
) -> None:
    plan = plan_for(declared.kernel_tuning, kernel_scope)
    dropin = remote.file(DROPIN_PATH)
    assert dropin.exists, f"{declared.name}: no {DROPIN_PATH}"
    assert dropin.content_string == render_dropin(plan)
    # systemd-sysctl loads /etc/sysctl.d at boot ("static": pulled in by sysinit.target)
    assert remote.service("systemd-sysctl").is_enabled
