"""The SFU's tokens and admin key as the backend, the probe and the role make them
(roles/sfu/access.py); Janus itself accepts and refuses them in tests/roles/anycast."""

import base64
import hashlib
import hmac
import subprocess
import sys

import pytest

from roles.secrets import MissingSecret
from roles.sfu.access import Credentials, mint_token, room_admin_key, secret_problem
from tests.project import PROJECT_ROOT

SECRET = "s" * 40


def test_a_token_names_its_expiry_the_realm_and_its_plugins_signed_by_the_secret() -> None:
    token = mint_token(SECRET, ["videoroom", "audiobridge"], ttl_s=60, now=1_000_000)
    data, signature = token.split(":")
    assert data == "1000060,janus,janus.plugin.videoroom,janus.plugin.audiobridge"
    expected = hmac.new(SECRET.encode(), data.encode(), hashlib.sha1).digest()
    assert base64.b64decode(signature) == expected  # Janus's check: HMAC-SHA1, base64


@pytest.mark.parametrize(
    ("plugins", "ttl_s", "problem"),
    [(["streaming"], 60, "no plugin streaming"), (["videoroom"], 0, "above 0 s")],
)
def test_a_token_only_for_the_sfus_plugins_and_a_lifetime(
    plugins: list[str], ttl_s: float, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        mint_token(SECRET, plugins, ttl_s)


def test_the_admin_key_is_the_secrets_own_and_not_a_token() -> None:
    assert room_admin_key(SECRET) == room_admin_key(SECRET) != room_admin_key(SECRET + "x")
    assert SECRET not in room_admin_key(SECRET) and len(room_admin_key(SECRET)) == 64


@pytest.mark.parametrize(
    ("secret", "problem"),
    [("short", "5 characters"), ('"' * 40, "a quote"), ("a\nb" * 20, "unprintable"), (SECRET, "")],
)
def test_a_secret_janus_cannot_hold_is_named(secret: str, problem: str) -> None:
    assert problem in secret_problem(secret) if problem else secret_problem(secret) == ""


def test_credentials_come_from_the_deploys_environment_the_new_secret_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VOICEPOP_SECRET_sfuTokenSecret", raising=False)
    with pytest.raises(MissingSecret, match="VOICEPOP_SECRET_sfuTokenSecret"):
        Credentials.from_environment()
    monkeypatch.setenv("VOICEPOP_SECRET_sfuTokenSecret", "new" * 12)
    monkeypatch.setenv("VOICEPOP_SECRET_sfuTokenSecretPrevious", "old" * 12)
    credentials = Credentials.from_environment()
    assert credentials.secrets == ("new" * 12, "old" * 12)
    assert credentials.admin_keys() == [room_admin_key("new" * 12), room_admin_key("old" * 12)]


def test_the_backends_command_prints_a_token_per_secret() -> None:
    env = {"VOICEPOP_SECRET_sfuTokenSecret": "new" * 12,
           "VOICEPOP_SECRET_sfuTokenSecretPrevious": "old" * 12, "PATH": ""}  # fmt: skip
    mint = [sys.executable, "-m", "roles.sfu.access", "mint", "--ttl", "600"]
    result = subprocess.run(mint, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    tokens = result.stdout.split()
    assert result.returncode == 0 and len(tokens) == 2, result.stderr
    assert all(",janus,janus.plugin.videoroom:" in token for token in tokens)
    key = subprocess.run([*mint[:3], "admin-key"], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert key.stdout.strip() == room_admin_key("new" * 12)
