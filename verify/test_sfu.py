"""The SFU as it runs: service up, listening where declared, answering its health endpoint,
locked admin API, file limits the host honours; only callers with a signed token get in, rooms
and forwarding only with the admin key, no stock demo rooms (verify/sfu_access.py)."""

import json
import time
from typing import Any

import pytest

from roles.host import HostEntry
from roles.host_kind import KernelScope
from roles.sfu.assign import SERVICE as ASSIGN_SERVICE
from roles.sfu.assign import assignment
from roles.sfu.defaults import SfuSettings
from roles.sfu.janus import ADAPTERS, KEPT_PLUGINS
from verify.controls import control
from verify.expect import expect
from verify.sfu_access import AccessAttempts, attempts_command, configured_secret, parse_attempts

pytestmark = pytest.mark.verify

PACKAGED_ADMIN_SECRET = "janusoverlord"


def settings_of(declared: HostEntry) -> SfuSettings:
    return declared.sfu


def health(remote: Any, url: str, unit: str) -> dict[str, Any]:
    """The health endpoint's answer; a just-restarted SFU gets a few seconds to come up (one
    whose unit is not even starting gets none: it fails at once)."""
    # a liveness check: the TLS front's certificate is VP-TLS-01's
    fetch = (
        "import ssl, urllib.request; "
        f"print(urllib.request.urlopen('{url}', context=ssl._create_unverified_context())"
        ".read().decode())"
    )
    probe = f'python3 -c "{fetch}"'
    for _ in range(30):
        result = remote.run(probe)
        if result.rc == 0:
            return dict(json.loads(result.stdout))
        if not coming_up(remote, unit):
            break
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer: {result.stderr}")


def coming_up(remote: Any, unit: str) -> bool:
    """Whether the unit behind an endpoint is running or starting (a unit stopped or failed
    answers nothing however long it is asked)."""
    state = remote.run(f"systemctl is-active {unit}").stdout.strip()
    return state in ("active", "activating", "reloading")


@control("VP-SFU-01", "The SFU runs and starts at boot", "No SFU, no calls.")
def test_the_sfu_runs_and_starts_at_boot(remote: Any, declared: HostEntry) -> None:
    service = remote.service(ADAPTERS[settings_of(declared).implementation].service)
    assert service.is_running, declared.name
    assert service.is_enabled


@control(
    "VP-SFU-02",
    "The SFU answers its health endpoint with only the kept plugins",
    "Every extra plugin or transport is attack surface.",
)
def test_it_answers_its_health_endpoint_with_only_the_kept_plugins(
    remote: Any, declared: HostEntry
) -> None:
    settings = settings_of(declared)
    janus = ADAPTERS[settings.implementation]
    info = health(
        remote, f"http://127.0.0.1:{settings.signalling_port}{janus.info_path}", janus.service
    )
    assert info["name"] == "Janus WebRTC Server"
    plugins = {name.removeprefix("janus.plugin.") for name in info["plugins"]}
    assert plugins == set(KEPT_PLUGINS)
    assert set(info["transports"]) == {"janus.transport.http"}


@control(
    "VP-SFU-03",
    "The SFU answers through the TLS front; its own API and its admin API only locally",
    "The admin API can end every call; the own API is plain HTTP.",
)
def test_it_listens_where_declared_and_admin_only_locally(remote: Any, declared: HostEntry) -> None:
    settings = settings_of(declared)
    if settings.health.protocol != "tcp":
        health(remote, settings.health.local_url, ADAPTERS[settings.implementation].service)
    listening = remote.check_output("ss -Hltn")
    assert f"127.0.0.1:{settings.signalling_port}" in listening
    assert f"0.0.0.0:{settings.signalling_port}" not in listening
    assert f"127.0.0.1:{settings.admin_port}" in listening
    assert f"0.0.0.0:{settings.admin_port}" not in listening
    core = remote.file("/etc/janus/janus.jcfg").content_string
    assert f'rtp_port_range = "{settings.media_ports.first}-{settings.media_ports.last}"' in core


@control(
    "VP-SFU-04",
    "The admin secret is the host's own, not the packaged default",
    "The packaged default is public.",
)
def test_the_admin_secret_is_the_hosts_own(remote: Any, declared: HostEntry) -> None:
    adapter = ADAPTERS[settings_of(declared).implementation]
    secret = remote.file(adapter.secret_path)
    assert secret.mode == 0o600
    assert PACKAGED_ADMIN_SECRET not in remote.file("/etc/janus/janus.jcfg").content_string


