"""The probe's pure parts, offline: the E-model against ITU-T G.107's published reference
points, the RFC 3550 jitter estimator and the loss pattern on recorded packets, the matching
of sent and received packets, the reports, the exporter's exposition and the probe's knobs."""

import json
import math
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from quality import emodel
from quality.__main__ import main
from quality.exporter import InventoryError, Metrics, targets_of
from quality.https import CertificateUnread, certificate_not_after, health_status
from quality.measure import (
    Received,
    Sent,
    call_jitter_ms,
    loss_pattern,
    path_figures,
    relative_delays_s,
    rfc3550_jitter_ms,
)
from quality.media_gate import Outcome, judge, new_pop_gate
from quality.probe import Target
from quality.report import failed, figures_line, judged, summary
from quality.timeline import Failover, packets_per_bin, render_png
from quality.timeline import summary as timeline_summary
from roles.prober.defaults import MediaGate
from roles.sfu.defaults import SfuSettings
from roles.sfu.janus import Janus
from stacks.spec import SpecInvalid, parse_pop
from tests.pop_specs import VALID_CONTEXT, valid_pop
from tests.roles.sfu_host import HOST_SIDE

pytestmark = pytest.mark.quality
OPUS = emodel.CODECS["opus"]
G711 = emodel.CODECS["g711-plc"]


def test_the_default_parameters_give_g107s_reference_rating() -> None:
    # G.107 section 7.7: "R = 93.2" with every parameter at its Table 2 default
    assert emodel.rating(0, 0, 1, G711) == pytest.approx(93.2, abs=0.05)
    assert emodel.basic_signal_to_noise() == pytest.approx(94.77, abs=0.01)


@pytest.mark.parametrize(
    ("r", "mos"),  # G.107 Annex B, Table B.1: the MOS at the lower limit of each R range
    [(90, 4.34), (80, 4.03), (70, 3.60), (60, 3.10), (50, 2.58), (93.2, 4.41)],
)
def test_r_maps_to_mos_as_annex_b_tabulates(r: float, mos: float) -> None:
    assert emodel.mos_of(r) == pytest.approx(mos, abs=0.01)  # the table rounds to 2 places


def test_mos_is_bounded_outside_r_0_to_100() -> None:
    assert emodel.mos_of(-5) == 1.0
    assert emodel.mos_of(0) == 1.0
    assert emodel.mos_of(100) == 4.5
    assert emodel.mos_of(120) == 4.5


def test_random_loss_impairs_as_g113_codecs_are_rated() -> None:
    # Ie-eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl): G.711 with PLC at 2 % random loss
    assert emodel.effective_equipment_impairment(G711, 2.0, 1.0) == pytest.approx(7.01, abs=0.01)
    assert emodel.effective_equipment_impairment(G711, 0.0, 1.0) == 0.0
    g729 = emodel.CODECS["g729a"]
    assert emodel.effective_equipment_impairment(g729, 0.0, 1.0) == 11.0
    # the same loss in bursts hurts more
    bursty = emodel.effective_equipment_impairment(G711, 2.0, 3.0)
    assert bursty > emodel.effective_equipment_impairment(G711, 2.0, 1.0)


def test_delay_only_costs_much_beyond_g114s_150_ms() -> None:
    ratings = [emodel.rating(ms, 0, 1, OPUS) for ms in (0, 100, 150, 200, 300, 400)]
    assert ratings == sorted(ratings, reverse=True)
    assert ratings[0] - ratings[2] < 4  # up to 150 ms: echo-free paths barely notice
    assert ratings[0] - ratings[4] > 20  # 300 ms: many users dissatisfied (R < 75)
    assert emodel.delay_impairment(0) == pytest.approx(0.15, abs=0.01)


def test_every_codec_profile_names_its_source() -> None:
    for codec in emodel.CODECS.values():
        assert "G.113" in codec.source


def arrivals(transits_ms: list[float], frame_ms: float = 20) -> list[Received]:
    return [
        Received(i.to_bytes(2, "big"), i * 960, (i * frame_ms + transit) / 1000)
        for i, transit in enumerate(transits_ms)
    ]


def test_constant_transit_has_no_jitter() -> None:
    assert rfc3550_jitter_ms(arrivals([5.0] * 50)) == pytest.approx(0.0, abs=1e-9)


