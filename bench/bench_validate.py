"""Benchmark: offline validation of many PoP stack files (`make validate` at fleet scale).

Usage: python bench/bench_validate.py [POPS] [SERVERS_PER_POP]
Writes POPS generated stack files (each with its own prefixes, the shared anycast ones, two
neighbors) into a temporary folder and times validate_stack_files over them, in a fresh
process so the import cost counts too, as it does for `make validate`.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def pop_config(index: int, servers: int) -> dict[str, object]:
    code = f"{chr(97 + index // 26 % 26)}{chr(97 + index % 26)}x{index % 10}"
    return {
        "config": {
            "voicepop:pop": {
                "code": code,
                "name": f"Bench {index}",
                "provider": {"location": "EU: Rotterdam", "instance_type": "bm7.std.8"},
                "servers": {"count": servers},
                "bgp": {
                    "local_asn": 396507,
                    "prefixes": [
                        {"prefix": "198.51.100.0/24", "kind": "anycast"},
                        {"prefix": f"10.{index}.0.0/24", "kind": "anycast"},
                        {"prefix": f"2001:db8:{index:x}::/48", "kind": "anycast"},
                    ],
                    "neighbors": [
                        {
                            "name": f"rtr{n}",
                            "peer_address": f"169.254.255.{n}",
                            "peer_asn": 49544,
                            "md5_secret": "bgpMd5",
                            "multihop": 2,
                        }
                        for n in (1, 2)
                    ],
                },
                "dns": {
                    "zone": "voice.example.net",
                    "steering": {"policy": "latency", "aws_region": "eu-central-1"},
                },
                "access": {
                    "ssh_admin_ranges": ["203.0.113.64/27"],
                    "ssh_public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB bench"],
                },
            },
            "voicepop:bgpMd5": {"secure": "v1:bench"},
        }
    }


def main() -> None:
    pops = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    servers = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory() as folder:
        for index in range(pops):
            document = pop_config(index, servers)
            code = document["config"]["voicepop:pop"]["code"]  # type: ignore[index]
            (Path(folder) / f"Pulumi.{code}.yaml").write_text(yaml.safe_dump(document))
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "stacks.spec.validate"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
    print(result.stdout.splitlines()[-1])
    if result.returncode != 0:
        print(result.stdout, file=sys.stderr)
        sys.exit(1)
    print(
        f"{pops} PoPs x {servers} servers: {elapsed * 1000:.0f} ms for the whole command "
        f"(process start and imports included), {elapsed * 1000 / pops:.1f} ms per PoP"
    )


if __name__ == "__main__":
    main()
