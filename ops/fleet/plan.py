"""Which stacks a fleet run takes, and in which waves of PoPs an `up` goes. Pure."""

from dataclasses import dataclass


class FleetError(Exception):
    """A bad selection or flag: says which, and what is allowed."""


@dataclass(frozen=True)
class Selection:
    stacks: tuple[str, ...]
    canary: tuple[str, ...] = ()  # PoPs of the first wave of an `up`
    wave_size: int = 0  # PoPs per later wave; 0: all the rest at once


def selected(known: list[str], wanted: list[str], skipped: list[str]) -> list[str]:
    """`wanted` (default: every known stack) without `skipped`; unknown names are an error."""
    unknown = sorted(set(wanted + skipped) - set(known))
    if unknown:
        raise FleetError(
            f"no stack {', '.join(unknown)}; the stacks here: {', '.join(known) or '(none)'}"
        )
    chosen = wanted or known
    return [stack for stack in chosen if stack not in skipped]


def pop_waves(selection: Selection) -> list[list[str]]:
    """The canary PoPs first, then the others in waves of `wave_size` (in the given order)."""
    outside = sorted(set(selection.canary) - set(selection.stacks))
    if outside:
        raise FleetError(
            f"--canary {', '.join(outside)}: not among the stacks of this run "
            f"({', '.join(selection.stacks)})"
        )
    if selection.wave_size < 0:
        raise FleetError(f"--wave-size {selection.wave_size}: allowed: 0 (all at once) or more")
    rest = [stack for stack in selection.stacks if stack not in selection.canary]
    size = selection.wave_size or len(rest) or 1
    waves = [list(selection.canary)] if selection.canary else []
    return waves + [rest[start : start + size] for start in range(0, len(rest), size)]
