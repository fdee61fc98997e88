"""Signalling over TLS as it runs: the TLS front serves a certificate for the server's names
that chains to the roots callers trust and has time left; plain HTTP answers nowhere beyond
loopback; the certificate renews by itself (roles/sfu/tls.py)."""

import json
from typing import Any

import pytest

from roles.host import HostEntry
from roles.sfu.tls import CA_BUNDLE, SERVICE, TIMER
from verify.controls import control
from verify.expect import expect

pytestmark = pytest.mark.verify

# Run on the host by python3: the handshake a caller makes, by the server's name, checked
# against the CA bundle the role installed (a CA the system does not trust) or the system's.
HANDSHAKE = """
import json, os, socket, ssl, sys, time
port, name = int(sys.argv[1]), sys.argv[2]
bundle = sys.argv[3] if os.path.exists(sys.argv[3]) else None
context = ssl.create_default_context(cafile=bundle)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            cert = tls.getpeercert()
    names = sorted(v for k, v in cert.get("subjectAltName", ()) if k == "DNS")
    left = (ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) / 86400
    print(json.dumps({"verified": True, "names": names, "days_left": left,
                      "issuer": dict(x[0] for x in cert["issuer"]).get("commonName", "")}))
except (OSError, ssl.SSLError) as error:
    print(json.dumps({"verified": False, "error": str(error)}))
"""


def handshake(remote: Any, port: int, name: str) -> dict[str, Any]:
    command = f"python3 -c '{HANDSHAKE}' {port} {name} {CA_BUNDLE}"
    return dict(json.loads(remote.check_output(command)))


@control(
    "VP-TLS-01",
    "Signalling is served over HTTPS with a valid certificate for the server's names, "
    "more than the declared days from expiry",
    "In clear, the SDP (with the DTLS fingerprints that protect the media) can be read and "
    "rewritten in transit; an expired certificate stops every caller at once.",
)
def test_the_certificate_is_valid_for_the_servers_names(
    request: pytest.FixtureRequest, remote: Any, declared: HostEntry
) -> None:
    tls = declared.sfu.tls
    answers = {name: handshake(remote, tls.port, name) for name in declared.dns_names}
    time_left = f"more than {tls.min_days_left} days left"
    observed = {
        name: {
            "verified": answer["verified"] or answer.get("error"),
            "names_covered": name in answer.get("names", []),
            time_left: answer.get("days_left", 0) > tls.min_days_left,
        }
        for name, answer in answers.items()
    }
    good = {"verified": True, "names_covered": True, time_left: True}
    expected = {name: good for name in declared.dns_names}
    assert declared.dns_names, f"{declared.name}: no DNS names declared"
    expect(request, expected, observed, "certificate")


@control(
    "VP-TLS-02",
    "Plain HTTP is closed: the SFU's API and the assignment listen on loopback only",
    "Behind the TLS front only: a plain HTTP port beyond loopback would carry the "
    "signalling in clear again.",
)
def test_plain_http_listens_on_loopback_only(
    request: pytest.FixtureRequest, remote: Any, declared: HostEntry
) -> None:
    sfu = declared.sfu
    listening = remote.check_output("ss -Hltn").split("\n")
    local = {line.split()[3] for line in listening if len(line.split()) > 3}

    def where(port: int) -> list[str]:
        return sorted(address for address in local if address.rsplit(":", 1)[1] == str(port))

    observed = {
        "signalling": where(sfu.signalling_port),
        "assignment": where(sfu.assign_port),
        "port 80": where(80),
    }
    expected = {
        "signalling": [f"127.0.0.1:{sfu.signalling_port}"],
        "assignment": [f"127.0.0.1:{sfu.assign_port}"],
        "port 80": [],
    }
    expect(request, expected, observed, "plain HTTP listeners")


@control(
    "VP-TLS-03",
    "The certificate renews by itself: its timer is active and its last run did not fail",
    "A certificate renewed by hand expires the week its owner is away.",
)
def test_the_certificate_renews_by_itself(request: pytest.FixtureRequest, remote: Any) -> None:
    timer = remote.service(TIMER)
    observed = {
        "timer enabled": timer.is_enabled,
        "timer active": remote.run(f"systemctl is-active {TIMER}").stdout.strip(),
        "last run": remote.run(f"systemctl is-failed {SERVICE}").stdout.strip(),
    }
    expected = {"timer enabled": True, "timer active": "active", "last run": "inactive"}
    expect(request, expected, observed, "renewal")