def test_jitter_follows_rfc3550s_estimator_step_by_step() -> None:
    # transit alternating 0 and 10 ms: |D| = 10 ms at each step, J += (|D| - J) / 16
    packets = arrivals([0, 10, 0])
    expected = 10 / 16
    expected += (10 - expected) / 16
    assert rfc3550_jitter_ms(packets) == pytest.approx(expected)
    converged = rfc3550_jitter_ms(arrivals([0, 10] * 200))
    assert converged == pytest.approx(10.0, abs=0.01)


def test_a_calls_jitter_is_the_estimator_over_the_call_not_its_last_packets() -> None:
    # steady 4 ms of jitter for 8 s, then a 300 ms stall as the call ends: the packets held
    # arrive together. The end value is the stall's; the call's mean barely moves.
    steady = [0.0, 4.0] * 200
    stalled = [*steady, *(300.0 - 20 * i for i in range(15))]
    assert rfc3550_jitter_ms(arrivals(stalled)) > 20
    assert call_jitter_ms(arrivals(steady)) == pytest.approx(4.0, abs=0.3)
    assert call_jitter_ms(arrivals(stalled)) == pytest.approx(4.0, abs=1.5)


def test_the_calls_jitter_skips_the_estimators_rise_from_zero() -> None:
    # the estimator starts at 0: its first 16 values would pull a short call's mean down
    assert call_jitter_ms(arrivals([0.0, 10.0] * 40)) > 9
    assert call_jitter_ms(arrivals([0.0, 10.0])) == pytest.approx(10 / 16)
    assert call_jitter_ms(arrivals([0.0])) == 0.0


def test_a_reordered_packet_counts_its_real_transit_change() -> None:
    in_order = arrivals([0, 0, 30, 0])
    swapped = [in_order[0], in_order[1], in_order[3], in_order[2]]  # 3 arrived before 2
    assert rfc3550_jitter_ms(swapped) > 0
    assert rfc3550_jitter_ms(swapped) < 5  # not a 2**32-timestamp wrap


def test_loss_pattern_of_random_and_bursty_loss() -> None:
    clean = loss_pattern([False] * 100)
    assert (clean.loss_pct, clean.burst_r) == (0.0, 1.0)
    spread = loss_pattern(([False] * 9 + [True]) * 20)  # every 10th lost
    assert spread.loss_pct == pytest.approx(10.0)
    assert spread.mean_burst == 1.0
    # p = 1/9, q = 1: BurstR = 1 / (p + q) = 0.9, below 1: less bursty than random (G.107)
    assert spread.burst_r == pytest.approx(0.9)
    bursts = loss_pattern(([False] * 27 + [True] * 3) * 10)  # bursts of three
    assert bursts.loss_pct == pytest.approx(10.0)
    assert bursts.mean_burst == 3.0
    assert bursts.burst_r > 2.5


def test_path_figures_match_packets_by_payload_and_leave_the_tail_in_flight() -> None:
    sent = [Sent(bytes([i]), i * 0.02) for i in range(100)]  # 2 s of packets
    lost = {40, 41, 70}
    received = [
        Received(bytes([i]), i * 960, i * 0.02 + 0.005) for i in range(5, 100) if i not in lost
    ]
    figures = path_figures(sent, received, in_flight_s=0.5)
    assert figures.packets_sent == 70  # from the first received (5) to 0.5 s before the end (74)
    assert figures.packets_received == figures.packets_sent - 3
    assert figures.one_way_ms == pytest.approx(5.0)
    assert figures.loss.lost == 3
    assert figures.loss.mean_burst == 1.5


def test_a_stall_stretches_the_mean_one_way_delay_not_the_median() -> None:
    sent = [Sent(bytes([i]), i * 0.02) for i in range(100)]
    # 40 ms each, but 10 packets held 300 ms by a stall of the receiving machine
    received = [Received(bytes([i]), i * 960, i * 0.02 + (0.3 if 50 <= i < 60 else 0.04))
                for i in range(100)]  # fmt: skip
    figures = path_figures(sent, received)
    assert figures.one_way_median_ms == pytest.approx(40)
    assert figures.one_way_ms > 60


