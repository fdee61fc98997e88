"""The sandbox's upstream router: BIRD 2 in a network namespace on the sandbox bridge, as the
provider's router would be. It peers with any sandbox host that opens a session from the
bridge's subnet (dynamic BGP, MD5, BFD), installs what it learns in its own kernel (ECMP
across the servers announcing a prefix) and routes for the callers behind it
(sandbox/callers.py); to the servers it offers only a default route, which they take when the
spec's bgp.import_routes asks for it. Tests and `make up` read what it learned with
`learned_routes()`."""

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import processes, settings
from sandbox.hosts import network
from sandbox.hosts.network import ip

PROCESS = "upstream-bird"
NAMESPACE = f"vp-upstream-{settings.BRIDGE}"
OUTSIDE = f"vu-{settings.BRIDGE}"[:15]  # the bridge's end of the veth (names: 15 characters)
INSIDE = "upstream0"
# its leg on the second site's bridge (sandbox/hosts/sites.py), the gateway of that site
SECOND_OUTSIDE = f"vu-{settings.SECOND_BRIDGE}"[:15]
SECOND_INSIDE = "site2"
HASH_POLICY = 1  # fib_multipath_hash_policy: layer 4 (addresses, protocol and ports)
FOLDER = settings.STATE_DIR / "upstream"
CONFIG = FOLDER / "bird.conf"
SOCKET = FOLDER / "bird.ctl"


def render_config() -> str:
    return f"""\
# The sandbox upstream router: learns what the PoP's servers announce and routes to them;
# offers them a default route.
log stderr all;
router id {settings.UPSTREAM_ADDRESS};
protocol device {{ }}
# what the servers announce, into this router's kernel: one route, a next hop per server
protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; merge paths yes; }}
# the default route a provider's router offers its servers; it leads nowhere past this router
protocol static offered_default {{ ipv4; route 0.0.0.0/0 unreachable; }}
protocol bfd {{
\tinterface "*" {{ min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }};
}}
template bgp pop_session {{
\tpassword "{settings.UPSTREAM_MD5}";
\thold time 9;
\tkeepalive time 3;
\tconnect delay time 1;
\terror wait time 1, 10;
\tbfd on;
\tipv4 {{ import all; export where net = 0.0.0.0/0; }};
\tipv6 {{ import all; export none; }};
}}
protocol bgp pops from pop_session {{
\tlocal {settings.UPSTREAM_ADDRESS} as {settings.UPSTREAM_ASN};
\tneighbor range {settings.NETWORK} external;
\tdynamic name "pop";
}}
# the second site's servers, on its leg there
protocol bgp site2 from pop_session {{
\tlocal {settings.SECOND_GATEWAY} as {settings.UPSTREAM_ASN};
\tneighbor range {settings.SECOND_NETWORK} external;
\tdynamic name "site2pop";
}}
"""


def ensure_namespace() -> None:
    if NAMESPACE not in ip("netns", "list").stdout.split():
        ip("netns", "add", NAMESPACE)
    if ip("link", "show", OUTSIDE, check=False).returncode != 0:
        ip("link", "add", OUTSIDE, "type", "veth", "peer", "name", INSIDE, "netns", NAMESPACE)
    ip("link", "set", OUTSIDE, "master", settings.BRIDGE, "up")
    prefix_length = settings.NETWORK.split("/")[1]
    inside = ("-n", NAMESPACE)
    ip(*inside, "addr", "replace", f"{settings.UPSTREAM_ADDRESS}/{prefix_length}", "dev", INSIDE)
    ip(*inside, "link", "set", INSIDE, "up")
    ip(*inside, "link", "set", "lo", "up")
    ensure_second_site()
    # ECMP hashed on ports too, as many routers do: a caller's connections may reach different
    # servers, so callers keep a session on the server the service address assigns them
    for family in ("ipv4", "ipv6"):
        policy = f"net.{family}.fib_multipath_hash_policy={HASH_POLICY}"
        ip("netns", "exec", NAMESPACE, "sysctl", "-qw", policy)


