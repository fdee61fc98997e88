"""Real BGP: two container hosts of the sandbox PoP, deployed with the site roles, announce to
the sandbox's upstream router (BIRD in a network namespace) over MD5 sessions with BFD. What
the upstream learns is the assertion: exactly the spec's prefixes, only from healthy servers,
tagged then withdrawn on drain, while the other server keeps the anycast path."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from roles.anycast import config as rendered
from roles.anycast.config import GRACEFUL_SHUTDOWN
from sandbox.upstream import LearnedPath, learned_routes_of
from stacks.host_data import host_data
from stacks.spec import PopSpec
from tests.project import PROJECT_ROOT
from tests.roles.anycast.pop import ANYCAST, HOSTS, SPEC_CHANGES, media_gate_changes
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import (
    SECRETS,
    Inventory,
    changed_operations,
    deploy,
    sandbox_spec,
    verify,
)

pytestmark = [pytest.mark.anycast, pytest.mark.verify]


def routes(sandbox: SandboxUnderTest) -> list[LearnedPath]:
    return learned_routes_of(sandbox.root / "sandbox")


def paths_by_server(sandbox: SandboxUnderTest) -> dict[str, list[LearnedPath]]:
    learned: dict[str, list[LearnedPath]] = {}
    for path in routes(sandbox):
        learned.setdefault(path.next_hop, []).append(path)
    return learned


def wait_for(condition: Callable[[], bool], limit_s: float) -> float:
    """Seconds until `condition` held; fails after `limit_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit_s, f"not within {limit_s} s"
        time.sleep(0.05)
    return time.monotonic() - started


def addresses(inventory: Inventory) -> list[str]:
    return [inventory.host(name)["address"] for name, _ in HOSTS]


def test_the_upstream_learns_exactly_the_allowed_prefixes_from_each_server(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    first, second = addresses(inventory)
    # the IPv6 prefix has no IPv6 session to travel on: the sandbox's upstream is IPv4 only
    wait_for(
        lambda: (
            {(p.prefix, p.next_hop) for p in routes(test_sandbox)}
            == {(ANYCAST, first), (ANYCAST, second)}
        ),
        30,
    )
    assert all(p.as_path == "64512" and not p.communities for p in routes(test_sandbox))
    verified = verify(inventory, settle_s=20)
    assert verified.returncode == 0, verified.stdout[-3000:]


def test_a_prefix_outside_the_spec_never_leaves_the_host(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    first, _ = addresses(inventory)
    rogue = "198.18.99.0/24"
    static = f"protocol static rogue {{ ipv4; route {rogue} blackhole; }}"
    test_sandbox.ssh(
        first,
        f"ip addr add 198.18.99.1/32 dev lo; echo '{static}' >> "
        "/etc/bird/bird.conf; birdc configure",
    )
    assert "rogue" in test_sandbox.ssh(first, "birdc show protocols")
    time.sleep(3)  # several keepalive rounds: an exported route would have arrived
    assert rogue not in {p.prefix for p in routes(test_sandbox)}
    # the hand edit is seen and undone by the next deploy
    mended = deploy(inventory)
    assert changed_operations(mended.stdout) == 1, mended.stdout[-3000:]
    assert "rogue" not in test_sandbox.ssh(first, "birdc show protocols")


def test_a_failed_sfu_is_withdrawn_and_announced_again_once_healthy(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    """The SFU's unit withdraws the server as it stops (its ExecStopPost), without waiting
    for the health check to fail `fall` times (2 x 1 s here); once started and answering it
    is announced again."""
    first, second = addresses(inventory)
    test_sandbox.ssh(first, "systemctl stop janus")
    assert test_sandbox.ssh(first, f"{rendered.SFU_GATE_COMMAND} status") == "stopped"
    withdrawn = wait_for(lambda: first not in paths_by_server(test_sandbox), 8)
    assert withdrawn < 1.0, withdrawn
    assert second in paths_by_server(test_sandbox)  # the anycast path stays, via the other
    test_sandbox.ssh(first, "systemctl start janus")
    announced = wait_for(lambda: first in paths_by_server(test_sandbox), 15)
    assert test_sandbox.ssh(first, f"{rendered.SFU_GATE_COMMAND} status") == "running"
    print(f"withdrawn {withdrawn:.1f} s after the SFU stopped, back {announced:.1f} s after")


def test_the_gate_checks_the_health_endpoint_the_spec_names(
    inventory: Inventory, test_sandbox: SandboxUnderTest, media_gate_source: str
) -> None:
    """Change `sfu.health.path` in the spec: the first server's gate now checks a path its SFU
    does not serve, and withdraws it; the path back, it is announced again."""
    first, second = addresses(inventory)
    declared = inventory.hosts()

    def deploy_first_with(spec: PopSpec) -> None:
        hosts = [dict(host) for host in declared]
        hosts[0].update(host_data(spec, hosts[0]["name"]))
        inventory.write(hosts)
        assert deploy(inventory).returncode == 0

    changes = {**SPEC_CHANGES, **media_gate_changes(media_gate_source)}
    moved = sandbox_spec(test_sandbox, **changes, sfu__health__path="/nowhere")
    deploy_first_with(moved)
    services = test_sandbox.ssh(first, f"cat {rendered.HEALTHCHECKER_SERVICES}")
    assert "https://127.0.0.1:443/nowhere" in services
    wait_for(lambda: first not in paths_by_server(test_sandbox), 8)
    assert second in paths_by_server(test_sandbox)
    deploy_first_with(sandbox_spec(test_sandbox, **changes))
    assert inventory.hosts() == declared
    wait_for(lambda: first in paths_by_server(test_sandbox), 15)


def drain(inventory: Inventory, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.drain",
            "--hosts",
            str(inventory.declared),
            action,
            *args,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=os.environ,
    )


def health_status(address: str) -> str:
    """The HTTP status of a server's health endpoint (Janus's info through its TLS front), asked
    from this machine as Route 53's health check asks it."""
    url = f"https://{address}:443/janus/info"
    answer = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                             url], capture_output=True, text=True, check=False)  # fmt: skip
    return answer.stdout


@pytest.fixture
def undrained(inventory: Inventory) -> Iterator[None]:
    yield
    drain(inventory, "undrain")


def test_drain_tags_then_withdraws_while_the_other_server_keeps_the_path(
    inventory: Inventory, test_sandbox: SandboxUnderTest, undrained: None
) -> None:
    first, second = addresses(inventory)
    wait_for(lambda: {first, second} <= set(paths_by_server(test_sandbox)), 15)
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            learned = paths_by_server(test_sandbox)
            seen.append(
                {
                    hop: [tuple(c) for p in paths for c in p.communities]
                    for hop, paths in learned.items()
                }
            )
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    drained = drain(inventory, "drain", "--server", "sbx1-sfu01")
    took = time.monotonic() - started
    time.sleep(0.5)
    stop.set()
    watcher.join()
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert "sbx1-sfu01: draining" in drained.stdout
    tagged = [s for s in seen if GRACEFUL_SHUTDOWN in s.get(first, [])]
    assert tagged, "the upstream never saw 65535:0 on the drained server's route"
    assert all(s.get(second) == [] for s in seen), "the other server's path moved or changed"
    assert first not in seen[-1], "the drained server's route was not withdrawn"
    assert 3 <= took < 10  # the spec's drain_wait_s (3 s here), then the withdrawal
    # out of DNS too: Route 53's health check reads 503; the host's own checks (loopback) do
    # not, so its SFU gate and health check still see the SFU as it is
    assert (health_status(first), health_status(second)) == ("503", "200")
    local = test_sandbox.ssh(first, "curl -sk -o /dev/null -w '%{http_code}' "
                                    "https://127.0.0.1:443/janus/info")  # fmt: skip
    assert local == "200"
    # a re-deploy keeps a drained server drained, in BGP and in DNS
    redeployed = deploy(inventory)
    assert redeployed.returncode == 0
    assert drain(inventory, "status", "--server", "sbx1-sfu01").stdout.strip() == (
        "sbx1-sfu01: drained"
    )
    assert health_status(first) == "503"
    undone = drain(inventory, "undrain", "--server", "sbx1-sfu01")
    assert undone.returncode == 0
    assert health_status(first) == "200"
    wait_for(lambda: first in paths_by_server(test_sandbox), 10)


def test_a_wrong_md5_key_keeps_the_session_down_and_the_suite_says_so(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    first, _ = addresses(inventory)
    wrong = deploy(inventory, {**SECRETS, "VOICEPOP_SECRET_bgpMd5Upstream": "not-the-key"})
    assert wrong.returncode == 0, wrong.stdout[-3000:]
    assert "not-the-key" not in wrong.stdout  # secrets never reach the log
    test_sandbox.ssh(first, "birdc restart vp_upstream")
    wait_for(lambda: first not in paths_by_server(test_sandbox), 15)
    caught = verify(inventory)
    assert caught.returncode != 0
    assert "BGP sessions not Established: ['upstream (" in caught.stdout
    mended = deploy(inventory)
    assert mended.returncode == 0
    wait_for(lambda: first in paths_by_server(test_sandbox), 20)
