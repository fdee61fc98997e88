"""The load generator on a real SFU, on a small scale: rooms of three callers ramped on one of
the folder's servers (0, 1, then 3 rooms) while a probe call is placed alongside; the server's
CPU and packets read from its own /proc. What it carries and what it costs per call are the
benchmark's (bench/bench_load.py)."""

import asyncio

import pytest

from quality import load
from roles.sfu.access import Credentials
from tests.roles.anycast.pop import HOSTS
from tests.sandbox_fixture import SandboxUnderTest
from tests.site_fixture import Inventory

pytestmark = [pytest.mark.quality]
ROOM_SIZE = 3
PACKETS_PER_S = 50  # one 20 ms frame a packet


def test_the_load_generator_ramps_rooms_on_a_server_and_reads_what_each_costs(
    inventory: Inventory, test_sandbox: SandboxUnderTest
) -> None:
    host = inventory.host(HOSTS[0][0])
    credentials = Credentials.from_environment()
    steps = asyncio.run(
        load.ramp(load.endpoint_of(host), credentials, ROOM_SIZE, [0, 1, 3], 4.0,
                  load.prober_of(host, credentials, 2.0),
                  load.sampler_via(lambda command: test_sandbox.ssh(host["address"], command)),
                  processes=2, stop_at_knee=False)
    )  # fmt: skip
    for row in load.summary(steps, ROOM_SIZE):
        print(row)
    assert [step.rooms for step in steps] == [0, 1, 3]
    assert not any(step.failures for step in steps), steps
    idle, one, three = steps
    # each caller's stream in, and out to the two others: 3 and 6 streams a room (+ RTCP)
    into = three.server_pps_in - idle.server_pps_in
    assert into == pytest.approx(3 * ROOM_SIZE * PACKETS_PER_S, rel=0.3), into
    out = three.server_pps_out - idle.server_pps_out
    assert out == pytest.approx(3 * ROOM_SIZE * (ROOM_SIZE - 1) * PACKETS_PER_S, rel=0.3), out
    # what the callers heard: every stream they were subscribed to, frame by frame
    assert three.frames_per_s == pytest.approx(3 * 6 * PACKETS_PER_S, rel=0.25), three
    assert one.frames_per_s == pytest.approx(6 * PACKETS_PER_S, rel=0.25), one
    assert three.server_cores > idle.server_cores and load.cpu_per_call(steps) > 0
    assert three.generator_cores > one.generator_cores > 0
    assert all(not step.broken() for step in steps), load.summary(steps, ROOM_SIZE)
    assert load.knee(steps) is None, "three rooms of three break no SFU"
