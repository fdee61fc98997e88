"""The hardening as it really runs on a host: security updates applied and no service left on
replaced libraries, core dumps off, unused kernel protocols unloadable, each network-facing
service in its systemd sandbox at or below its exposure bound, privileged commands audited and
the installed files as their packages shipped them. One round trip per host."""

from typing import Any

import pytest

from roles.anycast.config import BIRD_EXPORTER_SANDBOX, BIRD_SANDBOX, HEALTHCHECKER_SANDBOX
from roles.base import files as rendered
from roles.base.defaults import BaseSettings
from roles.host import HostEntry
from roles.host_kind import KernelScope
from roles.packages import site_packages
from roles.prober.config import SANDBOX as PROBER_SANDBOX
from roles.sfu.janus import SANDBOX as JANUS_SANDBOX
from roles.unit_sandbox import UnitSandbox, exposure_command, parse_exposure, render_dropin
from verify.batch import Read, read_all
from verify.controls import control
from verify.expect import expect

pytestmark = pytest.mark.verify

SANDBOXES = (
    JANUS_SANDBOX, BIRD_SANDBOX, HEALTHCHECKER_SANDBOX, BIRD_EXPORTER_SANDBOX, PROBER_SANDBOX,
)  # fmt: skip
# the files of the packages the roles install, against the packages' checksums: the changed
# ones, one per line (debsums -s prints nothing for an intact package)
DEBSUMS = (
    "debsums -s $(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' "
    + " ".join(site_packages())
    + " 2>/dev/null | awk '/^ii/ {print $2}')"
)


def base_of(declared: HostEntry) -> BaseSettings:
    return declared.base


@pytest.fixture(scope="module")
def host(remote: Any) -> dict[str, Read]:
    reads = {
        "pending": rendered.PENDING_SECURITY_UPDATES,
        "stale": rendered.STALE_LIBRARY_UNITS,
        "timers": "systemctl is-enabled " + " ".join(rendered.APT_TIMERS),
        "modprobe": f"cat {rendered.MODPROBE_DROPIN}",
        "core_limit": "systemctl show -p DefaultLimitCORE --value",
        "audit_rules": "auditctl -l",
        "audit_status": "auditctl -s",
        "auditd": "systemctl is-active auditd",
        "debsums": DEBSUMS,
    }
    for path in rendered.core_dump_files(BaseSettings()):
        reads[f"file {path}"] = f"cat {path}"
    for sandbox in SANDBOXES:
        reads[f"exposure {sandbox.unit}"] = exposure_command(sandbox.unit)
        reads[f"dropin {sandbox.unit}"] = f"cat {sandbox.dropin_path}"
    return read_all(remote, reads)


@control(
    "VP-HARD-01",
    "No Debian security update is pending",
    "A server must not go into service with known vulnerabilities fixed upstream.",
)
def test_no_security_update_is_pending(
    request: pytest.FixtureRequest, host: dict[str, Read], declared: HostEntry
) -> None:
    if not base_of(declared).apply_security_updates:
        pytest.skip("apply_security_updates is off for this host")
    pending = sorted(host["pending"].output.split())
    expect(request, [], pending, "pending security updates")


@control(
    "VP-HARD-02",
    "The apt timers that fetch and apply updates are enabled",
    "Without them unattended-upgrades never runs.",
)
def test_the_apt_timers_are_enabled(
    request: pytest.FixtureRequest, host: dict[str, Read], declared: HostEntry
) -> None:
    if not base_of(declared).security_updates:
        pytest.skip("security_updates is off for this host")
    states = dict(zip(rendered.APT_TIMERS, host["timers"].output.split(), strict=False))
    expect(request, {timer: "enabled" for timer in rendered.APT_TIMERS}, states, "apt timers")


@control(
    "VP-HARD-03",
    "No service runs replaced (upgraded) libraries (dbus: at the next reboot)",
    "An upgrade fixes nothing until the processes using the old library restart.",
)
def test_no_service_runs_replaced_libraries(
    request: pytest.FixtureRequest, host: dict[str, Read]
) -> None:
    """Except the system bus, which takes its update at the next (drained) reboot."""
    stale = sorted(set(host["stale"].output.split()) - set(rendered.NEVER_RESTARTED))
    expect(request, [], stale, "units running deleted (upgraded) libraries")


@control("VP-HARD-04", "Core dumps are off", "A Janus core dump holds DTLS keys and call media.")
def test_core_dumps_are_off(
    request: pytest.FixtureRequest, host: dict[str, Read], declared: HostEntry
) -> None:
    settings = base_of(declared)
    if settings.core_dumps:
        pytest.skip("core dumps are allowed on this host")
    written = {
        path: host[f"file {path}"].output + "\n" for path in rendered.core_dump_files(settings)
    }
    expect(
        request,
        {"DefaultLimitCORE": "0", **rendered.core_dump_files(settings)},
        {"DefaultLimitCORE": host["core_limit"].output, **written},
        "core dump limits",
    )