def ensure_second_site() -> None:
    """The second site's bridge, without an address of the machine's, the router's leg on it,
    and the machine's route to it through the router."""
    network.ensure_bridge(settings.SECOND_BRIDGE, address=None)
    if ip("link", "show", SECOND_OUTSIDE, check=False).returncode != 0:
        ip("link", "add", SECOND_OUTSIDE, "type", "veth", "peer", "name", SECOND_INSIDE,
           "netns", NAMESPACE)  # fmt: skip
    ip("link", "set", SECOND_OUTSIDE, "master", settings.SECOND_BRIDGE, "up")
    prefix_length = settings.SECOND_NETWORK.split("/")[1]
    inside = ("-n", NAMESPACE)
    gateway = f"{settings.SECOND_GATEWAY}/{prefix_length}"
    ip(*inside, "addr", "replace", gateway, "dev", SECOND_INSIDE)
    ip(*inside, "link", "set", SECOND_INSIDE, "up")
    ip("route", "replace", settings.SECOND_NETWORK, "via", settings.UPSTREAM_ADDRESS)


def start() -> None:
    """The router up with the current config: started, or reconfigured if it already runs
    (a sandbox started by an older checkout converges on `sandbox up`)."""
    ensure_namespace()
    FOLDER.mkdir(parents=True, exist_ok=True)
    CONFIG.write_text(render_config())
    if processes.running_pid(PROCESS) is not None:
        reconfigured = birdc("configure")
        if reconfigured.returncode != 0 or "error" in reconfigured.stdout.lower():
            raise RuntimeError(f"upstream BIRD refused its config: {reconfigured.stdout}")
        return
    processes.start(
        PROCESS,
        ["ip", "netns", "exec", NAMESPACE, "bird", "-f", "-c", str(CONFIG), "-s", str(SOCKET)],
    )
    deadline = time.monotonic() + 10
    while birdc("show status").returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"upstream BIRD did not start; see {settings.LOGS_DIR}")
        time.sleep(0.1)


def stop() -> None:
    processes.stop(PROCESS)
    ip("route", "del", settings.SECOND_NETWORK, check=False)
    ip("link", "del", SECOND_OUTSIDE, check=False)
    network.remove_bridge(settings.SECOND_BRIDGE)
    ip("link", "del", OUTSIDE, check=False)
    ip("netns", "del", NAMESPACE, check=False)
    SOCKET.unlink(missing_ok=True)


def birdc(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["birdc", "-s", str(SOCKET), *command.split()],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )


@dataclass
class LearnedPath:
    prefix: str
    next_hop: str
    communities: list[tuple[int, int]] = field(default_factory=list)
    as_path: str = ""


PATH_START = re.compile(r"^(\S+)?\s+unicast \[")


def parse_routes(output: str) -> list[LearnedPath]:
    """`show route all` -> one entry per path (a prefix learned from two peers: two)."""
    paths: list[LearnedPath] = []
    prefix = ""
    for line in output.splitlines():
        if match := PATH_START.match(line):
            prefix = match.group(1) or prefix
            paths.append(LearnedPath(prefix, ""))
        elif paths and (via := re.match(r"\s+via (\S+)", line)):
            paths[-1].next_hop = via.group(1)
        elif paths and "BGP.community:" in line:
            paths[-1].communities = [
                (int(a), int(b)) for a, b in re.findall(r"\((\d+),(\d+)\)", line)
            ]
        elif paths and "BGP.as_path:" in line:
            paths[-1].as_path = line.split(":", 1)[1].strip()
    return paths


def learned_routes() -> list[LearnedPath]:
    result = birdc("show route all")
    return parse_routes(result.stdout) if result.returncode == 0 else []


def learned_routes_of(state_dir: Path) -> list[LearnedPath]:
    """What the upstream router of the sandbox kept in `state_dir` learned (another sandbox's
    than this process's settings, e.g. the tests')."""
    control = str(state_dir / "upstream" / "bird.ctl")
    result = subprocess.run(
        ["birdc", "-s", control, "show", "route", "all"],
        capture_output=True,
        text=True,
        check=False,
    )
    return parse_routes(result.stdout) if result.returncode == 0 else []


def established_peers() -> list[str]:
    """Addresses of the hosts whose session is up."""
    result = birdc("show protocols all")
    peers, current_up = [], False
    for line in result.stdout.splitlines():
        if re.match(r"^(site2)?pop\d+\s+BGP", line):
            current_up = "Established" in line
        elif current_up and (match := re.match(r"\s+Neighbor address:\s+(\S+)", line)):
            peers.append(match.group(1))
    return peers
