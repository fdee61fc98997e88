"""The NIC tuning role: the media interfaces' rings, channels, UDP flow hashing, RPS/XPS and
IRQ affinity as declared, now and at every boot.

Host data: `nic_tuning` (overrides of roles/nic_tuning/defaults.py, from the PoP spec). The
work is done on the host by one program (roles/nic_tuning/tune.py) run by a oneshot unit at
boot; the role installs both, asks the program what drifted, and restarts the unit only then.
Knobs the NIC or host cannot take are skipped and logged with the reason, and never fail the
deploy.
"""

from io import StringIO

from pyinfra import logger
from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.operations import apt, files, systemd

from roles.nic_tuning import files as rendered
from roles.nic_tuning.defaults import NicTuning
from roles.nic_tuning.facts import InterfaceHolding, NicTuningDrift, UnitInstalled


def media_interfaces(tuning: NicTuning, address: str) -> list[str]:
    if tuning.interfaces:
        return list(tuning.interfaces)
    found = host.get_fact(InterfaceHolding, address=address)
    return [found] if found else []


def stop_irqbalance() -> None:
    """irqbalance would move the queue IRQs the unit placed."""
    if host.get_fact(UnitInstalled, unit="irqbalance.service"):
        systemd.service(
            name="irqbalance stopped: the role places the queue IRQs",
            service="irqbalance",
            running=False,
            enabled=False,
        )


PACKAGES = ["ethtool", "python3"]


@deploy("NIC tuning")
def nic_tuning(tuning: NicTuning, address: str) -> None:
    """`address`: the one the server is reached at; its interface carries the media unless
    the spec names the interfaces."""
    interfaces = media_interfaces(tuning, address)
    if not interfaces:
        logger.warning(
            f"{host.name}: nic_tuning skips every knob: no interface holds the "
            "host's address and there is no default route; name them in "
            "tuning.nic.interfaces"
        )
        return
    config = rendered.render_config(tuning, interfaces)
    drift = host.get_fact(NicTuningDrift, config=config)

    apt.packages(name="NIC tuning tools", packages=PACKAGES, no_recommends=True)
    files.directory(name="voicepop programs", path="/usr/local/lib/voicepop")
    files.put(
        name="NIC tuning program",
        src=str(rendered.PROGRAM_SOURCE),
        dest=rendered.PROGRAM_PATH,
        mode="755",
    )
    files.put(name="NIC tuning config", src=StringIO(config), dest=rendered.CONFIG_PATH, mode="644")
    unit = files.put(
        name="NIC tuning unit", src=StringIO(rendered.UNIT), dest=rendered.UNIT_PATH, mode="644"
    )
    systemd.daemon_reload(name="systemd reads the NIC tuning unit", _if=unit.did_change)
    if tuning.irq_affinity == "spread":
        stop_irqbalance()

    for skip in (drift or {}).get("skipped", []):
        logger.info(
            f"{host.name}: nic_tuning skips {skip['interface']} {skip['knob']}: {skip['reason']}"
        )
    changes = (drift or {}).get("changes", [])
    for change in changes:
        logger.info(
            f"{host.name}: nic_tuning changes {change['interface']} {change['knob']}: "
            f"{change['current']} -> {change['wanted']}"
        )
    systemd.service(
        name="NIC tuned now and at boot",
        service=rendered.UNIT_NAME,
        enabled=True,
        running=True,
        restarted=drift is None or bool(changes),
    )
