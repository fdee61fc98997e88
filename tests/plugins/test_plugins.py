"""The plugins' one dispatcher, driven in process with the SDK's own request types: diffs,
previews, secrets, reads of things gone, and a state written before the names were
snake_case. The plugins' API calls are tested for real on the engine
(test_flexmetal_on_the_engine.py, test_vproute53.py) and in tests/e2e."""

import asyncio
import signal
import subprocess
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.provider import (
    CheckRequest,
    DiffRequest,
    ReadRequest,
    UpdateRequest,
)

from plugins.errors import unless_gone
from plugins.flexmetal import provider as flexmetal
from plugins.plugin import PluginProvider
from plugins.properties import COMPUTED, engine_values, plain_map
from plugins.vproute53 import provider as vproute53
from stacks.resources.flexmetal import resources as flexmetal_resources
from stacks.resources.flexmetal import schema as fm
from stacks.resources.flexmetal.schema import SERVER
from stacks.resources.schema import Schema, camel_case, with_current_names
from stacks.resources.vproute53 import resources as vproute53_resources
from stacks.resources.vproute53 import schema as r53
from tests.project import PROJECT_ROOT

T = TypeVar("T")
SERVER_URN = "urn:pulumi:sbx::voicepop::voicepop:pop:Pop$flexmetal:index:Server::sfu01"
ZONE_URN = "urn:pulumi:sbx::voicepop::vproute53:index:Zone::sbx1-zone"
HOST = {"name": "sbx1-sfu01", "address": "192.0.2.10", "user": "root", "data": {"port": 8088}}


def on_the_wire(values: dict[str, Any]) -> dict[str, PropertyValue]:
    """Values as the engine sends them (an unknown is a sentinel string on the wire)."""
    return PropertyValue.unmarshal_map(PropertyValue.marshal_map(engine_values(values)))


def run(work: Coroutine[Any, Any, T]) -> T:
    """On a loop of its own, leaving the thread's current loop alone (asyncio.run would unset
    it, which the SDK's mocks in later tests rely on)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()


def server_inputs(**changed: Any) -> dict[str, Any]:
    return {
        "name": "sbx1-sfu01",
        "location": "EU: Rotterdam",
        "instance_type": "bm7.std.8",
        "os_slug": "debian-12",
        "ssh_keys": ["k1", "k2"],
        "identity_tag": "vpid-0123",
        "tags": ["pop:sbx1"],
        "post_install_script": "",
        **changed,
    }


SERVER_OUTPUTS = {
    "uuid": "u1",
    "status": "delivered",
    "status_message": "",
    "ip_addresses": ["192.0.2.10"],
    "primary_ip": "192.0.2.10",
    "created_at": 1.0,
    "delivered_at": 2.0,
    "installation": "delivered@2026-12-03T10:00:00Z",
}


def diff(plugin: PluginProvider, urn: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    request = DiffRequest(urn, "id-1", on_the_wire(olds), on_the_wire(news), [])
    return run(plugin.diff(request))


def test_a_server_diff_replaces_reinstalls_or_retags_as_documented() -> None:
    plugin = flexmetal.plugin()
    olds = {**server_inputs(), **SERVER_OUTPUTS}
    same = diff(plugin, SERVER_URN, olds, server_inputs(ssh_keys=["k2", "k1"], tags=["pop:sbx1"]))
    assert same.changes is False  # keys and tags are sets
    moved = diff(plugin, SERVER_URN, olds, server_inputs(location="US: Ashburn"))
    assert moved.replaces == ["location"]
    reinstall = diff(plugin, SERVER_URN, olds, server_inputs(os_slug="debian-13"))
    assert (reinstall.changes, reinstall.replaces) == (True, [])
    ignored = DiffRequest(
        SERVER_URN, "u1", on_the_wire(olds), on_the_wire(server_inputs(tags=["x"])), ["tags"]
    )
    assert run(plugin.diff(ignored)).changes is False


def test_a_reinstall_preview_shows_the_installation_as_changing() -> None:
    olds = {**server_inputs(), **SERVER_OUTPUTS}
    news = server_inputs(os_slug="debian-13")
    request = UpdateRequest(SERVER_URN, "u1", on_the_wire(olds), on_the_wire(news), 0.0, [], True)
    planned = plain_map(run(flexmetal.plugin().update(request)).properties or {})
    assert planned["installation"] is COMPUTED and planned["primary_ip"] == "192.0.2.10"
    retag = UpdateRequest(
        SERVER_URN, "u1", on_the_wire(olds), on_the_wire(server_inputs(tags=[])), 0.0, [], True
    )
    kept = plain_map(run(flexmetal.plugin().update(retag)).properties or {})
    assert kept["installation"] == SERVER_OUTPUTS["installation"]


def legacy(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the plugins wrote them before their names were snake_case."""
    return {camel_case(name): value for name, value in values.items()}


