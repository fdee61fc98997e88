"""What `make up` prints at its end, rendered from real-shaped state: offline."""

import pytest

from sandbox.summary import render
from sandbox.upstream import LearnedPath

pytestmark = pytest.mark.spec

OUTPUTS = {
    "pop": {
        "code": "sbx1",
        "name": "Sandbox",
        "local_asn": 64512,
        "servers": {
            "sbx1-sfu01": {"address": "172.30.203.10", "announced_prefixes": ["198.18.10.0/24"]},
            "sbx1-sfu02": {"address": "172.30.203.11", "announced_prefixes": ["198.18.10.0/24"]},
        },
    },
    "deploys": {
        "sbx1-sfu01": {"checks_passed": 28, "call_mos": 4.381},
        "sbx1-sfu02": {"checks_passed": 28, "call_mos": None},  # the call gate switched off
    },
}
RECORDS = [
    {
        "Name": "sbx1-sfu01.sandbox.voice.test.",
        "Type": "A",
        "ResourceRecords": [{"Value": "172.30.203.10"}],
    },
    {
        "Name": "sfu.sandbox.voice.test.",
        "Type": "A",
        "SetIdentifier": "sbx1",
        "ResourceRecords": [{"Value": "198.18.10.1"}],
    },
]


def test_each_server_with_what_the_upstream_learned_from_it() -> None:
    learned = [
        LearnedPath("198.18.10.0/24", "172.30.203.10"),
        LearnedPath("198.18.10.0/24", "172.30.203.11", [(65535, 0)]),
    ]
    text = render(OUTPUTS, RECORDS, learned, 61.4)
    lines = text.splitlines()
    first = lines.index(next(line for line in lines if line.strip().startswith("sbx1-sfu01")))
    assert lines[first].endswith(
        "172.30.203.10    verified, 28 checks passed, synthetic call MOS 4.38"
    )
    assert lines[first + 2].endswith("verified, 28 checks passed")  # sbx1-sfu02: no call
    assert lines[first + 1].endswith("the upstream learned 198.18.10.0/24")
    assert "the upstream learned 198.18.10.0/24 (draining)" in text
    assert "sfu.sandbox.voice.test" in text and "[sbx1]" in text
    assert "verification: passed on every server" in text
    # a run that ends with a server out of service says so
    assert "OUT OF SERVICE: sbx1-sfu02 announces nothing the upstream learns" in text
    assert text.endswith("time taken: 61 s")


def test_a_server_a_failed_deploy_left_drained_is_named() -> None:
    deploys = {**OUTPUTS["deploys"], "sbx1-sfu01": {"checks_passed": 0, "left_drained": True}}
    learned = [LearnedPath("198.18.10.0/24", "172.30.203.11")]
    text = render({**OUTPUTS, "deploys": deploys}, RECORDS, learned, None)
    assert text.splitlines()[-1] == "OUT OF SERVICE: sbx1-sfu01 left drained by its failed deploy"
    everyone = [LearnedPath("198.18.10.0/24", a) for a in ("172.30.203.10", "172.30.203.11")]
    assert "OUT OF SERVICE" not in render(OUTPUTS, RECORDS, everyone, None)


def test_a_server_the_upstream_does_not_see_and_no_deploy_are_said_plainly() -> None:
    outputs = {**OUTPUTS, "deploys": {}}
    text = render(outputs, [], [], None)
    assert text.count("the upstream learned nothing") == 2
    assert "not deployed by pulumi up" in text
    assert "verification: not run" in text
    assert "  no records" in text
    assert "time taken" not in text
