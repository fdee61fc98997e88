"""The sfu role: the SFU's package, its configuration from the PoP spec, a systemd override
(file limits, restart policy), running and enabled; restarted only when its configuration
really changed.

Host data: `sfu` (overrides of roles/sfu/defaults.py; the spec gives the ports); the
server's name and PoP (the SFU's server name) and address (the inventory's), the only one the
SFU gathers media candidates on. Secret: the stack's token secret, from the deploy's
environment (roles/secrets.py, roles/sfu/access.py).
"""

import secrets
from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.api.facts import FactBase
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from roles.secrets import secret
from roles.sfu.access import TOKEN_SECRET_KEY, secret_problem
from roles.sfu.adapter import HostSide
from roles.sfu.assign import SERVICE as ASSIGN_SERVICE
from roles.sfu.assign import assign_files
from roles.sfu.defaults import SfuSettings
from roles.sfu.janus import ADAPTERS, NO_ORIGIN


class UnusableSecret(Exception):
    pass


class StoredSecret(FactBase[str]):
    """The host's admin secret, if it has one already (kept across deploys)."""

    def command(self, path: str) -> str:
        return f"cat {path} 2>/dev/null || true"

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else ""


def token_secret() -> str:
    value = secret(TOKEN_SECRET_KEY)
    problem = secret_problem(value)
    if problem:
        raise UnusableSecret(
            f"secret voicepop:{TOKEN_SECRET_KEY} cannot sign the SFU's tokens: {problem}; "
            "make one with `openssl rand -hex 32`"
        )
    return value


@deploy("SFU")
def sfu(settings: SfuSettings, server: str, pop: str, media_address: str) -> None:
    """`server`, `pop`: the server's names; `media_address`: the one the server is reached at
    (see below)."""
    adapter = ADAPTERS[settings.implementation]
    signing = token_secret()  # before anything changes: a deploy without it stops here
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
    host_side = HostSide(f"{server} ({pop})", media_address, admin_secret, signing)
    changed += written(adapter.config_files(settings, host_side))
    for path in adapter.stock_files():
        changed.append(files.file(name=f"Remove the packaged {path}", path=path, present=False))
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
    assigner(settings, server, media_address)


def written(contents: dict[str, str]) -> list[OperationMeta]:
    """Each file written (its folder made), Janus's configuration readable by root and its
    group only (it holds the secrets); the operations, for what restarts on a change."""
    puts = []
    for path, content in contents.items():
        folder = path.rsplit("/", 1)[0]
        files.directory(name=f"Folder {folder}", path=folder, mode="755")
        mode = "640" if path.endswith(".jcfg") else "644"
        puts.append(files.put(name=f"Write {path}", src=StringIO(content), dest=path, mode=mode))
    return puts


def assigner(settings: SfuSettings, server: str, address: str) -> None:
    """The assignment endpoint of the service address (roles/sfu/assign.py)."""
    answer = written(assign_files(settings, server, address, NO_ORIGIN))
    systemd.service(
        name=f"Restart {ASSIGN_SERVICE} for its new answer",
        service=ASSIGN_SERVICE,
        restarted=True,
        daemon_reload=True,
        _if=any_changed(*answer),
    )
    systemd.service(
        name=f"{ASSIGN_SERVICE} running and enabled",
        service=ASSIGN_SERVICE,
        running=True,
        enabled=True,
    )