def test_a_state_with_the_old_camelcase_names_is_updated_in_place_never_replaced() -> None:
    plugin = flexmetal.plugin()
    old_state = legacy({**server_inputs(), **SERVER_OUTPUTS})
    assert "instanceType" in old_state and "primaryIp" in old_state
    upgrade = diff(plugin, SERVER_URN, old_state, server_inputs())
    assert upgrade.changes and upgrade.replaces == []  # instance_type moved, not changed
    assert {"instance_type", "primary_ip"} <= set(upgrade.diffs)
    update = UpdateRequest(
        SERVER_URN, "u1", on_the_wire(old_state), on_the_wire(server_inputs()), 0.0, [], True
    )
    rewritten = plain_map(run(plugin.update(update)).properties or {})
    assert rewritten["primary_ip"] == "192.0.2.10" and "primaryIp" not in rewritten


def test_current_names_never_overwrite_a_value_already_under_its_new_name() -> None:
    values, moved = with_current_names(SERVER, {"primary_ip": "new", "primaryIp": "old"})
    assert values["primary_ip"] == "new" and moved == []


def test_check_names_each_missing_required_input() -> None:
    news = {**server_inputs(), "instance_type": "", "ssh_keys": []}
    request = CheckRequest(SERVER_URN, {}, on_the_wire(news), b"")
    failures = run(flexmetal.plugin().check(request)).failures or []
    assert sorted(f.property for f in failures) == ["instance_type", "ssh_keys"]


def test_a_resource_type_the_plugin_does_not_serve_is_named() -> None:
    request = CheckRequest(ZONE_URN, {}, {}, b"")
    with pytest.raises(ValueError, match="flexmetal plugin has no vproute53:index:Zone"):
        run(flexmetal.plugin().check(request))


class ZoneGone:
    def zone_exists(self, zone_id: str) -> bool:
        return False

    async def io(self, work: Any) -> Any:
        return work()


def test_a_read_of_something_gone_drops_it_from_the_state() -> None:
    handlers = vproute53.Zones(ZoneGone())  # type: ignore[arg-type]
    plugin = PluginProvider("vproute53", [handlers])
    request = ReadRequest(ZONE_URN, "Z1", on_the_wire({"name": "x", "zone_id": "Z1"}), {})
    answer = run(plugin.read(request))
    assert answer.resource_id is None and not answer.properties


def test_unless_gone_passes_every_other_error_on() -> None:
    def missing() -> None:
        raise KeyError("gone")

    assert unless_gone(missing, lambda e: isinstance(e, KeyError)) is None
    with pytest.raises(KeyError):
        unless_gone(missing, lambda e: isinstance(e, ValueError))


