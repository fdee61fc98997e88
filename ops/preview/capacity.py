"""A change's effect on a PoP's capacity, read from its preview: the servers it holds before
and after (a removal: `sbx1: 3 → 2 servers, -33 %`) and the servers still in service while
the rollout's largest draining wave is out, each against the PoP's capacity floor
(`deploy.min_in_service`); for a PoP sized for its peak (`capacity.peak_calls`), the calls it
carries with one server out before and after (a removal, a new instance type). Pure (the
calls per server are the provider catalogue's)."""

from dataclasses import dataclass

from ops.preview.events import StackPreview
from stacks.resources.flexmetal import schema as flexmetal
from stacks.spec.capacity import servers_of
from stacks.spec.catalogue import load_catalogue

SERVER = flexmetal.SERVER.token
SFU_DIGEST = "sfu_digest"  # a host deploy's: it changes when the deploy restarts the SFU


@dataclass(frozen=True)
class PeakHeadroom:
    """The calls the PoP carries with one server out, before and after, against its peak."""

    peak: int
    before: int
    after: int

    @property
    def short(self) -> bool:
        return self.after < self.peak


@dataclass(frozen=True)
class CapacityEffect:
    before: int  # servers the PoP holds now
    after: int  # servers it holds once the change is applied
    drained_at_once: int  # servers out of service together in the largest draining wave
    floor_before: int | None  # the floor of the PoP as it is (None: the floor is not known)
    floor_after: int | None
    peak: PeakHeadroom | None = None  # a PoP sized for its peak, with its calls per server known
    retyped: tuple[str, str] | None = None  # the instance type replaced, and its replacement

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
    """None when the change neither removes nor adds servers, nor drains any, nor changes
    their instance type."""
    server_ops = [op for urn, op in preview.ops.items() if resource_type(urn) == SERVER]
    before = sum(1 for op in server_ops if op != "create")
    after = sum(1 for op in server_ops if op != "delete")
    drained = largest_draining_wave(preview)
    types_before, type_after = instance_types_before(preview), preview.instance_type
    retyped = bool(types_before) and types_before != {type_after}
    if before == after and not drained and not retyped:
        return None
    floor = preview.min_in_service
    return CapacityEffect(
        before=before,
        after=after,
        drained_at_once=drained,
        floor_before=None if floor is None else servers_of(floor, before, round_up=False),
        floor_after=None if floor is None else servers_of(floor, after, round_up=False),
        peak=peak_headroom(preview, before, after, types_before or {type_after}),
        retyped=(", ".join(sorted(map(str, types_before))), str(type_after)) if retyped else None,
    )


def instance_types_before(preview: StackPreview) -> set[str | None]:
    """The instance types the change replaces (the servers' old ones); empty: none changes."""
    return {
        str(p.old)
        for change in preview.changes
        if change.type == SERVER
        for p in change.properties
        if p.path == "instance_type" and p.old != p.new
    }


def peak_headroom(
    preview: StackPreview, before: int, after: int, types_before: set[str | None]
) -> PeakHeadroom | None:
    """The calls with one server out before and after, for a PoP that declares its peak and
    whose instance types have their calls per server (the fewest of them counts)."""
    calls = load_catalogue("flexmetal").calls_per_server
    known_before = [calls[t] for t in types_before if t in calls]
    if preview.peak_calls is None or preview.instance_type not in calls or not known_before:
        return None
    per_before, per_after = min(known_before), calls[preview.instance_type]
    with_one_out_before = max(0, before - 1) * per_before
    with_one_out_after = max(0, after - 1) * per_after
    return PeakHeadroom(preview.peak_calls, with_one_out_before, with_one_out_after)


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
    if effect.retyped:
        old_type, new_type = effect.retyped
        parts.append(f"{stack}: {effect.after} servers of {old_type} → {new_type}")
    if effect.drained_at_once:
        parts.append(
            f"{effect.in_service_during_rollout} of {effect.after} in service during the "
            f"largest draining wave ({effect.drained_at_once} out)"
        )
    floor = floor_text(effect)
    flag = "⚠️ **below the capacity floor** " if effect.below_floor else ""
    if effect.peak is not None:
        flag += "⚠️ **short of the peak** " if effect.peak.short else ""
        floor += "; " + peak_text(effect.peak)
    return f"**Capacity**: {flag}" + "; ".join(parts) + floor + "\n"


def peak_text(peak: PeakHeadroom) -> str:
    """`peak 1200 calls, with one server out: 1000 → 2000 (headroom -200 → +800)`."""
    return (
        f"peak {peak.peak} calls, with one server out: {peak.before} → {peak.after} "
        f"(headroom {peak.before - peak.peak:+d} → {peak.after - peak.peak:+d}, "
        "capacity.peak_calls)"
    )


def floor_text(effect: CapacityEffect) -> str:
    if effect.floor_after is None or effect.floor_before is None:
        return " (capacity floor unknown)"
    removal = effect.after < effect.before and not effect.rollout_below_floor
    floor = effect.floor_before if removal else effect.floor_after
    return f" (floor: {floor} in service, deploy.min_in_service)"
