#!/usr/bin/python3
"""voicepop-media-gate: a server follows its PoP's media gate (quality/media_gate.py).

The PoP's prober judges each server on its synthetic calls and serves its verdicts, signed
with the SFU token secret, at http://HOST:PORT/verdicts. This agent, on each announcing
server, asks every `poll_s` seconds and, when a fresh verdict (issued within `stale_after_s`)
names it drained, drains it: its routes tagged GRACEFUL_SHUTDOWN (65535:0), `drain_wait_s`
later withdrawn (BIRD's VOICEPOP_MEDIA: 1, then 2), and its health endpoint answering 503
(the out-of-service flag nginx reads) so that its Route 53 record follows. A fresh verdict
naming it in service, or none fresh at all, puts it back: a prober gone silent never keeps a
server out. A verdict whose signature does not verify is ignored.

Standard library only: the role copies this file to the host as is (roles/anycast/deploy.py);
the prober imports `sign` from it, so both sides compute the same signature.

    voicepop-media-gate --server NAME --source HOST:PORT [--source ...] --secret-file FILE
                        --state FILE --flag FILE [--drain-wait-s 30] [--poll-s 5]
                        [--stale-after-s 120]
    voicepop-media-gate --state FILE status     in-service | draining | drained
"""

import argparse
import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

IN_SERVICE, DRAINING, DRAINED = 0, 1, 2
STATES = {IN_SERVICE: "in-service", DRAINING: "draining", DRAINED: "drained"}
VARIABLE = "VOICEPOP_MEDIA"


def canonical(document: dict[str, Any]) -> bytes:
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


def sign(document: dict[str, Any], secret: str) -> dict[str, Any]:
    """The document with its HMAC-SHA256 signature (hex) over its canonical JSON."""
    digest = hmac.new(secret.encode(), canonical(document), hashlib.sha256).hexdigest()
    return {**document, "signature": digest}


def verified(document: Any, secrets: Sequence[str]) -> bool:
    if not isinstance(document, dict) or not isinstance(document.get("signature"), str):
        return False
    return any(
        hmac.compare_digest(sign(document, secret)["signature"], document["signature"])
        for secret in secrets
    )


def wanted_state(
    verdicts: Sequence[Any], server: str, secrets: Sequence[str], now: float, stale_after_s: float
) -> int:
    """DRAINED when the first fresh, verified verdict lists `server` as drained; IN_SERVICE
    when it does not, or when no verdict is fresh and verified."""
    for document in verdicts:
        if not verified(document, secrets):
            continue
        issued = document.get("issued_at")
        if not isinstance(issued, int | float) or not 0 <= now - issued <= stale_after_s:
            continue
        return DRAINED if server in document.get("drained", []) else IN_SERVICE
    return IN_SERVICE


def fetch(source: str, timeout_s: float = 2.0) -> Any:
    """A prober's verdicts, or None when it does not answer with JSON."""
    try:
        with urllib.request.urlopen(f"http://{source}/verdicts", timeout=timeout_s) as answer:
            return json.load(answer)
    except (OSError, ValueError):
        return None


def current_state(state: Path) -> int:
    try:
        return int(state.read_text().split("=")[1].strip(" ;\n"))
    except (OSError, IndexError, ValueError):
        return IN_SERVICE


def write_state(state: Path, value: int) -> None:
    """BIRD's variable, replaced whole, then BIRD reads its config again."""
    staged = state.with_suffix(".tmp")
    staged.write_text(f"define {VARIABLE} = {value};\n")
    staged.replace(state)
    answer = subprocess.run(["birdc", "configure"], capture_output=True, text=True, check=False)
    if "Reconfigur" not in answer.stdout:
        print(f"birdc configure failed: {answer.stdout}{answer.stderr}", file=sys.stderr)


def apply(
    wanted: int,
    state: Path,
    flag: Path,
    drain_wait_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Moves the server to `wanted`: a drain tags, waits, then withdraws and raises the flag;
    a return lowers the flag and announces. The flag follows the state whatever came
    before (a restart, a reboot that emptied /run)."""
    now = current_state(state)
    if wanted == DRAINED and now != DRAINED:
        write_state(state, DRAINING)
        print("media gate: draining (65535:0)", flush=True)
        sleep(drain_wait_s)
        write_state(state, DRAINED)
        print("media gate: drained (withdrawn, health 503)", flush=True)
    elif wanted == IN_SERVICE and now != IN_SERVICE:
        flag.unlink(missing_ok=True)
        write_state(state, IN_SERVICE)
        print("media gate: in service", flush=True)
    if wanted == DRAINED:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
    else:
        flag.unlink(missing_ok=True)


def secrets_of(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def run(args: argparse.Namespace) -> None:
    while True:
        verdicts = [fetch(source) for source in args.source]
        secrets = secrets_of(args.secret_file)  # read each time: a rotation needs no restart
        wanted = wanted_state(verdicts, args.server, secrets, time.time(), args.stale_after_s)
        apply(wanted, args.state, args.flag, args.drain_wait_s)
        time.sleep(args.poll_s)


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="voicepop-media-gate", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    top.add_argument("action", nargs="?", choices=["run", "status"], default="run")
    top.add_argument("--server")
    top.add_argument("--source", action="append", default=[])
    top.add_argument("--secret-file", type=Path)
    top.add_argument("--state", type=Path, required=True)
    top.add_argument("--flag", type=Path)
    top.add_argument("--drain-wait-s", type=float, default=30.0)
    top.add_argument("--poll-s", type=float, default=5.0)
    top.add_argument("--stale-after-s", type=float, default=120.0)
    args = top.parse_args(argv)
    if args.action == "status":
        print(STATES.get(current_state(args.state), "unknown"))
        return 0
    if not (args.server and args.source and args.secret_file and args.flag):
        top.error("run needs --server, --source, --secret-file and --flag")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
