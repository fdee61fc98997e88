"""The provider scorecard from Prometheus (the probing mesh's metrics) and the drills' results.

python -m ops.scorecard --prometheus URL [--last 24h | --start ISO --end ISO]
                        [--inventory inventories/<pop>.json ...] [--drills FILE ...]
                        [--out reports/scorecard]
    writes scorecard.md and scorecard.html into --out and prints the Markdown; exit 2 when
    Prometheus or an input cannot be read, or it holds no call to a service address then.
"""

import argparse
import re
import sys
import time
from datetime import datetime
from pathlib import Path

from ops.scorecard.figures import render_html, render_markdown
from ops.scorecard.prometheus import ScorecardError, providers_of, reconnects_of, scores

PROJECT_DIR = Path(__file__).resolve().parents[2]
UNITS_S = {"m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    found = re.fullmatch(r"(\d+)([mhd])", text)
    if not found:
        raise argparse.ArgumentTypeError(f"{text}: allowed: a number and m, h or d, e.g. 24h")
    return int(found[1]) * UNITS_S[found[2]]


def _instant(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text}: allowed: an ISO 8601 time, e.g. 2026-12-01T00:00:00+00:00"
        ) from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m ops.scorecard",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--prometheus", required=True, help="its base URL, e.g. http://127.0.0.1:9090")
    top.add_argument("--last", type=_duration, default=None, help="the period up to now: 24h, 7d")
    top.add_argument("--start", type=_instant, default=None, help="the period's start (ISO 8601)")
    top.add_argument("--end", type=_instant, default=None, help="its end (default: now)")
    top.add_argument("--inventory", type=Path, action="append", default=[],
                     help="places the drills' servers in their PoPs")  # fmt: skip
    top.add_argument("--drills", type=Path, action="append", default=[],
                     help="drills' results (bench/results/reconnect.json)")  # fmt: skip
    top.add_argument("--step", type=float, default=15.0, help="seconds between outage samples")
    top.add_argument("--out", type=Path, default=PROJECT_DIR / "reports" / "scorecard")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    end = args.end or time.time()
    if (args.last is None) == (args.start is None):
        print("error: give the period as --last or as --start (and --end)", file=sys.stderr)
        return 2
    start = end - args.last if args.last is not None else args.start
    if start >= end:
        print(f"error: --start is not before --end ({start} >= {end})", file=sys.stderr)
        return 2
    try:
        reconnects = reconnects_of(args.drills, args.inventory)
        found = scores(
            args.prometheus, start, end, providers_of(PROJECT_DIR), reconnects, args.step
        )
    except ScorecardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not found:
        print(f"error: {args.prometheus} holds no call to a service address in the period",
              file=sys.stderr)  # fmt: skip
        return 2
    markdown = render_markdown(start, end, found)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scorecard.md").write_text(markdown)
    (args.out / "scorecard.html").write_text(render_html(start, end, found))
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
