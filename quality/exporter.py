"""The probe as a long-lived exporter: a call through each server of an inventory every
interval, the latest figures served in Prometheus's exposition format (prometheus_client), so
that a team's Prometheus scrapes voice quality beside everything else it watches."""

import asyncio
import json
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from quality.probe import Target, probe
from quality.report import CallReport
from roles.secrets import MissingSecret
from roles.sfu.access import Credentials

LABELS = ("pop", "server")


class InventoryError(ValueError):
    """The inventory cannot be probed; the message names the file, the entry and the field."""


def targets_of(path: str) -> list[tuple[str, Target]]:
    """(pop, target) for each server of an inventory's JSON (inventories/<stack>.json)."""
    try:
        hosts = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InventoryError(f"{path}: not a readable inventory JSON ({error})") from error
    if not isinstance(hosts, list) or not hosts:
        raise InventoryError(f"{path}: expected a list of hosts (inventories/<stack>.json)")
    targets = []
    for index, host in enumerate(hosts):
        missing = [
            key for key in ("name", "address") if not isinstance(host, dict) or not host.get(key)
        ]
        if missing:
            raise InventoryError(f"{path}: host [{index}] has no {', '.join(missing)}")
        port = int(((host.get("sfu") or {}).get("tls") or {}).get("port", 443))
        name = (host.get("dns_names") or [""])[0]
        target = Target(host["name"], host["address"], port, name)
        targets.append((str(host.get("pop", "")), target))
    return targets


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, text: str) -> Gauge:
            return Gauge(f"voicepop_call_{name}", text, LABELS, registry=registry)

        self.up = gauge("up", "1 if the last synthetic call carried media, else 0")
        self.mos = gauge("mos", "estimated MOS of the last call (ITU-T G.107 E-model)")
        self.r_factor = gauge("r_factor", "E-model transmission rating R of the last call")
        self.setup = gauge("setup_seconds", "signalling to first media packet")
        self.rtt = gauge("rtt_seconds", "round trip, from the SFU's receiver reports")
        self.one_way = gauge("one_way_delay_seconds", "publisher to subscriber through the SFU")
        self.jitter = gauge("jitter_seconds", "RFC 3550 interarrival jitter at the subscriber")
        self.loss = gauge("loss_ratio", "packets lost on the way through the SFU")
        self.burst = gauge("loss_burst_ratio", "G.107 BurstR of the loss (1: random)")
        self.last = gauge("last_timestamp_seconds", "when the last call ended (Unix time)")
        self.calls = Counter(
            "voicepop_calls", "synthetic calls placed", (*LABELS, "result"), registry=registry
        )

    def record(self, pop: str, report: CallReport) -> None:
        labels = {"pop": pop, "server": report.server}
        self.calls.labels(**labels, result="ok" if report.ok else "failed").inc()
        self.up.labels(**labels).set(1 if report.ok else 0)
        self.last.labels(**labels).set(time.time())
        if not report.ok:
            return
        self.mos.labels(**labels).set(report.mos)
        self.r_factor.labels(**labels).set(report.r_factor)
        self.setup.labels(**labels).set(report.setup_s)
        if report.rtt_ms is not None:
            self.rtt.labels(**labels).set(report.rtt_ms / 1000)
        self.one_way.labels(**labels).set(report.one_way_ms / 1000)
        self.jitter.labels(**labels).set(report.jitter_ms / 1000)
        self.loss.labels(**labels).set(report.loss_pct / 100)
        self.burst.labels(**labels).set(report.burst_r)


async def _rounds(
    targets: list[tuple[str, Target]],
    credentials: Credentials,
    metrics: Metrics,
    interval_s: float,
    duration_s: float,
    codec: str,
    rounds: int,
) -> None:
    done = 0
    while not rounds or done < rounds:
        started = time.monotonic()
        for pop, target in targets:  # one call at a time: calls never skew each other
            report = await probe(target, credentials, duration_s, codec)
            metrics.record(pop, report)
            print(
                f"{target.server}: {'ok' if report.ok else report.error}",
                file=sys.stderr,
                flush=True,
            )
        done += 1
        if done != rounds:
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))


def serve(
    inventory: str, interval_s: float, duration_s: float, codec: str, listen: str, rounds: int = 0
) -> int:
    try:
        targets = targets_of(inventory)
        credentials = Credentials.from_environment()
    except (InventoryError, MissingSecret) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    host, _, port = listen.rpartition(":")
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    print(
        f"serving http://{host or '127.0.0.1'}:{port}/metrics, {len(targets)} servers",
        file=sys.stderr,
        flush=True,
    )
    asyncio.run(_rounds(targets, credentials, metrics, interval_s, duration_s, codec, rounds))
    return 0
