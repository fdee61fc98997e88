"""The SFU tried from outside as an attacker would, over the network against the folder's two
deployed servers (conftest.py): every attempt without the right credentials is refused with
Janus's own answer; a caller with a valid token still gets a call; a rotation of the token
secret is seen by a call in progress and by callers holding tokens of both secrets; a burst
of session creations from one source is cut by the firewall's per-source limits."""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from quality.call import Call
from quality.janus import JanusError, JanusSession
from quality.probe import Target
from quality.rooms import sweep
from roles.sfu.access import (
    PROBE_ROOM_DESCRIPTION,
    Credentials,
    mint_token,
    probe_room_secret,
    room_admin_key,
)
from sandbox import settings as sandbox_settings
from tests.roles.anycast.pop import ALLOWED_ORIGIN
from tests.site_fixture import SECRETS, Inventory, deploy

pytestmark = [pytest.mark.quality, pytest.mark.verify]

SECRET = sandbox_settings.SFU_TOKEN_SECRET
VIDEOROOM = "janus.plugin.videoroom"


def api(host: dict[str, Any]) -> str:
    """The server's API as callers reach it: HTTPS, by its name (conftest.py resolves it)."""
    return f"https://{host['dns_names'][0]}:{host['sfu']['tls']['port']}/janus"


