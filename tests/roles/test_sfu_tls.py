"""The TLS front's and the ACME client's files, as text (roles/sfu/tls.py)."""

import subprocess
from pathlib import Path

from roles.sfu.defaults import Acme, SfuSettings, SfuTls
from roles.sfu.deploy import CertificateNames
from roles.sfu.tls import (
    ACME_ENV,
    CA_BUNDLE,
    LIVE,
    OPERATOR_DRAIN_FLAG,
    OUT_OF_SERVICE_FLAG,
    SCRIPT,
    SERVICE,
    TIMER,
    acme_environment,
    certificate_script,
    certificate_units,
    front_config,
)

NAMES = ["ams1-sfu01.voice.example.net", "ams1.voice.example.net", "sfu.voice.example.net"]
ACME = Acme(route53_access_key_id="AKIAIOSFODNN7EXAMPLE", email="noc@voice.example.net")


def test_the_front_serves_only_the_api_and_the_assignment_over_https() -> None:
    config = front_config(SfuSettings(tls=SfuTls(port=8443)))
    assert "listen 8443 ssl default_server;" in config
    assert "listen [::]:8443 ssl default_server;" in config
    assert f"ssl_certificate {LIVE}/fullchain.pem;" in config
    assert "server 127.0.0.1:8088;\n    keepalive 32;" in config  # the SFU's API, on loopback
    assert "proxy_pass http://voicepop_janus;" in config
    assert "proxy_pass http://127.0.0.1:8089;" in config  # the assignment
    assert "location / {\n        return 404;" in config
    assert "listen 80" not in config and "ssl_protocols TLSv1.2 TLSv1.3;" in config


def test_the_health_endpoint_fails_while_the_server_is_out_of_service() -> None:
    """Route 53's health check and the announcements follow the media gate's drain; Route 53
    alone (not the host's own checks, from loopback) follows an operator's drain."""
    config = front_config(SfuSettings())
    assert (
        "    location = /janus/info {\n"
        f"        if (-f {OUT_OF_SERVICE_FLAG}) {{\n"
        "            return 503;\n"
        "        }\n"
        '        set $voicepop_drained "";\n'
        f"        if (-f {OPERATOR_DRAIN_FLAG}) {{\n"
        "            set $voicepop_drained $voicepop_from_outside;\n"
        "        }\n"
        '        if ($voicepop_drained = "1") {\n'
        "            return 503;\n"
        "        }\n"
        "        proxy_pass http://voicepop_janus;\n"
    ) in config
    assert (
        "geo $voicepop_from_outside {\n    default 1;\n    127.0.0.1 0;\n    ::1 0;\n}\n"
    ) in config
    other = front_config(SfuSettings.model_validate({"health": {"path": "/healthz"}}))
    assert "location = /healthz" not in other  # a path Janus does not serve stays a 404


def test_the_certificate_script_asks_for_every_name_and_is_valid_shell(tmp_path: Path) -> None:
    script = certificate_script(ACME, NAMES)
    assert all(f"-d {name}" in script for name in NAMES)
    assert "--email noc@voice.example.net" in script
    assert "--server https://acme-v02.api.letsencrypt.org/directory" in script
    assert "--keep-until-expiring" in script and "try-reload-or-restart nginx" in script
    assert f". {ACME_ENV}" in script
    path = tmp_path / "certificate"
    path.write_text(script)
    assert subprocess.run(["sh", "-n", str(path)], check=False).returncode == 0
    anonymous = certificate_script(Acme(route53_access_key_id="AKIAIOSFODNN7EXAMPLE"), NAMES)
    assert "--register-unsafely-without-email" in anonymous


def test_the_acme_environment_quotes_the_secret_and_names_the_sandboxs_endpoints() -> None:
    production = acme_environment(ACME, "se cr'et", ca_bundle=False)
    assert "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n" in production
    assert "AWS_SECRET_ACCESS_KEY='se cr'\"'\"'et'\n" in production  # one shell word
    assert "ENDPOINT" not in production and "REQUESTS_CA_BUNDLE" not in production
    sandbox = Acme(
        route53_access_key_id="sandbox-acme", route53_endpoint="http://172.30.203.1:8788"
    )
    text = acme_environment(sandbox, "x", ca_bundle=True)
    assert "AWS_ENDPOINT_URL_ROUTE_53=http://172.30.203.1:8788\n" in text
    assert f"REQUESTS_CA_BUNDLE={CA_BUNDLE}\n" in text


def test_the_certificates_names_are_read_from_openssls_listing() -> None:
    listing = ["X509v3 Subject Alternative Name: critical",
               "    DNS:sfu.voice.example.net, DNS:ams1-sfu01.voice.example.net"]  # fmt: skip
    assert CertificateNames().process(listing) == sorted(
        ["ams1-sfu01.voice.example.net", "sfu.voice.example.net"]
    )
    assert CertificateNames().process([]) == []  # no certificate yet


def test_a_timer_runs_the_script_twice_a_day() -> None:
    units = certificate_units()
    service = units[f"/etc/systemd/system/{SERVICE}"]
    timer = units[f"/etc/systemd/system/{TIMER}"]
    assert f"ExecStart={SCRIPT}" in service and "Type=oneshot" in service
    assert "OnCalendar=*-*-* 00,12:00:00" in timer and "Persistent=true" in timer
