"""The host audit: the verification suites (verify) as controls over an inventory, in
parallel over hosts, over SSH as they run in a deploy (the inventory's key, or the operator's
agent). Writes the JUnit XML (one testcase per control and host, the control's properties on
it), the JSON report and the HTML report; exits 1 on any mandatory failure, 2 when the audit
itself could not run.

    python -m audit (--stack STACK | --inventory FILE) [--out DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from audit.plugin import RESULTS_ENV
from audit.report import html_report, json_report, mandatory_failures, results_from
from deploy.verification import workers_for
from stacks.project import PROJECT_DIR

JUNIT, JSON, HTML = "audit.junit.xml", "audit.json", "audit.html"


def inventory_of(args: argparse.Namespace) -> Path:
    if args.inventory:
        return Path(args.inventory).resolve()
    subprocess.run(
        ["tools/stack-env.sh", args.stack, "python", "-m", "ops.inventories", args.stack],
        cwd=PROJECT_DIR,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return PROJECT_DIR / "inventories" / f"{args.stack}.json"


def pytest_command(hosts: int, junit: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "verify",
        # the suites' own conftest only: the test suite's (tests/conftest.py: tiers, sandbox
        # fixtures) is no part of an audit of production hosts
        "--confcutdir=verify",
        "-p",
        "audit.plugin",
        "-q",
        "--no-header",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",  # properties per testcase
        *workers_for(hosts),
    ]


def run_audit(inventory: Path, out: Path, target: str) -> int:
    hosts = len(json.loads(inventory.read_text()))
    if hosts == 0:
        print(f"audit: no delivered host in {inventory}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as results:
        started = time.monotonic()
        run = subprocess.run(
            pytest_command(hosts, out / JUNIT),
            cwd=PROJECT_DIR,
            env={
                **os.environ,
                "VOICEPOP_VERIFY_INVENTORY": str(inventory),
                RESULTS_ENV: results.name,
            },
            capture_output=True,
            text=True,
        )
        duration = time.monotonic() - started
        records = [json.loads(line) for line in results.read().splitlines() if line]
    if not records:
        print(
            f"audit: the suites did not run:\n{run.stdout[-3000:]}{run.stderr[-2000:]}",
            file=sys.stderr,
        )
        return 2
    results_list = results_from(records)
    meta = {
        "target": target,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration, 1),
    }
    (out / JSON).write_text(json.dumps(json_report(results_list, meta), indent=2) + "\n")
    (out / HTML).write_text(html_report(results_list, meta))
    failed = mandatory_failures(results_list)
    print(f"audit of {target}: {hosts} host(s), {len(records)} result(s) in {duration:.1f} s")
    for result in failed:
        seen = result.observed or result.message
        print(f"  MANDATORY FAILED {result.control.id} on {result.host}: {seen}")
    print(f"reports: {out / HTML}, {out / JSON}, {out / JUNIT}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit", description=__doc__)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="the stack's delivered servers (its outputs)")
    target.add_argument("--inventory", help="an inventory JSON file (inventories/STACK.json)")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "audit-report")
    args = parser.parse_args(argv)
    try:
        inventory = inventory_of(args)
    except subprocess.CalledProcessError as error:
        print(f"audit: could not read the stack's servers ({error})", file=sys.stderr)
        return 2
    return run_audit(inventory, args.out.resolve(), args.stack or str(args.inventory))


if __name__ == "__main__":
    sys.exit(main())
