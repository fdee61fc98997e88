"""`pulumi policy analyze` of a stack's state with the stack's config reaching the pack.

The engine hands a pack no stack config in `policy analyze` (no ConfigureStack call), so the
policies that read it (the environment, the announced prefixes, the secret keys) would judge
nothing. This passes the stack's config to the pack as the engine's older way of starting
packs did, PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS (policies/stack_config.py reads both).

    python -m policies.analyze STACK [--config-file FILE] [pulumi policy analyze flags...]
    (under tools/stack-env.sh; FILE: the stack's config from there, as `pulumi --config-file`)
"""

import json
import os
import subprocess
import sys
from typing import Any


def config_environment(config: dict[str, Any]) -> dict[str, str]:
    """`pulumi config --json` as the environment a pack reads its stack's config from."""
    values = {key: str(entry.get("value", "")) for key, entry in config.items()}
    secret = sorted(key for key, entry in config.items() if entry.get("secret"))
    return {"PULUMI_CONFIG": json.dumps(values), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret)}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    stack, flags = argv[0], argv[1:]
    config_file: list[str] = []
    if "--config-file" in flags:
        at = flags.index("--config-file")
        config_file, flags = flags[at : at + 2], flags[:at] + flags[at + 2 :]
    shown = subprocess.run(
        ["pulumi", "config", "--json", "--show-secrets", "--stack", stack, *config_file],
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0:
        print(f"policy analyze: the config of {stack}: {shown.stderr.strip()}", file=sys.stderr)
        return 2
    environment = {**os.environ, **config_environment(json.loads(shown.stdout))}
    command = ["pulumi", "policy", "analyze", "--stack", stack, *flags]
    return subprocess.run(command, env=environment).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
