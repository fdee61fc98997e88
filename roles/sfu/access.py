"""Who may use the SFU: Janus's signed tokens and the room admin key, both made from the
stack's token secret (the secret config `voicepop:sfuTokenSecret`). The application backend
mints a caller's token here (an importable function and `python -m roles.sfu.access`); the
role writes the secret and the admin key into Janus's configuration; the probe, the call gate,
the drills and the exporter mint their own short-lived tokens.

A token is `<expiry>,janus,<plugin>[,<plugin>...]:<signature>`: the expiry in Unix seconds,
Janus's realm, the plugins it may attach to, and the base64 HMAC-SHA1 of that text under the
secret (Janus's `token_auth_secret`). Janus checks it on every request, the session's long
polls too: a caller's token must outlive its call (a token expired mid-call ends the call
within Janus's 60 s session timeout), so the backend mints one per call, valid for the longest
call it allows.

    VOICEPOP_SECRET_sfuTokenSecret=$(pulumi config get sfuTokenSecret) \\
        python -m roles.sfu.access mint [--ttl 43200] [--plugin videoroom ...]
    ... python -m roles.sfu.access admin-key     # the rooms' admin key (the backend's)

During a rotation (docs: README, *The SFU's access*), VOICEPOP_SECRET_sfuTokenSecretPrevious
holds the secret being replaced: `mint` prints a token for each secret, the new one first, and
a client tries them in that order.
"""

import argparse
import base64
import hashlib
import hmac
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from roles.secrets import PREFIX, secret

TOKEN_SECRET_KEY = "sfuTokenSecret"  # the stack's secret config key (voicepop:sfuTokenSecret)
PREVIOUS_SECRET_KEY = "sfuTokenSecretPrevious"  # the one being replaced, during a rotation
REALM = "janus"
PLUGINS = {"videoroom": "janus.plugin.videoroom", "audiobridge": "janus.plugin.audiobridge"}
# what the synthetic calls' rooms are described as (quality/call.py): private rooms made with
# the admin key for one call, which the audit tells from stock demo rooms by it
PROBE_ROOM_DESCRIPTION = "voicepop probe"
CALLER_TTL_S = 12 * 3600  # the longest call a caller's token is minted for, by default
MIN_SECRET_LENGTH = 32
ADMIN_KEY_PURPOSE = b"voicepop sfu room admin key"
PROBE_ROOM_PURPOSE = b"voicepop probe room "


def mint_token(
    token_secret: str,
    plugins: Sequence[str] = ("videoroom",),
    ttl_s: float = CALLER_TTL_S,
    now: float | None = None,
) -> str:
    """A signed token valid for `ttl_s` seconds from `now` (the clock's), for `plugins` (short
    names: videoroom, audiobridge)."""
    unknown = sorted(set(plugins) - set(PLUGINS))
    if unknown:
        raise ValueError(f"no plugin {', '.join(unknown)}: the SFU serves {', '.join(PLUGINS)}")
    if ttl_s <= 0:
        raise ValueError(f"a token's lifetime must be above 0 s, got {ttl_s:g}")
    expiry = int((time.time() if now is None else now) + ttl_s)
    data = ",".join([str(expiry), REALM, *(PLUGINS[name] for name in plugins)])
    signature = hmac.new(token_secret.encode(), data.encode(), hashlib.sha1).digest()
    return f"{data}:{base64.b64encode(signature).decode()}"


def room_admin_key(token_secret: str) -> str:
    """The plugins' `admin_key` (rooms are created and RTP-forwarded only with it): derived
    from the token secret, so one secret is kept and rotated, and the key is never a token."""
    return hmac.new(token_secret.encode(), ADMIN_KEY_PURPOSE, hashlib.sha256).hexdigest()


def probe_room_secret(token_secret: str, room: int) -> str:
    """A probe room's `secret` (what destroys it), derived from the token secret and the room:
    the call that made it destroys it, and a prober sweeping rooms left by calls killed mid-way
    (quality/rooms.py) can too, with nothing kept."""
    digest = hmac.new(token_secret.encode(), PROBE_ROOM_PURPOSE + str(room).encode(), "sha256")
    return digest.hexdigest()[:32]


def secret_problem(token_secret: str) -> str:
    """Why `token_secret` cannot sign tokens ("" if it can)."""
    if len(token_secret) < MIN_SECRET_LENGTH:
        return f"{len(token_secret)} characters, fewer than {MIN_SECRET_LENGTH}"
    if '"' in token_secret or "\\" in token_secret or not token_secret.isprintable():
        return "a quote, a backslash or an unprintable character (Janus's configuration)"
    return ""


@dataclass(frozen=True)
class Credentials:
    """What a client of the SFU holds: the token secrets it may sign with, the current one
    first (two during a rotation)."""

    secrets: tuple[str, ...]

    @classmethod
    def from_environment(cls) -> "Credentials":
        """The deploy's secret (VOICEPOP_SECRET_sfuTokenSecret) and, during a rotation, the
        one being replaced; raises roles.secrets.MissingSecret without the first."""
        previous = os.environ.get(PREFIX + PREVIOUS_SECRET_KEY, "")
        return cls((secret(TOKEN_SECRET_KEY), *([previous] if previous else [])))

    def environment(self) -> dict[str, str]:
        """The variables `from_environment` reads them from (a service run with its own copy
        of them: the prober)."""
        keys = (TOKEN_SECRET_KEY, PREVIOUS_SECRET_KEY)[: len(self.secrets)]
        return {PREFIX + key: value for key, value in zip(keys, self.secrets, strict=True)}

    def tokens(self, ttl_s: float, plugins: Sequence[str] = ("videoroom",)) -> list[str]:
        return [mint_token(s, plugins, ttl_s) for s in self.secrets]

    def admin_keys(self) -> list[str]:
        return [room_admin_key(s) for s in self.secrets]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roles.sfu.access",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    mint = commands.add_parser("mint", help="a caller's token (one per secret, the new first)")
    mint.add_argument("--ttl", type=float, default=CALLER_TTL_S, help="seconds it is valid")
    mint.add_argument("--plugin", action="append", choices=sorted(PLUGINS),
                      help="a plugin it may use (repeatable; default: videoroom)")  # fmt: skip
    commands.add_parser("admin-key", help="the rooms' admin key, for the backend")
    args = parser.parse_args(argv)
    credentials = Credentials.from_environment()
    if args.command == "admin-key":
        print(credentials.admin_keys()[0])
        return 0
    try:
        for token in credentials.tokens(args.ttl, args.plugin or ["videoroom"]):
            print(token)
    except ValueError as error:
        print(f"mint: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
