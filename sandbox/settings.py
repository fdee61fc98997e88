"""The sandbox's fixed facts, in one place: where its state lives, its network and its ports.

Pulumi.sandbox.yaml must agree with them (its api_endpoint, ssh_admin_ranges and key file);
tests/unit/test_sandbox_settings.py holds the two together.
"""

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("VOICEPOP_SANDBOX_DIR", PROJECT_DIR / ".sandbox"))
CACHE_DIR = Path(
    os.environ.get("VOICEPOP_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voicepop"
)

BRIDGE = "vpbr0"
NETWORK = "172.30.203.0/24"
BRIDGE_ADDRESS = "172.30.203.1"  # the machine's side of the bridge: SSH from here, apt proxy
FIRST_HOST_INDEX = 10  # hosts get .10 onwards

STANDIN_LISTEN = "127.0.0.1:8787"
APT_PROXY_PORT = 3142

SSH_KEY = STATE_DIR / "ssh" / "id_ed25519"
STANDIN_STATE = STATE_DIR / "flexmetal.db"
HOSTS_DIR = STATE_DIR / "hosts"
PIDS_DIR = STATE_DIR / "pids"
LOGS_DIR = STATE_DIR / "logs"
