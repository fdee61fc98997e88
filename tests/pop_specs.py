"""Spec builders for tests: a minimal valid production PoP, returned fresh for each test."""

import copy
from typing import TYPE_CHECKING, Any

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
    "sfu": {"tls": {"acme": {"route53_access_key_id": "AKIAIOSFODNN7EXAMPLE"}}},
    "access": {
        "ssh_admin_ranges": ["203.0.113.64/27"],
        "ssh_public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBu6vfDlsDmDNDgwYrLztXTn0q3 ops"],
    },
}

if TYPE_CHECKING:
    from roles.host import HostEntry

VALID_CONTEXT = StackContext(
    stack="ams1",
    config_keys={"bgpMd5": True, "sfuTokenSecret": True, "acmeRoute53SecretKey": True},
)


def valid_pop() -> dict[str, Any]:
    return copy.deepcopy(_VALID_POP)


def an_entry(name: str = "ams1-sfu01", address: str = "192.0.2.11") -> "HostEntry":
    """A host's entry as the program makes it for a server of the valid spec."""
    from pathlib import Path

    from stacks.host_data import host_entry
    from stacks.spec import parse_pop

    spec = parse_pop(valid_pop(), VALID_CONTEXT, "Pulumi.ams1.yaml")
    return host_entry(spec, name, address, Path("/repo"))
