"""Spec builders for tests: a minimal valid production PoP, returned fresh for each test."""

import copy
from typing import Any

from stacks.spec.checks import StackContext

_VALID_POP: dict[str, Any] = {
    "code": "ams1",
    "name": "Amsterdam 1",
    "provider": {"location": "EU: Rotterdam", "instance_type": "bm7.std.8"},
    "servers": {"count": 2},
    "bgp": {
        "local_asn": 396507,
        "prefixes": [
            {"prefix": "198.51.100.0/24", "kind": "anycast"},
            {"prefix": "2001:db8:100::/48", "kind": "anycast"},
        ],
        "neighbors": [
            {
                "name": "rtr1",
                "peer_address": "169.254.255.1",
                "peer_asn": 49544,
                "md5_secret": "bgpMd5",
                "multihop": 2,
            }
        ],
    },
    "dns": {
        "zone": "voice.example.net",
        "steering": {"policy": "latency", "aws_region": "eu-central-1"},
    },
    "access": {
        "ssh_admin_ranges": ["203.0.113.64/27"],
        "ssh_public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBu6vfDlsDmDNDgwYrLztXTn0q3 ops"],
    },
}

VALID_CONTEXT = StackContext(stack="ams1", config_keys={"bgpMd5": True})


def valid_pop() -> dict[str, Any]:
    return copy.deepcopy(_VALID_POP)
