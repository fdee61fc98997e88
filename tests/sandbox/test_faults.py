"""Fault rules of the stand-in: which request a rule hits, and how often."""

import pytest

from sandbox.flexmetal.faults import FaultRule, take_provisioning_fault, take_request_fault

pytestmark = pytest.mark.servers


def test_a_rule_hits_matching_requests_count_times() -> None:
    rules = [FaultRule(kind="error", method="POST", path="/v3/flexMetal/servers", count=2)]
    assert take_request_fault(rules, "GET", "/v3/flexMetal/servers") is None
    assert take_request_fault(rules, "POST", "/v3/sshKey") is None
    assert take_request_fault(rules, "POST", "/v3/flexMetal/servers") is rules[0]
    assert take_request_fault(rules, "POST", "/v3/flexMetal/servers/x/tag/y") is rules[0]
    assert take_request_fault(rules, "POST", "/v3/flexMetal/servers") is None
    assert rules[0].hits == 2


def test_forever_rules_and_provisioning_rules() -> None:
    rules = [FaultRule(kind="fail_provisioning", count=1), FaultRule(kind="slow", count=-1)]
    assert take_request_fault(rules, "GET", "/v3/x") is rules[1]
    assert all(take_request_fault(rules, "GET", "/v3/x") for _ in range(50))
    assert take_provisioning_fault(rules) is rules[0]
    assert take_provisioning_fault(rules) is None


@pytest.mark.parametrize(
    "raw", [{"kind": "explode"}, {"kind": "error", "status": 200}, {"kind": "error", "colour": 1}]
)
def test_invalid_rules_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        FaultRule.from_json(raw)
