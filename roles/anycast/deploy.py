"""The anycast role: BIRD 2 announcing this server's prefixes from the PoP spec to its BGP
neighbours, gated by the SFU's health (anycast-healthchecker) and by `voicepop-drain`.

Host data: `bgp` (this server's share of the spec's `bgp`: stacks/host_data.py), `sfu` (its
`health` is the endpoint that gates the announcements), `anycast` (the spec's `anycast`:
roles/anycast/defaults.py). A container host (read on it) binds the service addresses on lo.
MD5 keys come from the deploy's
environment (roles/secrets.py), never from host data. A new BIRD config is parsed (`bird -p`)
before it replaces the running one, so a bad file never takes effect.
"""

import hashlib
from io import StringIO
from pathlib import Path

from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.facts.files import File, Sha1File
from pyinfra.operations import apt, files, server, systemd

from roles.anycast import config as rendered
from roles.anycast.defaults import AnycastSettings
from roles.host_kind import HostKernelScope
from roles.python_tools import PythonTool
from roles.secrets import secret
from roles.services import put_text, runs_with, sandboxed
from roles.sfu.access import Credentials
from roles.sfu.defaults import SfuSettings
from roles.sfu.janus import ADAPTERS
from roles.sfu.tls import OPERATOR_DRAIN_FLAG, OUT_OF_SERVICE_FLAG
from roles.wheels import venv_from_wheels

PACKAGES = ["bird2", "curl", "python3-venv", rendered.BIRD_EXPORTER_PACKAGE]
HEALTHCHECKER = PythonTool(
    Path(__file__).with_name("healthchecker-requirements.txt"),
    rendered.HEALTHCHECKER_VENV,
    "anycast-healthchecker",
)


def install_healthchecker() -> None:
    venv_from_wheels(HEALTHCHECKER)


def bind_service_addresses(spec: rendered.AnycastHost, settings: AnycastSettings) -> str:
    """Binds them now and at boot; returns the interface holding them."""
    interface = rendered.service_interface(host.get_fact(HostKernelScope), settings)
    dummy = interface != "lo"
    unit = put_text(
        rendered.ADDRESSES_UNIT,
        rendered.render_addresses_unit(spec, interface, dummy),
        "Service addresses unit",
    )
    systemd.service(
        name="Service addresses bound anew",
        service=rendered.ADDRESSES_UNIT_NAME,
        restarted=True,
        daemon_reload=True,
        _if=unit.did_change,
    )
    systemd.service(
        name="Service addresses bound at boot",
        service=rendered.ADDRESSES_UNIT_NAME,
        running=True,
        enabled=True,
    )
    return interface


def run_healthchecker(
    spec: rendered.AnycastHost, settings: AnycastSettings, sfu: SfuSettings, interface: str
) -> None:
    check = rendered.health_check_command(sfu.health, spec.health.timeout_s)
    changed = [
        put_text(
            rendered.HEALTHCHECKER_CONF,
            rendered.render_healthchecker_conf(spec, settings),
            "Healthchecker config",
        ),
        put_text(
            rendered.HEALTHCHECKER_SERVICES,
            rendered.render_healthchecker_services(spec, check, interface),
            "Health checks",
        ),
        put_text(
            rendered.HEALTHCHECKER_UNIT, rendered.HEALTHCHECKER_UNIT_TEXT, "Healthchecker unit"
        ),
    ]
    if settings.sandboxing:
        changed.append(sandboxed(rendered.HEALTHCHECKER_SANDBOX))
    runs_with("Healthchecker", "anycast-healthchecker", changed)


def configure_bird(spec: rendered.AnycastHost, settings: AnycastSettings, router_id: str) -> None:
    passwords = {n.md5_secret: secret(n.md5_secret) for n in spec.neighbors if n.md5_secret}
    config = rendered.render_bird_conf(spec, settings, router_id, passwords)
    staged = files.put(
        name="BIRD config (staged)",
        mode="640",
        group="bird",
        dest=rendered.BIRD_CONF_STAGED,
        src=StringIO(config),
    )
    if settings.sandboxing:
        systemd.service(
            name="BIRD restarts in its sandbox",
            service="bird",
            restarted=True,
            daemon_reload=True,
            _if=sandboxed(rendered.BIRD_SANDBOX).did_change,
        )
    live = host.get_fact(Sha1File, path=rendered.BIRD_CONF)
    edited_by_hand = live != hashlib.sha1(config.encode()).hexdigest()
    server.shell(
        name="BIRD parses the new config, then runs it",
        commands=[
            f"bird -p -c {rendered.BIRD_CONF_STAGED}",
            f"install -m 640 -g bird {rendered.BIRD_CONF_STAGED} {rendered.BIRD_CONF}",
            "systemctl is-active -q bird && birdc configure | grep -q Reconfigur "
            "|| systemctl restart bird",
        ],
        _if=lambda: staged.did_change() or edited_by_hand,
    )
    systemd.service(name="BIRD running", service="bird", running=True, enabled=True)


