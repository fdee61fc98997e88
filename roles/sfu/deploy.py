"""The sfu role: the SFU's package, its configuration from the PoP spec, a systemd override
(file limits, restart policy), running and enabled; restarted only when its configuration
really changed.

Host data: `sfu` (overrides of roles/sfu/defaults.py; the spec gives the ports); the
server's address (the inventory's), the only one the SFU gathers media candidates on.
"""

import secrets
from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.api.facts import FactBase
from pyinfra.context import host
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from roles.sfu.defaults import SfuSettings
from roles.sfu.janus import ADAPTERS


class StoredSecret(FactBase[str]):
    """The host's admin secret, if it has one already (kept across deploys)."""

    def command(self, path: str) -> str:
        return f"cat {path} 2>/dev/null || true"

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else ""


@deploy("SFU")
def sfu(settings: SfuSettings, media_address: str) -> None:
    """`media_address`: the one the server is reached at (see below)."""
    adapter = ADAPTERS[settings.implementation]
    apt.packages(
        name=f"Install {', '.join(adapter.packages)}",
        packages=adapter.packages,
        update=True,
        cache_time=86_400,
        no_recommends=True,
    )
    admin_secret = host.get_fact(StoredSecret, path=adapter.secret_path) or secrets.token_hex(24)
    stored = files.put(
        name="Admin secret (made on the host once)",
        mode="600",
        src=StringIO(admin_secret + "\n"),
        dest=adapter.secret_path,
    )
    changed = [stored]
    # media only on the address the server is reached at: a second interface (a management
    # or provider-internal network) would be offered to callers as a candidate they cannot use
    for path, content in adapter.config_files(settings, admin_secret, media_address).items():
        folder = path.rsplit("/", 1)[0]
        files.directory(name=f"Folder {folder}", path=folder, mode="755")
        changed.append(
            files.put(
                name=f"Write {path}",
                src=StringIO(content),
                dest=path,
                mode="640" if path.endswith(".jcfg") else "644",
            )
        )
    systemd.service(
        name=f"Restart {adapter.service} for its new configuration",
        service=adapter.service,
        restarted=True,
        daemon_reload=True,
        _if=any_changed(*changed),
    )
    systemd.service(
        name=f"{adapter.service} running and enabled",
        service=adapter.service,
        running=True,
        enabled=True,
    )
