"""The sandbox's ACME CA: Let's Encrypt's test CA `pebble` (built from its Go module by
tools/acme-ca/build.sh), validating DNS-01 challenges against the sandbox's DNS server
(sandbox/dns.py, answering from Route 53's stand-in), so that the hosts get their
certificates exactly as in production: their ACME client writes the challenge through the
Route 53 API, the CA checks it in DNS.

pebble makes a new root at each start; `start()` writes ACME_TRUST: the CA of pebble's own
listener (made here once) and pebble's roots. Only the sandbox's hosts and callers trust it.
"""

import datetime
import ipaddress
import json
import ssl
import sys
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox import processes, settings

PEBBLE = "acme-ca-pebble"
DNS = "acme-dns"
RELAY = "route53-relay"
VALIDITY_S = 90 * 86_400  # Let's Encrypt's
PEBBLE_BIN = settings.PROJECT_DIR / ".tools" / "bin" / "pebble"


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600)
    path.write_bytes(data)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def listener_certificate() -> tuple[Path, Path, Path]:
    """A CA for pebble's own HTTPS listener and its certificate for the bridge and loopback
    addresses (made once per sandbox folder): (ca, certificate, key)."""
    settings.ACME_DIR.mkdir(parents=True, exist_ok=True)
    files = ("listener-ca.pem", "listener.pem", "listener.key")
    ca_path, cert_path, key_path = (settings.ACME_DIR / name for name in files)
    if cert_path.is_file() and key_path.is_file() and ca_path.is_file():
        return ca_path, cert_path, key_path
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("voicepop sandbox ACME listener CA"))
        .issuer_name(_name("voicepop sandbox ACME listener CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    addresses = [ipaddress.ip_address(a) for a in (settings.BRIDGE_ADDRESS, "127.0.0.1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("voicepop sandbox ACME CA"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(a) for a in addresses]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return ca_path, cert_path, key_path


def pebble_config(cert: Path, key: Path) -> dict[str, object]:
    return {
        "pebble": {
            "listenAddress": f"{settings.BRIDGE_ADDRESS}:{settings.ACME_PORT}",
            "managementListenAddress": f"127.0.0.1:{settings.ACME_MANAGEMENT_PORT}",
            "certificate": str(cert),
            "privateKey": str(key),
            # HTTP-01 and TLS-ALPN-01 ports: the sandbox validates DNS-01 only
            "httpPort": 0,
            "tlsPort": 0,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "retryAfter": {"authz": 1, "order": 1},
            "keyAlgorithm": "ecdsa",
            "profiles": {"default": {"description": "90 days", "validityPeriod": VALIDITY_S}},
        }
    }


def _management(path: str, context: ssl.SSLContext) -> str:
    url = f"https://127.0.0.1:{settings.ACME_MANAGEMENT_PORT}{path}"
    with urllib.request.urlopen(url, timeout=2, context=context) as answer:
        return str(answer.read().decode())


def roots(ca: Path) -> str:
    """pebble's current root certificates (PEM), from its management API."""
    context = ssl.create_default_context(cafile=str(ca))
    found = []
    for index in range(4):
        try:
            found.append(_management(f"/roots/{index}", context))
        except OSError:
            break
    return "".join(found)


def start() -> None:
    if not PEBBLE_BIN.exists():
        sys.exit("sandbox: no ACME CA (pebble): run `make setup`")
    ca, cert, key = listener_certificate()
    config = settings.ACME_DIR / "pebble.json"
    config.write_text(json.dumps(pebble_config(cert, key), indent=2))
    processes.start(
        DNS,
        [sys.executable, "-m", "sandbox.dns", "--listen", settings.DNS_LISTEN,
         "--route53", f"http://{settings.ROUTE53_LISTEN}"],
    )  # fmt: skip
    relay_port = settings.ROUTE53_ON_BRIDGE.rsplit(":", 1)[1]
    processes.start(
        RELAY,
        ["socat", f"TCP-LISTEN:{relay_port},bind={settings.BRIDGE_ADDRESS},fork,reuseaddr",
         f"TCP:{settings.ROUTE53_LISTEN}"],
    )  # fmt: skip
    processes.start(
        PEBBLE,
        [str(PEBBLE_BIN), "-config", str(config), "-dnsserver", settings.DNS_LISTEN],
        # no random wait before a validation, no nonce refused on purpose: the sandbox's
        # deploys measure their own time
        env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
    )
    deadline = time.monotonic() + 30
    while not (found := _roots_or_none(ca)):
        if processes.running_pid(PEBBLE) is None or time.monotonic() > deadline:
            sys.exit(f"sandbox: the ACME CA did not come up; see {settings.LOGS_DIR}")
        time.sleep(0.2)
    settings.ACME_TRUST.write_text(ca.read_text() + found)


def _roots_or_none(ca: Path) -> str:
    try:
        return roots(ca)
    except OSError:
        return ""


def stop() -> None:
    for name in (PEBBLE, RELAY, DNS):
        processes.stop(name)
    settings.ACME_TRUST.unlink(missing_ok=True)
