"""The FlexMetal stand-in's command line.

    python -m sandbox.flexmetal serve --state FILE [--listen 127.0.0.1:8787] [--hosts sandbox]
    python -m sandbox.flexmetal fault KIND [--method M] [--path P] [--count N] [--status S]
                                           [--delay-s D] [--message TEXT]
    python -m sandbox.flexmetal faults [--clear]
    python -m sandbox.flexmetal settings [KEY=VALUE ...]

The token the stand-in accepts comes from $FLEXMETAL_TOKEN. `fault`, `faults` and `settings`
talk to a running stand-in at --endpoint (default http://127.0.0.1:8787) with that token, or
the sandbox's.
"""

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from sandbox.flexmetal.faults import KINDS

DEFAULT_LISTEN = "127.0.0.1:8787"


def admin_token() -> str:
    from sandbox.settings import API_TOKEN

    return os.environ.get("FLEXMETAL_TOKEN") or API_TOKEN


def admin(endpoint: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{endpoint}/_standin/{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "PRIVATE-TOKEN": admin_token()},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def serve(args: argparse.Namespace) -> None:
    from sandbox.flexmetal.api import FlexMetalApi
    from sandbox.flexmetal.server import StandIn
    from sandbox.flexmetal.server import serve as serve_http
    from sandbox.flexmetal.store import Store
    from sandbox.hosts.backend import ApiOnlyHosts, HostBackend
    from stacks.spec.catalogue import load_catalogue

    token = os.environ.get("FLEXMETAL_TOKEN")
    if not token:
        sys.exit("serve: set FLEXMETAL_TOKEN to the token the stand-in accepts")
    hosts: HostBackend
    if args.hosts == "sandbox":
        from sandbox.hosts.tiers import sandbox_hosts

        hosts = sandbox_hosts()
    else:
        hosts = ApiOnlyHosts()
    api = FlexMetalApi(Store(Path(args.state)), load_catalogue("flexmetal"), hosts)
    host, _, port = args.listen.rpartition(":")
    print(f"flexmetal stand-in on http://{args.listen}/v3 (state {args.state})", flush=True)
    serve_http(StandIn(api, token), host, int(port))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.flexmetal")
    parser.add_argument("--endpoint", default=f"http://{DEFAULT_LISTEN}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="run the stand-in")
    run.add_argument("--state", required=True, help="SQLite file; kept across restarts")
    run.add_argument("--listen", default=DEFAULT_LISTEN)
    run.add_argument(
        "--hosts",
        choices=("sandbox", "api-only"),
        default="sandbox",
        help="sandbox: containers, and VMs for settings.VM_INSTANCE_TYPES",
    )

    fault = commands.add_parser("fault", help="add a fault rule")
    fault.add_argument("kind", choices=KINDS)
    fault.add_argument("--method", default="*")
    fault.add_argument("--path", default="/")
    fault.add_argument("--count", type=int, default=1, help="-1: until cleared")
    fault.add_argument("--status", type=int, default=503)
    fault.add_argument("--delay-s", type=float, default=0.0)
    fault.add_argument("--message")

    faults = commands.add_parser("faults", help="list the fault rules")
    faults.add_argument("--clear", action="store_true")

    settings = commands.add_parser("settings", help="show or change settings")
    settings.add_argument("assignments", nargs="*", metavar="KEY=VALUE")

    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
    elif args.command == "fault":
        rule = {
            "kind": args.kind,
            "method": args.method,
            "path": args.path,
            "count": args.count,
            "status": args.status,
            "delay_s": args.delay_s,
        }
        if args.message:
            rule["message"] = args.message
        print(json.dumps(admin(args.endpoint, "POST", "faults", rule)))
    elif args.command == "faults":
        print(json.dumps(admin(args.endpoint, "DELETE" if args.clear else "GET", "faults")))
    else:
        changes = {k: json.loads(v) for k, _, v in (a.partition("=") for a in args.assignments)}
        method = "PUT" if changes else "GET"
        print(json.dumps(admin(args.endpoint, method, "settings", changes or None)))


if __name__ == "__main__":
    main(sys.argv[1:])
