"""The sandbox's facts, in one place: where its state lives, its network and its ports.

Pulumi.sandbox.yaml must agree with the defaults (its api_endpoint, ssh_admin_ranges and key
file); tests/sandbox/test_sandbox_settings.py holds the two together. The VOICEPOP_SANDBOX_*
variables run a second sandbox beside the first (the test suite does, so that it never
touches a developer's own).
"""

import ipaddress
import os
from pathlib import Path

from stacks.project import PROJECT_DIR as PROJECT_DIR  # the sandbox's files live under it

STATE_DIR = Path(os.environ.get("VOICEPOP_SANDBOX_DIR", PROJECT_DIR / ".sandbox"))
CACHE_DIR = Path(
    os.environ.get("VOICEPOP_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voicepop"
)

BRIDGE = os.environ.get("VOICEPOP_SANDBOX_BRIDGE", "vpbr0")
NETWORK = os.environ.get("VOICEPOP_SANDBOX_NETWORK", "172.30.203.0/24")
# the machine's side of the bridge (the first address): SSH from here, the package proxy
BRIDGE_ADDRESS = str(next(ipaddress.ip_network(NETWORK).hosts()))
FIRST_HOST_INDEX = 10  # hosts get .10 onwards

# The sandbox's second site: servers ordered in SECOND_LOCATION are hosts on a bridge of their
# own, behind the upstream router (its first address), which routes between the two sites;
# the machine has no address there and reaches them through the router, as a team reaches a
# PoP in another city. The sandbox's second PoP (Pulumi.sandbox2.yaml) opens there. Its
# network: 172.31.X.0/24 beside the first's 172.30.X.0/24.
SECOND_LOCATION = "EU: Frankfurt"
SECOND_BRIDGE = f"{BRIDGE}s2"[:15]
SECOND_NETWORK = os.environ.get(
    "VOICEPOP_SANDBOX_SECOND_NETWORK",
    f"172.31.{ipaddress.ip_network(NETWORK).network_address.packed[2]}.0/24",
)
SECOND_GATEWAY = str(next(ipaddress.ip_network(SECOND_NETWORK).hosts()))

# The upstream router (BIRD in a network namespace on the bridge): the neighbour the sandbox
# PoP's servers peer with. Its MD5 key is the sandbox-only value of Pulumi.sandbox.yaml's
# voicepop:bgpMd5Upstream.
UPSTREAM_ADDRESS = str(list(ipaddress.ip_network(NETWORK).hosts())[1])
UPSTREAM_ASN = int(os.environ.get("VOICEPOP_SANDBOX_UPSTREAM_ASN", "65000"))
UPSTREAM_MD5 = os.environ.get("VOICEPOP_SANDBOX_BGP_MD5", "sandbox-md5-kyVfLF2+")
# The sandbox-only value of Pulumi.sandbox.yaml's voicepop:sfuTokenSecret: the sandbox's
# callers, drills and tests sign their tokens with it (roles/sfu/access.py).
SFU_TOKEN_SECRET = "e19a2577757483644bacf3dc618bfeb67c825a65624fd81f507cd39cdd7417ba"
SFU_TOKEN_ENVIRONMENT = {"VOICEPOP_SECRET_sfuTokenSecret": SFU_TOKEN_SECRET}

# Instance types delivered as QEMU virtual machines instead of containers: the tier that can
# prove global sysctls and NIC rings, queues and IRQs (slower to boot, ~0.5 GB each).
VM_INSTANCE_TYPES = frozenset(
    os.environ.get("VOICEPOP_SANDBOX_VM_TYPES", "bm9.std.16").replace(",", " ").split()
)

# The token the sandbox's stand-in accepts, on its API and its admin API alike.
API_TOKEN = os.environ.get("VOICEPOP_SANDBOX_API_TOKEN", "sandbox-api-token")
STANDIN_LISTEN = f"127.0.0.1:{os.environ.get('VOICEPOP_SANDBOX_STANDIN_PORT', '8787')}"
APT_PROXY_PORT = 3142
# Route 53, as moto's server speaks it (in memory: `down` forgets its zones)
ROUTE53_LISTEN = f"127.0.0.1:{os.environ.get('VOICEPOP_SANDBOX_ROUTE53_PORT', '8788')}"

# The ACME CA (pebble) the hosts get their certificates from: its directory on the bridge, its
# management API on loopback; the DNS server it checks DNS-01 challenges with (answering from
# Route 53's stand-in), and Route 53's stand-in relayed onto the bridge for the hosts' ACME
# client. ACME_TRUST: the one PEM file the sandbox's hosts and callers trust (the CA's
# listener and the roots it issues under), Pulumi.sandbox.yaml's sfu.tls.acme.ca_bundle.
ACME_PORT = int(os.environ.get("VOICEPOP_SANDBOX_ACME_PORT", "14000"))
ACME_MANAGEMENT_PORT = int(os.environ.get("VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT", "15000"))
DNS_LISTEN = f"127.0.0.1:{os.environ.get('VOICEPOP_SANDBOX_DNS_PORT', '8053')}"
ACME_DIRECTORY = f"https://{BRIDGE_ADDRESS}:{ACME_PORT}/dir"
ROUTE53_ON_BRIDGE = f"http://{BRIDGE_ADDRESS}:{ROUTE53_LISTEN.rsplit(':', 1)[1]}"
ACME_DIR = STATE_DIR / "acme"
ACME_TRUST = ACME_DIR / "trust.pem"
# The sandbox-only values of Pulumi.sandbox.yaml's sfu.tls.acme.route53_access_key_id and
# voicepop:acmeRoute53SecretKey: moto takes any credentials.
ACME_ROUTE53_KEY_ID = "sandbox-acme"
ACME_ROUTE53_SECRET = "sandbox-acme-Kp2vB7wQ"
ACME_SECRET_ENVIRONMENT = {"VOICEPOP_SECRET_acmeRoute53SecretKey": ACME_ROUTE53_SECRET}
# what the sandbox's callers (the probe, drills, tests) need: the token secret, the CA's roots
CALLER_ENVIRONMENT = {**SFU_TOKEN_ENVIRONMENT, "REQUESTS_CA_BUNDLE": str(ACME_TRUST)}

# The log collector the hosts ship their logs to (Pulumi.sandbox.yaml's base.log_collector):
# syslog over TCP on the bridge, every message a line of COLLECTED_LOG (sandbox/collector.py)
COLLECTOR_PORT = int(os.environ.get("VOICEPOP_SANDBOX_COLLECTOR_PORT", "6514"))
COLLECTOR = f"{BRIDGE_ADDRESS}:{COLLECTOR_PORT}"

# The sandbox's watch (sandbox/watch.py): a Prometheus with the project's rules, scraping the
# probing mesh's two probers of the sandbox PoP (inside it, and behind the upstream router)
PROMETHEUS_LISTEN = f"127.0.0.1:{os.environ.get('VOICEPOP_SANDBOX_PROMETHEUS_PORT', '9190')}"
PROBER_PORT = int(os.environ.get("VOICEPOP_SANDBOX_PROBER_PORT", "9108"))
EXTERNAL_PROBER_PORT = int(os.environ.get("VOICEPOP_SANDBOX_EXTERNAL_PROBER_PORT", "9109"))

SSH_KEY = STATE_DIR / "ssh" / "id_ed25519"
STANDIN_STATE = STATE_DIR / "flexmetal.db"
HOSTS_DIR = STATE_DIR / "hosts"
PIDS_DIR = STATE_DIR / "pids"
LOGS_DIR = STATE_DIR / "logs"
COLLECTED_LOG = LOGS_DIR / "collected.log"