@control(
    "VP-SFU-05",
    "The SFU's open-files limit is what the host honours",
    "Each call takes sockets; a low limit refuses callers.",
    "advisory",
)
def test_open_files_limit_is_what_the_host_can_honour(
    remote: Any, declared: HostEntry, kernel_scope: KernelScope
) -> None:
    settings = settings_of(declared)
    main_pid = remote.check_output(
        f"systemctl show -p MainPID --value {ADAPTERS[settings.implementation].service}"
    )

    def hard_limit(pid: str) -> int:
        line = remote.check_output(f"grep 'Max open files' /proc/{pid}/limits")
        return int(line.split()[4])

    # a container host cannot raise limits above its own (no CAP_SYS_RESOURCE there)
    ceiling = hard_limit("1") if kernel_scope == "network-namespace" else None
    expected = min(settings.nofile_limit, ceiling) if ceiling else settings.nofile_limit
    assert hard_limit(main_pid) == expected, declared.name


@pytest.fixture(scope="module")
def access(remote: Any, declared: HostEntry) -> AccessAttempts:
    """Every attempt of verify/sfu_access.py against the host's SFU, made once per host."""
    settings = settings_of(declared)
    janus = ADAPTERS[settings.implementation]
    health(remote, f"http://127.0.0.1:{settings.signalling_port}{janus.info_path}", janus.service)
    secret = configured_secret(remote.file("/etc/janus/janus.jcfg").content_string)
    assert secret, "no token_auth_secret in /etc/janus/janus.jcfg"
    base = f"http://127.0.0.1:{settings.signalling_port}/janus"
    return parse_attempts(remote.check_output(attempts_command(base, secret)))


# Janus's answers: 403 unauthorized (no, a forged or an expired token), 405 the token does
# not allow that plugin; each plugin's own code for a missing mandatory element (the admin key)
MISSING_ELEMENT = {"videoroom": 429, "audiobridge": 483}
REFUSED = {
    "session_none": 403,
    "session_forged": 403,
    "session_expired": 403,
    **{
        f"janus.plugin.{plugin} {attempt}": code
        for plugin in KEPT_PLUGINS
        for attempt, code in (
            ("attach_with_another_plugins_token", 405),
            ("create_without_admin_key", MISSING_ELEMENT[plugin]),
            ("create_with_admin_key", 0),
            ("rtp_forward_without_admin_key", MISSING_ELEMENT[plugin]),
        )
    },
}


@control(
    "VP-SFU-06",
    "Only callers with a valid signed token get in, to the plugins their token names",
    "Without tokens anyone who reaches the port uses the fleet as a free media relay.",
)
def test_only_callers_with_a_valid_token_get_in(
    request: pytest.FixtureRequest, access: AccessAttempts, declared: HostEntry
) -> None:
    info = access.info
    observed = {
        "auth_token": info.get("auth_token"),
        "server-name": info.get("server-name"),
        **{k: v for k, v in access.refused().items() if "admin_key" not in k},
    }
    expected = {
        "auth_token": True,
        "server-name": f"{declared.name} ({declared.pop})",
        **{k: v for k, v in REFUSED.items() if "admin_key" not in k},
    }
    expect(request, expected, observed, "token checks")


@control(
    "VP-SFU-07",
    "Rooms are made and media forwarded only with the admin key",
    "A room of a stranger's own could RTP-forward media anywhere: a UDP reflector.",
)
def test_rooms_and_forwarding_need_the_admin_key(
    request: pytest.FixtureRequest, access: AccessAttempts
) -> None:
    observed = {k: v for k, v in access.refused().items() if "admin_key" in k}
    expect(request, {k: v for k, v in REFUSED.items() if "admin_key" in k}, observed, "rooms")


@control(
    "VP-SFU-08",
    "No stock demo rooms in any plugin",
    "The packaged demo rooms are public, with a published secret.",
)
def test_no_stock_demo_rooms(
    request: pytest.FixtureRequest, access: AccessAttempts, remote: Any
) -> None:
    rooms = {f"janus.plugin.{p}": access.answers[f"janus.plugin.{p} rooms"] for p in KEPT_PLUGINS}
    configured = remote.run("grep -l '^room-' /etc/janus/*.jcfg").stdout.split()
    expect(request, {"rooms": {p: [] for p in rooms}, "configured": []},
           {"rooms": rooms, "configured": configured}, "demo rooms")  # fmt: skip


@control(
    "VP-SFU-09",
    "The service address assigns callers to this server by its own name and address",
    "A router hashing on ports sends a session's next connection to another server, where "
    "the session does not exist: callers keep each session on the server assigned to them.",
)
def test_the_service_address_assigns_callers_to_this_server(
    request: pytest.FixtureRequest, remote: Any, declared: HostEntry
) -> None:
    settings = settings_of(declared)
    answer = health(remote, f"http://127.0.0.1:{settings.assign_port}/assign", ASSIGN_SERVICE)
    named = declared.dns_names[0] if declared.dns_names else declared.name
    expected = assignment(settings, declared.name, named, declared.address)
    expect(request, expected, answer, "assign")
