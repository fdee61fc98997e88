"""The synthetic call probe's command line.

Every call signs its own short-lived token with the stack's token secret, from the
environment: VOICEPOP_SECRET_sfuTokenSecret=$(pulumi config get sfuTokenSecret) (and, during a
rotation, the replaced one in VOICEPOP_SECRET_sfuTokenSecretPrevious: roles/sfu/access.py).

python -m quality call ADDRESS [--server NAME] [--name DNS_NAME] [--port 443] [--duration 5]
                       [--codec opus] [--min-mos 4.0] [--json] [--service] [--full-reference]
    one call through the SFU at ADDRESS over HTTPS (the certificate checked against
    DNS_NAME; the roots: the system's or REQUESTS_CA_BUNDLE's): a human summary (or --json);
    exit 1 if the call failed or scored below --min-mos. --full-reference: the call is recorded,
    and what was heard is scored against what was sent (quality/listening.py). --service:
    ADDRESS is a PoP's service (anycast) address and DNS_NAME the service's; it assigns a
    server (quality/assign.py), which the call then goes to
python -m quality prober --source-pop POP --inventory inventories/<pop>.json [--inventory ...]
                        [--calls-per-minute 12] [--call-seconds 3] [--floor N]
    the probing mesh's prober (quality/prober.py): its PoP's servers, and each other PoP's
    service address and servers, one call at a time; its PoP's servers judged by the media gate
python -m quality exporter --inventory inventories/sandbox.json [--interval 30]
                           [--duration 3] [--listen 127.0.0.1:9108] [--source-pop control]
                           [--full-reference]
    calls each server of the inventory every --interval seconds and serves the figures in
    Prometheus's exposition format on --listen, labelled source_pop, target_pop,
    target_server and path (unicast), with the certificate's expiry each server presents
"""

import argparse
import json
import sys
from pathlib import Path

