"""The SFU's access, tried on the host against its own signalling API (loopback) as a caller
without the right credentials would: one Python run on the host (standard library only) makes
every attempt and prints what Janus answered, so a host costs one SSH round trip. The tokens
are signed here with the secret the host's Janus is configured with (read, never declared)."""

import json
import re
import shlex
import time
from dataclasses import dataclass
from typing import Any

from roles.sfu.access import PLUGINS, PROBE_ROOM_DESCRIPTION, mint_token, room_admin_key

# Run on the host: `python3 - '<arguments as JSON>'`. Each attempt's answer is Janus's error
# code (the API's, else the plugin's), 0 when it was granted.
ON_HOST = r"""
import json, sys, urllib.request
a = json.loads(sys.argv[1])

def post(path, body):
    body = dict(body, transaction="voicepop-audit")
    request = urllib.request.Request(a["base"] + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=5).read())

def code(answer):
    if answer.get("janus") == "error":
        return answer["error"]["code"]
    return answer.get("plugindata", {}).get("data", {}).get("error_code", 0)

out = {"info": json.loads(urllib.request.urlopen(a["base"] + "/info", timeout=5).read())}
for name in ("none", "forged", "expired"):
    out["session_" + name] = code(post("", {"janus": "create", **a["tokens"][name]}))
valid = {"token": a["valid"]}
session = post("", {"janus": "create", **valid})["data"]["id"]
for plugin, other in a["plugins"].items():
    attach = {"janus": "attach", "plugin": plugin}
    out[plugin + " attach_with_another_plugins_token"] = code(
        post("/%d" % session, dict(attach, token=a["foreign"][plugin])))
    handle = post("/%d" % session, dict(attach, **valid))["data"]["id"]
    def ask(body):
        return post("/%d/%d" % (session, handle), {"janus": "message", "body": body, **valid})
    room = {"room": a["room"]}
    out[plugin + " create_without_admin_key"] = code(ask(dict(request="create", **room)))
    made = code(ask(dict(request="create", admin_key=a["admin_key"], secret=a["room_secret"],
                         is_private=True, **room)))
    out[plugin + " create_with_admin_key"] = made
    out[plugin + " rtp_forward_without_admin_key"] = code(ask(dict(
        request="rtp_forward", secret=a["room_secret"], publisher_id=1, host="192.0.2.1",
        port=5000, audio_port=5000, **room)))
    listed = ask(dict(request="list", admin_key=a["admin_key"]))
    out[plugin + " rooms"] = sorted(
        r["room"] for r in listed["plugindata"]["data"].get("list", [])
        if r["room"] != a["room"] and r.get("description") != a["probe_rooms"])
    if made == 0:
        ask(dict(request="destroy", secret=a["room_secret"], **room))
post("/%d" % session, {"janus": "destroy", **valid})
print(json.dumps(out))
"""

SECRET_LINE = re.compile(r'^\s*token_auth_secret\s*=\s*"([^"]*)"', re.MULTILINE)
AUDIT_ROOM = 4_242_424_242 % (2**31)  # a room number no caller uses (the probe's are random)


@dataclass(frozen=True)
class AccessAttempts:
    """What Janus answered each attempt; 0 is granted, else its error code."""

    answers: dict[str, Any]

    @property
    def info(self) -> dict[str, Any]:
        return dict(self.answers["info"])

    def refused(self) -> dict[str, int]:
        return {k: v for k, v in self.answers.items() if k != "info" and not k.endswith("rooms")}


def configured_secret(janus_config: str) -> str:
    """The token secret the host's Janus is configured with ("" if none)."""
    found = SECRET_LINE.search(janus_config)
    return found.group(1) if found else ""


def attempts_command(base_url: str, token_secret: str) -> str:
    """The host-side run for the SFU whose API is `base_url` (on the host's loopback)."""
    now = time.time()
    other = {"janus.plugin.videoroom": "audiobridge", "janus.plugin.audiobridge": "videoroom"}
    arguments = {
        "base": base_url,
        "tokens": {
            "none": {},
            "forged": {"token": mint_token("not-the-secret-" + "x" * 32, list(PLUGINS))},
            "expired": {"token": mint_token(token_secret, list(PLUGINS), 60, now - 120)},
        },
        "valid": mint_token(token_secret, list(PLUGINS), 120, now),
        "foreign": {
            plugin: mint_token(token_secret, [name], 120, now) for plugin, name in other.items()
        },
        "plugins": other,
        "admin_key": room_admin_key(token_secret),
        "room": AUDIT_ROOM,
        "room_secret": "voicepop-audit-room",
        "probe_rooms": PROBE_ROOM_DESCRIPTION,  # the synthetic calls', not demo rooms
    }
    return f"python3 - {shlex.quote(json.dumps(arguments))} <<'PY'\n{ON_HOST}\nPY"


def parse_attempts(output: str) -> AccessAttempts:
    return AccessAttempts(json.loads(output))
