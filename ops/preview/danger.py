"""The changes no reviewer may miss, read from a stack's preview: a server replaced or
released, an announced prefix withdrawn or added, a DNS record deleted, the firewall opened,
BGP timers or MD5 keys changed. Pure."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ops.preview.capacity import SERVER, capacity_effect
from ops.preview.events import PropertyChange, ResourceChange, StackPreview
from stacks.resources.vproute53 import schema as vproute53

RECORD_SETS = vproute53.RECORD_SETS.token
ZONE = vproute53.ZONE.token
HEALTH_CHECK = vproute53.HEALTH_CHECK.token
BGP_TIMERS = ("hold_time_s", "keepalive_s", "bfd_interval_ms", "bfd_multiplier", "multihop")
# firewall lists whose new entries let more in
FIREWALL_OPENINGS = {
    "host.firewall.admin_ranges": "SSH admin range",
    "host.firewall.extra_tcp_ports": "TCP port",
    "host.firewall.tcp_service_ports": "TCP service port",
    "host.firewall.bgp_peers": "BGP peer",
}


@dataclass(frozen=True)
class Danger:
    kind: str  # a short title: "server released", "prefix withdrawn", ...
    detail: str  # what exactly: the server, the prefix, the record
    resource: str  # the resource it was read from


def dangers(preview: StackPreview) -> list[Danger]:
    found = [danger for change in preview.changes for danger in dangers_of(change)]
    found += capacity_dangers(preview)
    return sorted(set(found), key=lambda d: (d.kind, d.detail, d.resource))


def capacity_dangers(preview: StackPreview) -> list[Danger]:
    effect = capacity_effect(preview)
    if effect is None:
        return []
    found = []
    if effect.peak is not None and effect.peak.short:
        detail = (
            f"{effect.peak.after} calls with one server out, below the peak of "
            f"{effect.peak.peak} (was {effect.peak.before})"
        )
        found.append(Danger("capacity short of the peak", detail, preview.stack))
    if not effect.below_floor:
        return found
    if effect.removal_below_floor:
        detail = (
            f"{effect.before} → {effect.after} servers, below the floor of "
            f"{effect.floor_before} in service"
        )
    else:
        detail = (
            f"{effect.in_service_during_rollout} of {effect.after} servers in service during "
            f"a wave, below the floor of {effect.floor_after}"
        )
    return [*found, Danger("capacity below the floor", detail, preview.stack)]


def dangers_of(change: ResourceChange) -> Iterator[Danger]:
    if change.type == SERVER and change.op in ("replace", "delete"):
        if change.op == "replace":
            why = f"{', '.join(change.replace_reasons) or 'a property'} changed: a new server"
            yield Danger("server replaced", why, change.name)
        else:
            yield Danger("server released", "no longer in the spec", change.name)
    if change.type in (ZONE, HEALTH_CHECK) and change.op in ("replace", "delete"):
        what = "zone" if change.type == ZONE else "health check"
        yield Danger(f"DNS {what} {change.op}d", change.name, change.name)
    if change.type == RECORD_SETS:
        yield from _records_deleted(change)
    if change.host_deploy:
        yield from _host_dangers(change)


def _records_deleted(change: ResourceChange) -> Iterator[Danger]:
    if change.op == "delete":
        yield Danger("DNS records deleted", "every record of the PoP", change.name)
        return
    for prop in change.properties:
        if prop.path.startswith("records[") and prop.new is None and prop.path.endswith("]"):
            yield Danger("DNS record deleted", prop.path.removeprefix("records"), change.name)


def _host_dangers(change: ResourceChange) -> Iterator[Danger]:
    host = change.name.removesuffix("-deploy")
    for prop in change.properties:
        path = prop.path
        if path == "host.bgp.prefixes":
            for prefix in _removed(prop):
                yield Danger("prefix withdrawn", prefix, host)
            for prefix in _added(prop):
                yield Danger("prefix announced", prefix, host)
        elif path.startswith("host.bgp.neighbors[") and path.endswith(BGP_TIMERS):
            neighbor = path.split("[", 1)[1].split("]", 1)[0]
            timer = path.rsplit(".", 1)[-1]
            yield Danger("BGP timers changed", f"{neighbor} {timer}: {_arrow(prop)}", host)
        elif path.startswith("host.bgp.neighbors[") and path.endswith(".md5_secret"):
            neighbor = path.split("[", 1)[1].split("]", 1)[0]
            yield Danger("BGP MD5 key changed", f"{neighbor}: key name {_arrow(prop)}", host)
        elif path == "secrets" or path.startswith("secrets."):
            yield Danger("BGP MD5 key changed", "a key's value (not shown)", host)
        elif path in FIREWALL_OPENINGS:
            for entry in _added(prop):
                yield Danger("firewall opened", f"{FIREWALL_OPENINGS[path]} {entry}", host)
        elif path == "host.firewall.media_ports" and _widened(prop):
            yield Danger("firewall opened", f"media ports {_arrow(prop)}", host)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _removed(prop: PropertyChange) -> list[str]:
    return [str(v) for v in _as_list(prop.old) if v not in _as_list(prop.new)]


def _added(prop: PropertyChange) -> list[str]:
    return [str(v) for v in _as_list(prop.new) if v not in _as_list(prop.old)]


def _widened(prop: PropertyChange) -> bool:
    old, new = _as_list(prop.old), _as_list(prop.new)
    if len(old) != 2 or len(new) != 2:
        return bool(new)
    return bool(new[0] < old[0] or new[1] > old[1])


def _arrow(prop: PropertyChange) -> str:
    return f"{prop.old} → {prop.new}"


def grouped(found: Iterable[Danger]) -> dict[tuple[str, str], list[str]]:
    """Dangers by kind and detail, with the resources they were read from (a prefix withdrawn
    on every host of a PoP is one line)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for danger in found:
        groups.setdefault((danger.kind, danger.detail), []).append(danger.resource)
    return groups
