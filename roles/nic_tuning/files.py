"""What the NIC tuning role writes on a host: the program, its config, the unit that runs it at
every boot. Pure."""

import json
from pathlib import Path

from roles.nic_tuning.defaults import NicTuning

PROGRAM_SOURCE = Path(__file__).with_name("tune.py")
PROGRAM_PATH = "/usr/local/lib/voicepop/nic-tuning.py"
CONFIG_PATH = "/etc/voicepop/nic-tuning.json"
UNIT_NAME = "voicepop-nic-tuning.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"

UNIT = f"""\
[Unit]
Description=voicepop NIC tuning: rings, channels, UDP flow hashing, RPS/XPS, IRQ affinity
Documentation=file://{PROGRAM_PATH}
# before the network is up and the SFU takes traffic; the program waits for the interfaces
DefaultDependencies=no
After=sysinit.target
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/python3 {PROGRAM_PATH} apply --config {CONFIG_PATH}

[Install]
WantedBy=multi-user.target
"""


def render_config(tuning: NicTuning, interfaces: list[str]) -> str:
    """The program's config: the knobs, with the interfaces resolved for this host."""
    knobs = tuning.model_dump(exclude={"interfaces"})
    return json.dumps({"interfaces": interfaces, **knobs}, indent=1, sort_keys=True) + "\n"
