"""What the NIC tuning role asks a host before it changes anything."""

import base64
import json
from typing import Any

from pyinfra.api.facts import FactBase

from roles.nic_tuning.files import PROGRAM_SOURCE

NEEDS_TOOLS = "missing-tools"


class InterfaceHolding(FactBase[str | None]):
    """The interface that holds an address; else the default route's."""

    def command(self, address: str) -> str:
        return (
            f"ip -o addr show to {address} | awk '{{print $2}}' | head -n1 | grep . || "
            "ip route show default | awk '{print $5}' | head -n1"
        )

    def process(self, output: list[str]) -> str | None:
        return output[0].split("@")[0] if output else None


class UnitInstalled(FactBase[bool]):
    """Whether systemd knows the unit (its file installed, not masked): one unit asked, as
    listing them all took seconds on an emulated host."""

    def command(self, unit: str) -> str:
        return f"systemctl show --property LoadState --value {unit}"

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[0].strip() == "loaded"


class NicTuningDrift(FactBase[dict[str, Any] | None]):
    """The program's `check` run from standard input against a config (the program may not be
    on the host yet): {"changes": [...], "skipped": [...]}, or None when the host lacks
    python3 or ethtool (the role installs them, then applies everything)."""

    def command(self, config: str) -> str:
        encoded = base64.b64encode(config.encode()).decode()
        return (
            f"command -v python3 >/dev/null && command -v ethtool >/dev/null || "
            f"{{ echo {NEEDS_TOOLS}; exit 0; }}\n"
            f"python3 - check --config-json \"$(echo {encoded} | base64 -d)\" <<'VOICEPOP_EOF'\n"
            f"{PROGRAM_SOURCE.read_text()}\nVOICEPOP_EOF"
        )

    def process(self, output: list[str]) -> dict[str, Any] | None:
        if output == [NEEDS_TOOLS]:
            return None
        return dict(json.loads("\n".join(output)))
