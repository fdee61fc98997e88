"""The pull-request comment, rendered from previews the real engine made of the live sandbox
(recorded by tests/ops/preview/record.py; re-record after an engine upgrade)."""

import json
import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from ops.preview.comment import GITHUB_LIMIT, MARKER, render
from ops.preview.danger import dangers
from ops.preview.events import HostChange, PropertyChange, StackPreview, stack_preview
from ops.preview.hosts import planned_host_changes
from ops.preview.saved import preview_of
from stacks.spec.catalogue import load_catalogue

pytestmark = pytest.mark.preview

DATA = Path(__file__).parent / "data"


def recorded(scenario: str, stack: str = "sandbox") -> StackPreview:
    return stack_preview(stack, (DATA / f"{scenario}.ndjson").read_text().splitlines())


def section_of(comment: str, stack: str) -> str:
    start = comment.index(f"### `{stack}`")
    following = comment.find("\n### ", start + 1)
    return comment[start : following if following > 0 else None]


def test_counts_come_from_the_engines_summary() -> None:
    preview = recorded("server-added")
    # the server, its health check, its host deploy and the deploy's attempt marker
    assert preview.counts == {"create": 5, "update": 2, "replace": 0, "delete": 0, "same": 22}
    comment = render([preview])
    assert "| `sandbox` | 5 | 2 | 0 | 0 | 22 | - |" in comment


def test_no_change_is_one_line_per_stack() -> None:
    comment = render([recorded("no-change", "ams1"), recorded("no-change", "iad1")])
    assert "### `ams1`: no changes\n" in comment and "### `iad1`: no changes\n" in comment
    assert "<details>" not in comment and "Dangerous" not in comment


def test_a_server_replacement_and_a_prefix_withdrawal_come_first() -> None:
    comment = render(
        [
            recorded("tuning-knob", "fra1"),
            recorded("server-replaced", "ams1"),
            recorded("prefix-withdrawn", "iad1"),
        ]
    )
    dangerous = comment.index("### ⚠️ Dangerous changes")
    assert dangerous < comment.index("### `fra1`")  # before any stack's detail
    block = comment[dangerous : comment.index("### `fra1`")]
    assert re.search(r"\*\*ams1\*\*: \*\*server replaced\*\*: instance_type changed", block)
    assert "`sbx1-sfu01`, `sbx1-sfu02`, `sbx1-sfu03`" in block  # one line for the three
    assert re.search(r"\*\*iad1\*\*: \*\*prefix withdrawn\*\*: 2001:db8:5ad::/48", block)
    assert "**DNS record deleted**: [sfu.sandbox.voice.test. AAAA sbx1]" in block
    assert "fra1" not in block  # a tuning knob is not dangerous
    ams1 = section_of(comment, "ams1")
    # within a stack, replacements before updates
    assert ams1.index("🟠 replace") < ams1.index("🟡 update")


@pytest.mark.parametrize(
    ("scenario", "kind"),
    [
        ("server-removed", "server released"),
        ("server-removed", "DNS record deleted"),
        ("firewall-opened", "firewall opened"),
        ("bgp-timers", "BGP timers changed"),
        ("md5-key", "BGP MD5 key changed"),
    ],
)
def test_each_dangerous_kind_is_flagged(scenario: str, kind: str) -> None:
    assert kind in {d.kind for d in dangers(recorded(scenario))}


@pytest.mark.parametrize("scenario", ["tuning-knob", "dns-ttl", "server-added", "no-change"])
def test_routine_changes_are_not_flagged(scenario: str) -> None:
    assert dangers(recorded(scenario)) == []


def test_an_md5_key_change_is_shown_without_its_value() -> None:
    comment = render([recorded("md5-key")])
    assert "BGP MD5 key changed" in comment and "[secret]" in comment
    assert "a-new-key-never-shown" not in comment  # the value set by the recording
    assert "ciphertext" not in comment and "4dabf18193072939515e22adb298388d" not in comment
    events = (DATA / "md5-key.ndjson").read_text()
    assert "a-new-key-never-shown" not in events  # nor did the engine's events carry it


