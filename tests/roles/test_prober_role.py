"""The prober as a role, on sandbox hosts: the spec names sbx1-sfu01 in `probing.servers`, the
site deploy installs the prober there (its wheels, the project's modules, a unit as a user of
its own) and every announcing server's media gate agent follows it. It calls both servers and
serves its figures on the host's address to the PoP's servers and the declared scrapers only;
loss on the other server's media drains that server through it, and removing the loss returns
it; a spec that names no prober removes it and the agents."""

import re
import subprocess
import urllib.request
from collections.abc import Mapping

import pytest

from roles.anycast import config as anycast_rendered
from roles.prober import config as rendered
from roles.prober.defaults import PROBER_PORT
from stacks.host_data import host_data
from tests.loopback import wait_for
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import (
    Inventory,
    deliver_and_declare,
    deploy,
    media_loss,
    sandbox_spec,
    verify,
)

pytestmark = [pytest.mark.roles, pytest.mark.quality]

HOSTS = (("sbx1-sfu01", "bm7.std.8"), ("sbx1-sfu02", "bm7.std.8"))  # containers
PROBER, OTHER = (name for name, _ in HOSTS)
# a call of 2 s every 2 s: each server is called every ~4 s; 3 bad in a row drain, 3 good return
PROBING = {
    "servers": [PROBER],
    "load": {"calls_per_minute": 30, "call_s": 2},
    "gate": {"bad_calls": 3, "good_calls": 3},
}
LOSS = media_loss(25)  # 25 % of the server's UDP dropped on its way out


def changes(probing: Mapping[str, object]) -> dict[str, object]:
    """The spec's changes: `probing`, the agents asking every second, a quick drain (this
    machine, on the PoP's bridge, is the sandbox's scraper: tests/sandbox_fixture.py)."""
    return {
        "probing": probing,
        "anycast__media_gate_poll_s": 1,
        "bgp__drain_wait_s": 3,
    }


@pytest.fixture(scope="module")
def inventory(test_sandbox: SandboxUnderTest) -> Inventory:
    spec = sandbox_spec(test_sandbox, **changes(PROBING))
    inventory = deliver_and_declare(test_sandbox, spec, HOSTS)
    deployed = deploy(inventory)
    assert deployed.returncode == 0, deployed.stdout[-3000:]
    return inventory


def metrics_of(inventory: Inventory) -> str:
    address = inventory.host(PROBER)["address"]
    url = f"http://{address}:{PROBER_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


def media_state(test_sandbox: SandboxUnderTest, address: str) -> str:
    return test_sandbox.ssh(
        address, f"{anycast_rendered.MEDIA_AGENT} --state {anycast_rendered.MEDIA_STATE} status"
    )


def test_the_deploy_runs_the_prober_on_its_server_only_and_verification_passes(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    prober, other = (inventory.host(name)["address"] for name in (PROBER, OTHER))
    active = f"systemctl is-active {rendered.UNIT_NAME}; true"
    journal = f"journalctl -u {rendered.UNIT_NAME} -n 40 --no-pager"
    assert test_sandbox.ssh(prober, active) == "active", test_sandbox.ssh(prober, journal)
    assert test_sandbox.ssh(other, active) in ("inactive", "unknown")
    agents = f"systemctl is-active {anycast_rendered.MEDIA_UNIT_NAME}"
    assert [test_sandbox.ssh(address, agents) for address in (prober, other)] == ["active"] * 2
    assert f"--source {prober}:9108 " in test_sandbox.ssh(
        other, f"systemctl cat {anycast_rendered.MEDIA_UNIT_NAME}"
    )
    verified = verify(inventory, settle_s=30)
    assert verified.returncode == 0, verified.stdout[-3000:]
    # the check can fail: the prober stopped, its server's verification names it
    test_sandbox.ssh(prober, f"systemctl stop {rendered.UNIT_NAME}")
    try:
        stopped = verify(inventory, only=PROBER)
    finally:
        test_sandbox.ssh(prober, f"systemctl start {rendered.UNIT_NAME}")
    assert stopped.returncode != 0
    assert "test_the_prober_runs_where_the_spec_names_it" in stopped.stdout, stopped.stdout[-2000:]


def test_it_calls_every_server_of_its_pop_and_serves_the_figures(inventory: Inventory) -> None:
    def both_called() -> bool:
        text = metrics_of(inventory)
        called = set(re.findall(r'voicepop_call_up\{[^}]*target_server="([^"]+)"[^}]*\} 1', text))
        return called == {PROBER, OTHER}

    wait_for(both_called, 60, "a call with media to each server")
    text = metrics_of(inventory)
    assert 'voicepop_pop_servers_in_service{pop="sbx1"} 2.0' in text
    assert 'source_pop="sbx1"' in text and 'path="unicast"' in text


def test_its_port_is_closed_to_anyone_but_the_pops_servers_and_the_scrapers(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    prober, other = (inventory.host(name)["address"] for name in (PROBER, OTHER))
    asked = f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 http://{prober}:9108/verdicts"
    assert test_sandbox.ssh(other, asked) == "200"  # a server of the PoP: its agent asks
    assert metrics_of(inventory)  # this machine, a declared scraper
    callers = f"vp-callers-{test_sandbox.settings['VOICEPOP_SANDBOX_BRIDGE']}"
    url = f"http://{prober}:{PROBER_PORT}/verdicts"
    from_outside = subprocess.run(
        ["ip", "netns", "exec", callers, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
         "--max-time", "3", url],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    # a caller behind the upstream router: dropped, no answer (curl: 28, timed out)
    assert (from_outside.returncode, from_outside.stdout) == (28, "000"), from_outside


def test_bad_media_on_the_other_server_drains_it_through_the_prober_and_it_returns(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    other = inventory.host(OTHER)["address"]
    assert media_state(test_sandbox, other) == "in-service"
    test_sandbox.ssh(other, LOSS)
    try:
        took = wait_for(lambda: media_state(test_sandbox, other) == "drained", 90, "drained")
        print(f"drained {took:.1f} s after the loss began")
        text = metrics_of(inventory)
        assert f'voicepop_media_gate_drained{{pop="sbx1",server="{OTHER}"}} 1.0' in text
        health = "curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1/janus/info"
        assert test_sandbox.ssh(other, health) == "503"
    finally:
        test_sandbox.ssh(other, "nft delete table inet vptest")
    took = wait_for(lambda: media_state(test_sandbox, other) == "in-service", 90, "back")
    print(f"back in service {took:.1f} s after the loss ended")
    assert media_state(test_sandbox, inventory.host(PROBER)["address"]) == "in-service"


def test_a_spec_naming_no_prober_removes_it_and_the_agents(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    spec = sandbox_spec(test_sandbox, **changes({"servers": []}))
    addresses = {name: inventory.host(name)["address"] for name, _ in HOSTS}

    def without_prober(host: dict[str, object]) -> None:
        host.pop("prober", None)
        host.update(host_data(spec, str(host["name"]), addresses))

    inventory.change(without_prober)
    deployed = deploy(inventory)
    assert deployed.returncode == 0, deployed.stdout[-3000:]
    for address in addresses.values():
        state = test_sandbox.ssh(address, f"systemctl is-active {rendered.UNIT_NAME} "
                                 f"{anycast_rendered.MEDIA_UNIT_NAME}; ls {rendered.PROBER_DIR} "
                                 f"{rendered.UNIT} 2>&1; true")  # fmt: skip
        lines = state.splitlines()
        assert lines[:2] == ["inactive", "inactive"] and "No such file" in state, state
    verified = verify(inventory)
    assert verified.returncode == 0, verified.stdout[-3000:]
