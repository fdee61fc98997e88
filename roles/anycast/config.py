"""What the anycast role writes on a host, rendered from the PoP spec's `bgp` for one server:
BIRD 2's config, anycast-healthchecker's, the unit binding the service addresses, and the
drain command. Pure: the role writes these files; the tests read them offline.

Five gates in the export filter, in order: the prefix is one the spec lets this server
announce (anything else configured on the host never leaves it); the SFU passes its health
check (anycast-healthchecker keeps the list); the SFU's unit has not stopped (its stop, a crash
included, withdraws at once through `voicepop-sfu-gate`, not after the health check has failed
`fall` times); the server is drained neither by an operator (`voicepop-drain`) nor by its
PoP's media gate (`voicepop-media-gate`).
"""

import ipaddress
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from roles.anycast.defaults import AnnounceHealth, AnycastSettings, BgpNeighbor
from roles.settings import RoleSettings
from roles.sfu.defaults import SfuHealth
from roles.unit_sandbox import UnitSandbox

BIRD_CONF = "/etc/bird/bird.conf"
BIRD_CONF_STAGED = "/etc/bird/bird.conf.voicepop-staged"
DRAIN_STATE = "/etc/bird/voicepop-drain.conf"
DRAIN_COMMAND = "/usr/local/sbin/voicepop-drain"
SFU_STATE = "/etc/bird/voicepop-sfu.conf"
SFU_GATE_COMMAND = "/usr/local/sbin/voicepop-sfu-gate"
SFU_GATE_DROPIN = "60-voicepop-announce.conf"
MEDIA_STATE = "/etc/bird/voicepop-media.conf"
MEDIA_AGENT = "/usr/local/sbin/voicepop-media-gate"
MEDIA_SECRET = "/etc/voicepop/media-gate.secret"
MEDIA_UNIT_NAME = "voicepop-media-gate.service"
MEDIA_UNIT = f"/etc/systemd/system/{MEDIA_UNIT_NAME}"


@dataclass(frozen=True)
class BirdState:
    """A variable of BIRD's config in a file of its own: the role creates it once, in service
    (0), then only its command changes it, so a re-deploy neither undrains a drained server
    nor announces a stopped SFU."""

    path: str
    variable: str

    def define(self, value: int) -> str:
        return f"define {self.variable} = {value};\n"