def test_a_failed_stack_shows_the_engines_error_and_the_others_still_render() -> None:
    comment = render([recorded("bad-spec", "ams1"), recorded("tuning-knob", "iad1")])
    assert "| `ams1` | - | - | - | - | - | - | ❌ preview failed |" in comment
    failed = section_of(comment, "ams1")
    assert "voicepop:pop.servers.count: 0: a PoP needs at least one server" in failed
    tuned = section_of(comment, "iad1")
    assert "`host.kernel_tuning.udp_rmem_min_bytes`: `16384` → `32768`" in tuned


def test_the_same_change_on_every_host_is_one_line() -> None:
    comment = render([recorded("tuning-knob")])
    lines = [line for line in comment.splitlines() if "udp_rmem_min_bytes`:" in line]
    assert len(lines) == 1
    assert "`sbx1-sfu01-deploy`, `sbx1-sfu02-deploy`, `sbx1-sfu03-deploy`" in lines[0]
    assert "b9dfee25e36727258023ee0964734c53" not in lines[0]  # the trigger digest is noise


def big_fleet() -> list[StackPreview]:
    """Forty PoPs each re-deploying 50 hosts with many host operations: far over the limit."""
    previews = []
    for index in range(40):
        preview = recorded("server-replaced", f"pop{index:02d}")
        host_changes = [
            HostChange(f"pop{index:02d}-sfu{n:02d}", "Tuning", f"sysctl knob {k}")
            for n in range(50)
            for k in range(4)
        ]
        previews.append(replace(preview, host_changes=host_changes))
    return previews


def test_an_oversized_comment_is_trimmed_and_says_so() -> None:
    previews = big_fleet()
    untrimmed = render(previews, limit=10**9)
    assert len(untrimmed) > GITHUB_LIMIT
    comment = render(previews, ["make pr-comment"])
    assert len(comment) <= GITHUB_LIMIT
    assert comment.startswith(MARKER)
    assert "Trimmed to fit GitHub's 65,536 characters: the full detail" in comment
    for index in range(40):  # every stack's counts and its dangers are kept
        assert f"| `pop{index:02d}` | 0 | 7 | 6 | 0 | 11 |" in comment
        assert f"**pop{index:02d}**: **server replaced**" in comment
    assert "Full detail" not in comment  # the least important went first
    assert "make pr-comment" in comment  # the footer that reproduces it stays


def test_a_comment_within_the_limit_is_not_trimmed() -> None:
    comment = render([recorded("server-replaced")])
    assert "Trimmed" not in comment and "Full detail" in comment


def test_the_roles_plan_gives_the_operations_that_would_change_per_host() -> None:
    """pyinfra's own plan (`pyinfra --json` without --yes) of a tuning knob on the live
    sandbox, recorded: only the operations with a change, not the conditional ones."""
    plan = json.loads((DATA / "roles-plan-tuning.json").read_text())
    changes = planned_host_changes(plan)
    assert {(c.role, c.operation) for c in changes} == {
        ("Kernel tuning", "Write /etc/sysctl.d/60-voicepop-sfu.conf"),
        ("Kernel tuning", "Set net.ipv4.udp_rmem_min"),
    }
    assert {c.host for c in changes} == {"sbx1-sfu01", "sbx1-sfu02", "sbx1-sfu03"}
    comment = render([replace(recorded("tuning-knob"), host_changes=changes)])
    assert "2 operation(s) would change on 3 host(s)" in comment
    assert "| Kernel tuning | Set net.ipv4.udp_rmem_min | `sbx1-sfu01`, `sbx1-sfu02`" in comment


def test_policy_results_from_the_event_stream_reach_the_comment() -> None:
    """A policy event as the engine streams it (the shape `pulumi preview --json` drops)."""
    event = {
        "sequence": 9,
        "timestamp": 0,
        "policyEvent": {
            "resourceUrn": "urn:pulumi:ams1::voicepop::flexmetal:index:Server::ams1-sfu01",
            # the policy's description, then the violation (as the engine sends them)
            "message": "A production PoP has enough servers.\nams1 has 1 server; needs 2",
            "color": "never",
            "policyName": "production-pop-redundancy",
            "policyPackName": "voicepop",
            "policyPackVersion": "0.1.0",
            "enforcementLevel": "mandatory",
        },
    }
    lines = [*(DATA / "no-change.ndjson").read_text().splitlines(), json.dumps(event)]
    preview = stack_preview("ams1", lines)
    comment = render([preview])
    assert "⛔ 1 mandatory policy violation(s)" in comment
    assert (
        "| ⛔ mandatory | voicepop/production-pop-redundancy | `ams1-sfu01` | "
        "ams1 has 1 server; needs 2 |" in comment
    )


