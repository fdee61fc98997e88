"""An independent auditor's view of the hosts: Lynis (Debian's package, installed on the control
machine by `make setup`) run on each host of an inventory, its hardening index read from its
report, and each of its suggestions either gone (applied as a role knob with a control) or
waived, with the reason, in audit/lynis-waivers.yaml. Nothing is installed on the host: Lynis
is copied to a private folder there as a standalone tree, run, and removed.

    python -m audit.lynis --inventory FILE [--host NAME] [--min-index 80] [--json]

Exits 1 when a host's index is below --min-index or it has a suggestion nobody answered.
"""

import argparse
import io
import json
import sys
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from deploy.ssh import open_ssh
from roles.host import HostEntry
from verify.inventory import read_hosts

WAIVERS = Path(__file__).with_name("lynis-waivers.yaml")
TARGET_INDEX = 80
# Debian's package, laid out as Lynis's standalone tree (it looks in its own folder last)
LYNIS_TREE = {
    "lynis": Path("/usr/sbin/lynis"),
    "include": Path("/usr/share/lynis/include"),
    "db": Path("/usr/share/lynis/db"),
    "plugins": Path("/etc/lynis/plugins"),
    "default.prf": Path("/etc/lynis/default.prf"),
}
REMOTE_DIR = "/root/.voicepop-lynis"
REPORT = f"{REMOTE_DIR}/report.dat"


@dataclass(frozen=True)
class Finding:
    test: str  # Lynis's test ID, such as SSH-7408
    text: str
    details: str = ""


@dataclass
class LynisReport:
    hardening_index: int
    suggestions: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Waiver:
    test: str
    reason: str
    details: str = ""  # only the suggestion with these details (empty: every one of the test)

    def covers(self, finding: Finding) -> bool:
        return finding.test == self.test and (not self.details or self.details == finding.details)


def parse_report(text: str) -> LynisReport:
    """Lynis's report file (`key=value` lines; `suggestion[]=TEST|text|details|solution|`)."""
    index = -1
    suggestions: list[Finding] = []
    warnings: list[Finding] = []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "hardening_index":
            index = int(value)
        elif key in ("suggestion[]", "warning[]"):
            test, text_, details, *_ = [*value.split("|"), "", ""]
            found = Finding(test, text_, "" if details == "-" else details)
            (suggestions if key == "suggestion[]" else warnings).append(found)
    if index < 0:
        raise ValueError("no hardening_index in the report: Lynis did not finish")
    return LynisReport(index, suggestions, warnings)


def load_waivers(path: Path = WAIVERS) -> list[Waiver]:
    return [Waiver(**entry) for entry in yaml.safe_load(path.read_text())["waivers"]]


def unanswered(report: LynisReport, waivers: list[Waiver]) -> list[Finding]:
    """The suggestions and warnings no waiver covers."""
    findings = report.suggestions + report.warnings
    return [found for found in findings if not any(w.covers(found) for w in waivers)]


def lynis_tarball() -> bytes:
    """The standalone tree, owned by root as Lynis insists for its include files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, path in LYNIS_TREE.items():
            if not path.exists():
                raise FileNotFoundError(f"{path}: install Debian's lynis (make setup does)")
            tar.add(path, arcname=name, filter=_as_root)
    return buffer.getvalue()


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def run_on(host: HostEntry, tarball: bytes) -> str:
    """Lynis's report from `host` (a quick audit: it never waits for a key press)."""
    client = open_ssh(host.address, user=host.ssh_user, key_filename=host.ssh_key)
    try:
        command = (
            f"rm -rf {REMOTE_DIR} && mkdir -m 700 {REMOTE_DIR} && tar -xzf - -C {REMOTE_DIR} "
            f"&& cd {REMOTE_DIR} && ./lynis audit system --quick --no-colors --no-log "
            f"--report-file {REPORT} >/dev/null 2>&1; cat {REPORT}; rm -rf {REMOTE_DIR}"
        )
        stdin, stdout, _ = client.exec_command(command, timeout=900)
        stdin.write(tarball)
        stdin.channel.shutdown_write()
        return stdout.read().decode()
    finally:
        client.close()


@dataclass
class HostResult:
    host: str
    hardening_index: int
    unanswered: list[Finding]
    waived: int

    def passes(self, min_index: int) -> bool:
        return self.hardening_index >= min_index and not self.unanswered


def audit_host(host: HostEntry, tarball: bytes, waivers: list[Waiver]) -> HostResult:
    report = parse_report(run_on(host, tarball))
    left = unanswered(report, waivers)
    waived = len(report.suggestions) + len(report.warnings) - len(left)
    return HostResult(host.name, report.hardening_index, left, waived)


def summary(result: HostResult, min_index: int) -> str:
    verdict = "ok" if result.passes(min_index) else "FAILED"
    lines = [
        f"{result.host}: hardening index {result.hardening_index} (at least {min_index}), "
        f"{result.waived} waived, {len(result.unanswered)} unanswered: {verdict}"
    ]
    for found in result.unanswered:
        lines.append(f"  {found.test}: {found.text} {found.details}".rstrip())
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.lynis",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--inventory", required=True, help="inventories/<stack>.json")
    parser.add_argument("--host", help="only this host of the inventory")
    parser.add_argument("--min-index", type=int, default=TARGET_INDEX)
    parser.add_argument("--json", action="store_true", help="the results as JSON")
    args = parser.parse_args(argv)
    hosts = [h for h in read_hosts(Path(args.inventory)) if args.host in (None, h.name)]
    if not hosts:
        print(f"error: no host {args.host!r} in {args.inventory}", file=sys.stderr)
        return 2
    tarball, waivers = lynis_tarball(), load_waivers()
    results = [audit_host(host, tarball, waivers) for host in hosts]
    if args.json:
        print(json.dumps([asdict(result) for result in results], indent=1))
    else:
        print("".join(summary(result, args.min_index) for result in results), end="")
    return 0 if all(result.passes(args.min_index) for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