SFU_STOPPED = BirdState(SFU_STATE, "VOICEPOP_SFU_STOPPED")  # 1: stopped (voicepop-sfu-gate)
DRAIN = BirdState(DRAIN_STATE, "VOICEPOP_DRAIN")  # 1 draining, 2 drained (voicepop-drain)
MEDIA = BirdState(MEDIA_STATE, "VOICEPOP_MEDIA")  # the same, by voicepop-media-gate
BIRD_STATES = (SFU_STOPPED, DRAIN, MEDIA)
HEALTHCHECKER_DIR = "/var/lib/anycast-healthchecker"
PREFIX_LISTS = {
    4: f"{HEALTHCHECKER_DIR}/anycast-prefixes.conf",
    6: f"{HEALTHCHECKER_DIR}/6/anycast-prefixes.conf",
}
LIST_VARIABLES = {4: "ACAST_PS_ADVERTISE", 6: "ACAST6_PS_ADVERTISE"}
HEALTHCHECKER_CONF = "/etc/anycast-healthchecker.conf"
HEALTHCHECKER_SERVICES = "/etc/anycast-healthchecker.d/voicepop.conf"
HEALTHCHECKER_VENV = "/opt/voicepop/anycast-healthchecker"
HEALTHCHECKER_UNIT = "/etc/systemd/system/anycast-healthchecker.service"
# BIRD starts as root to prepare /run/bird and switch to its user (SETUID, SETGID, CHOWN,
# FOWNER; DAC_READ_SEARCH reads its root-unreadable config), then keeps what routing needs.
BIRD_SANDBOX = UnitSandbox(
    "bird.service",
    (
        "CAP_NET_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_NET_BROADCAST",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_CHOWN",
        "CAP_FOWNER",
        "CAP_DAC_READ_SEARCH",
    ),
    (
        ("MemoryDenyWriteExecute", "yes"),
        ("RuntimeDirectory", "bird"),
        # its control socket (bird:bird 0660) guards BIRD; the folder lets bird_exporter, as
        # the bird user, reach it (0750 root's did not: the exporter read nothing)
        ("RuntimeDirectoryMode", "0755"),
        ("RuntimeDirectoryPreserve", "yes"),
    ),
)
# The healthchecker writes only its prefix lists, which BIRD (its own user) reads, so they
# keep the default umask 022 (a UMask=0027 made BIRD refuse them). It reaches BIRD's control
# socket (the bird user's: DAC_OVERRIDE). Python: no MemoryDenyWriteExecute (ctypes').
HEALTHCHECKER_SANDBOX = UnitSandbox(
    "anycast-healthchecker.service",
    ("CAP_DAC_OVERRIDE",),
    (("ReadWritePaths", HEALTHCHECKER_DIR),),
)
# Debian's prometheus-bird-exporter: BIRD's protocols for Prometheus, as BIRD's own user (the
# package's unit), reading BIRD's socket; it writes nothing.
BIRD_EXPORTER_PACKAGE = "prometheus-bird-exporter"
BIRD_EXPORTER_UNIT_NAME = "prometheus-bird-exporter.service"
BIRD_EXPORTER_DEFAULTS = "/etc/default/prometheus-bird-exporter"
BIRD_EXPORTER_SANDBOX = UnitSandbox(
    BIRD_EXPORTER_UNIT_NAME, (), (("MemoryDenyWriteExecute", "yes"),)
)
ADDRESSES_UNIT_NAME = "voicepop-anycast-addresses.service"
ADDRESSES_UNIT = f"/etc/systemd/system/{ADDRESSES_UNIT_NAME}"
GRACEFUL_SHUTDOWN = (65535, 0)  # RFC 8326
BGP_PROTOCOL_PREFIX = "vp_"


class Neighbor(BgpNeighbor):
    """A session as the rendered files name it."""

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.peer_address).version

    @property
    def protocol(self) -> str:
        return BGP_PROTOCOL_PREFIX + self.name.replace("-", "_")


class AnycastHost(RoleSettings):
    """One server's share of the PoP spec's `bgp` (the host data `bgp`, stacks/host_data.py)."""

    local_asn: int
    prefixes: list[str]
    neighbors: list[Neighbor]
    health: AnnounceHealth = Field(default_factory=AnnounceHealth)
    drain_wait_s: int = 30
    import_routes: Literal["none", "default"] = "none"
    # host:port of the probers whose media gate it follows, the first answering decides: the
    # PoP's own (`probing.servers`), then the spec's anycast.media_gate_sources
    media_gate_sources: list[str] = Field(default_factory=list)

    def prefixes_of(self, family: int) -> list[str]:
        return [p for p in self.prefixes if ipaddress.ip_network(p).version == family]


def service_address(prefix: str) -> str:
    """The address a host answers on for a prefix it announces: its first one, as a host
    route (/32 or /128)."""
    network = ipaddress.ip_network(prefix)
    first = network.network_address + 1 if network.num_addresses > 1 else network.network_address
    return f"{first}/{network.max_prefixlen}"


def service_interface(kernel_scope: str, settings: AnycastSettings) -> str:
    """Where the service addresses are bound: a dummy interface on a host that owns its kernel,
    lo in a container (its kernel has no dummy interfaces here)."""
    return settings.dummy_interface if kernel_scope == "full" else "lo"


def families(host: AnycastHost) -> list[int]:
    return [family for family in (4, 6) if host.prefixes_of(family)]


def bird_set(prefixes: list[str]) -> str:
    return "[ " + ", ".join(prefixes) + " ]"


