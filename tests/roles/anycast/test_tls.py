"""Signalling over TLS tried from outside against the folder's two deployed servers
(conftest.py): plain HTTP gets no API anywhere; the certificate each serves names the server,
its PoP and the service and chains to the sandbox's ACME CA (pebble), which only the
sandbox's callers trust; a renewal swaps it under a call in progress, whose media goes on."""

import asyncio
import datetime
import itertools
import json
import os
import re
import socket
import ssl
import subprocess
import time
from typing import Any

import pytest
import requests
from cryptography import x509

from quality.call import Call
from roles.sfu.access import Credentials
from roles.sfu.tls import SCRIPT
from sandbox import settings as sandbox_settings
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import Inventory

pytestmark = [pytest.mark.quality, pytest.mark.verify]

CREATE = {"janus": "create", "transaction": "plain"}


def plain_http(address: str, port: int) -> str:
    """What a plain HTTP request for a session gets at `address:port`."""
    try:
        reply = requests.post(f"http://{address}:{port}/janus", json=CREATE, timeout=(2, 3))
    except requests.Timeout:
        return "no answer"
    except requests.ConnectionError as error:
        return "connection refused" if "refused" in str(error).lower() else str(error)[:80]
    return f"{reply.status_code} {reply.reason}: {reply.text.strip()[:80]}"


def test_plain_http_gets_no_api_on_any_port(inventory: Inventory) -> None:
    host = inventory.hosts()[0]
    sfu = host["sfu"]
    ports = (80, sfu["signalling_port"], sfu["assign_port"], sfu["tls"]["port"])
    tried = {port: plain_http(host["address"], port) for port in ports}
    print(json.dumps(tried, indent=1))
    # nothing answers on 80 and the SFU's own ports (the firewall, and nothing listens there
    # beyond loopback); the TLS front's port answers plain HTTP with nginx's refusal only
    for port in (80, sfu["signalling_port"], sfu["assign_port"]):
        assert tried[port] in ("no answer", "connection refused"), tried
    assert tried[sfu["tls"]["port"]].startswith("400 Bad Request"), tried
    assert "janus" not in tried[sfu["tls"]["port"]]


def served_chain(address: str, port: int, name: str) -> list[x509.Certificate]:
    shown = subprocess.run(
        ["openssl", "s_client", "-connect", f"{address}:{port}", "-servername", name,
         "-showcerts"], input="", capture_output=True, text=True, timeout=20, check=True,
    ).stdout  # fmt: skip
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", shown, re.S)
    return [x509.load_pem_x509_certificate(block.encode()) for block in blocks]


def described(cert: x509.Certificate) -> dict[str, Any]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = names.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "names": dns,
        "not_after": cert.not_valid_after_utc.isoformat(),
        "serial": f"{cert.serial_number:x}",
    }


def test_each_certificate_names_the_server_its_pop_and_the_service_and_chains_to_the_ca(
    inventory: Inventory,
) -> None:
    trusted = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
    system_only = ssl.create_default_context()
    for host in inventory.hosts():
        name, port = host["dns_names"][0], host["sfu"]["tls"]["port"]
        chain = [described(cert) for cert in served_chain(host["address"], port, name)]
        print(json.dumps({host["name"]: chain}, indent=1))
        leaf = chain[0]
        assert sorted(leaf["names"]) == sorted(host["dns_names"])
        left = datetime.datetime.fromisoformat(leaf["not_after"]) - datetime.datetime.now(
            datetime.UTC
        )
        assert left > datetime.timedelta(days=80), "a fresh 90-day certificate"
        assert chain[0]["issuer"] == chain[1]["subject"]  # leaf, then pebble's intermediate
        for context, verified in ((trusted, True), (system_only, False)):
            with socket.create_connection((host["address"], port), timeout=5) as raw:
                try:
                    context.wrap_socket(raw, server_hostname=name).close()
                    ok = True
                except ssl.SSLCertVerificationError:
                    ok = False
            assert ok is verified, (host["name"], verified)
        with pytest.raises(requests.exceptions.SSLError):  # not a name of the certificate's
            requests.get(f"https://{host['address']}:{port}/janus/info", timeout=5)


def test_a_renewal_swaps_the_certificate_under_a_call_in_progress(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    """`voicepop-certificate --force-renewal` (what the timer runs when one is due): a new
    certificate from the CA, nginx reloaded; the call placed before it keeps its media."""
    host = inventory.hosts()[1]
    name, port, address = host["dns_names"][0], host["sfu"]["tls"]["port"], host["address"]
    before = described(served_chain(address, port, name)[0])
    credentials = Credentials((sandbox_settings.SFU_TOKEN_SECRET,))

    async def call_across_the_renewal() -> dict[str, Any]:
        call = Call(f"https://{name}:{port}/janus", address, credentials, media_s=60)
        await call.start()
        started = time.monotonic()
        renew = f"{SCRIPT} --force-renewal; echo exit=$?"
        renewed = await asyncio.to_thread(test_sandbox.ssh, address, renew)
        renewal_s = time.monotonic() - started
        await asyncio.sleep(2)
        arrivals = [packet.at for packet in call.received if packet.at > started]
        gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
        await call.close()
        return {"renewal": renewed, "renewal_s": round(renewal_s, 2),
                "packets_during_and_after": len(arrivals),
                "longest_gap_ms": round(max(gaps) * 1000, 1)}  # fmt: skip

    measured = asyncio.run(call_across_the_renewal())
    after = described(served_chain(address, port, name)[0])
    print(json.dumps({"measured": measured, "before": before, "after": after}, indent=1))
    assert measured["renewal"].endswith("exit=0"), measured["renewal"]
    assert after["serial"] != before["serial"], "the front serves the new certificate"
    assert sorted(after["names"]) == sorted(before["names"])
    # 20 ms frames all along: no gap a listener would hear as a drop-out
    assert measured["packets_during_and_after"] > 50
    assert measured["longest_gap_ms"] < 200, measured