def test_a_removal_states_the_capacity_before_and_after() -> None:
    preview = replace(recorded("server-removed"), min_in_service="75%")
    section = section_of(render([preview]), "sandbox")
    assert "**Capacity**: sandbox: 3 → 2 servers (-33 %) (floor: 2 in service" in section
    assert "below the capacity floor" not in section


def test_a_removal_below_the_floor_is_a_dangerous_change() -> None:
    preview = replace(recorded("server-removed"), min_in_service="100%")
    comment = render([preview])
    assert "⚠️ **below the capacity floor** sandbox: 3 → 2 servers" in comment
    block = comment[comment.index("### ⚠️ Dangerous changes") : comment.index("### `sandbox`")]
    assert "**capacity below the floor**: 3 → 2 servers, below the floor of 3" in block


def test_a_change_that_adds_nor_removes_nor_drains_says_nothing_of_capacity() -> None:
    for scenario in ("tuning-knob", "no-change", "bgp-timers"):
        assert "**Capacity**" not in render([recorded(scenario)])


def test_the_largest_draining_wave_against_the_floor() -> None:
    preview = recorded("tuning-knob")
    drains = [
        replace(
            change,
            wave="wave 1 of 1",
            properties=(*change.properties, PropertyChange("sfu_digest", "a", "b")),
        )
        for change in preview.changes
        if change.host_deploy
    ]
    assert len(drains) == 3
    everything = replace(preview, changes=drains, min_in_service="75%")
    line = section_of(render([everything]), "sandbox")
    assert "0 of 3 in service during the largest draining wave (3 out)" in line
    assert "below the capacity floor" in line
    one_at_a_time = [replace(c, wave=f"wave {i} of 3") for i, c in enumerate(drains, 1)]
    rolled = replace(preview, changes=one_at_a_time, min_in_service="75%")
    line = section_of(render([rolled]), "sandbox")
    assert "2 of 3 in service during the largest draining wave (1 out)" in line
    assert "below the capacity floor" not in line


CALLS = load_catalogue("flexmetal").calls_per_server
SMALL, LARGE = CALLS["bm7.std.8"], CALLS["bm7.std.16"]


def test_a_new_instance_type_states_the_headroom_at_the_peak_before_and_after() -> None:
    """The recorded change moves the sandbox's 3 servers from bm7.std.8 to bm7.std.16 (the
    catalogue's calls each): with one out, 2 of the first → 2 of the second."""
    assert LARGE > SMALL
    peak = 2 * SMALL + 10
    preview = replace(recorded("server-replaced"), peak_calls=peak, instance_type="bm7.std.16")
    section = section_of(render([preview]), "sandbox")
    assert "**Capacity**: sandbox: 3 servers of bm7.std.8 → bm7.std.16 (capacity floor" in section
    assert (
        f"peak {peak} calls, with one server out: {2 * SMALL} → {2 * LARGE} (headroom -10 → "
        f"{2 * LARGE - peak:+d}, capacity.peak_calls)" in section
    )
    assert "short of the peak" not in section
    unsized = replace(recorded("server-replaced"), instance_type="bm7.std.16")
    assert "peak" not in section_of(render([unsized]), "sandbox")


def test_a_removal_short_of_the_peak_is_a_dangerous_change() -> None:
    peak = 2 * SMALL - 10  # carried by 3 servers with one out, not by 2
    preview = replace(recorded("server-removed"), min_in_service="50%", peak_calls=peak,
                      instance_type="bm7.std.8")  # fmt: skip
    comment = render([preview])
    assert "⚠️ **short of the peak** sandbox: 3 → 2 servers" in comment
    assert (
        f"with one server out: {2 * SMALL} → {SMALL} (headroom +10 → {SMALL - peak:+d}" in comment
    )
    block = comment[comment.index("### ⚠️ Dangerous changes") : comment.index("### `sandbox`")]
    assert (
        f"**capacity short of the peak**: {SMALL} calls with one server out, below the peak of "
        f"{peak} (was {2 * SMALL})" in block
    )
    saved = preview_of(json.loads(json.dumps(asdict(preview), default=str)))
    assert (saved.peak_calls, saved.instance_type) == (peak, "bm7.std.8")  # a CI matrix's join