def render_bird_conf(
    host: AnycastHost, settings: AnycastSettings, router_id: str, passwords: dict[str, str]
) -> str:
    """`passwords`: md5_secret key -> the secret's value (the file is readable by root and
    bird only)."""
    lines = [
        "# Generated by the voicepop anycast role from the PoP spec; do not edit by hand.",
        "log syslog all;",
        f"router id {router_id};",
        "",
        "# which prefixes pass their health check (anycast-healthchecker writes these)",
        *[f'include "{PREFIX_LISTS[family]}";' for family in families(host)],
        "# VOICEPOP_SFU_STOPPED: 1 from the SFU unit's stop (or crash) until it answers again",
        f'include "{SFU_STATE}";',
        "# VOICEPOP_DRAIN: 0 in service, 1 draining (65535:0), 2 drained (withdrawn)",
        f'include "{DRAIN_STATE}";',
        "# VOICEPOP_MEDIA: the same, set by the media gate (voicepop-media-gate)",
        f'include "{MEDIA_STATE}";',
        "",
        "protocol device { scan time 10; }",
    ]
    for family in families(host):
        lines += [
            "",
            f"define VOICEPOP_PREFIXES{family} = {bird_set(host.prefixes_of(family))};",
            f"protocol static voicepop_prefixes{family} {{",
            f"\tipv{family};",
            *[f"\troute {prefix} blackhole;" for prefix in host.prefixes_of(family)],
            "}",
            f"filter voicepop_export{family} {{",
            f"\tif ! (net ~ VOICEPOP_PREFIXES{family}) then reject;",
            f"\tif ! (net ~ {LIST_VARIABLES[family]}) then reject;",
            "\tif VOICEPOP_SFU_STOPPED = 1 then reject;",
            "\tif VOICEPOP_DRAIN = 2 || VOICEPOP_MEDIA = 2 then reject;",
            "\tif VOICEPOP_DRAIN = 1 || VOICEPOP_MEDIA = 1 then "
            f"bgp_community.add({GRACEFUL_SHUTDOWN});",
            "\taccept;",
            "}",
        ]
    lines += render_import(host)
    lines += render_bfd(host)
    for neighbor in host.neighbors:
        lines += render_session(host, settings, neighbor, router_id, passwords)
    return "\n".join(lines) + "\n"


def render_import(host: AnycastHost) -> list[str]:
    if host.import_routes == "none":
        return []
    return [
        "",
        "# the spec asks for a default route from the neighbours, into the kernel",
        "filter voicepop_import { if net.len = 0 then accept; reject; }",
        *[
            f"protocol kernel voicepop_kernel{family} {{ ipv{family} {{ import none; "
            "export where source = RTS_BGP; }; }"
            for family in (4, 6)
        ],
    ]


def render_bfd(host: AnycastHost) -> list[str]:
    with_bfd = [n for n in host.neighbors if n.bfd]
    if not with_bfd:
        return []
    interval = min(n.bfd_interval_ms for n in with_bfd)
    multiplier = max(n.bfd_multiplier for n in with_bfd)
    options = (
        f"min rx interval {interval} ms; min tx interval {interval} ms; multiplier {multiplier};"
    )
    lines = ["", "protocol bfd {", f'\tinterface "*" {{ {options} }};']
    if any(n.multihop for n in with_bfd):
        lines.append(f"\tmultihop {{ {options} }};")
    return [*lines, "}"]


def render_session(
    host: AnycastHost,
    settings: AnycastSettings,
    neighbor: Neighbor,
    router_id: str,
    passwords: dict[str, str],
) -> list[str]:
    family = neighbor.family
    exported = f"filter voicepop_export{family}" if host.prefixes_of(family) else "none"
    imported = "filter voicepop_import" if host.import_routes == "default" else "none"
    # an IPv4 session from the server's own address (BFD over multihop needs it named)
    local_address = f"{router_id} " if family == 4 else ""
    lines = [
        "",
        f"protocol bgp {neighbor.protocol} {{",
        f'\tdescription "{neighbor.name}";',
        f"\tlocal {local_address}as {host.local_asn};",
        f"\tneighbor {neighbor.peer_address} as {neighbor.peer_asn};",
        f"\thold time {neighbor.hold_time_s};",
        f"\tkeepalive time {neighbor.keepalive_s};",
        f"\tconnect delay time {settings.connect_delay_s};",
        f"\terror wait time {settings.error_wait_min_s}, {settings.error_wait_max_s};",
    ]
    if neighbor.md5_secret:
        lines.append(f'\tpassword "{passwords[neighbor.md5_secret]}";')
    if neighbor.multihop:
        lines.append(f"\tmultihop {neighbor.multihop};")
    if neighbor.bfd:
        lines.append("\tbfd on;")
    lines += [f"\tipv{family} {{ import {imported}; export {exported}; }};", "}"]
    return lines


