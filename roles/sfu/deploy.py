"""The sfu role: the SFU's package, its configuration from the PoP spec, a systemd override
(file limits, restart policy), running and enabled; restarted only when its configuration
really changed.

Host data: `sfu` (overrides of roles/sfu/defaults.py; the spec gives the ports); the
server's name and PoP (the SFU's server name) and address (the inventory's), the only one the
SFU gathers media candidates on. Secret: the stack's token secret, from the deploy's
environment (roles/secrets.py, roles/sfu/access.py).
"""

import re
import secrets
from io import StringIO
from pathlib import Path

from pyinfra.api.deploy import deploy
from pyinfra.api.facts import FactBase
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from roles.secrets import secret
from roles.services import runs_with
from roles.sfu import tls
from roles.sfu.access import TOKEN_SECRET_KEY, secret_problem
from roles.sfu.adapter import HostSide
from roles.sfu.assign import SERVICE as ASSIGN_SERVICE
from roles.sfu.assign import assign_files
from roles.sfu.defaults import SfuSettings
from roles.sfu.janus import ADAPTERS, NO_ORIGIN
from roles.wheels import venv_from_wheels


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


PROJECT_DIR = Path(__file__).resolve().parents[2]  # what a spec's relative paths start from


class NoCertificateNames(Exception):
    pass


@deploy("SFU")
def sfu(settings: SfuSettings, server: str, pop: str, media_address: str, names: list[str]) -> None:
    """`server`, `pop`: the server's names; `media_address`: the one the server is reached at
    (see below); `names`: its DNS names (its own first), its certificate's."""
    adapter = ADAPTERS[settings.implementation]
    signing = token_secret()  # before anything changes: a deploy without it stops here
    route53_secret = secret(tls.ROUTE53_SECRET_KEY)
    if not names:
        raise NoCertificateNames(f"{server}: no DNS names for its certificate (dns_names)")
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
    runs_with(adapter.service, adapter.service, changed)
    assigner(settings, server, names[0], media_address)
    tls_front(settings, names, route53_secret)


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


def assigner(settings: SfuSettings, server: str, name: str, address: str) -> None:
    """The assignment endpoint of the service address (roles/sfu/assign.py)."""
    answer = written(assign_files(settings, server, name, address, NO_ORIGIN))
    runs_with(ASSIGN_SERVICE, ASSIGN_SERVICE, answer)


class CertificateNames(FactBase[list[str]]):
    """The DNS names of the certificate the TLS front serves (none: no certificate yet)."""

    def command(self) -> str:
        return (
            f"openssl x509 -in {tls.LIVE}/cert.pem -noout -ext subjectAltName 2>/dev/null || true"
        )

    def process(self, output: list[str]) -> list[str]:
        return sorted(re.findall(r"DNS:([^,\s]+)", " ".join(output)))


def tls_front(settings: SfuSettings, names: list[str], route53_secret: str) -> None:
    """The certificate (obtained now when missing, its names changed or its ACME settings
    did), its renewal timer, and nginx serving the SFU's API and the assignment over HTTPS."""
    acme = settings.tls.acme
    apt.packages(name="Install the TLS front", packages=tls.PACKAGES, no_recommends=True)
    venv_from_wheels(tls.CERTBOT)
    files.directory(name=f"Folder {tls.ACME_DIR}", path=tls.ACME_DIR, mode="700")
    client = [
        files.put(
            name="ACME client's environment (Route 53's secret key: root only)",
            src=StringIO(tls.acme_environment(acme, route53_secret, acme.ca_bundle is not None)),
            dest=tls.ACME_ENV,
            mode="600",
        ),
        files.put(
            name="Certificate script",
            src=StringIO(tls.certificate_script(acme, names)),
            dest=tls.SCRIPT,
            mode="755",
        ),
    ]
    if acme.ca_bundle:
        client.append(
            files.put(
                name="The ACME CA's roots (not a public CA)",
                src=str(PROJECT_DIR / acme.ca_bundle),  # an absolute path stays as it is
                dest=tls.CA_BUNDLE,
                mode="644",
            )
        )
    units = written(tls.certificate_units())
    systemd.daemon_reload(name="systemd reads the certificate's units", _if=any_changed(*units))
    systemd.service(name=f"{tls.TIMER} enabled", service=tls.TIMER, running=True, enabled=True)
    names_differ = host.get_fact(CertificateNames) != sorted(names)
    obtained = server.shell(
        name=f"Certificate for {', '.join(names)} (ACME DNS-01)",
        commands=[tls.SCRIPT],
        _if=(lambda: True) if names_differ else any_changed(*client),
    )
    removed = files.link(name="No plain HTTP site", path=tls.PACKAGED_SITE, present=False)
    front = files.put(
        name="TLS front's site", src=StringIO(tls.front_config(settings)), dest=tls.FRONT_CONF
    )
    protocols = files.line(
        name="nginx.conf: TLS 1.2 and 1.3 only",
        path=tls.NGINX_CONF,
        line=r"^\s*ssl_protocols\s.*",
        replace=tls.NGINX_CONF_PROTOCOLS,
    )
    changed = any_changed(front, removed, protocols)
    server.shell(name="nginx -t", commands=["nginx -t -q"], _if=changed)
    systemd.service(
        name="TLS front reloaded",
        service=tls.FRONT,
        reloaded=True,
        _if=any_changed(front, removed, protocols, obtained),
    )
    systemd.service(
        name="TLS front running and enabled", service=tls.FRONT, running=True, enabled=True
    )
