"""What a host records of its own deploys, in /var/lib/voicepop: which deploy owns it, the SFU
configuration it runs (a digest), whether a failed deploy left it drained, and the last
repair token it took. The next deploy's drain plan is made from this record rather than from
Pulumi's state, so a deploy that finds a host deployed before (its resource recreated, or
moved from one resource type to another) still drains it, in its wave, only when its SFU
restarts. Pure: the commands are run by the caller, over SSH, one round trip each."""

import shlex
from dataclasses import dataclass, fields

from deploy.results import DrainPlan

RECORD_DIR = "/var/lib/voicepop"
FILES = {  # field: file in RECORD_DIR
    "owner": "deploy-owner",
    "sfu_digest": "sfu-digest",
    "left_drained": "left-drained",
    "redeploy_token": "redeploy-token",
}


@dataclass(frozen=True)
class HostRecord:
    owner: str = ""  # empty: never deployed (a new or reinstalled host)
    sfu_digest: str = ""
    left_drained: bool = False
    redeploy_token: str = ""

    @property
    def deployed(self) -> bool:
        return bool(self.owner)


def read_command() -> str:
    """Prints `field=value` for each field the host recorded (nothing for a missing file)."""
    return (
        "; ".join(
            f"[ -f {RECORD_DIR}/{name} ] "
            f"&& printf '%s=%s\\n' {field} \"$(cat {RECORD_DIR}/{name})\""
            for field, name in FILES.items()
        )
        + "; true"
    )


def parse_record(output: str) -> HostRecord:
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    known = {f.name for f in fields(HostRecord)}
    found = {k: v.strip() for k, v in values.items() if k in known}
    return HostRecord(
        owner=found.get("owner", ""),
        sfu_digest=found.get("sfu_digest", ""),
        left_drained=found.get("left_drained", "") == "yes",
        redeploy_token=found.get("redeploy_token", ""),
    )


def write_command(record: HostRecord) -> str:
    """Writes the whole record (each file replaced atomically)."""
    values = {
        "owner": record.owner,
        "sfu_digest": record.sfu_digest,
        "left_drained": "yes" if record.left_drained else "no",
        "redeploy_token": record.redeploy_token,
    }
    writes = [
        f"printf '%s\\n' {shlex.quote(values[field])} > {RECORD_DIR}/{name}.new "
        f"&& mv {RECORD_DIR}/{name}.new {RECORD_DIR}/{name}"
        for field, name in FILES.items()
    ]
    return f"mkdir -p {RECORD_DIR} && " + " && ".join(writes)


def drain_plan(record: HostRecord, sfu_digest: str, redeploy_token: str = "") -> DrainPlan:
    """A host deployed before is drained around a deploy that restarts its SFU: its SFU
    configuration moved, or a repair asks for it with a token the host has not taken yet."""
    repair = bool(redeploy_token) and redeploy_token != record.redeploy_token
    return DrainPlan(
        deployed_before=record.deployed,
        restarts_sfu=record.deployed and (record.sfu_digest != sfu_digest or repair),
        left_drained=record.left_drained,
    )