def withdrawn_list(family: int, settings: AnycastSettings) -> str:
    """A prefix list announcing nothing: what a host starts with, before its first check."""
    dummy = settings.dummy_prefix4 if family == 4 else settings.dummy_prefix6
    return f"define {LIST_VARIABLES[family]} =\n    [\n        {dummy}\n    ];\n"


def render_healthchecker_conf(host: AnycastHost, settings: AnycastSettings) -> str:
    ipv6 = bool(host.prefixes_of(6))
    return "\n".join(
        [
            "# Generated by the voicepop anycast role; do not edit by hand.",
            "[daemon]",
            "pidfile = /run/anycast-healthchecker/anycast-healthchecker.pid",
            "ipv4 = true",
            f"ipv6 = {str(ipv6).lower()}",
            f"bird_conf = {PREFIX_LISTS[4]}",
            f"bird6_conf = {PREFIX_LISTS[6]}",
            f"bird_variable = {LIST_VARIABLES[4]}",
            f"bird6_variable = {LIST_VARIABLES[6]}",
            "bird_reconfigure_cmd = /usr/sbin/birdc configure",
            "bird6_reconfigure_cmd = /usr/sbin/birdc configure",
            f"dummy_ip_prefix = {settings.dummy_prefix4}",
            f"dummy_ip6_prefix = {settings.dummy_prefix6}",
            "purge_ip_prefixes = true",
            f"loglevel = {settings.healthchecker_log_level}",
            "log_format_journalctl = true",
            "",
        ]
    )


def render_healthchecker_services(host: AnycastHost, health_check: str, interface: str) -> str:
    """One check per announced prefix: its service address is bound on `interface` and the
    SFU answers its health endpoint. (The checker's own address test wants the whole prefix
    on the interface, which would make every address of it local: it is off.)"""
    sections = ["# Generated by the voicepop anycast role; do not edit by hand."]
    for prefix in host.prefixes:
        bound = f"/sbin/ip -o addr show dev {interface} to {service_address(prefix)} | grep -q ."
        sections += [
            "",
            f"[sfu-{prefix.replace('/', '_')}]",
            f"check_cmd = /bin/sh -c '{bound} && {health_check}'",
            "ip_check_disabled = true",
            f"check_interval = {host.health.interval_s}",
            f"check_timeout = {host.health.timeout_s}",
            f"check_fail = {host.health.fall}",
            f"check_rise = {host.health.rise}",
            "check_disabled = false",
            "on_disabled = withdraw",
            f"ip_prefix = {prefix}",
            f"interface = {interface}",
        ]
    return "\n".join(sections) + "\n"


def health_check_command(health: SfuHealth, timeout_s: float) -> str:
    """The check of the SFU's health endpoint (the spec's `sfu.health`) that gates the
    announcements: the same endpoint Route 53 checks."""
    if health.protocol == "tcp":
        # double quotes: the check runs inside the service's single-quoted `sh -c`
        return f'/usr/bin/timeout {timeout_s} /bin/bash -c "</dev/tcp/127.0.0.1/{health.port}"'
    insecure = " -k" if health.protocol == "https" else ""  # the host's own certificate
    return f"/usr/bin/curl -fsS{insecure} -o /dev/null -m {timeout_s} {health.local_url}"


