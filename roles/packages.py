"""Every Debian package and Python tool the site deploy installs: the install half of the
roles. An image can bake them in, so that a deploy on it only configures (the sandbox's VM
image does: its package installs under emulation took minutes, its tools' venvs three more);
the container hosts still prove the installs."""

from roles.anycast.deploy import HEALTHCHECKER
from roles.anycast.deploy import PACKAGES as ANYCAST
from roles.base.deploy import AUDIT_PACKAGES as AUDIT
from roles.base.deploy import PACKAGES as BASE
from roles.firewall.deploy import PACKAGES as FIREWALL
from roles.nic_tuning.deploy import PACKAGES as NIC_TUNING
from roles.prober.deploy import PACKAGES as PROBER
from roles.python_tools import PythonTool
from roles.sfu.janus import ADAPTERS
from roles.sfu.tls import CERTBOT
from roles.sfu.tls import PACKAGES as TLS_FRONT


def site_packages(sfu_implementation: str = "janus") -> list[str]:
    sfu = ADAPTERS[sfu_implementation].packages
    return sorted({*BASE, *AUDIT, *NIC_TUNING, *FIREWALL, *sfu, *TLS_FRONT, *ANYCAST, *PROBER})


def site_python_tools() -> list[PythonTool]:
    """The tools every server runs. Not the prober's (roles/prober/deploy.py `PROBER`): only
    the servers `probing.servers` names install it, and an image baking in its 245 MB venv
    for every server would cost each of them the space."""
    return [CERTBOT, HEALTHCHECKER]