def follow_the_media_gate(
    spec: rendered.AnycastHost, settings: AnycastSettings, server: str
) -> None:
    """The media gate's agent, where the PoP has probers (probing.servers, or anycast.
    media_gate_sources); none: the agent is stopped and removed."""
    installed = host.get_fact(File, path=rendered.MEDIA_UNIT) is not None
    if not spec.media_gate_sources:
        if installed:
            systemd.service(name="Media gate agent stopped", service=rendered.MEDIA_UNIT_NAME,
                            running=False, enabled=False)  # fmt: skip
            files.file(name="Media gate agent's unit removed", path=rendered.MEDIA_UNIT,
                       present=False)  # fmt: skip
        return
    agent = Path(__file__).with_name("media_agent.py").read_text()
    secrets = "\n".join(Credentials.from_environment().secrets) + "\n"
    unit = rendered.render_media_agent_unit(spec, settings, server, OUT_OF_SERVICE_FLAG)
    changed = [
        put_text(rendered.MEDIA_AGENT, agent, "Media gate agent", "755"),
        put_text(rendered.MEDIA_SECRET, secrets, "Media gate's verdict key", "600"),
        put_text(rendered.MEDIA_UNIT, unit, "Media gate agent's unit"),
    ]
    runs_with("Media gate agent", rendered.MEDIA_UNIT_NAME, changed)


@deploy("Anycast")
def anycast(
    spec: rendered.AnycastHost | None,
    settings: AnycastSettings,
    sfu: SfuSettings,
    router_id: str,
    server: str = "",
) -> None:
    """`spec`: the host's share of `bgp`; `sfu`: whose health gates the announcements;
    `router_id`: the address the server is reached at; `server`: its name (the media gate's
    verdicts name servers)."""
    if spec is None or not spec.prefixes:  # this server announces nothing
        stop_the_bird_exporter()  # an image with the roles' packages baked in started it
        return
    apt.packages(name="BIRD, bird_exporter, curl, venv", packages=PACKAGES, no_recommends=True)
    install_healthchecker()
    interface = bind_service_addresses(spec, settings)
    files.directory(name="BIRD's prefix lists", path=f"{rendered.HEALTHCHECKER_DIR}/6")
    # created once, then owned by the healthchecker and by voicepop-drain: a re-deploy must
    # neither announce an unhealthy server nor undrain a drained one
    for family in (4, 6):
        if host.get_fact(File, path=rendered.PREFIX_LISTS[family]) is None:
            put_text(
                rendered.PREFIX_LISTS[family],
                rendered.withdrawn_list(family, settings),
                f"IPv{family} prefix list, withdrawn until the first passed checks",
            )
    for state in rendered.BIRD_STATES:  # created once (rendered.BirdState)
        if host.get_fact(File, path=state.path) is None:
            put_text(state.path, state.define(0), f"{state.variable}: in service")
    put_text(
        rendered.DRAIN_COMMAND,
        rendered.render_drain_command(spec, OPERATOR_DRAIN_FLAG),
        "Drain command",
        "755",
    )
    configure_bird(spec, settings, router_id)
    run_healthchecker(spec, settings, sfu, interface)
    tell_the_gate_when_the_sfu_stops(spec, sfu)
    follow_the_media_gate(spec, settings, server)
    export_birds_state(settings, router_id)


def stop_the_bird_exporter() -> None:
    """Its package installed (by this role, or baked into an image), not asked for: stopped,
    not started at boot (it listens on every address by default)."""
    if host.get_fact(File, path=rendered.BIRD_EXPORTER_DEFAULTS) is not None:
        systemd.service(name="bird_exporter stopped", service=rendered.BIRD_EXPORTER_UNIT_NAME,
                        running=False, enabled=False)  # fmt: skip


def export_birds_state(settings: AnycastSettings, address: str) -> None:
    """BIRD's protocols for Prometheus on the server's address (the BGP session alert), in the
    exporter's systemd sandbox; off: stopped (the package stays)."""
    name = rendered.BIRD_EXPORTER_UNIT_NAME
    if not settings.bird_exporter:
        stop_the_bird_exporter()
        return
    defaults = rendered.render_bird_exporter_defaults(address, settings.bird_exporter_port)
    changed = [
        put_text(rendered.BIRD_EXPORTER_DEFAULTS, defaults, "bird_exporter's address"),
        sandboxed(rendered.BIRD_EXPORTER_SANDBOX),
    ]
    runs_with("bird_exporter", name, changed)


def tell_the_gate_when_the_sfu_stops(spec: rendered.AnycastHost, sfu: SfuSettings) -> None:
    """The SFU's unit runs `voicepop-sfu-gate` when it stops or starts: a crash withdraws
    within a second instead of after `fall` failed health checks."""
    check = rendered.health_check_command(sfu.health, spec.health.timeout_s)
    command = rendered.render_sfu_gate_command(check)
    put_text(rendered.SFU_GATE_COMMAND, command, "SFU gate command", "755")
    service = ADAPTERS[sfu.implementation].service
    dropin = put_text(
        rendered.sfu_gate_dropin_path(service),
        rendered.render_sfu_gate_dropin(),
        f"{service} tells the gate when it stops",
    )
    systemd.daemon_reload(name="systemd reads the SFU's drop-in", _if=dropin.did_change)
