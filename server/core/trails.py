"""Where the signal windows find each source's past values (``core/signals.py`` computes with them).

A *trail* holds one (symbol, source) series for the windows that share a tolerance (at a 30 s
poll, 1m, 5m and 15m share 45 s; 1h, 4h and 24h have their own): one flat ``array('d')`` of
samples (t, coins, usd, price × usd; NaN for None). Each window keeps a *cursor* in its trail:
the index of its current past value, the last sample at or before its instant (now − W), which
only moves forward since the instant does.

Thinning, as the module docstring of ``core/signals.py`` states it: a new sample replaces the last
one when the one before the last is within the tolerance of it, unless the last is a window's
current past value (its cursor is on it). Windows sharing a trail agree on that except when the
last sample is the past value of the shorter windows only; the trail is then split in two (rare:
it takes readings closer than a tolerance after a silence longer than the shortest window). So
every window sees exactly the samples a trail of its own would hold, at a fraction of the pushes.

``pasts`` moves a window's cursors for a new instant and sums the past values found, and says
from which instant on any of them can change (a cursor can move, a value leaves the tolerance,
a value not yet reached is reached): until then the sums stand, and the window's past side costs
nothing. A cursor with no sample after its own can only move once a value is pushed (``wake``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from math import isnan
from typing import Final

import msgspec

from server.core.model import VenueFigure

STRIDE: Final = 4  # t, coins (NaN: none), usd, price × usd (NaN: no price)
NEVER: Final = math.inf
TRIM_AFTER: Final = 32  # samples behind every cursor of a trail before they are deleted
NO_FIGURE: Final = VenueFigure(source="", oi_usd=math.nan, oi_base=None, updated_at_ms=0)  # none yet


class Cursor:
    """One window's place in its trail: ``data`` is the trail's array, ``head`` the sample index."""

    __slots__ = ("data", "head")

    def __init__(self, data: array[float]) -> None:
        self.data = data
        self.head = 0


class Trail:
    """Samples of one (symbol, source) for the windows of one tolerance (``spacing``), with their
    cursors (shortest window first: its cursor is never behind a longer window's)."""

    __slots__ = ("cursors", "data", "last", "skip", "spacing")

    def __init__(
        self, data: array[float], cursors: tuple[Cursor, ...], spacing: float, skip: float, last: float
    ) -> None:
        self.data = data
        self.cursors = cursors
        self.spacing = spacing
        self.skip = skip  # live values closer than this to the last one are not offered
        self.last = last  # the last sample's t (−inf: none)

    def trim(self) -> None:
        """Delete the samples every window is past, once they are many and most of the trail."""
        head = self.cursors[-1].head
        if head > TRIM_AFTER and 2 * head > len(self.data) >> 2:
            del self.data[: head << 2]
            for cursor in self.cursors:
                cursor.head -= head

    def __len__(self) -> int:
        """Samples some window can still use (those behind every cursor are dead)."""
        return len(self.data) // STRIDE - self.cursors[-1].head


class Series:
    """One (symbol, source): its current figure, its trails, and each window's cursor (ordered as
    ``signals.WINDOWS``).

    A trail whose ``skip`` is longer than a poll interval (4h and 24h at a 30 s poll) takes a live
    value every few readings only: those are in ``rare``, and ``rare_at`` is the first instant
    any of them takes one, so a reading before it does not touch them."""

    __slots__ = ("counted", "cursors", "figure", "rare", "rare_at", "source", "trails")

    def __init__(self, source: str, groups: Sequence[tuple[int, int, int, bool]], windows: int) -> None:
        """``groups``: (tolerance, skip, how many windows, rare) per tolerance, shortest first."""
        self.source = source
        self.figure = NO_FIGURE
        self.counted = False  # in its symbol's current total (``SignalBook`` keeps this)
        trails: list[Trail] = []
        rare: list[Trail] = []
        cursors: list[Cursor] = []
        for spacing, skip, count, seldom in groups:
            data = array("d")
            own = tuple(Cursor(data) for _ in range(count))
            (rare if seldom else trails).append(Trail(data, own, float(spacing), float(skip), -NEVER))
            cursors.extend(own)
        assert len(cursors) == windows
        self.trails = tuple(trails)
        self.rare = tuple(rare)
        self.rare_at = -NEVER
        self.cursors = tuple(cursors)

    def every_trail(self) -> tuple[Trail, ...]:
        """Both kinds (for the sweep and the memory figures)."""
        return (*self.trails, *self.rare)

    def push(self, row: array[float], live: bool) -> None:
        """Offer one sample (t, coins, usd, price × usd) to every trail: one not after the last
        held is not kept (history overlapping what is held), nor a live one closer than ``skip``."""
        t = row[0]
        _offer(self, self.trails, row, t, live)
        if not live or t >= self.rare_at:
            _offer(self, self.rare, row, t, live)
            self.rare_at = min((trail.last + trail.skip for trail in self.rare), default=NEVER)

    def split(self, trail: Trail, row: array[float], n: int) -> None:
        """The windows whose cursor is before the last sample drop it, the others keep it: each
        kind gets its own trail (the new one a copy, with the last sample replaced)."""
        cursors = trail.cursors
        first = next(i for i, cursor in enumerate(cursors) if n - cursor.head >= 2)
        copy = array("d", trail.data)
        copy[(n - 1) << 2 :] = row
        moved = cursors[first:]
        for cursor in moved:
            cursor.data = copy
        trail.cursors = cursors[:first]
        trail.data.extend(row)
        # (only windows of a tolerance of 1.5 polls share a trail: it has no skip, so it is not rare)
        self.trails = (*self.trails, Trail(copy, moved, trail.spacing, trail.skip, trail.last))


def _offer(series: Series, trails: tuple[Trail, ...], row: array[float], t: float, live: bool) -> None:
    """``Series.push`` for some of its trails: keep, thin, or split (the module docstring)."""
    for trail in trails:
        gap = t - trail.last
        if gap <= 0 or (live and gap < trail.skip):
            continue
        trail.last = t
        data = trail.data
        n = len(data) >> 2
        if n >= 2 and t - data[(n - 2) << 2] <= trail.spacing:
            cursors = trail.cursors
            if n - cursors[0].head >= 2:  # the last is no window's past value: redundant
                data[(n - 1) << 2 :] = row
                continue
            if n - cursors[-1].head >= 2:  # redundant for the longer windows only
                series.split(trail, row, n)
                continue
        data.extend(row)
        if not n & 15 and trail.cursors[-1].head > TRIM_AFTER:  # now and then
            trail.trim()


class Pasts(msgspec.Struct, frozen=True, gc=False):
    """One window's past side over a symbol's current sources (bit i: the i-th of them)."""

    due: float  # the first instant at which any of these past values can change
    wake: bool  # some cursor has no later sample: the next push may move it
    compared: int  # bits: the sources with a past value within the tolerance
    coins: int  # bits: … whose past value counts coins
    priced: int  # bits: … whose past value has a price
    usd_sum: float  # Σ past USD over ``compared``
    coins_sum: float  # Σ past coins over ``coins``
    px_sum: float  # Σ past price × USD over ``priced``
    priced_usd: float  # Σ past USD over ``priced``
    oldest: float  # the oldest past value's t (the instant when none)


def pasts(cursors: Sequence[Cursor], instant: float, tolerance: float) -> Pasts:
    """Move each cursor to the last sample at or before ``instant`` (a step at a time, searching
    when further behind) and sum the past values within ``tolerance`` of it, in the order of
    ``cursors`` (a hot loop: see bench/signals.py)."""
    instant = float(instant)  # compared with floats only: the interpreter's fast path
    floor = instant - tolerance
    late = tolerance + 1.0  # a value this much older than the instant is too old
    usd_sum = coins_sum = px_sum = priced_usd = 0.0
    compared = coins = priced = 0
    oldest = instant
    due = NEVER
    wake = False
    bit = 1
    for cursor in cursors:
        data = cursor.data
        head = cursor.head
        try:
            nxt = data[(head + 1) << 2]
            if nxt <= instant:
                head += 1
                nxt = data[(head + 1) << 2]
                if nxt <= instant:  # further behind (a trail seeded from history): search
                    head = seek(data, head + 1, instant)
                    nxt = data[(head + 1) << 2]
        except IndexError:  # no later sample (or none at all): only a push can change this one
            wake = True
            nxt = NEVER
            if not data:
                bit <<= 1
                continue
        cursor.head = head
        base = head << 2
        t = data[base]
        if t > instant:  # not reached yet
            nxt = t
        elif t >= floor:
            ends = t + late  # from this instant on, the value is too old
            if ends < nxt:
                nxt = ends
            compared |= bit
            if t < oldest:
                oldest = t
            usd = data[base + 2]
            usd_sum += usd
            coin = data[base + 1]
            if not isnan(coin):
                coins |= bit
                coins_sum += coin
            px = data[base + 3]
            if not isnan(px):
                priced |= bit
                px_sum += px
                priced_usd += usd
        if nxt < due:
            due = nxt
        bit <<= 1
    return Pasts(due, wake, compared, coins, priced, usd_sum, coins_sum, px_sum, priced_usd, oldest)


def seek(data: array[float], first: int, instant: float) -> int:
    """The index of the last sample at or before ``instant``, given that sample ``first`` is."""
    last = (len(data) >> 2) - 1
    while first < last:
        middle = (first + last + 1) >> 1
        if data[middle << 2] <= instant:
            first = middle
        else:
            last = middle - 1
    return first


def masked_pasts(
    cursors: Sequence[Cursor], compared: int, coins: int, priced: int
) -> tuple[float, float, float, float]:
    """The past sums over given bits, at the cursors as they stand (for a source whose current
    value lacks the coins or price its past value has: it is left out of that comparison)."""
    usd_sum = coins_sum = px_sum = priced_usd = 0.0
    bit = 1
    for cursor in cursors:
        if compared & bit:
            data = cursor.data
            base = cursor.head << 2
            usd = data[base + 2]
            usd_sum += usd
            if coins & bit:
                coins_sum += data[base + 1]
            if priced & bit:
                px_sum += data[base + 3]
                priced_usd += usd
        bit <<= 1
    return usd_sum, coins_sum, px_sum, priced_usd
