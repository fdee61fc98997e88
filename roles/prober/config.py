"""What a prober host gets (roles/prober/deploy.py): its section of the host's entry
(`ProberHost`, from the spec's `probing` and the PoP's servers: stacks/host_data.py), and the
files rendered from it: the PoP's targets in an inventory's shape, the prober's settings, its
secret's environment and its systemd unit. Pure."""

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from roles.prober.defaults import MediaGate, ProbeLoad
from roles.settings import Port, RoleSettings
from roles.unit_sandbox import GENERATED, UnitSandbox

PROBER_DIR = "/opt/voicepop/prober"
VENV = f"{PROBER_DIR}/venv"
VENV_PINS = f"{VENV}/voicepop-pins.txt"  # the requirements it was made from
LIB = f"{PROBER_DIR}/lib"  # the project's own modules it runs (quality, and the roles' it uses)
CONFIG_DIR = "/etc/voicepop/prober"
SETTINGS = f"{CONFIG_DIR}/settings.json"
SECRET_ENV = f"{CONFIG_DIR}/secret.env"
INVENTORIES = f"{CONFIG_DIR}/pops"  # its PoP's servers and each peer PoP's, a file each
CA_BUNDLE = f"{CONFIG_DIR}/ca-bundle.pem"
UNIT_NAME = "voicepop-prober.service"
UNIT = f"/etc/systemd/system/{UNIT_NAME}"
# what `python -m quality prober` imports of the project, copied to LIB as they are
SOURCES = (
    "quality",
    "roles/__init__.py",
    "roles/settings.py",
    "roles/secrets.py",
    "roles/prober/__init__.py",
    "roles/prober/defaults.py",
    "roles/anycast/__init__.py",
    "roles/anycast/media_agent.py",
    "roles/anycast/config.py",
    "roles/anycast/defaults.py",
    "roles/sfu/__init__.py",
    "roles/sfu/access.py",
    "roles/sfu/defaults.py",
    "roles/unit_sandbox.py",
)
# a user of its own (DynamicUser), no capability: it only places calls and serves HTTP
SANDBOX = UnitSandbox(UNIT_NAME, capabilities=())


class ProberTarget(RoleSettings):
    """A server of the PoP as the prober calls it: on its own address, by its own name."""

    name: str
    address: str
    dns_name: str
    port: Port  # the SFU's HTTPS (sfu.tls.port)
    health_path: str = ""  # its health endpoint on that port (sfu.health), "" when elsewhere


class PeerServer(RoleSettings):
    """A server of another PoP as the prober calls it, from that PoP's stack outputs."""

    name: str
    address: str
    dns_names: list[str]  # its own, its PoP's, the service's (the last: the service's name)
    port: Port  # the SFU's HTTPS
    prefixes: list[str] = Field(default_factory=list)  # what it announces: the service's


class PeerPop(RoleSettings):
    """Another PoP of the mesh (the spec's `probing.peers`): its delivered servers."""

    pop: str
    servers: list[PeerServer]


class ProberHost(RoleSettings):
    """A prober's section of its host's entry."""

    pop: str
    listen: str  # the host's own address: the PoP's agents and Prometheus reach it there
    port: Port
    floor: int = Field(ge=0)  # servers of the PoP the gate keeps in service
    probers: int = Field(ge=1)  # the PoP's probers: what its load check counts
    servers: list[ProberTarget]
    load: ProbeLoad = Field(default_factory=ProbeLoad)
    gate: MediaGate = Field(default_factory=MediaGate)
    max_exposure: float = 2.0  # ProbingSettings.max_exposure
    # the roots of the SFUs' certificates when not a public CA's: the deploy machine's file
    # (sfu.tls.acme.ca_bundle), copied beside the prober's config (the SFU's copy is root's)
    ca_bundle: str | None = None
    peers: list[PeerPop] = Field(default_factory=list)  # the other PoPs it calls

    @property
    def inventory_path(self) -> str:
        return inventory_path(self.pop)

    @property
    def inventory_paths(self) -> list[str]:
        """Its own PoP's inventory first, then each peer's."""
        return [self.inventory_path, *(inventory_path(peer.pop) for peer in self.peers)]


def inventory_path(pop: str) -> str:
    return f"{INVENTORIES}/{pop}.json"


def render_inventory(prober: ProberHost) -> str:
    """The PoP's servers in the shape of inventories/<stack>.json, as much as the mesh reads."""
    hosts = [
        {
            "name": server.name,
            "address": server.address,
            "pop": prober.pop,
            "dns_names": [server.dns_name],
            "sfu": {"tls": {"port": server.port}, **health_of(server)},
        }
        for server in prober.servers
    ]
    return json.dumps(hosts, indent=1, sort_keys=True) + "\n"


def health_of(server: ProberTarget) -> dict[str, Any]:
    """The health endpoint the prober reads a server's state from (out of service: 503)."""
    if not server.health_path:
        return {}
    return {"health": {"protocol": "https", "port": server.port, "path": server.health_path}}


def render_peer_inventory(peer: PeerPop) -> str:
    """A peer PoP's servers in the shape of inventories/<stack>.json, with what the mesh reads
    of its service: the prefixes they announce and the service's name (quality/mesh.py)."""
    hosts = [
        {
            "name": server.name,
            "address": server.address,
            "pop": peer.pop,
            "dns_names": server.dns_names,
            "sfu": {"tls": {"port": server.port}},
            "bgp": {"prefixes": server.prefixes},
        }
        for server in peer.servers
    ]
    return json.dumps(hosts, indent=1, sort_keys=True) + "\n"


def render_settings(prober: ProberHost) -> str:
    settings = {"load": prober.load.model_dump(), "gate": prober.gate.model_dump()}
    return json.dumps(settings, indent=1, sort_keys=True) + "\n"


def render_secret_env(variables: dict[str, str]) -> str:
    """The token secret(s) the prober signs its calls and its verdicts with."""
    return "".join(f"{key}={value}\n" for key, value in sorted(variables.items()))


def prober_command(prober: ProberHost) -> str:
    return (
        f"{VENV}/bin/python -m quality prober --source-pop {prober.pop} "
        + "".join(f"--inventory {path} " for path in prober.inventory_paths)
        + f"--settings {SETTINGS} --floor {prober.floor} "
        f"--probers-per-pop {prober.probers} --listen {prober.listen}:{prober.port}"
    )


def render_unit(prober: ProberHost) -> str:
    environment = [f"Environment=PYTHONPATH={LIB}", "Environment=PYTHONUNBUFFERED=1"]
    if prober.ca_bundle:
        environment.append(f"Environment=REQUESTS_CA_BUNDLE={CA_BUNDLE}")
    return "\n".join(
        [
            GENERATED.rstrip("\n"),
            "[Unit]",
            "Description=voicepop: the PoP's prober (synthetic calls, the media gate's verdicts)",
            "After=network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            f"ExecStart={prober_command(prober)}",
            *environment,
            f"EnvironmentFile={SECRET_ENV}",
            "DynamicUser=yes",
            "Restart=always",
            "RestartSec=5",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def source_files(project: Path) -> list[tuple[Path, str]]:
    """(file on the deploy machine, its path under LIB) for every module the prober runs."""
    found = []
    for source in SOURCES:
        path = project / source
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        found += [(file, file.relative_to(project).as_posix()) for file in files]
    return found