from quality.assign import HTTPS_PORT, NotAssigned, assigned_server
from quality.emodel import CODECS
from quality.probe import Target, probe_now
from quality.report import summary
from roles.prober.defaults import ProbeLoad, ProbingSettings
from roles.secrets import MissingSecret
from roles.sfu.access import Credentials


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def _mos(text: str) -> float:
    value = float(text)
    if not 1.0 <= value <= 4.5:
        raise argparse.ArgumentTypeError(f"a MOS is between 1.0 and 4.5, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True)
    call = commands.add_parser("call", help="one synthetic call through one SFU")
    call.add_argument("address", help="the server's address (its SFU's signalling and media)")
    call.add_argument("--server", default="", help="the server's name, for the report")
    call.add_argument("--name", default="",
                      help="the DNS name its certificate is checked against (--service: the "
                      "service's); default: the address")  # fmt: skip
    call.add_argument("--port", type=int, default=HTTPS_PORT,
                      help="the SFU's HTTPS port (sfu.tls.port)")  # fmt: skip
    call.add_argument("--duration", type=_positive, default=5.0, help="seconds of media")
    call.add_argument(
        "--codec", choices=sorted(CODECS), default="opus", help="the E-model's codec profile"
    )
    call.add_argument("--min-mos", type=_mos, default=1.0, help="exit 1 below this MOS")
    call.add_argument(
        "--setup-timeout", type=_positive, default=10.0, help="seconds for the call to carry media"
    )
    call.add_argument("--json", action="store_true", help="the report as JSON")
    call.add_argument("--full-reference", action="store_true",
                      help="record the call and score what was heard against what was sent "
                      "(PESQ P.862.2 wideband) beside the E-model")  # fmt: skip
    call.add_argument("--service", action="store_true",
                      help="ADDRESS is a service address: call the server it assigns")  # fmt: skip
    exporter = commands.add_parser("exporter", help="calls every N seconds, served for Prometheus")
    exporter.add_argument(
        "--inventory", required=True, help="an inventory's JSON (inventories/<stack>.json)"
    )
    exporter.add_argument(
        "--interval", type=_positive, default=30.0, help="seconds between rounds of calls"
    )
    exporter.add_argument(
        "--duration", type=_positive, default=3.0, help="seconds of media per call"
    )
    exporter.add_argument("--codec", choices=sorted(CODECS), default="opus")
    exporter.add_argument(
        "--listen", default="127.0.0.1:9108", help="host:port of the metrics endpoint"
    )
    exporter.add_argument(
        "--rounds", type=int, default=0, help="stop after this many rounds (0: never)"
    )
    exporter.add_argument("--full-reference", action="store_true",
                          help="score each call by the listening model too (PESQ): the "
                          "voicepop_call_listening_mos metric")  # fmt: skip
    exporter.add_argument("--source-pop", default="control",
                          help="the calls' source_pop label: where this exporter runs "
                          "(default: control, the operator's machine)")  # fmt: skip
    prober = commands.add_parser(
        "prober", help="the probing mesh's prober: calls its PoP and the others, judges its own"
    )
    prober.add_argument("--source-pop", required=True, help="the PoP this prober runs in")
    prober.add_argument("--inventory", action="append", required=True,
                        help="a PoP's inventory JSON (inventories/<stack>.json); once per PoP "
                        "of the mesh, the prober's own among them")  # fmt: skip
    prober.add_argument("--settings", default=None,
                        help="the spec's probing section as JSON, its `load` and `gate` (the "
                        "prober role writes it); the two options below override its load",
                        )  # fmt: skip
    prober.add_argument("--calls-per-minute", type=_positive, default=None,
                        help=f"default {ProbeLoad().calls_per_minute:g}")  # fmt: skip
    prober.add_argument("--call-seconds", type=_positive, default=None,
                        help=f"default {ProbeLoad().call_s:g}")  # fmt: skip
    prober.add_argument("--probers-per-pop", type=int, default=1,
                        help="probers each PoP runs: what the load check counts")  # fmt: skip
    prober.add_argument("--floor", type=int, default=None,
                        help="servers of its PoP the media gate keeps in service (the "
                        "spec's deploy.min_in_service; default: all: the gate only reports)",
                        )  # fmt: skip
    prober.add_argument("--listen", default="127.0.0.1:9108", help="host:port of the metrics")
    prober.add_argument("--rounds", type=int, default=0, help="stop after N rounds (0: never)")
    prober.add_argument(
        "--external", action="store_true", help="a vantage point outside the PoPs: no media gate"
    )
    reconnect = commands.add_parser("reconnect", help="a caller that reconnects when media stops")
    reconnect.add_argument("address", help="the service address (anycast) to call")
    reconnect.add_argument("--name", required=True,
                           help="the service's DNS name (its certificates')")  # fmt: skip
    reconnect.add_argument("--port", type=int, default=HTTPS_PORT,
                           help="its HTTPS port (sfu.tls.port)")  # fmt: skip
    reconnect.add_argument("--watch", type=_positive, default=20.0, help="seconds to keep calling")
    reconnect.add_argument("--media-timeout-ms", type=_positive, default=300.0,
                           help="no media for this long: the call is lost")  # fmt: skip
    reconnect.add_argument("--attempt-timeout", type=_positive, default=1.0,
                           help="seconds one reconnect attempt may take")  # fmt: skip
    return top


def _reconnect(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from quality.reconnect import CallRecord, keep_calling

    def connected(record: CallRecord) -> None:
        print(f"connected {record.server} {record.first_media:.6f}", file=sys.stderr, flush=True)

    calling = keep_calling(
        args.address, args.name, args.watch, args.media_timeout_ms, args.attempt_timeout,
        args.port, connected,
    )  # fmt: skip
    log = asyncio.run(calling)
    print(json.dumps(log.to_dict()))
    return 0


def _probing(args: argparse.Namespace) -> ProbingSettings:
    """The load and the gate: the settings file's (or the defaults), the options over them."""
    given = json.loads(Path(args.settings).read_text()) if args.settings else {}
    settings = ProbingSettings.model_validate(given)
    overrides = {"calls_per_minute": args.calls_per_minute, "call_s": args.call_seconds}
    load = {**settings.load.model_dump(), **{k: v for k, v in overrides.items() if v}}
    return settings.model_copy(update={"load": ProbeLoad.model_validate(load)})


def _prober(args: argparse.Namespace) -> int:
    from quality.prober import serve_mesh

    try:
        settings = _probing(args)
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        print(f"error: --settings, --calls-per-minute, --call-seconds: {error}", file=sys.stderr)
        return 2
    return serve_mesh(
        args.source_pop, args.inventory, settings.load, args.floor, args.listen,
        args.probers_per_pop, args.rounds, args.external, settings.gate,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "reconnect":
        try:
            return _reconnect(args)
        except MissingSecret as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if args.command == "prober":
        return _prober(args)
    if args.command == "exporter":
        from quality.prober import serve_exporter

        return serve_exporter(
            args.inventory, args.interval, args.duration, args.codec, args.listen, args.rounds,
            args.source_pop, args.full_reference,
        )  # fmt: skip
    try:
        credentials = Credentials.from_environment()
    except MissingSecret as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    target = Target(args.server, args.address, args.port, args.name)
    if args.service:
        try:
            server = assigned_server(args.address, args.name or args.address, args.port)
        except NotAssigned as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        target = Target.of(server)
    report = probe_now(
        target, credentials, args.duration, args.codec, args.setup_timeout, args.full_reference
    )
    print(report.to_json() if args.json else summary(report), end="" if not args.json else "\n")
    if not report.ok:
        return 1
    if report.mos < args.min_mos:
        if not args.json:
            print(
                f"MOS {report.mos:.2f} is below the threshold {args.min_mos:.2f}", file=sys.stderr
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
