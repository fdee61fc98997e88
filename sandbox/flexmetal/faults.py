"""Fault injection rules for the stand-in: what to break, for which requests, how many times.

Kinds:
- `error`: answer `status` (5xx, 429, ...) with the API's error body; nothing is done.
- `slow`: wait `delay_s` before handling; the request still takes effect (a client that gave
  up meanwhile has created a server it does not know about).
- `drop`: close the connection before handling; nothing is done.
- `drop_after`: handle the request, then close the connection without answering.
- `fail_provisioning`: the next servers created end in `failed` with `message`.
A rule applies to `count` matching requests (or servers), or forever with count -1.
"""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["error", "slow", "drop", "drop_after", "fail_provisioning"]
KINDS: tuple[str, ...] = ("error", "slow", "drop", "drop_after", "fail_provisioning")
REQUEST_KINDS = ("error", "slow", "drop", "drop_after")


@dataclass
class FaultRule:
    kind: FaultKind
    method: str = "*"
    path: str = "/"  # a path prefix, e.g. /v3/flexMetal/servers
    count: int = 1
    status: int = 503
    delay_s: float = 0.0
    message: str = "provisioning failed: no healthy hardware for this instance type"
    hits: int = field(default=0)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "FaultRule":
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        rule = cls(**raw)
        if rule.kind not in KINDS:
            raise ValueError(f"unknown fault kind {rule.kind!r}; allowed: {', '.join(KINDS)}")
        if rule.kind == "error" and not 400 <= rule.status <= 599:
            raise ValueError(f"error status {rule.status} is not 4xx or 5xx")
        return rule

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def exhausted(self) -> bool:
        return self.count != -1 and self.hits >= self.count

    def matches(self, method: str, path: str) -> bool:
        return (
            self.kind in REQUEST_KINDS
            and self.method in ("*", method)
            and path.startswith(self.path)
            and not self.exhausted
        )


def take_request_fault(rules: list[FaultRule], method: str, path: str) -> FaultRule | None:
    """The first rule matching this request, counted as used."""
    for rule in rules:
        if rule.matches(method, path):
            rule.hits += 1
            return rule
    return None


def take_provisioning_fault(rules: list[FaultRule]) -> FaultRule | None:
    for rule in rules:
        if rule.kind == "fail_provisioning" and not rule.exhausted:
            rule.hits += 1
            return rule
    return None
