"""A second, independent caller: headless Chromium running Janus's own janus.js (Debian's
libjs-janus-gateway) from a page of the allowed origin, with a token and a room the test makes
as the platform's backend would. Its call reaches the SFU (the SFU's receiver reports come
back); the same page from another origin is refused by the browser (CORS)."""

import json
import os
import secrets
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from roles.sfu.access import mint_token, room_admin_key
from sandbox import settings as sandbox_settings
from tests.roles.anycast.pop import ALLOWED_ORIGIN
from tests.site_fixture import Inventory

pytestmark = [pytest.mark.quality, pytest.mark.verify]

CHROMIUM = "/usr/bin/chromium"
JANUS_JS = Path("/usr/share/javascript/janus-gateway/janus.js")
PAGE = Path(__file__).with_name("browser_call.html")
SECRET = sandbox_settings.SFU_TOKEN_SECRET


class PageServer(ThreadingHTTPServer):
    """Serves the page and janus.js, and takes the page's outcome (POST /result)."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), PageHandler)
        self.outcome: dict[str, Any] | None = None
        self.reported = threading.Event()


class PageHandler(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:
        path = urllib.parse.urlparse(self.path).path
        files = {"/janus.js": (JANUS_JS, "text/javascript"), "/call.html": (PAGE, "text/html")}
        if path not in files:
            self.send_error(404)
            return
        body, kind = files[path][0].read_bytes(), files[path][1]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.outcome = json.loads(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()
        self.server.reported.set()

    def log_message(self, *_: Any) -> None:
        pass


def serving(port: int) -> Iterator[PageServer]:
    server = PageServer(port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def allowed_page() -> Iterator[PageServer]:
    yield from serving(int(ALLOWED_ORIGIN.rsplit(":", 1)[1]))


@pytest.fixture
def foreign_page() -> Iterator[PageServer]:
    yield from serving(0)  # another port: another origin


def backend_request(api: str, request: dict[str, Any]) -> dict[str, Any]:
    """One video room request as the platform's backend sends it, in a session of its own."""
    token = mint_token(SECRET)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "token": token, "transaction": "backend"}
        return dict(requests.post(api + path, json=body, timeout=5).json())

    session = int(post("", {"janus": "create"})["data"]["id"])
    handle = post(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
    answer = post(f"/{session}/{handle['data']['id']}", {"janus": "message", "body": request})
    post(f"/{session}", {"janus": "destroy"})
    return dict(answer["plugindata"]["data"])


@contextmanager
def backend_room(api: str) -> Iterator[int]:
    """A room as the platform's backend makes one: with the admin key; destroyed after (the
    folder's hosts are left as found: the verification counts any other room as a demo's)."""
    room = 770_000 + secrets.randbelow(1000)
    made = backend_request(api, {"request": "create", "room": room, "audiocodec": "opus",
                                 "admin_key": room_admin_key(SECRET)})  # fmt: skip
    assert made.get("videoroom") == "created", made
    try:
        yield room
    finally:
        gone = backend_request(api, {"request": "destroy", "room": room})
        assert gone.get("videoroom") == "destroyed", gone


def home_trusting(bundle: Path, home: Path) -> Path:
    """A home whose NSS database (Chromium's trust store on Linux) trusts each certificate
    of `bundle` as a CA: the sandbox's ACME CA's roots, as a user's browser trusts public
    ones."""
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{database}", "--empty-password"], check=True)
    blocks = bundle.read_text().split("-----END CERTIFICATE-----")
    for index, block in enumerate(b for b in blocks if "BEGIN CERTIFICATE" in b):
        pem = home / f"root{index}.pem"
        pem.write_text(block.strip() + "\n-----END CERTIFICATE-----\n")
        subprocess.run(["certutil", "-A", "-d", f"sql:{database}", "-n", f"sandbox-{index}",
                        "-t", "C,,", "-i", str(pem)], check=True)  # fmt: skip
    return home


def browser_call(page: PageServer, inventory: Inventory, tmp_path: Path) -> dict[str, Any]:
    """Chromium opens the page with a caller's token and a room the backend made on the
    folder's second server, which it reaches over HTTPS by its name, trusting the sandbox's
    ACME CA; the page's outcome, printed."""
    host = inventory.hosts()[1]
    name = host["dns_names"][0]
    api = f"https://{name}:{host['sfu']['tls']['port']}/janus"
    home = home_trusting(Path(os.environ["REQUESTS_CA_BUNDLE"]), tmp_path / "home")
    port = page.server_address[1]
    with backend_room(api) as room:
        query = urllib.parse.urlencode(
            {"server": api, "token": mint_token(SECRET, ttl_s=300), "room": room}
        )
        browser = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'chromium'}", "--use-fake-ui-for-media-stream",
             "--use-fake-device-for-media-stream",
             f"--host-resolver-rules=MAP {name} {host['address']}",
             f"http://127.0.0.1:{port}/call.html?{query}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(home)},
        )  # fmt: skip
        try:
            assert page.reported.wait(60), "the page reported nothing within 60 s"
        finally:
            browser.terminate()
            browser.wait(timeout=10)
    assert page.outcome is not None
    print(json.dumps(page.outcome))
    return page.outcome


def test_chromium_with_janus_js_calls_with_a_token_from_the_allowed_origin(
    inventory: Inventory, allowed_page: PageServer, tmp_path: Path
) -> None:
    outcome = browser_call(allowed_page, inventory, tmp_path)
    assert outcome["ok"], outcome
    assert outcome["packetsSent"] > 50  # 3 s of 20 ms Opus frames
    # the SFU's receiver reports came back (their round trip once one carries its timing)
    assert outcome["remotePacketsLost"] is not None, "no receiver report from the SFU"


def test_the_same_page_from_another_origin_is_refused_by_the_browser(
    inventory: Inventory, foreign_page: PageServer, tmp_path: Path
) -> None:
    outcome = browser_call(foreign_page, inventory, tmp_path)
    assert (outcome["ok"], outcome["step"]) == (False, "session"), outcome
