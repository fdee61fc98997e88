"""The prober role: on the servers the spec's `probing.servers` names, the PoP's prober
(`python -m quality prober`) as a service, calling every server of its PoP and serving its
figures and its media gate's verdicts on the host's address (roles/prober/config.py renders
its files). On any other server, a prober left from an earlier spec is stopped and removed.

Host data: `prober` (roles/prober/config.py `ProberHost`, from stacks/host_data.py; None where
the server runs none). The SFU's token secret comes from the deploy's environment
(roles/sfu/access.py), as the SFU's own configuration gets it.
"""

import hashlib
from pathlib import Path

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.files import File, FindFiles, Sha1File
from pyinfra.operations import apt, files, server, systemd

from roles.prober import config as rendered
from roles.python_tools import PythonTool
from roles.services import put_text, runs_with, sandboxed
from roles.sfu.access import Credentials
from roles.wheels import venv_from_wheels

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACKAGES = ["python3-venv"]
PROBER = PythonTool(
    Path(__file__).with_name("prober-requirements.txt"),
    rendered.VENV,
    "aiortc",
    also=("numpy", "prometheus_client", "pydantic", "requests"),
)


def remove_prober() -> None:
    if host.get_fact(File, path=rendered.UNIT) is None:
        return
    systemd.service(name="Prober stopped", service=rendered.UNIT_NAME, running=False,
                    enabled=False)  # fmt: skip
    for path in (rendered.UNIT, rendered.SANDBOX.dropin_path):
        files.file(name=f"{path} removed", path=path, present=False)
    for folder in (rendered.CONFIG_DIR, rendered.PROBER_DIR):
        files.directory(name=f"{folder} removed", path=folder, present=False)
    systemd.daemon_reload(name="systemd forgets the prober")


def installed_pins() -> str:
    """What the venv was made from, kept in it: a change of any pin (not only aiortc's, which
    the venv's check reads) makes it anew."""
    return PROBER.requirements.read_text() + f"also: {' '.join(PROBER.also)}\n"


def install_venv() -> list[OperationMeta]:
    """The venv, made anew when its pins moved (the prober then restarts on it)."""
    pins = installed_pins()
    if host.get_fact(Sha1File, path=rendered.VENV_PINS) == hashlib.sha1(pins.encode()).hexdigest():
        return []
    server.shell(name="Prober's venv made anew", commands=[f"rm -rf {rendered.VENV}"])
    venv_from_wheels(PROBER, fresh=True)
    return [put_text(rendered.VENV_PINS, pins, "What the prober's venv was made from")]


def install_code() -> list[OperationMeta]:
    """The prober's venv from its wheels, and the project's modules it runs."""
    changed = install_venv()
    sources = rendered.source_files(PROJECT_DIR)
    for folder in sorted({str(Path(under).parent) for _, under in sources}):
        files.directory(name=f"Prober's {folder}/", path=f"{rendered.LIB}/{folder}")
    return changed + [
        files.put(name=f"Prober's {under}", src=str(source), dest=f"{rendered.LIB}/{under}")
        for source, under in sources
    ]


def trusted_roots(settings: rendered.ProberHost) -> list[OperationMeta]:
    if not settings.ca_bundle:
        return []
    source = PROJECT_DIR / settings.ca_bundle  # an absolute path stays as it is
    return [files.put(name="The SFUs' CA roots", src=str(source), dest=rendered.CA_BUNDLE)]


def inventories(settings: rendered.ProberHost) -> list[OperationMeta]:
    """Its PoP's inventory and each peer's; a peer no longer named loses its file."""
    written = [
        put_text(settings.inventory_path, rendered.render_inventory(settings), "The PoP's servers")
    ]
    for peer in settings.peers:
        content = rendered.render_peer_inventory(peer)
        written.append(put_text(rendered.inventory_path(peer.pop), content, f"Peer {peer.pop}"))
    found = host.get_fact(FindFiles, path=rendered.INVENTORIES, maxdepth=1, fname="*.json")
    stale = sorted(set(found or []) - set(settings.inventory_paths))
    return written + [
        files.file(name=f"{path} removed (no longer a peer)", path=path, present=False)
        for path in stale
    ]


@deploy("Prober")
def prober(settings: rendered.ProberHost | None) -> None:
    if settings is None:
        remove_prober()
        return
    apt.packages(name="Python's venv", packages=PACKAGES, no_recommends=True)
    changed = install_code()
    files.directory(name="Prober's config folder", path=rendered.CONFIG_DIR, mode="755")
    files.directory(name="Prober's inventories", path=rendered.INVENTORIES, mode="755")
    changed += [
        *inventories(settings),
        put_text(rendered.SETTINGS, rendered.render_settings(settings), "Prober's load and gate"),
        put_text(
            rendered.SECRET_ENV,
            rendered.render_secret_env(Credentials.from_environment().environment()),
            "Prober's token secret",
            "600",
        ),
        *trusted_roots(settings),
        put_text(rendered.UNIT, rendered.render_unit(settings), "Prober's unit"),
        sandboxed(rendered.SANDBOX),
    ]
    runs_with("Prober", rendered.UNIT_NAME, changed)
