"""The suites' inventory: the declared hosts as JSON (VOICEPOP_VERIFY_INVENTORY). Pure."""

import json
from typing import Any


def render_verify(hosts: list[dict[str, Any]]) -> str:
    return json.dumps(hosts, indent=1, sort_keys=True) + "\n"
