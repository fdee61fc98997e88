"""The anycast role's rendered files, offline: BIRD's config (parsed by the real `bird -p`),
the health checks, the address unit and the drain command."""

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from roles.anycast import config as rendered
from roles.anycast.defaults import AnycastSettings
from roles.sfu.defaults import SfuHealth
from stacks.host_data import bgp_data
from stacks.spec import parse_pop
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.anycast

SETTINGS = AnycastSettings()
PASSWORDS = {"bgpMd5": "md5-of-the-test"}


# Debian installs BIRD in /usr/sbin, which is on root's PATH but not on other users'.
BIRD = shutil.which("bird") or shutil.which("bird", path="/usr/sbin") or "bird"


def host_of(server: str = "ams1-sfu01", **bgp: object) -> rendered.AnycastHost:
    raw = valid_pop()
    raw["bgp"].update(bgp)
    spec = parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    return bgp_data(spec, server)


def bird_parses(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`bird -p` on the config, its includes pointed at files of the test."""
    for family, path in rendered.PREFIX_LISTS.items():
        copy = tmp_path / f"list{family}.conf"
        copy.write_text(rendered.withdrawn_list(family, SETTINGS))
        config = config.replace(path, str(copy))
    for state in rendered.BIRD_STATES:
        copy = tmp_path / state.path.rsplit("/", 1)[1]
        copy.write_text(state.define(0))
        config = config.replace(state.path, str(copy))
    (tmp_path / "bird.conf").write_text(config)
    return subprocess.run(
        [BIRD, "-p", "-c", str(tmp_path / "bird.conf")],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_bird_config_parses(tmp_path: Path) -> None:
    config = rendered.render_bird_conf(host_of(), SETTINGS, "192.0.2.10", PASSWORDS)
    parsed = bird_parses(config, tmp_path)
    assert parsed.returncode == 0, parsed.stderr + config


def test_only_the_spec_prefixes_pass_gated_by_health_the_sfus_unit_drain_and_media() -> None:
    config = rendered.render_bird_conf(host_of(), SETTINGS, "192.0.2.10", PASSWORDS)
    assert "define VOICEPOP_PREFIXES4 = [ 198.51.100.0/24 ];" in config
    assert "define VOICEPOP_PREFIXES6 = [ 2001:db8:100::/48 ];" in config
    export4 = config[config.index("filter voicepop_export4") :].split("}")[0]
    assert export4.splitlines()[1:] == [
        "\tif ! (net ~ VOICEPOP_PREFIXES4) then reject;",
        "\tif ! (net ~ ACAST_PS_ADVERTISE) then reject;",
        "\tif VOICEPOP_SFU_STOPPED = 1 then reject;",
        "\tif VOICEPOP_DRAIN = 2 || VOICEPOP_MEDIA = 2 then reject;",
        "\tif VOICEPOP_DRAIN = 1 || VOICEPOP_MEDIA = 1 then bgp_community.add((65535, 0));",
        "\taccept;",
    ]


def test_a_session_has_its_key_timers_bfd_and_imports_nothing() -> None:
    config = rendered.render_bird_conf(host_of(), SETTINGS, "192.0.2.10", PASSWORDS)
    session = config[config.index("protocol bgp vp_rtr1") :]
    expected = (
        "neighbor 169.254.255.1 as 49544;",
        "local 192.0.2.10 as 396507;",
        "hold time 90;",
        "keepalive time 30;",
        "error wait time 5, 60;",
        'password "md5-of-the-test";',
        "multihop 2;",
        "bfd on;",
        "ipv4 { import none; export filter voicepop_export4; };",
    )
    for line in expected:
        assert f"\t{line}" in session
    assert "multiplier 3;" in config and "min rx interval 300 ms;" in config
    assert "protocol kernel" not in config  # nothing learnt reaches the kernel


def test_a_default_route_is_imported_only_when_the_spec_asks(tmp_path: Path) -> None:
    config = rendered.render_bird_conf(
        host_of(import_routes="default"), SETTINGS, "192.0.2.10", PASSWORDS
    )
    assert "ipv4 { import filter voicepop_import; export filter voicepop_export4; };" in config
    assert "protocol kernel voicepop_kernel4" in config
    assert bird_parses(config, tmp_path).returncode == 0


def test_a_server_the_prefix_does_not_list_exports_nothing_of_it(tmp_path: Path) -> None:
    prefixes = [{"prefix": "198.51.100.0/24", "kind": "unicast", "servers": ["ams1-sfu01"]}]
    other = host_of("ams1-sfu02", prefixes=prefixes)
    assert other.prefixes == []
    config = rendered.render_bird_conf(other, SETTINGS, "192.0.2.11", PASSWORDS)
    assert "ipv4 { import none; export none; };" in config
    assert "VOICEPOP_PREFIXES" not in config
    assert bird_parses(config, tmp_path).returncode == 0


def test_health_checks_follow_the_spec() -> None:
    host = host_of(health={"interval_s": 1, "timeout_s": 0.5, "fall": 3, "rise": 5})
    services = rendered.render_healthchecker_services(host, "curl -f http://x/", "lo")
    first = services.split("[sfu-")[1]
    assert (
        "check_cmd = /bin/sh -c '/sbin/ip -o addr show dev lo to 198.51.100.1/32 | grep -q"
        " . && curl -f http://x/'" in first
    )
    expected = (
        "check_interval = 1.0",
        "check_timeout = 0.5",
        "check_fail = 3",
        "check_rise = 5",
        "ip_prefix = 198.51.100.0/24",
        "on_disabled = withdraw",
    )
    for line in expected:
        assert f"\n{line}\n" in first
    daemon = rendered.render_healthchecker_conf(host, SETTINGS)
    assert "ipv6 = true" in daemon and "purge_ip_prefixes = true" in daemon


@pytest.mark.parametrize(
    ("health", "check"),
    [
        ({}, "/usr/bin/curl -fsS -k -o /dev/null -m 0.5 https://127.0.0.1:443/janus/info"),
        (
            {"path": "/healthz"},
            "/usr/bin/curl -fsS -k -o /dev/null -m 0.5 https://127.0.0.1:443/healthz",
        ),
        ({"protocol": "tcp"}, '/bin/bash -c "</dev/tcp/127.0.0.1/443"'),
    ],
)
def test_the_gate_checks_the_endpoint_of_the_specs_sfu_health(
    health: dict[str, Any], check: str
) -> None:
    """The same endpoint Route 53 checks: change `sfu.health` and the gate follows."""
    raw = valid_pop()
    raw["sfu"] = {**raw["sfu"], **{"health": health}}
    spec = parse_pop(raw, VALID_CONTEXT, "x")
    command = rendered.health_check_command(spec.sfu.health, 0.5)
    assert check in command
    services = rendered.render_healthchecker_services(host_of(), command, "lo")
    assert command in services
    # the check runs inside `sh -c '...'`: it may hold no single quote
    assert "'" not in command


@pytest.mark.parametrize("protocol", ["https", "tcp"])
def test_the_gate_check_runs_and_fails_on_a_closed_port(protocol: str) -> None:
    health = SfuHealth(protocol=protocol, port=1, path="/x")
    check = rendered.health_check_command(health, 0.5)
    wrapped = f"/bin/sh -c '{check}'"
    assert subprocess.run(wrapped, shell=True, capture_output=True, check=False).returncode != 0


@pytest.mark.parametrize(
    ("prefix", "address"),
    [
        ("198.51.100.0/24", "198.51.100.1/32"),
        ("2001:db8:100::/48", "2001:db8:100::1/128"),
        ("192.0.2.7/32", "192.0.2.7/32"),
    ],
)
def test_each_prefix_has_a_service_address(prefix: str, address: str) -> None:
    assert rendered.service_address(prefix) == address


def test_the_address_unit_uses_a_dummy_only_where_the_kernel_has_one() -> None:
    with_dummy = rendered.render_addresses_unit(host_of(), "vpanycast0", dummy=True)
    assert "ExecStart=-/sbin/ip link add vpanycast0 type dummy" in with_dummy
    assert "ExecStart=/sbin/ip addr replace 198.51.100.1/32 dev vpanycast0" in with_dummy
    on_lo = rendered.render_addresses_unit(host_of(), "lo", dummy=False)
    assert "type dummy" not in on_lo and "dev lo" in on_lo


def test_the_drain_command_is_valid_shell_with_the_spec_wait(tmp_path: Path) -> None:
    script = rendered.render_drain_command(host_of(drain_wait_s=45), "/var/lib/x/flag")
    (tmp_path / "drain").write_text(script)
    assert subprocess.run(["sh", "-n", str(tmp_path / "drain")], check=False).returncode == 0
    assert "wait_s=${2:-45}" in script


def test_a_drain_takes_the_server_out_of_dns_once_withdrawn_and_undrain_back(
    tmp_path: Path,
) -> None:
    """voicepop-drain raises the flag the health endpoint answers 503 on (roles/sfu/tls.py)
    once BIRD withdrew the routes, and lowers it once they are announced again."""
    state = tmp_path / "drain.conf"
    state.write_text(rendered.DRAIN.define(0))
    flag = tmp_path / "lib" / "drained-by-operator"
    script = tmp_path / "voicepop-drain"
    text = rendered.render_drain_command(host_of(drain_wait_s=0), str(flag))
    script.write_text(text.replace(rendered.DRAIN_STATE, str(state)))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "birdc").write_text("#!/bin/sh\necho Reconfigured\n")
    (bin_dir / "birdc").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}

    def run(*args: str) -> str:
        done = subprocess.run(["sh", str(script), *args], env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
        return done.stdout

    assert "health 503 (out of DNS)" in run("drain", "0")
    assert flag.exists() and state.read_text() == rendered.DRAIN.define(2)
    assert run("status") == "drained\n"
    run("undrain")
    assert not flag.exists() and state.read_text() == rendered.DRAIN.define(0)
    (bin_dir / "birdc").write_text("#!/bin/sh\necho syntax error\n")  # BIRD refuses
    failed = subprocess.run(["sh", str(script), "drain", "0"], env=env, capture_output=True)
    assert failed.returncode != 0 and not flag.exists()  # never out of DNS while announced


def sfu_gate(tmp_path: Path, health_check: str) -> tuple[Path, Path, dict[str, str]]:
    """The SFU gate command with its state file in `tmp_path`, and a PATH whose `birdc`
    records each call and answers as BIRD does, and whose `logger` is silent."""
    state = tmp_path / "sfu.conf"
    state.write_text(rendered.SFU_STOPPED.define(0))
    script = tmp_path / "voicepop-sfu-gate"
    text = rendered.render_sfu_gate_command(health_check)
    script.write_text(text.replace(rendered.SFU_STATE, str(state)))
    script.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "birdc").write_text(f"#!/bin/sh\necho configure >> {tmp_path}/birdc.log\n"
                                   "echo Reconfigured\n")  # fmt: skip
    (bin_dir / "logger").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("birdc", "logger"):
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return script, state, env


def test_the_sfu_gate_withdraws_on_a_stop_and_announces_once_the_sfu_answers(
    tmp_path: Path,
) -> None:
    """The command the SFU's unit runs, run for real against a stand-in for birdc: a stop
    withdraws at once; a start waits in the background until the health check passes."""
    answers = tmp_path / "answers"
    script, state, env = sfu_gate(tmp_path, f"test -e {answers}")

    def run(*args: str) -> str:
        done = subprocess.run([str(script), *args], env=env, capture_output=True, text=True,
                              check=True, timeout=10)  # fmt: skip
        return done.stdout.strip()

    assert run("status") == "running"
    run("stopped")
    assert state.read_text() == rendered.SFU_STOPPED.define(1)
    assert run("status") == "stopped"
    assert (tmp_path / "birdc.log").read_text() == "configure\n"
    run("started")  # returns at once: the SFU does not answer yet
    time.sleep(1)
    assert run("status") == "stopped"
    answers.touch()
    deadline = time.monotonic() + 5
    while run("status") != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state.read_text() == rendered.SFU_STOPPED.define(0)
    assert (tmp_path / "birdc.log").read_text() == "configure\n" * 2


def test_the_sfus_unit_runs_the_gate_when_it_stops_and_starts() -> None:
    dropin = rendered.render_sfu_gate_dropin()
    assert f"ExecStopPost=-+{rendered.SFU_GATE_COMMAND} stopped\n" in dropin
    assert f"ExecStartPost=-+{rendered.SFU_GATE_COMMAND} started\n" in dropin
    assert rendered.sfu_gate_dropin_path("janus") == (
        "/etc/systemd/system/janus.service.d/60-voicepop-announce.conf"
    )
    check = rendered.health_check_command(SfuHealth(), 1.0)
    assert f"answers() {{\n    {check}\n}}" in rendered.render_sfu_gate_command(check)


def test_the_media_gate_agent_runs_with_the_specs_sources_and_timers() -> None:
    settings = AnycastSettings(media_gate_poll_s=2)
    sources = ["192.0.2.2:9108", "192.0.2.1:9108"]  # the PoP's probers, then the spec's
    host = host_of(drain_wait_s=7).model_copy(update={"media_gate_sources": sources})
    unit = rendered.render_media_agent_unit(
        host, settings, "ams1-sfu01", "/run/voicepop/out-of-service"
    )
    assert (
        f"ExecStart={rendered.MEDIA_AGENT} run --server ams1-sfu01 --source 192.0.2.2:9108 "
        "--source 192.0.2.1:9108 "
        f"--secret-file {rendered.MEDIA_SECRET} --state {rendered.MEDIA_STATE} "
        "--flag /run/voicepop/out-of-service --drain-wait-s 7 --poll-s 2 --stale-after-s 120\n"
    ) in unit
    assert "RuntimeDirectory=voicepop\n" in unit and "ReadWritePaths=/etc/bird\n" in unit


def test_a_media_gate_source_must_be_a_host_and_port() -> None:
    with pytest.raises(ValidationError, match="String should match pattern"):
        AnycastSettings(media_gate_sources=["http://192.0.2.1:9108/verdicts"])


def test_bird_exporter_serves_birds_protocols_on_the_servers_address_only() -> None:
    defaults = rendered.render_bird_exporter_defaults("192.0.2.11", 9324)
    assert defaults.endswith(
        'ARGS="-format.new -bird.v2 -bird.socket=/run/bird/bird.ctl '
        '-web.listen-address=192.0.2.11:9324"\n'
    )
    assert "-web.listen-address=[2001:db8::11]:9324" in (
        rendered.render_bird_exporter_defaults("2001:db8::11", 9324)
    )
