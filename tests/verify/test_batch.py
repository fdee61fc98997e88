"""The verification suites' batched reads: many commands, one round trip, each read intact."""

import subprocess

import pytest

from verify.batch import Read, batch_script, parse_batch

pytestmark = pytest.mark.verify


def test_each_command_keeps_its_output_and_exit_status() -> None:
    script = batch_script(
        {
            "lines": "printf 'a\\nb\\n'",
            "fails": "echo oops >&2; false",
            "unterminated": "printf 'x'",
            "with spaces in output": "echo '#vp-read'",
        }
    )
    output = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout
    assert parse_batch(output) == {
        "lines": Read(0, "a\nb"),
        "fails": Read(1, "oops"),
        "unterminated": Read(0, "x"),
        "with spaces in output": Read(0, "#vp-read"),
    }