def test_the_listeners_buffer_holds_most_delays_and_the_latest_packets_count_as_lost() -> None:
    """An adaptive jitter buffer (NetEq's quantile, from NetEq's start delay up): 40 ms paths,
    every 50th packet 120 ms later. The buffer takes the 97th percentile of the delay beyond
    the fastest packet, at least 80 ms, so those 2 % miss their turn: the E-model hears them
    lost (G.1020's buffer discards), while the path lost none; the delay it hears is the
    fastest packet's plus the buffer. A stall under 80 ms costs nothing."""
    sent = [Sent(bytes([i]), i * 0.02) for i in range(250)]
    late = {i for i in range(250) if i % 50 == 3}

    def arrivals(extra_s: dict[int, float]) -> list[Received]:
        return sorted(
            (Received(bytes([i]), i * 960, i * 0.02 + 0.04 + extra_s.get(i, 0.0))
             for i in range(250)),
            key=lambda packet: packet.at,
        )  # fmt: skip

    figures = path_figures(sent, arrivals(dict.fromkeys(late, 0.12)))
    assert figures.loss.lost == 0 and figures.one_way_min_ms == pytest.approx(40)
    assert figures.buffer_ms == pytest.approx(80)  # NetEq's start: 98 % were on time
    assert figures.packets_sent == 225 and figures.late == 5
    assert figures.listener_loss.loss_pct == pytest.approx(100 * 5 / 225)
    report = judged("ams1-sfu01", "192.0.2.10", figures, 0.3, 81.0, 5.0)
    assert report.loss_pct == 0 and report.late_pct == report.heard_loss_pct == round(500 / 225, 3)
    expected = emodel.rating(40 + 80 + 20 + 6.5, report.heard_loss_pct, report.heard_burst_r, OPUS)
    assert report.r_factor == pytest.approx(expected, abs=0.01)
    assert "jitter buffer (adaptive)           80 ms, 2.22 % of packets too late" in summary(report)
    stalled = path_figures(sent, arrivals(dict.fromkeys(late, 0.06)))  # 60 ms: held
    assert stalled.late == 0 and stalled.buffer_ms == pytest.approx(80)
    # every 10th 120 ms later: beyond the quantile, the buffer holds them, and the wait is heard
    deep = path_figures(sent, arrivals({i: 0.12 for i in range(250) if i % 10 == 3}))
    assert deep.buffer_ms == pytest.approx(120) and deep.late == 0
    assert judged("a", "192.0.2.10", deep, 0.3, 81.0, 5.0).mouth_to_ear_ms == 40 + 120 + 26.5


def test_the_probes_own_pacing_is_not_the_paths_delay() -> None:
    """A busy machine's sender: frames 2-5 sent 100 ms late, then in a burst. Their RTP
    timestamps say they were due earlier, but the path delayed none of them: no buffer grows,
    no packet is late, the E-model hears a clean path."""
    sent = [Sent(bytes([i]), i * 0.02 + (0.1 if 2 <= i <= 5 else 0.0)) for i in range(200)]
    received = sorted((Received(bytes([i]), i * 960, p.at + 0.005) for i, p in enumerate(sent)),
                      key=lambda packet: packet.at)  # fmt: skip
    figures = path_figures(sent, received)
    assert figures.buffer_ms == pytest.approx(80) and figures.late == 0
    assert relative_delays_s([0.03, 0.01, 0.05]) == pytest.approx([0.02, 0.0, 0.04])


def test_a_call_that_received_nothing_lost_everything() -> None:
    figures = path_figures([Sent(b"a", 0.0)], [])
    assert (figures.packets_received, figures.loss.loss_pct) == (0, 100.0)


def test_the_report_judges_the_path_with_the_emodel() -> None:
    sent = [Sent(bytes([i]), i * 0.02) for i in range(250)]
    received = [Received(bytes([i]), i * 960, i * 0.02 + 0.04) for i in range(250) if i % 50]
    report = judged("ams1-sfu01", "192.0.2.10", path_figures(sent, received), 0.3, 81.0, 5.0)
    # packets 1 to 224 judged (0 was never received, the last 0.5 s may be in flight): 4 lost
    assert report.ok and report.packets_sent == 224
    assert report.loss_pct == pytest.approx(100 * 4 / 224, abs=0.001)
    expected_r = emodel.rating(40 + 80 + 20 + 6.5, report.loss_pct, report.burst_r, OPUS)
    assert report.r_factor == pytest.approx(expected_r, abs=0.01)
    assert report.mos == pytest.approx(emodel.mos_of(expected_r), abs=0.001)
    text = summary(report)
    assert "ams1-sfu01 (192.0.2.10): a 5 s call through the SFU" in text
    assert "round trip (publisher's leg)       81.0 ms" in text
    assert f"MOS {report.mos:.2f}" in figures_line(report)
    assert json.loads(report.to_json())["mos"] == report.mos


