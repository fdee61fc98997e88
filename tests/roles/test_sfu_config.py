"""The SFU's configuration as text: who may use it (tokens, the admin key, CORS), what it
calls itself, and no stock demo rooms (roles/sfu/janus.py)."""

import json

import pytest

from roles.sfu.access import room_admin_key
from roles.sfu.assign import ANSWER_PATH, UNIT_PATH, assign_files
from roles.sfu.assign import SANDBOX as ASSIGN_SANDBOX
from roles.sfu.defaults import SfuSettings
from roles.sfu.janus import ALL_PLUGINS, KEPT_PLUGINS, NO_ORIGIN, Janus
from roles.unit_sandbox import render_dropin
from stacks.spec import SpecInvalid, parse_pop
from tests.pop_specs import VALID_CONTEXT, valid_pop
from tests.roles.sfu_host import HOST_SIDE, TOKEN_SECRET

FILES = Janus().config_files(SfuSettings(), HOST_SIDE)


def test_callers_need_a_token_signed_by_the_stacks_secret() -> None:
    core = FILES["/etc/janus/janus.jcfg"]
    assert "\ttoken_auth = true\n" in core
    assert f'\ttoken_auth_secret = "{TOKEN_SECRET}"\n' in core
    assert '\tserver_name = "ams1-sfu01 (ams1)"\n' in core


def test_the_kept_plugins_have_no_rooms_and_lock_creation_and_forwarding() -> None:
    for name in KEPT_PLUGINS:
        plugin = FILES[f"/etc/janus/janus.plugin.{name}.jcfg"]
        assert f'\tadmin_key = "{room_admin_key(TOKEN_SECRET)}"\n' in plugin
        assert "\tlock_rtp_forward = true\n" in plugin
        assert "room-" not in plugin


def test_every_other_plugins_and_transports_packaged_configuration_is_removed() -> None:
    stock = Janus().stock_files()
    assert "/etc/janus/janus.plugin.streaming.jcfg" in stock  # its demo opens UDP 5002-5106
    assert len([f for f in stock if ".plugin." in f]) == len(ALL_PLUGINS) - len(KEPT_PLUGINS)
    assert not set(stock) & set(FILES)


def test_browsers_are_told_no_origin_unless_one_is_allowed() -> None:
    assert (
        f'cors: {{\n\tallow_origin = "{NO_ORIGIN}"\n}}'
        in FILES["/etc/janus/janus.transport.http.jcfg"]
    )
    allowed = SfuSettings(allowed_origin="https://app.voice.example")
    http = Janus().config_files(allowed, HOST_SIDE)["/etc/janus/janus.transport.http.jcfg"]
    assert '\tallow_origin = "https://app.voice.example"\n' in http
    # Janus's enforce_cors would refuse the backend's and the probe's requests (no Origin)
    assert "enforce_cors" not in http


@pytest.mark.parametrize("origin", ["app.example", "https://app.example/path", "*", "null"])
def test_the_allowed_origin_is_one_web_origin(origin: str) -> None:
    raw = valid_pop()
    raw["sfu"] = {**raw["sfu"], **{"allowed_origin": origin}}
    with pytest.raises(SpecInvalid) as raised:
        parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    [error] = raised.value.errors
    assert error.path == "voicepop:pop.sfu.allowed_origin"


def test_the_assignment_service_answers_with_the_server_itself_sandboxed_like_the_others() -> None:
    name = "ams1-sfu01.voice.example.net"
    files = assign_files(SfuSettings(), "ams1-sfu01", name, "192.0.2.10", NO_ORIGIN)
    answer = json.loads(files[ANSWER_PATH])
    assert answer["answer"] == {"server": "ams1-sfu01", "media_address": "192.0.2.10",
                                "signalling_url": f"https://{name}/janus"}  # fmt: skip
    assert (answer["port"], answer["allow_origin"]) == (8089, NO_ORIGIN)
    assert files[ASSIGN_SANDBOX.dropin_path] == render_dropin(ASSIGN_SANDBOX)
    assert "DynamicUser=yes" in files[UNIT_PATH]
