"""The kernel_tuning role: every declared sysctl in force now, and a sysctl.d drop-in that puts
them in force at every boot.

Host data: `kernel_tuning` (overrides of roles/kernel_tuning/defaults.py, from the PoP spec).
The host's kernel scope is read on it (roles/host_kind.py). Knobs the host cannot take are
skipped and logged with the reason, never silently, and never fail the deploy.
Each key is compared with the kernel's live value (one `sysctl` of every declared key per
host: a read per key cost a round trip each), so a value changed by hand is put back even
when the drop-in itself is unchanged; a key already at its value gets no operation.
"""

from io import StringIO

from pyinfra import logger
from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.facts.server import Sysctl
from pyinfra.operations import files, server

from roles.host_kind import HostKernelScope
from roles.kernel_tuning.defaults import KernelTuning
from roles.kernel_tuning.sysctls import DROPIN_PATH, plan_for, render_dropin


def _as_sysctl_value(value: str) -> int | list[str | int]:
    """ "32768\t60999" (as the kernel prints a multi-value key) -> [32768, 60999]."""
    parts: list[str | int] = [int(part) for part in value.split("\t")]
    return parts if len(parts) > 1 else int(value)


@deploy("Kernel tuning")
def kernel_tuning(tuning: KernelTuning) -> None:
    plan = plan_for(tuning, host.get_fact(HostKernelScope))
    for key, why in sorted(plan.skipped.items()):
        logger.info(f"{host.name}: kernel_tuning skips {key}: {why}")
    files.put(
        name=f"Write {DROPIN_PATH}",
        src=StringIO(render_dropin(plan)),
        dest=DROPIN_PATH,
        mode="644",
    )
    live = host.get_fact(Sysctl, keys=sorted(plan.applied)) if plan.applied else {}
    for key, value in sorted(plan.applied.items()):
        if live.get(key) != (wanted := _as_sysctl_value(value)):
            server.sysctl(name=f"Set {key}", key=key, value=wanted)