def test_a_failed_call_reports_why() -> None:
    report = failed("ams1-sfu01", "192.0.2.10", "media: no packet")
    assert summary(report) == "ams1-sfu01 (192.0.2.10): the call failed\n  media: no packet\n"
    assert figures_line(report) == "no call: media: no packet"


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["call", "192.0.2.1", "--min-mos", "5"], "a MOS is between 1.0 and 4.5, got 5"),
        (["call", "192.0.2.1", "--duration", "0"], "must be above 0, got 0"),
        (["call", "192.0.2.1", "--codec", "amr"], "invalid choice: 'amr'"),
    ],
)
def test_bad_arguments_are_refused_naming_the_flag(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_an_inventory_entry_without_an_address_is_named(tmp_path: Path) -> None:
    inventory = tmp_path / "pop.json"
    inventory.write_text(json.dumps([{"name": "a", "address": "192.0.2.1"}, {"name": "b"}]))
    with pytest.raises(InventoryError, match=r"host \[1\] has no address"):
        targets_of(str(inventory))
    inventory.write_text("{}")
    with pytest.raises(InventoryError, match="expected a list of hosts"):
        targets_of(str(inventory))
    assert main(["exporter", "--inventory", str(tmp_path / "missing.json")]) == 2


def test_the_exporter_exposes_the_last_calls_figures(tmp_path: Path) -> None:
    inventory = tmp_path / "pop.json"
    host = {
        "name": "ams1-sfu01",
        "address": "192.0.2.10",
        "pop": "ams1",
        "sfu": {"tls": {"port": 8443}},
        "dns_names": ["ams1-sfu01.voice.example.net", "ams1.voice.example.net"],
    }
    inventory.write_text(json.dumps([host]))
    [(pop, target)] = targets_of(str(inventory))
    url = "https://ams1-sfu01.voice.example.net:8443/janus"  # reached at 192.0.2.10
    assert (pop, target.signalling_url, target.address) == ("ams1", url, "192.0.2.10")
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    sent = [Sent(bytes([i]), i * 0.02) for i in range(100)]
    received = [Received(bytes([i]), i * 960, i * 0.02 + 0.01) for i in range(100)]
    metrics.record(
        "iad1",
        pop,
        judged("ams1-sfu01", "192.0.2.10", path_figures(sent, received), 0.2, 20.0, 2),
    )
    metrics.record("iad1", pop, failed("ams1-sfu02", "192.0.2.11", "media: no packet"))
    metrics.record_certificate("iad1", pop, "ams1-sfu01", 1_800_000_000.0)
    text = generate_latest(registry).decode()
    # prometheus_client writes labels in their names' order
    labels = 'path="unicast",source_pop="iad1",target_pop="ams1",target_server="ams1-sfu0{}"'
    assert f"voicepop_call_up{{{labels.format(1)}}} 1.0" in text
    assert f"voicepop_call_up{{{labels.format(2)}}} 0.0" in text
    assert f"voicepop_call_rtt_seconds{{{labels.format(1)}}} 0.02" in text
    failed_labels = labels.format(2).replace('unicast",', 'unicast",result="failed",')
    assert f"voicepop_calls_total{{{failed_labels}}} 1.0" in text
    assert f"voicepop_call_mos{{{labels.format(2)}}}" not in text  # no figures to show
    assert f"voicepop_call_tls_not_after_seconds{{{labels.format(1)}}} 1.8e+09" in text


def test_the_media_gates_state_is_exported_per_server_and_pop() -> None:
    registry = CollectorRegistry()
    servers = ["ams1-sfu01", "ams1-sfu02", "ams1-sfu03"]
    pop = new_pop_gate(servers, floor=2)
    for server in servers:
        for _ in range(3):
            pop = judge(pop, Outcome(server, ok=False), MediaGate())
    Metrics(registry).record_gate("ams1", pop)
    text = generate_latest(registry).decode()
    assert 'voicepop_media_gate_drained{pop="ams1",server="ams1-sfu01"} 1.0' in text
    assert 'voicepop_media_gate_held{pop="ams1",server="ams1-sfu02"} 1.0' in text
    assert 'voicepop_media_gate_held{pop="ams1",server="ams1-sfu01"} 0.0' in text
    assert 'voicepop_pop_servers_in_service{pop="ams1"} 2.0' in text
    assert 'voicepop_pop_capacity_floor{pop="ams1"} 2.0' in text


def test_janus_gathers_media_only_on_the_servers_address() -> None:
    core = Janus().config_files(SfuSettings(), HOST_SIDE)["/etc/janus/janus.jcfg"]
    assert 'nat: {\n\tice_enforce_list = "192.0.2.10"\n}' in core


def test_the_call_gate_is_a_knob_of_the_sfu_section_with_its_bounds() -> None:
    assert SfuSettings().call_gate.min_mos == 4.0
    raw = valid_pop()
    raw["sfu"] = {**raw["sfu"], **{"call_gate": {"min_mos": 4.7}}}
    with pytest.raises(SpecInvalid) as raised:
        parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    [error] = raised.value.errors
    assert error.path == "voicepop:pop.sfu.call_gate.min_mos"
    assert "4.5" in error.problem + str(error.allowed)
    assert math.isclose(SfuSettings().call_gate.duration_s, 3.0)


def a_failover(**changes: object) -> Failover:
    arrivals = [i * 0.02 for i in range(100)] + [3.0 + i * 0.02 for i in range(100)]
    values: dict[str, object] = {
        "kind": "sfu-crash",
        "failed_server": "192.0.2.11",
        "new_server": "192.0.2.10",
        "failure_at": 2.0,
        "detected_at": 2.3,
        "withdrawn_at": 2.9,
        "new_attempt_at": 2.92,
        "new_media_at": 3.0,
        "last_media_at": 1.98,
        "media_timeout_ms": 300.0,
        "failed_attempts": [(2.35, "signalling: refused")],
        "arrivals": arrivals,
    }
    return Failover(**{**values, **changes})  # type: ignore[arg-type]


def test_a_failovers_parts_from_its_events() -> None:
    figures = a_failover().figures()
    assert figures["reconnect_s"] == pytest.approx(1.0)
    assert figures["gap_s"] == pytest.approx(1.02)
    assert figures["detection_s"] == pytest.approx(0.3)
    assert figures["withdrawal_s"] == pytest.approx(0.9)
    assert figures["setup_s"] == pytest.approx(0.08)
    assert figures["failed_attempts"] == 1
    drained = a_failover(kind="drain", withdrawn_at=1.5).figures()
    assert drained["withdrawal_s"] == pytest.approx(-0.5)  # withdrawn before the SFU stopped
    assert a_failover(withdrawn_at=None).figures()["withdrawal_s"] is None
    text = timeline_summary(a_failover())
    assert text.startswith("sfu-crash: 192.0.2.11 -> 192.0.2.10\n")
    assert "withdrawal seen upstream" in text and "+900 ms" in text


def test_packets_are_counted_per_100_ms() -> None:
    bins = packets_per_bin([0.01, 0.05, 0.15, 0.95, 1.2], 0.0, 1.0)
    assert bins == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert sum(packets_per_bin(a_failover().arrivals, 0.0, 5.0)) == 200


def test_the_timeline_is_drawn_as_a_png(tmp_path: Path) -> None:
    path = tmp_path / "failover.png"
    render_png(a_failover(), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A 30-day self-signed certificate for `name` and its key (openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "30", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS server on loopback presenting a 30-day certificate for probe.test (openssl)."""
    cert, key = self_signed(tmp_path, "probe.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass  # a client that refused the certificate

    threading.Thread(target=answer, daemon=True).start()
    yield port, cert
    listener.close()


def test_the_certificates_expiry_is_read_against_the_roots_and_the_name(
    tls_server: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    not_after = certificate_not_after("127.0.0.1", port, "probe.test")
    assert not_after - time.time() == pytest.approx(30 * 86400, abs=86400)
    with pytest.raises(CertificateUnread, match=r"other\.test at 127\.0\.0\.1"):
        certificate_not_after("127.0.0.1", port, "other.test")  # not the certificate's name
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(CertificateUnread, match="certificate verify failed"):
        certificate_not_after("127.0.0.1", port, "probe.test")  # not in the system's roots


def test_a_servers_health_status_is_read_by_its_name_at_its_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Route 53 would read: the status (503 while drained), or None when nothing answers."""
    cert, key = self_signed(tmp_path, "sfu1.test")
    answers = {"/janus/info": 503}

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answers.get(self.path, 404))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    target = Target("sfu1", "127.0.0.1", port, "sfu1.test", health_path="/janus/info")
    assert target.health_url == f"https://sfu1.test:{port}/janus/info"
    try:
        assert health_status(target.health_url, target.address) == 503
        answers["/janus/info"] = 200
        assert health_status(target.health_url, target.address) == 200
    finally:
        server.shutdown()
        server.server_close()
    assert health_status(target.health_url, target.address, timeout_s=1) is None  # gone
