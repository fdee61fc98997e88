"""The load generator's pure parts, offline: the server's samples read, a step's quality bound,
the knee, the CPU per call and a call's cost at each load; its coded voice. (The ramp on a
real SFU, small: tests/roles/anycast/test_load.py.)"""

import asyncio

import pytest

from quality import load
from quality.load import ServerSample, Step
from quality.report import CallReport, failed

pytestmark = pytest.mark.quality

SAMPLE = """\
2055 (janus) S 1 2055 2055 0 -1 4194560 5120 0 0 0 4520 1380 0 0 20 0 31 0 1042 1196320 4543
Inter-|   Receive                                  |  Transmit
 face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls
    lo: 904512 7001 0 0 0 0 0 0 904512 7001 0 0 0 0 0 0
  eth0: 98231211 412200 0 0 0 0 0 0 170233521 812345 0 0 0 0 0 0
100
"""


def test_a_server_sample_is_the_sfus_cpu_time_and_the_interfaces_packets() -> None:
    sample = load.server_sample(SAMPLE, at=12.5)
    assert sample == ServerSample(12.5, (4520 + 1380) / 100, 412200, 812345)
    spaced = SAMPLE.replace("(janus)", "(janus worker 1)")
    assert load.server_sample(spaced, at=0).cpu_s == pytest.approx(59.0)


def call(mos: float, loss_pct: float) -> CallReport:
    return CallReport(server="s", address="a", ok=True, mos=mos, loss_pct=loss_pct)


def step(rooms: int, cores: float, probes: list[CallReport], failures: list[str] = []) -> Step:  # noqa: B006
    return Step(rooms, rooms * 4, failures, cores, 200.0 * rooms, 600.0 * rooms, 0.5, 600.0, probes)


def test_a_step_breaks_on_the_probes_median_mos_or_p95_loss_or_a_room_refused() -> None:
    assert not step(4, 0.1, [call(4.3, 0.0), call(3.0, 0.0), call(4.2, 0.5)]).broken()
    assert step(4, 0.1, [call(4.3, 0.0), call(3.9, 0.0), call(3.8, 0.0)]).broken()  # median
    assert step(4, 0.1, [call(4.3, 0.0)] * 19 + [call(4.3, 2.0)]).broken() is False  # p95
    assert step(4, 0.1, [call(4.3, 0.0)] * 18 + [call(4.3, 2.0)] * 2).broken()
    assert step(4, 0.1, [failed("s", "a", "media: no packet")]).broken()
    assert step(4, 0.1, [call(4.3, 0.0)], failures=["create refused"]).broken()


def test_the_knee_is_the_last_good_step_and_the_cpu_per_call_its_slope() -> None:
    good, bad = [call(4.3, 0.0)], [call(3.5, 3.0)]
    steps = [step(0, 0.01, good), step(4, 0.09, good), step(8, 0.17, good), step(16, 0.5, bad)]
    knee = load.knee(steps)
    assert knee is not None and knee.rooms == 8
    assert load.cpu_per_call(steps) == pytest.approx(0.02)  # the broken step left out
    assert load.knee(steps[:3]) is None, "never broke: the ramp did not reach the knee"
    assert load.knee([step(2, 0.1, bad), step(4, 0.2, bad)]) is None


def test_a_calls_cost_at_each_load_is_the_cpu_above_idle_over_its_calls() -> None:
    costs = load.cost_per_call([(0, 0.025), (2, 0.133), (6, 0.276), (12, 0.4615)])
    assert costs == pytest.approx({2: 0.054, 6: 0.251 / 6, 12: 0.036375})
    assert load.cost_per_call([(2, 0.1), (4, 0.2)]) == {}, "no idle step: nothing to subtract"


def test_the_coded_voice_is_paced_at_the_real_rate() -> None:
    payloads = load.encoded_voice()
    assert len(payloads) == 1000  # 20 s of 20 ms frames

    async def three() -> list[float]:
        track = load.EncodedVoice(payloads)
        packets = [await track.recv() for _ in range(3)]
        assert [p.pts for p in packets] == [0, 960, 1920]
        assert all(bytes(p) in payloads for p in packets)
        return [float(p.time_base) for p in packets]

    started = asyncio.run(asyncio.wait_for(three(), 5))
    assert started == [1 / 48_000] * 3
