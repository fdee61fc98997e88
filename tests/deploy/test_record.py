"""The host's own record of its deploys, and the drain plan made from it: offline, and the
commands run by a real shell in a folder standing in for /var/lib/voicepop."""

import subprocess
from pathlib import Path

from deploy.record import HostRecord, drain_plan, parse_record, read_command, write_command
from deploy.results import DrainPlan


def in_folder(command: str, folder: Path) -> str:
    local = command.replace("/var/lib/voicepop", str(folder))
    return subprocess.run(["sh", "-c", local], capture_output=True, text=True, check=True).stdout


def test_a_record_written_is_read_back_whole(tmp_path: Path) -> None:
    assert parse_record(in_folder(read_command(), tmp_path)) == HostRecord()  # never deployed
    record = HostRecord("6b9d", "a1b2", left_drained=True, redeploy_token="t-1 'quoted'")
    in_folder(write_command(record), tmp_path)
    assert parse_record(in_folder(read_command(), tmp_path)) == record


def test_a_host_deployed_before_drains_only_when_its_sfu_restarts() -> None:
    deployed = HostRecord(owner="6b9d", sfu_digest="a")
    assert drain_plan(HostRecord(), "a") == DrainPlan(False, False, False)  # new: no drain
    assert drain_plan(deployed, "a") == DrainPlan(True, False, False)  # a sysctl, say
    assert drain_plan(deployed, "b") == DrainPlan(True, True, False)  # the SFU's config moved
    assert drain_plan(deployed, "a", "t1") == DrainPlan(True, True, False)  # a repair asks
    taken = HostRecord(owner="6b9d", sfu_digest="a", redeploy_token="t1")
    assert drain_plan(taken, "a", "t1") == DrainPlan(True, False, False)  # asked before
    left = HostRecord(owner="6b9d", sfu_digest="a", left_drained=True)
    assert drain_plan(left, "a") == DrainPlan(True, False, True)
