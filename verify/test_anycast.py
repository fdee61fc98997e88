"""Announcements as BIRD reports them, against the spec's share for the host: every session
Established, the exported set exactly the server's prefixes (so also: healthy and not
drained), BFD up where asked, the service addresses bound, all of it started at boot. One
round trip per host."""

from typing import Any

import pytest

from roles.anycast import config as rendered
from roles.host import HostEntry
from roles.host_kind import KernelScope
from roles.sfu.janus import ADAPTERS
from verify.batch import Read, read_all
from verify.controls import control

pytestmark = pytest.mark.verify


def announcing(declared: HostEntry) -> rendered.AnycastHost:
    if declared.bgp is None or not declared.bgp.prefixes:
        pytest.skip(f"{declared.name} announces nothing")
    return declared.bgp


def health_from_outside(declared: HostEntry) -> str:
    """The HTTP status of the server's health endpoint asked on its own address, as Route 53
    asks it (not from loopback: the host's own checks never see an operator's drain)."""
    health = declared.sfu.health
    if health.protocol != "https":
        return "echo none"
    host = f"[{declared.address}]" if ":" in declared.address else declared.address
    url = f"https://{host}:{health.port}{health.path}"
    return f"curl -sk -o /dev/null -w '%{{http_code}}' -m 5 {url}; true"


@pytest.fixture(scope="module")
def bird(remote: Any, declared: HostEntry, kernel_scope: KernelScope) -> dict[str, Read]:
    spec = announcing(declared)
    settings = declared.anycast
    interface = rendered.service_interface(kernel_scope, settings)
    sfu_service = ADAPTERS[declared.sfu.implementation].service
    return read_all(
        remote,
        {
            "protocols": "birdc -r show protocols",
            "bfd": "birdc -r show bfd sessions",
            **{
                f"export {n.protocol}": f"birdc -r show route export {n.protocol}"
                for n in spec.neighbors
            },
            "addresses": f"ip -o addr show dev {interface}",
            "drain": f"{rendered.DRAIN_COMMAND} status",
            "sfu gate": f"{rendered.SFU_GATE_COMMAND} status",
            "sfu hooks": f"systemctl show {sfu_service} -p ExecStartPost -p ExecStopPost",
            "media agent": f"systemctl is-enabled {rendered.MEDIA_UNIT_NAME}; "
            f"systemctl is-active {rendered.MEDIA_UNIT_NAME}; true",
            "enabled": "systemctl is-enabled bird anycast-healthchecker "
            f"{rendered.ADDRESSES_UNIT_NAME}",
            "active": "systemctl is-active bird anycast-healthchecker",
            "health outside": health_from_outside(declared),
            "media": f"{rendered.MEDIA_AGENT} --state {rendered.MEDIA_STATE} status "
            "2>/dev/null || echo in-service",
            "exporter": f"curl -sS --max-time 5 http://{declared.address}:"
            f"{settings.bird_exporter_port}/metrics | grep '^bird_protocol_up{{'; "
            f"systemctl is-active {rendered.BIRD_EXPORTER_UNIT_NAME}; true",
        },
    )


@control("VP-BGP-01", "Every BGP session is established", "No session, no announcement.")
def test_every_session_is_established(bird: dict[str, Read], declared: HostEntry) -> None:
    states = {line.split()[0]: line for line in bird["protocols"].output.splitlines()[1:]}
    down = [
        f"{n.name} ({n.peer_address}): {states.get(n.protocol, 'no such protocol')}"
        for n in announcing(declared).neighbors
        if "Established" not in states.get(n.protocol, "")
    ]
    assert down == [], f"{declared.name}: BGP sessions not Established: {down}"


def exported(read: Read) -> set[str]:
    return {
        line.split()[0]
        for line in read.output.splitlines()
        if line and not line[0].isspace() and "/" in line.split()[0]
    }


@control(
    "VP-BGP-02",
    "Exactly the declared prefixes are announced",
    "Announcing more hijacks someone's traffic; less loses callers.",
)
def test_the_exported_set_is_exactly_the_spec(bird: dict[str, Read], declared: HostEntry) -> None:
    spec = announcing(declared)
    # a deploy that drained the server verifies it drained; it is undrained and verified
    # announcing again only after its gate passed
    service = declared.drain_expected
    assert bird["drain"].output == service, f"{declared.name}: {bird['drain'].output}"
    for neighbor in spec.neighbors:
        wanted = set(spec.prefixes_of(neighbor.family)) if service == "in-service" else set()
        actual = exported(bird[f"export {neighbor.protocol}"])
        assert actual == wanted, (
            f"{declared.name} to {neighbor.name}: exported {sorted(actual)}, the spec "
            f"allows {sorted(wanted)} (missing ones: is the SFU healthy?)"
        )


