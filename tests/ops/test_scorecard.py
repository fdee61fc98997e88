"""The provider scorecard: its figures and renderers offline, and its queries against a real
Prometheus holding an hour of known mesh metrics (backfilled with `promtool tsdb
create-blocks-from openmetrics`): availability, the outage, the spreads, the drills' reconnects.
"""

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.scorecard.__main__ import main
from ops.scorecard.figures import (
    Outage,
    PopScore,
    Spread,
    by_provider,
    outages_of,
    render_html,
    render_markdown,
)
from ops.scorecard.prometheus import providers_of, reconnects_of, scores
from tests.loopback import free_port
from tests.project import PROJECT_ROOT

STEP_S = 15
HOUR_S = 3600


def test_outages_are_runs_of_failed_calls_to_the_end_of_the_period() -> None:
    samples = [(0, 1), (15, 0), (30, 0), (45, 1), (60, 1), (75, 0)]
    assert outages_of(samples, 15, end=100) == [Outage(15, 30), Outage(75, 25)]
    assert outages_of([(0, 1), (15, 1)], 15, end=30) == []


def score(pop: str, provider: str, ok: float, outages: list[Outage]) -> PopScore:
    return PopScore(pop, provider, 100, ok, outages, Spread(4.3, 4.1), Spread(0.0, 0.02),
                    Spread(0.030, 0.045), [0.4, 0.5, 2.2])  # fmt: skip


def test_the_roll_up_per_provider_weighs_pops_by_their_calls() -> None:
    scores_ = [
        score("ams1", "flexmetal EU: Rotterdam", 99, [Outage(0, 30)]),
        score("fra1", "flexmetal EU: Rotterdam", 97, []),
        score("iad1", "flexmetal NA: Ashburn", 100, []),
    ]
    [rotterdam, ashburn] = by_provider(scores_)
    assert rotterdam.pops == ["ams1", "fra1"] and rotterdam.availability == pytest.approx(0.98)
    assert (rotterdam.outages, rotterdam.outage_s) == (1, 30)
    assert rotterdam.reconnect_median_s == pytest.approx(0.5)
    assert ashburn.availability == 1.0


def test_the_scorecard_renders_as_markdown_and_escaped_html() -> None:
    scores_ = [score("ams1", "flexmetal <EU>", 99, [Outage(1_796_000_000, 30)])]
    markdown = render_markdown(1_795_990_000, 1_796_076_400, scores_)
    assert markdown.startswith(
        "# Provider scorecard, 2026-11-29 22:06:40 UTC to 2026-11-30 22:06:40 UTC\n"
    )
    assert (
        "| ams1 | flexmetal <EU> | 100 | 99.000 % | 1 (30 s) | 4.30 / 4.10 | 0.00 % / 2.00 % "
        "| 30.0 ms / 45.0 ms | 500 / 2200 ms (3) |" in markdown
    )
    assert "| ams1 | 2026-11-30 00:53:20 UTC | 30 s |" in markdown
    html = render_html(1_795_990_000, 1_796_076_400, scores_)
    assert "<td>flexmetal &lt;EU&gt;</td>" in html and "<EU>" not in html


def test_each_pop_has_its_provider_from_its_stack_file() -> None:
    providers = providers_of(PROJECT_ROOT)
    assert providers["ams1"] == "flexmetal EU: Rotterdam"
    assert providers["iad1"] == "flexmetal NA: Ashburn"
    assert providers["sbx1"] == "flexmetal EU: Rotterdam"


def test_the_drills_reconnects_are_placed_in_their_pops(tmp_path: Path) -> None:
    (tmp_path / "ams1.json").write_text(json.dumps([{"address": "192.0.2.10", "pop": "ams1"}]))
    runs = {"sfu-crash": [{"failed_server": "192.0.2.10", "reconnect_s": 0.4}],
            "drain": [{"failed_server": "192.0.2.99", "reconnect_s": 0.3}]}  # fmt: skip
    (tmp_path / "reconnect.json").write_text(json.dumps(runs))
    found = reconnects_of([tmp_path / "reconnect.json"], [tmp_path / "ams1.json"])
    assert found == {"ams1": [0.4]}  # a server of no inventory is left out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--last", "1h", "--start", "2026-12-01T00:00:00+00:00"], "give the period as --last"),
        ([], "give the period as --last"),
    ],
)
def test_a_period_given_twice_or_not_at_all_is_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--prometheus", "http://127.0.0.1:1", *argv]) == 2
    assert message in capsys.readouterr().err