@control(
    "VP-HARD-05",
    "Unused kernel protocols and removable storage cannot be loaded",
    "Rarely used protocol modules are a recurring source of kernel vulnerabilities; a rack "
    "server takes no USB or FireWire storage.",
)
def test_unused_kernel_protocols_are_unloadable(
    request: pytest.FixtureRequest,
    remote: Any,
    host: dict[str, Read],
    declared: HostEntry,
    kernel_scope: KernelScope,
) -> None:
    settings = base_of(declared)
    expect(request, rendered.disabled_modules(settings), host["modprobe"].output + "\n")
    if kernel_scope == "full":  # a container shares its machine's kernel and modprobe
        loads = {m: modprobe_would_run(remote, m) for m in settings.disabled_kernel_modules}
        unloadable = {m: "install /bin/false" for m in settings.disabled_kernel_modules}
        expect(request, unloadable, loads, "modprobe -n -v")


def modprobe_would_run(remote: Any, module: str) -> str:
    """What modprobe would do for the module itself: its last line (dependencies come first)."""
    lines = str(remote.run(f"modprobe -n -v {module}").stdout).strip().splitlines()
    return lines[-1].strip() if lines else ""


def wanted_sandboxes(declared: HostEntry) -> dict[UnitSandbox, float]:
    sfu, anycast = declared.sfu, declared.anycast
    wanted = {JANUS_SANDBOX: sfu.max_exposure} if sfu.sandboxing else {}
    if anycast.sandboxing and declared.announces:
        wanted[BIRD_SANDBOX] = anycast.bird_max_exposure
        wanted[HEALTHCHECKER_SANDBOX] = anycast.healthchecker_max_exposure
        if anycast.bird_exporter:
            wanted[BIRD_EXPORTER_SANDBOX] = anycast.bird_exporter_max_exposure
    if declared.prober is not None:
        wanted[PROBER_SANDBOX] = declared.prober.max_exposure
    return wanted


@control(
    "VP-HARD-06",
    "Janus, BIRD, the healthchecker, bird_exporter and the prober run in their systemd sandboxes",
    "They parse untrusted packets; a compromise must stay inside the service.",
)
def test_network_facing_services_run_sandboxed(
    request: pytest.FixtureRequest, host: dict[str, Read], declared: HostEntry
) -> None:
    wanted = wanted_sandboxes(declared)
    if not wanted:
        pytest.skip("no sandboxed service on this host")
    expected, observed = {}, {}
    for sandbox, bound in wanted.items():
        line = host[f"exposure {sandbox.unit}"].output
        exposure = parse_exposure(line) if "exposure level" in line else line
        dropin = host[f"dropin {sandbox.unit}"].output + "\n"
        expected[sandbox.unit] = f"exposure <= {bound}, drop-in as rendered"
        within = isinstance(exposure, float) and exposure <= bound
        as_rendered = dropin == render_dropin(sandbox)
        state = "as rendered" if as_rendered else "missing or edited"
        observed[sandbox.unit] = (
            expected[sandbox.unit]
            if within and as_rendered
            else f"exposure {exposure}, drop-in {state}"
        )
    expect(request, expected, observed, "systemd sandboxing (systemd-analyze security)")


@control(
    "VP-HARD-07",
    "Every program run as root by a logged-in user is audited",
    "What a person did with root is on record, in the audit log and shipped with the logs; "
    "a container has no audit subsystem (its machine audits it).",
)
def test_privileged_commands_are_audited(
    request: pytest.FixtureRequest,
    host: dict[str, Read],
    declared: HostEntry,
    kernel_scope: KernelScope,
) -> None:
    if kernel_scope != "full":
        pytest.skip("a container host has no audit subsystem of its own")
    settings = base_of(declared)
    if not settings.audit_privileged_commands:
        pytest.skip("audit_privileged_commands is off for this host")
    enabled = [
        line for line in host["audit_status"].output.splitlines() if line.startswith("enabled")
    ]
    expected = {
        "auditd": "active",
        "auditing": ["enabled 1"],
        "rules": rendered.audit_rules_as_listed(settings),
    }
    rules = host["audit_rules"].output.splitlines()
    observed = {
        "auditd": host["auditd"].output,
        "auditing": enabled,
        "rules": [r for r in rules if rendered.AUDIT_KEY in r],
    }
    expect(request, expected, observed, "auditd, auditctl -s and -l")


@control(
    "VP-HARD-08",
    "The installed files of the roles' packages match their checksums",
    "A binary changed on the host (by hand, or by an intruder) is not what was reviewed.",
    "advisory",
)
def test_installed_files_match_their_packages(
    request: pytest.FixtureRequest, host: dict[str, Read]
) -> None:
    changed = sorted(line for line in host["debsums"].output.splitlines() if line)
    expect(request, [], changed, "debsums -s")
