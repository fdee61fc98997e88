"""The E-model's codec parameters (Ie, Bpl) fitted to a listening model's scores of the same
calls. Pure.

Each scored call gives the E-model's inputs as the probe measured them (the mouth-to-ear delay,
the loss its listener heard and that loss's BurstR) and the listening model's MOS. Calls are
grouped in cells (one impairment each); a fit is the (Ie, Bpl) whose E-model MOS, averaged over
each cell's calls, is nearest the cell's mean listening score at the worst cell (ties: the
smaller root mean square over the cells).

A listening model hears no delay, so the two are compared in the E-model's listening form:
with `listening_delay_ms`, every call's delay impairment is the one of that delay (a clean
path's), not its own; Ie and Bpl, which the delay never touches, are what is fitted."""

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace

from quality.emodel import (
    ADVANTAGE,
    CodecProfile,
    basic_signal_to_noise,
    delay_impairment,
    effective_equipment_impairment,
    mos_of,
    simultaneous_impairment,
)


@dataclass(frozen=True)
class ScoredCall:
    mouth_to_ear_ms: float
    heard_loss_pct: float
    heard_burst_r: float
    listening_mos: float


@dataclass(frozen=True)
class Cell:
    name: str
    calls: tuple[ScoredCall, ...]

    @property
    def listening_mos(self) -> float:
        return statistics.fmean(call.listening_mos for call in self.calls)


def _rating_without_codec(call: ScoredCall, listening_delay_ms: float | None = None) -> float:
    """R before the codec's impairment: what Ie and Bpl do not change."""
    delay = call.mouth_to_ear_ms if listening_delay_ms is None else listening_delay_ms
    return (
        basic_signal_to_noise()
        - simultaneous_impairment(delay)
        - delay_impairment(delay)
        + ADVANTAGE
    )


def cell_mos(cell: Cell, codec: CodecProfile, listening_delay_ms: float | None = None) -> float:
    """The E-model's MOS for the cell: its calls' mean."""
    return statistics.fmean(
        mos_of(
            _rating_without_codec(call, listening_delay_ms)
            - effective_equipment_impairment(codec, call.heard_loss_pct, call.heard_burst_r)
        )
        for call in cell.calls
    )


def errors(
    cells: Iterable[Cell], codec: CodecProfile, listening_delay_ms: float | None = None
) -> dict[str, float]:
    """Each cell's E-model MOS less its listening score."""
    return {
        cell.name: cell_mos(cell, codec, listening_delay_ms) - cell.listening_mos for cell in cells
    }


@dataclass(frozen=True)
class Fit:
    codec: CodecProfile
    worst_error: float  # the largest |E-model - listening| over the cells
    rms_error: float
    errors: dict[str, float]


def judged(cells: list[Cell], codec: CodecProfile, listening_delay_ms: float | None = None) -> Fit:
    found = errors(cells, codec, listening_delay_ms)
    values = list(found.values())
    worst = max(abs(value) for value in values)
    rms = math.sqrt(statistics.fmean(value**2 for value in values))
    return Fit(codec, worst, rms, found)


def _steps(low: float, high: float, step: float) -> list[float]:
    return [round(low + index * step, 6) for index in range(round((high - low) / step) + 1)]


def fit(
    cells: list[Cell],
    start: CodecProfile,
    ie_range: tuple[float, float] = (0.0, 40.0),
    bpl_range: tuple[float, float] = (1.0, 40.0),
    step: float = 0.1,
    listening_delay_ms: float | None = None,
) -> Fit:
    """The best (Ie, Bpl) on a grid of `step`: a coarse pass over the ranges, then a fine one
    about the coarse best. The codec's other parameters are `start`'s."""
    base = {
        cell.name: [_rating_without_codec(call, listening_delay_ms) for call in cell.calls]
        for cell in cells
    }

    def score(ie: float, bpl: float) -> tuple[float, float]:
        codec = replace(start, ie=ie, bpl=bpl)
        found = []
        for cell in cells:
            mos = statistics.fmean(
                mos_of(r - effective_equipment_impairment(codec, c.heard_loss_pct, c.heard_burst_r))
                for r, c in zip(base[cell.name], cell.calls, strict=True)
            )
            found.append(mos - cell.listening_mos)
        return max(abs(e) for e in found), math.sqrt(statistics.fmean(e**2 for e in found))

    coarse = 10 * step
    best = min(
        ((ie, bpl) for ie in _steps(*ie_range, coarse) for bpl in _steps(*bpl_range, coarse)),
        key=lambda point: score(*point),
    )

    def about(value: float, bounds: tuple[float, float]) -> list[float]:
        return _steps(max(bounds[0], value - coarse), min(bounds[1], value + coarse), step)

    fine = [(ie, bpl) for ie in about(best[0], ie_range) for bpl in about(best[1], bpl_range)]
    ie, bpl = min(fine, key=lambda point: score(*point))
    return judged(cells, replace(start, ie=ie, bpl=bpl), listening_delay_ms)
