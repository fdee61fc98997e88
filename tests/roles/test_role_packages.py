"""The install half of the roles is listed in one place (roles/packages.py), so an image that
bakes it in (the sandbox's VM image) leaves a deploy nothing to install: the Debian packages
and the Python tools in their venvs."""

import ast
import os
from collections.abc import Callable

import pytest

from roles.packages import site_packages, site_python_tools
from roles.wheels import index_environment
from tests.project import PROJECT_ROOT


def apt_package_arguments(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "packages"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "apt"
        ):
            found += [ast.unparse(k.value) for k in node.keywords if k.arg == "packages"]
    return found


def venv_arguments(tree: ast.AST) -> list[str]:
    return [
        ast.unparse(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "venv_from_wheels"
    ]


def arguments_in_roles(find: Callable[[ast.AST], list[str]]) -> dict[str, list[str]]:
    """Each role file's install arguments as `find` reads them from its syntax tree."""
    found = {}
    for path in sorted((PROJECT_ROOT / "roles").rglob("*.py")):
        if arguments := find(ast.parse(path.read_text())):
            found[str(path.relative_to(PROJECT_ROOT))] = arguments
    return found


def test_every_apt_install_of_the_roles_is_a_listed_constant() -> None:
    assert arguments_in_roles(apt_package_arguments) == {
        "roles/anycast/deploy.py": ["PACKAGES"],
        "roles/base/deploy.py": ["PACKAGES", "AUDIT_PACKAGES"],
        "roles/firewall/deploy.py": ["PACKAGES"],
        "roles/nic_tuning/deploy.py": ["PACKAGES"],
        "roles/prober/deploy.py": ["PACKAGES"],
        "roles/sfu/deploy.py": ["adapter.packages", "tls.PACKAGES"],
    }


def test_the_site_packages_are_every_roles_packages() -> None:
    packages = site_packages()
    for package in (
        "chrony",
        "nftables",
        "ethtool",
        "janus",
        "bird2",
        "python3-venv",
        "nginx-light",
        "rsyslog",
        "auditd",
    ):
        assert package in packages
    assert packages == sorted(set(packages))


def test_every_python_tool_the_roles_install_is_a_listed_constant() -> None:
    assert arguments_in_roles(venv_arguments) == {
        "roles/anycast/deploy.py": ["HEALTHCHECKER"],
        "roles/prober/deploy.py": ["PROBER"],  # on the probers only: not in site_python_tools
        "roles/sfu/deploy.py": ["tls.CERTBOT"],
    }
    assert [tool.package for tool in site_python_tools()] == ["certbot", "anycast-healthchecker"]


def test_a_tool_installs_its_pinned_version_from_the_wheels_only() -> None:
    certbot = next(tool for tool in site_python_tools() if tool.package == "certbot")
    venv, pip = certbot.install_commands("/w")
    assert venv == "python3 -m venv /opt/voicepop/certbot"
    assert pip == (
        "/opt/voicepop/certbot/bin/pip install --quiet --no-index --find-links /w "
        f"certbot=={certbot.version} certbot-dns-route53"
    )
    assert certbot.version == "5.8.0"


def test_the_wheels_are_fetched_with_pips_own_trust_not_the_sfus_ca(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deploy's environment names the SFUs' ACME roots in REQUESTS_CA_BUNDLE (for its
    callers); pip, which lets that override its own `cert`, must not see it (a cold cache's
    first build failed on it: the index does not chain to the sandbox's CA)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/tmp/sandbox/acme/trust.pem")
    monkeypatch.setenv("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")
    environment = index_environment()
    assert "REQUESTS_CA_BUNDLE" not in environment
    assert environment["PIP_CERT"] == "/etc/ssl/certs/ca-certificates.crt"
    assert environment["PATH"] == os.environ["PATH"]