@control("VP-BGP-03", "BFD is up where asked", "BFD makes failover sub-second.", "advisory")
def test_bfd_is_up_where_asked(bird: dict[str, Read], declared: HostEntry) -> None:
    sessions = {
        line.split()[0]: line
        for line in bird["bfd"].output.splitlines()
        if line[:1].isdigit() or ":" in line.split()[0]
    }
    down = [
        n.peer_address
        for n in announcing(declared).neighbors
        if n.bfd and " Up " not in sessions.get(n.peer_address, "")
    ]
    assert down == [], f"{declared.name}: BFD not Up with {down}"


@control(
    "VP-BGP-04", "The anycast service addresses are bound", "Announced but unbound is a black hole."
)
def test_the_service_addresses_are_bound(bird: dict[str, Read], declared: HostEntry) -> None:
    bound = bird["addresses"].output
    missing = [
        rendered.service_address(p)
        for p in announcing(declared).prefixes
        if f" {rendered.service_address(p)} " not in bound
    ]
    assert missing == [], f"{declared.name}: service addresses not bound: {missing}"


@control(
    "VP-BGP-05",
    "BIRD and the healthchecker run and start at boot",
    "The healthchecker withdraws a failed SFU.",
)
def test_bird_and_the_healthchecker_run_and_start_at_boot(
    bird: dict[str, Read], declared: HostEntry
) -> None:
    assert bird["enabled"].output.split() == ["enabled"] * 3, declared.name
    assert bird["active"].output.split() == ["active"] * 2, declared.name


@control(
    "VP-BGP-06",
    "The SFU's unit withdraws the server when it stops",
    "A crash is withdrawn at once, not after the health check has failed twice.",
)
def test_the_sfus_unit_withdraws_the_server_when_it_stops(
    bird: dict[str, Read], declared: HostEntry
) -> None:
    hooks = dict(line.split("=", 1) for line in bird["sfu hooks"].output.splitlines())
    for hook, argument in (("ExecStopPost", "stopped"), ("ExecStartPost", "started")):
        expected = f"argv[]={rendered.SFU_GATE_COMMAND} {argument} "
        assert expected in hooks.get(hook, ""), f"{declared.name}: {hook}: {hooks.get(hook)}"
    # the SFU runs (VP-SFU), so the gate must let its announcements out
    assert bird["sfu gate"].output == "running", f"{declared.name}: {bird['sfu gate'].output}"


@control(
    "VP-BGP-07",
    "The server follows its PoP's media gate where the PoP has probers, else none",
    "A server whose media is bad is drained within the PoP's capacity floor.",
)
def test_the_server_follows_its_pops_media_gate(bird: dict[str, Read], declared: HostEntry) -> None:
    state = bird["media agent"].output.split()
    if declared.bgp is None or not declared.bgp.media_gate_sources:  # no agent either
        assert "active" not in state, f"{declared.name}: an agent with no prober named: {state}"
        return
    assert state == ["enabled", "active"], f"{declared.name}: the media gate's agent: {state}"


@control(
    "VP-BGP-08",
    "BIRD's sessions are exported for the alerts where the spec asks (bird_exporter)",
    "A BGP session down pages the on-call only if Prometheus can read it.",
)
def test_birds_sessions_are_exported(bird: dict[str, Read], declared: HostEntry) -> None:
    lines = bird["exporter"].output.splitlines()
    if not declared.anycast.bird_exporter:
        assert lines[-1:] != ["active"], f"{declared.name}: bird_exporter runs, not asked"
        return
    up = {
        name: line.rsplit(" ", 1)[-1]
        for line in lines  # bird_protocol_uptime is another metric
        if line.startswith("bird_protocol_up{")
        and 'proto="BGP"' in line
        and (name := _label(line, "name"))
    }
    wanted = {n.protocol: "1" for n in announcing(declared).neighbors}
    assert up == wanted, f"{declared.name}: bird_protocol_up of its BGP sessions: {up}"


def _label(line: str, label: str) -> str:
    marker = f'{label}="'
    return line.split(marker, 1)[1].split('"', 1)[0] if marker in line else ""


@control(
    "VP-BGP-09",
    "DNS follows the announcements: the health endpoint answers 503 exactly while drained",
    "A server an operator, a deploy or the media gate drained must leave Route 53 too, or "
    "callers resolving its name still reach it.",
)
def test_dns_follows_the_announcements(bird: dict[str, Read], declared: HostEntry) -> None:
    status = bird["health outside"].output
    if status == "none":  # a health check Route 53 makes over TCP: nothing to answer 503
        return
    drained = "drained" in (declared.drain_expected, bird["media"].output)
    wanted = "503" if drained else "200"
    assert status == wanted, (
        f"{declared.name}: its health endpoint answers {status} from outside; wanted {wanted} "
        f"(drain: {declared.drain_expected}, media gate: {bird['media'].output})"
    )