@pytest.mark.parametrize(
    ("resource_class", "schema"),
    [
        (flexmetal_resources.Server, fm.SERVER),
        (flexmetal_resources.SshKey, fm.SSH_KEY),
        (vproute53_resources.Zone, r53.ZONE),
        (vproute53_resources.HealthCheck, r53.HEALTH_CHECK),
    ],
)
def test_a_resource_class_reads_only_outputs_its_schema_has(
    resource_class: type, schema: Schema
) -> None:
    assert set(resource_class.__annotations__) <= set(schema.outputs)


def test_every_property_on_the_wire_is_snake_case() -> None:
    schemas = [
        fm.SERVER,
        fm.SSH_KEY,
        r53.ZONE,
        r53.HEALTH_CHECK,
        r53.RECORD_SETS,
    ]
    names = [name for schema in schemas for name in schema.properties]
    assert [name for name in names if name != name.lower()] == []


def test_a_registration_with_a_name_the_schema_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="has no input \\['primaryIp'\\]"):
        SERVER.registration({"primaryIp": "x"})


def printed_by(probe: str) -> str:
    """What `probe` prints, run by a fresh interpreter (what it imports is its own)."""
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


def test_the_stack_program_loads_no_plugin_dependencies() -> None:
    probe = (
        "import sys, stacks.pop; "
        "print(sorted(m for m in ('boto3', 'botocore', 'pyinfra', 'testinfra') "
        "if m in sys.modules))"
    )
    assert printed_by(probe) == "[]"


def test_a_plugin_starts_without_running_the_sdk_modules_it_never_uses() -> None:
    """The plugins' entry defers the SDK's Automation API and dynamic providers: imported
    (the SDK's package names them) but not run, and still whole on first use."""
    probe = (
        "import sys; from plugins.__main__ import DeferredModules, UNUSED_BY_PLUGINS; "
        "sys.meta_path.insert(0, DeferredModules(UNUSED_BY_PLUGINS)); "
        "import plugins.flexmetal.provider; "
        "deferred = [m for m in ('pulumi.automation._cmd', 'dill') if m in sys.modules]; "
        "import pulumi.automation; "
        "print(deferred, pulumi.automation.LocalWorkspace.__name__)"
    )
    assert printed_by(probe) == "[] LocalWorkspace"


def test_the_plugin_entry_names_its_usage() -> None:
    entry = subprocess.run(
        [sys.executable, "-m", "plugins"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert entry.returncode != 0
    assert "usage: python -m plugins NAME ENGINE_ADDRESS" in entry.stderr


@pytest.mark.parametrize("plugin", ["flexmetal", "vproute53"])
def test_a_plugin_exits_at_the_engines_sigint_even_started_with_sigint_ignored(
    plugin: str,
) -> None:
    """The engine closes each plugin with SIGINT, and kills it only after 5 s. A CI job's
    background shell starts commands with SIGINT ignored, which Python keeps."""
    started = subprocess.Popen(
        [sys.executable, "-m", "plugins", plugin, "127.0.0.1:1"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    try:
        assert started.stdout is not None
        port = started.stdout.readline().strip()  # the plugin serves: it printed its port
        assert port.isdigit(), started.stderr.read() if started.stderr else ""
        started.send_signal(signal.SIGINT)
        assert started.wait(timeout=30) == 0
    finally:
        started.kill()
        started.communicate()


def test_a_calculated_checks_children_compare_as_a_set() -> None:
    """A refresh reads the children back sorted; the program lists them in server order."""
    urn = "urn:pulumi:sbx::voicepop::vproute53:index:HealthCheck::sbx1-pop-health"
    check = {"key": "sbx1-pop", "kind": "CALCULATED", "health_check_id": "h"}
    olds = {**check, "child_ids": ["a-2", "b-1"]}
    plugin = PluginProvider("vproute53", [vproute53.HealthChecks(ZoneGone())])  # type: ignore[arg-type]
    assert diff(plugin, urn, olds, {**check, "child_ids": ["b-1", "a-2"]}).changes is False
    assert diff(plugin, urn, olds, {**check, "child_ids": ["b-1"]}).changes is True
