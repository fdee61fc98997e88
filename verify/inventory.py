"""The suites' inventory (VOICEPOP_VERIFY_INVENTORY): the declared hosts' entries as JSON,
as `python -m ops.inventories STACK` writes it (inventories/STACK.json). Pure apart from
reading the file."""

import json
from pathlib import Path

from pydantic import TypeAdapter

from roles.host import HostEntry

ENTRIES = TypeAdapter(list[HostEntry])


def render_verify(hosts: list[HostEntry]) -> str:
    return json.dumps([host.as_json() for host in hosts], indent=1, sort_keys=True) + "\n"


def read_hosts(path: Path) -> list[HostEntry]:
    """Every host of an inventory file, parsed once."""
    return ENTRIES.validate_json(path.read_text())
