"""A change's effect on a PoP's capacity, read from its preview: the servers it holds before
and after (a removal: `sbx1: 3 → 2 servers, -33 %`) and the servers still in service while
the rollout's largest draining wave is out, each against the PoP's capacity floor
(`deploy.min_in_service`). Pure."""

from dataclasses import dataclass

from ops.preview.events import StackPreview
from stacks.resources.flexmetal import schema as flexmetal
from stacks.spec.capacity import servers_of

SERVER = flexmetal.SERVER.token
SFU_DIGEST = "sfu_digest"  # a host deploy's: it changes when the deploy restarts the SFU


@dataclass(frozen=True)
class CapacityEffect:
    before: int  # servers the PoP holds now
    after: int  # servers it holds once the change is applied
    drained_at_once: int  # servers out of service together in the largest draining wave
    floor_before: int | None  # the floor of the PoP as it is (None: the floor is not known)
    floor_after: int | None

    @property
    def in_service_during_rollout(self) -> int:
        return self.after - self.drained_at_once

    @property
    def removal_below_floor(self) -> bool:
        return self.floor_before is not None and self.after < min(self.before, self.floor_before)

    @property
    def rollout_below_floor(self) -> bool:
        return (
            self.drained_at_once > 0
            and self.floor_after is not None
            and self.in_service_during_rollout < self.floor_after
        )

    @property
    def below_floor(self) -> bool:
        return self.removal_below_floor or self.rollout_below_floor


def resource_type(urn: str) -> str:
    """A URN's own type: the last of its parent chain (`Pop$Server$flexmetal:index:Server`)."""
    parts = urn.split("::")
    return parts[-2].rsplit("$", 1)[-1] if len(parts) >= 2 else ""


def capacity_effect(preview: StackPreview) -> CapacityEffect | None:
    """None when the change neither removes nor adds servers nor drains any."""
    server_ops = [op for urn, op in preview.ops.items() if resource_type(urn) == SERVER]
    before = sum(1 for op in server_ops if op != "create")
    after = sum(1 for op in server_ops if op != "delete")
    drained = largest_draining_wave(preview)
    if before == after and not drained:
        return None
    floor = preview.min_in_service
    return CapacityEffect(
        before=before,
        after=after,
        drained_at_once=drained,
        floor_before=None if floor is None else servers_of(floor, before, round_up=False),
        floor_after=None if floor is None else servers_of(floor, after, round_up=False),
    )


def largest_draining_wave(preview: StackPreview) -> int:
    """Servers drained together in the largest wave whose deploys restart the SFU (a server
    replaced or removed is not in service before it: not counted here)."""
    waves: dict[str, int] = {}
    for change in preview.changes:
        restarts = any(p.path == SFU_DIGEST for p in change.properties)
        if change.host_deploy and change.op == "update" and change.wave and restarts:
            waves[change.wave] = waves.get(change.wave, 0) + 1
    return max(waves.values(), default=0)


def capacity_line(stack: str, effect: CapacityEffect) -> str:
    """`sbx1: 3 → 2 servers (-33 %); …` for the PR comment, flagged below the floor."""
    parts = []
    if effect.before != effect.after:
        change = (effect.after - effect.before) / effect.before * 100 if effect.before else 100.0
        parts.append(f"{stack}: {effect.before} → {effect.after} servers ({change:+.0f} %)")
    if effect.drained_at_once:
        parts.append(
            f"{effect.in_service_during_rollout} of {effect.after} in service during the "
            f"largest draining wave ({effect.drained_at_once} out)"
        )
    floor = floor_text(effect)
    flag = "⚠️ **below the capacity floor** " if effect.below_floor else ""
    return f"**Capacity**: {flag}" + "; ".join(parts) + floor + "\n"


def floor_text(effect: CapacityEffect) -> str:
    if effect.floor_after is None or effect.floor_before is None:
        return " (capacity floor unknown)"
    removal = effect.after < effect.before and not effect.rollout_below_floor
    floor = effect.floor_before if removal else effect.floor_after
    return f" (floor: {floor} in service, deploy.min_in_service)"