def openmetrics(start: int) -> str:
    """An hour of the mesh's metrics for two PoPs' service addresses, a call every 15 s:
    ams1 down for 2 minutes 10 minutes in (8 failed calls, after which the failed calls' own
    series stays at 0), MOS 4.35 throughout; iad1 always
    up, its MOS 4.0, 4.2, 4.4 in turn and 5 % loss on every 10th call."""
    labels = 'path="anycast",source_pop="callers",target_pop="{pop}",target_server="{pop}-sfu01"'
    families: dict[str, list[str]] = {}
    ok = {"ams1": 0, "iad1": 0}
    failed = {"ams1": 0, "iad1": 0}
    for index, at in enumerate(range(start, start + HOUR_S, STEP_S)):
        for pop in ("ams1", "iad1"):
            down = pop == "ams1" and 600 <= at - start < 720
            failed[pop] += down
            ok[pop] += not down
            mos = 4.35 if pop == "ams1" else (4.0, 4.2, 4.4)[index % 3]
            loss = 0.05 if pop == "iad1" and index % 10 == 0 else 0.0
            series = labels.format(pop=pop)
            service = f'source_pop="callers",target_pop="{pop}"'
            families.setdefault("voicepop_service_up", []).append(
                f"voicepop_service_up{{{service}}} {0 if down else 1} {at}"
            )
            for name, value in (
                ("voicepop_call_up", 0 if down else 1),
                ("voicepop_call_mos", mos),
                ("voicepop_call_loss_ratio", loss),
                ("voicepop_call_rtt_seconds", 0.03),
            ):
                families.setdefault(name, []).append(f"{name}{{{series}}} {value} {at}")
            if pop == "ams1" and at - start >= 600:
                # a failed call's series (no server assigned: the service's name) keeps its 0
                # while later calls, each labelled with its server, carry media
                stuck = labels.format(pop=pop).replace("ams1-sfu01", "ams1-service")
                families["voicepop_call_up"].append(f"voicepop_call_up{{{stuck}}} 0 {at}")
            for result, count in (("ok", ok[pop]), ("failed", failed[pop])):
                families.setdefault("voicepop_calls", []).append(
                    f'voicepop_calls_total{{{series},result="{result}"}} {count} {at}'
                )
    lines = []
    for name, samples in families.items():
        kind = "counter" if name == "voicepop_calls" else "gauge"
        lines += [f"# TYPE {name} {kind}", *samples]
    return "\n".join([*lines, "# EOF"]) + "\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A Prometheus on loopback serving the hour before the test (its start time too)."""
    folder = tmp_path_factory.mktemp("prometheus")
    start = int(time.time()) // STEP_S * STEP_S - HOUR_S - 60
    (folder / "data.om").write_text(openmetrics(start))
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "data.om", "data"],
        cwd=folder, check=True, capture_output=True,
    )  # fmt: skip
    (folder / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    web = f"127.0.0.1:{free_port()}"
    prometheus = subprocess.Popen(
        ["prometheus", "--config.file=prometheus.yml", "--storage.tsdb.path=data",
         f"--web.listen-address={web}"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://{web}/-/ready", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline, "Prometheus did not start"
            time.sleep(0.2)
    yield f"http://{web}", start
    prometheus.terminate()
    prometheus.wait(timeout=10)


def test_the_scores_come_from_prometheus_as_the_metrics_were(
    backfilled: tuple[str, int],
) -> None:
    base, start = backfilled
    end = start + HOUR_S
    providers = {"ams1": "flexmetal EU: Rotterdam"}
    found = {s.pop: s for s in scores(base, start, end, providers, {"ams1": [0.4]}, STEP_S)}
    ams1, iad1 = found["ams1"], found["iad1"]
    assert ams1.provider == "flexmetal EU: Rotterdam" and iad1.provider == "unknown provider"
    assert ams1.availability == pytest.approx(232 / 240, abs=0.002)
    assert iad1.availability == 1.0
    assert ams1.outages == [Outage(start + 600, 120)]
    assert iad1.outages == []
    assert ams1.mos.median == pytest.approx(4.35) and ams1.mos.tail == pytest.approx(4.35)
    assert iad1.mos.median == pytest.approx(4.2) and iad1.mos.tail == pytest.approx(4.0)
    assert iad1.loss.median == 0.0 and iad1.loss.tail == pytest.approx(0.05)
    assert iad1.rtt_s.median == pytest.approx(0.03)
    assert ams1.reconnects_s == [0.4]


def test_the_command_writes_both_reports(
    backfilled: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = backfilled
    assert main(["--prometheus", base, "--last", "2h", "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "scorecard.md").read_text()
    assert "| ams1 | flexmetal EU: Rotterdam | " in markdown
    assert "<table>" in (tmp_path / "scorecard.html").read_text()
    assert capsys.readouterr().out.startswith("# Provider scorecard")