def render_addresses_unit(host: AnycastHost, interface: str, dummy: bool) -> str:
    commands = []
    if dummy:
        commands += [
            f"-/sbin/ip link add {interface} type dummy",
            f"/sbin/ip link set {interface} up",
        ]
    commands += [
        f"/sbin/ip addr replace {service_address(p)} dev {interface}" for p in host.prefixes
    ]
    return "\n".join(
        [
            "[Unit]",
            "Description=voicepop: the service addresses of the prefixes this server announces",
            "Before=anycast-healthchecker.service bird.service",
            "After=network-pre.target",
            "",
            "[Service]",
            "Type=oneshot",
            "RemainAfterExit=yes",
            *[f"ExecStart={command}" for command in commands],
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def render_media_agent_unit(
    host: AnycastHost, settings: AnycastSettings, server: str, flag: str
) -> str:
    """The media gate's agent (roles/anycast/media_agent.py) as a service: root for BIRD's
    socket and config, nothing else writable."""
    sources = " ".join(f"--source {source}" for source in host.media_gate_sources)
    return "\n".join(
        [
            "# Generated by the voicepop anycast role; do not edit by hand.",
            "[Unit]",
            "Description=voicepop: this server follows its PoP's media gate",
            "After=bird.service network-online.target",
            "",
            "[Service]",
            f"ExecStart={MEDIA_AGENT} run --server {server} {sources} "
            f"--secret-file {MEDIA_SECRET} --state {MEDIA_STATE} --flag {flag} "
            f"--drain-wait-s {host.drain_wait_s} --poll-s {settings.media_gate_poll_s:g} "
            f"--stale-after-s {settings.media_gate_stale_after_s:g}",
            "Restart=always",
            "RestartSec=2",
            "ProtectSystem=strict",
            "ReadWritePaths=/etc/bird",
            f"RuntimeDirectory={flag.split('/')[2]}",  # the flag's folder, /run/<it>
            "RuntimeDirectoryMode=0755",  # nginx's workers look for the flag
            "RuntimeDirectoryPreserve=yes",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def set_state_function(variable: str) -> str:
    """The shell function the drain and SFU gate commands set BIRD's `variable` with (in the
    file `$STATE`, replaced whole), then have BIRD read its config again; it fails, and with
    `set -e` its command, when BIRD does not take it."""
    return f"""set_state() {{
    printf 'define {variable} = %s;\\n' "$1" > "$STATE.tmp"
    mv "$STATE.tmp" "$STATE"
    answer=$(birdc configure 2>&1) || true
    case "$answer" in
        *Reconfigur*) ;;
        *) echo "birdc configure failed: $answer" >&2; return 1 ;;
    esac
}}
"""


def render_sfu_gate_command(health_check: str) -> str:
    """What the SFU's unit runs when it stops or starts (`render_sfu_gate_dropin`): a stop,
    a crash included, withdraws this server's announcements at once; a start puts them back
    once the SFU answers its health check, waited for in the background so the unit's start
    is not held (a restart kills the waiter with the unit's other processes)."""
    return f"""#!/bin/sh
# voicepop-sfu-gate: the SFU's unit tells BIRD when the SFU stops or starts.
#   voicepop-sfu-gate stopped    withdraw now (the unit's ExecStopPost: a stop or a crash)
#   voicepop-sfu-gate started    announce again once the SFU answers (ExecStartPost)
#   voicepop-sfu-gate status     running | stopped
#   voicepop-sfu-gate answers    exit 0 if the SFU answers its health check
# The health check (anycast-healthchecker) still gates the announcements after a start.
# Generated by the voicepop anycast role.
set -eu
STATE={SFU_STATE}

{set_state_function("VOICEPOP_SFU_STOPPED")}
answers() {{
    {health_check}
}}

case "${{1:-}}" in
    stopped)
        set_state 1
        logger -t voicepop-sfu-gate "the SFU stopped: announcements withdrawn" ;;
    answers)
        answers ;;
    started)
        (
            # the file's check each time: a deploy may change it while this waits
            until "$0" answers >/dev/null 2>&1; do sleep 0.2; done
            set_state 0
            logger -t voicepop-sfu-gate "the SFU answers: announced again while healthy"
        ) </dev/null >/dev/null 2>&1 &
        ;;
    status)
        case "$(sed -n 's/.*= *\\([0-9]\\).*/\\1/p' "$STATE")" in
            0) echo running ;; 1) echo stopped ;; *) echo unknown; exit 1 ;;
        esac ;;
    *)
        echo "usage: voicepop-sfu-gate stopped | started | status | answers" >&2
        exit 2 ;;
esac
"""


def render_sfu_gate_dropin() -> str:
    """The SFU unit's drop-in: `+` runs the gate with full privileges (it writes BIRD's
    config and reaches its socket, which the SFU's sandbox keeps from the SFU); `-`: a BIRD
    that is not running does not fail the SFU's unit (the state file is written first)."""
    return (
        "# Generated by the voicepop anycast role; do not edit by hand.\n"
        "[Service]\n"
        f"ExecStartPost=-+{SFU_GATE_COMMAND} started\n"
        f"ExecStopPost=-+{SFU_GATE_COMMAND} stopped\n"
    )


def sfu_gate_dropin_path(sfu_service: str) -> str:
    return f"/etc/systemd/system/{sfu_service}.service.d/{SFU_GATE_DROPIN}"


def render_drain_command(host: AnycastHost, flag: str) -> str:
    """The operator's drain (and the deploy's): BIRD's VOICEPOP_DRAIN, and `flag` (the health
    endpoint answers 503 to the outside while it exists: DNS follows) raised once withdrawn."""
    return f"""#!/bin/sh
# voicepop-drain: take this server's announcements out of service gently, and back.
#   voicepop-drain drain [WAIT_S]   tag the routes GRACEFUL_SHUTDOWN (65535:0, RFC 8326) so the
#                                   neighbours move traffic away, wait, then withdraw them and
#                                   take the server out of DNS (its health endpoint: 503)
#   voicepop-drain undrain          back in DNS, and announce again (while the SFU is healthy)
#   voicepop-drain status           in-service | draining | drained
# Generated by the voicepop anycast role.
set -eu
STATE={DRAIN_STATE}
FLAG={flag}

{set_state_function("VOICEPOP_DRAIN")}
case "${{1:-}}" in
    drain)
        wait_s=${{2:-{host.drain_wait_s}}}
        set_state 1
        echo "draining: routes tagged 65535:0, withdrawn in $wait_s s"
        sleep "$wait_s"
        set_state 2
        mkdir -p "$(dirname "$FLAG")"
        touch "$FLAG"
        echo "drained: routes withdrawn, health 503 (out of DNS)" ;;
    undrain)
        set_state 0
        rm -f "$FLAG"
        echo "in service: routes announced while the SFU is healthy, back in DNS" ;;
    status)
        case "$(sed -n 's/.*= *\\([0-9]\\).*/\\1/p' "$STATE")" in
            0) echo in-service ;; 1) echo draining ;; 2) echo drained ;; *) echo unknown; exit 1 ;;
        esac ;;
    *)
        echo "usage: voicepop-drain drain [WAIT_S] | undrain | status" >&2
        exit 2 ;;
esac
"""


HEALTHCHECKER_UNIT_TEXT = f"""\
[Unit]
Description=anycast-healthchecker: announce the SFU's prefixes only while it is healthy
After=network-online.target {ADDRESSES_UNIT_NAME}
Before=bird.service

[Service]
ExecStart={HEALTHCHECKER_VENV}/bin/anycast-healthchecker -f {HEALTHCHECKER_CONF} \\
    -d /etc/anycast-healthchecker.d
RuntimeDirectory=anycast-healthchecker
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def render_bird_exporter_defaults(listen: str, port: int) -> str:
    """The package's unit runs `prometheus-bird-exporter $ARGS`: BIRD 2's protocols in the new
    format (`bird_protocol_up{name, proto}`), on the server's own address only."""
    listen_at = f"[{listen}]" if ":" in listen else listen
    socket = "-bird.socket=/run/bird/bird.ctl"
    args = f"-format.new -bird.v2 {socket} -web.listen-address={listen_at}:{port}"
    return f'# Generated by the voicepop anycast role; do not edit by hand.\nARGS="{args}"\n'