def post(url: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    reply = requests.post(url, json={**body, "transaction": "attacker"}, headers=headers, timeout=5)
    return dict(reply.json())


def refusal(answer: dict[str, Any]) -> str:
    """Janus's refusal as "<code> <reason>" (the API's error, else the plugin's), "" if none."""
    if answer.get("janus") == "error":
        return f"{answer['error']['code']} {answer['error']['reason']}"
    data = answer.get("plugindata", {}).get("data", {})
    return f"{data['error_code']} {data['error']}" if "error_code" in data else ""


def session(url: str, token: str) -> int:
    return int(post(url, {"janus": "create", "token": token})["data"]["id"])


def handle(url: str, session_id: int, token: str, plugin: str = VIDEOROOM) -> int:
    answer = post(f"{url}/{session_id}", {"janus": "attach", "plugin": plugin, "token": token})
    return int(answer["data"]["id"])


UNAUTHORIZED = "403 Unauthorized request (wrong or missing secret/token)"
MISSING_ADMIN_KEY = "429 Missing mandatory element (admin_key)"


def test_no_forged_expired_or_foreign_token_opens_a_session_or_a_plugin(
    inventory: Inventory,
) -> None:
    url = api(inventory.hosts()[0])
    expired = mint_token(SECRET, ttl_s=60, now=time.time() - 61)
    forged = mint_token("a-guess-" + "x" * 40)
    audio_only = mint_token(SECRET, ["audiobridge"])
    attach = {"janus": "attach", "plugin": VIDEOROOM, "token": audio_only}
    seen = {
        "no token": refusal(post(url, {"janus": "create"})),
        "expired token": refusal(post(url, {"janus": "create", "token": expired})),
        "forged signature": refusal(post(url, {"janus": "create", "token": forged})),
        "token of another plugin": refusal(post(f"{url}/{session(url, audio_only)}", attach)),
    }
    print(json.dumps(seen, indent=2))
    assert seen == {
        "no token": UNAUTHORIZED,
        "expired token": UNAUTHORIZED,
        "forged signature": UNAUTHORIZED,
        "token of another plugin": f"405 Provided token can't access plugin '{VIDEOROOM}'",
    }


def test_a_caller_with_a_token_can_neither_make_a_room_nor_forward_media_out(
    inventory: Inventory,
) -> None:
    """Even with a valid token, and the secret of a room the backend made, no room of the
    caller's own and no RTP forwarding to an address outside without the admin key."""
    url = api(inventory.hosts()[0])
    token = mint_token(SECRET)
    session_id = session(url, token)
    room_url = f"{url}/{session_id}/{handle(url, session_id, token)}"

    def ask(body: dict[str, Any]) -> dict[str, Any]:
        return post(room_url, {"janus": "message", "body": body, "token": token})

    room = {"room": 777_001, "secret": "known-to-the-attacker"}
    seen = {"create without the admin key": refusal(ask({"request": "create", **room}))}
    made = ask({"request": "create", "admin_key": room_admin_key(SECRET), **room})
    assert not refusal(made), made  # the backend's room
    try:
        forward = {"request": "rtp_forward", "publisher_id": 1, "host": "192.0.2.99",
                   "audio_port": 5004, **room}  # fmt: skip
        seen["rtp_forward to 192.0.2.99 without the admin key"] = refusal(ask(forward))
        seen["rtp_forward with a wrong admin key"] = refusal(ask({**forward, "admin_key": "x"}))
    finally:
        ask({"request": "destroy", **room})
    print(json.dumps(seen, indent=2))
    assert seen == {
        "create without the admin key": MISSING_ADMIN_KEY,
        "rtp_forward to 192.0.2.99 without the admin key": MISSING_ADMIN_KEY,
        "rtp_forward with a wrong admin key": "433 Unauthorized (wrong admin_key)",
    }


def test_a_probe_room_left_by_a_killed_call_is_swept_and_no_other_room_is(
    inventory: Inventory,
) -> None:
    """A call killed between making its room and destroying it leaves the room on Janus; the
    prober's sweep destroys it once it was empty at two sweeps in a row (quality/rooms.py),
    and leaves any other room alone (the backend's, however empty)."""
    host = inventory.hosts()[0]
    url = api(host)
    token = mint_token(SECRET)
    session_id = session(url, token)
    room_url = f"{url}/{session_id}/{handle(url, session_id, token)}"

    def ask(body: dict[str, Any]) -> dict[str, Any]:
        return post(room_url, {"janus": "message", "body": body, "token": token})

    left = {"room": 777_101, "description": PROBE_ROOM_DESCRIPTION, "is_private": True,
            "secret": probe_room_secret(SECRET, 777_101)}  # fmt: skip
    backend = {"room": 777_102, "description": "a backend's", "secret": "the-backends"}
    for room in (left, backend):
        assert not refusal(ask({"request": "create", "admin_key": room_admin_key(SECRET), **room}))
    target = Target(host["name"], host["address"], 443, host["dns_names"][0])
    credentials = Credentials((SECRET,))
    try:
        first = asyncio.run(sweep(target, credentials, frozenset()))
        assert first.destroyed == () and 777_101 in first.empty and 777_102 not in first.empty
        second = asyncio.run(sweep(target, credentials, first.empty))
        assert second.destroyed == (777_101,)
        rooms = ask({"request": "list", "admin_key": room_admin_key(SECRET)})
        listed = {r["room"] for r in rooms["plugindata"]["data"]["list"]}
        assert 777_101 not in listed and 777_102 in listed
    finally:
        ask({"request": "destroy", **backend})


def test_a_page_of_another_origin_is_not_allowed_by_the_browser(inventory: Inventory) -> None:
    """CORS: the preflight a browser sends before janus.js's JSON POST names only the allowed
    origin, so a browser refuses a page of any other (headless Chromium proves it too:
    test_browser.py)."""
    url = api(inventory.hosts()[0])
    allowed = {}
    for origin in ("https://evil.example", ALLOWED_ORIGIN):
        preflight = requests.options(
            url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}, timeout=5
        )
        allowed[origin] = preflight.headers.get("Access-Control-Allow-Origin")
    assert allowed == {"https://evil.example": ALLOWED_ORIGIN, ALLOWED_ORIGIN: ALLOWED_ORIGIN}


def test_the_stock_demo_rooms_are_gone_from_every_server(inventory: Inventory) -> None:
    token = mint_token(SECRET, ["videoroom", "audiobridge"])
    for host in inventory.hosts():
        url = api(host)
        session_id = session(url, token)
        for plugin in (VIDEOROOM, "janus.plugin.audiobridge"):
            plugin_url = f"{url}/{session_id}/{handle(url, session_id, token, plugin)}"
            listed = post(plugin_url, {"janus": "message", "body": {"request": "list"},
                                       "token": token})  # fmt: skip
            assert listed["plugindata"]["data"]["list"] == [], (host["name"], plugin)
        info = requests.get(f"{url}/info", timeout=5).json()
        assert info["server-name"] == f"{host['name']} ({host['pop']})"


