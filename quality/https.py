"""HTTPS to a server by its name at an address the caller already knows (curl's
`--connect-to`): the connection goes to the address, the certificate is checked against the
name in the URL, as a caller that resolved the name would. Callers know a server's address
from its assignment (roles/sfu/assign.py) or the inventory; the sandbox's names are in no
resolver this machine asks. The roots trusted are the system's, or REQUESTS_CA_BUNDLE's (the
sandbox's ACME CA)."""

import os
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class _NamedServer(HTTPAdapter):
    def __init__(self, name: str) -> None:
        self._name = name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._name  # SNI
        kwargs["assert_hostname"] = self._name  # the certificate's name
        super().init_poolmanager(*args, **kwargs)


def connected_to(url: str, address: str | None) -> tuple[str, requests.Session]:
    """The URL to request and a session for it: `url` itself when `address` is None."""
    session = requests.Session()
    parts = urlsplit(url)
    if not address or parts.hostname in (None, address):
        return url, session
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    session.mount(f"{parts.scheme}://{netloc}", _NamedServer(parts.hostname))
    session.headers["Host"] = parts.netloc
    return urlunsplit(parts._replace(netloc=netloc)), session


class CertificateUnread(Exception):
    """The server's certificate could not be read or did not verify."""


def certificate_not_after(address: str, port: int, name: str, timeout_s: float = 5.0) -> float:
    """When the certificate a server presents for `name` at `address` expires (Unix time),
    checked against the same roots as the calls' signalling."""
    context = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE") or None)
    try:
        with (
            socket.create_connection((address, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            certificate = tls.getpeercert()
    except (OSError, ssl.SSLError) as error:
        raise CertificateUnread(f"certificate of {name} at {address}:{port}: {error}") from error
    if not certificate or "notAfter" not in certificate:
        raise CertificateUnread(f"certificate of {name} at {address}:{port}: no expiry")
    return float(ssl.cert_time_to_seconds(str(certificate["notAfter"])))


def health_status(url: str, address: str, timeout_s: float = 5.0) -> int | None:
    """The HTTP status a server's health endpoint answers at `address` (as Route 53's health
    check reads it: 503 while drained); None when it does not answer at all."""
    named_url, session = connected_to(url, address)
    try:
        with session:
            return int(session.get(named_url, timeout=timeout_s).status_code)
    except requests.RequestException:
        return None