async def _open_with(url: str, tokens: list[str]) -> int:
    janus = JanusSession(url, tokens=tokens)
    await janus.open()
    await janus.close()
    return janus.accepted


def test_a_rotation_of_the_token_secret_ends_the_calls_in_progress_and_admits_both_tokens(
    inventory: Inventory,
) -> None:
    """The rotation procedure (README, *The SFU's access*): callers hold tokens of the new and
    the old secret while the servers move, one by one, to the new one. A call in progress on a
    server that moves loses its media when the SFU restarts (Janus reads its secret at start);
    its caller reconnects with the other token. Left as found: the old secret again."""
    host = inventory.hosts()[0]
    url, address = api(host), host["address"]
    new = "rotated-" + "n" * 40
    old_and_new = Credentials((new, SECRET))

    async def call_across_the_rotation() -> dict[str, Any]:
        call = Call(url, address, Credentials((SECRET,)), media_s=120)
        await call.start()
        rotated = await asyncio.to_thread(
            deploy, inventory, {**SECRETS, "VOICEPOP_SECRET_sfuTokenSecret": new}, host["name"]
        )
        assert rotated.returncode == 0, rotated.stdout[-3000:]
        await asyncio.sleep(1)
        last_media = call.received[-1].at
        await call.close(goodbye=False)
        reconnect_started = time.monotonic()
        again = Call(url, address, old_and_new, media_s=10)
        await again.start()
        reconnected_s = time.monotonic() - reconnect_started
        await again.close()
        return {"no_media_for_s": time.monotonic() - last_media, "reconnect_s": reconnected_s}

    try:
        measured = asyncio.run(call_across_the_rotation())
        print(json.dumps(measured))
        assert measured["no_media_for_s"] > 1.0, "the call in progress went on"
        with pytest.raises(JanusError, match="403"):
            asyncio.run(_open_with(url, [mint_token(SECRET)]))
        # a caller of the rotation holds both: the new one serves here, the old one elsewhere
        assert asyncio.run(_open_with(url, old_and_new.tokens(60))) == 0
        other = api(inventory.hosts()[1])
        assert asyncio.run(_open_with(other, old_and_new.tokens(60))) == 1
    finally:
        restored = deploy(inventory, only=host["name"])
        assert restored.returncode == 0, restored.stdout[-3000:]
    with pytest.raises(JanusError, match="403"):  # the trial secret is refused again
        asyncio.run(_open_with(url, [mint_token(new)]))


def test_a_burst_of_session_creations_from_one_source_is_cut_and_a_call_still_gets_through(
    inventory: Inventory,
) -> None:
    """400 session creations at once, each on a new connection, from this machine: the
    firewall lets the burst and the rate through (firewall.new_connections_per_source_*:
    150 at once, 50 a second) and drops the rest; the source's next call, a moment later,
    sets up as usual. Last in this file: the others' calls come from the same source."""
    host = inventory.hosts()[0]
    url, token = api(host), mint_token(SECRET, ttl_s=120)
    limits = host["firewall"]

    def create(_: int) -> bool:
        try:
            answer = requests.post(url, json={"janus": "create", "transaction": "burst",
                                              "token": token}, timeout=(1.5, 5))  # fmt: skip
        except requests.RequestException:
            return False
        return bool(answer.json().get("janus") == "success")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=100) as pool:
        created = sum(pool.map(create, range(400)))
    elapsed = time.monotonic() - started
    allowed = (
        limits["new_connections_per_source_burst"]
        + limits["new_connections_per_source_per_s"] * elapsed
    )
    print(json.dumps({"attempted": 400, "created": created, "seconds": round(elapsed, 2),
                      "allowed_at_most": round(allowed)}))  # fmt: skip
    assert created < 400, "nothing was refused"
    assert 0 < created <= allowed + 10  # + the retransmitted SYNs let in as the bucket refills
    time.sleep(3)  # the source's bucket refills (50 a second)
    assert asyncio.run(_open_with(url, [mint_token(SECRET)])) == 0
