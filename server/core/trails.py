"""Where the signal windows find each source's past values (``core/signals.py`` computes with them).

A *trail* holds one (symbol, source) series for the windows that share a tolerance (at a 30 s
poll, 1m, 5m and 15m share 45 s; 1h, 4h and 24h have their own): one flat ``array('d')`` of
samples (t, coins, usd, price × usd; NaN for None). Each window keeps a *cursor* in its trail:
the offset of its current past value, the last sample at or before its instant (now − W), which
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

Cost: when every source has a new reading, a full-scale snapshot pushes ~4,800 readings and
moves ~15,000-24,000 cursors (bench/signals.py), so these loops are written for the
interpreter: cursors hold offsets into the arrays (index × ``STRIDE``), a trail keeps its last
two sample times beside its array (the thinning reads no sample), ``pasts`` records the
exceptions only as bits (a value missing, without coins, without a price) and finds when the
oldest value leaves the tolerance once, not per cursor, and a seeded cursor's search is a
``bisect`` in C over a strided view of the times.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from math import isnan
from typing import Final

from server.core.model import VenueFigure

STRIDE: Final = 4  # t, coins (NaN: none), usd, price × usd (NaN: no price); the loops spell it 4
NEVER: Final = math.inf
TRIM_AFTER: Final = 32  # samples behind every cursor of a trail before they are deleted
NO_FIGURE: Final = VenueFigure(source="", oi_usd=math.nan, oi_base=None, updated_at_ms=0)  # none yet
Now = tuple[float, float | None, float | None]  # a current figure's USD, coins, price × USD
NO_VALUES: Final[Now] = (math.nan, None, None)


class Cursor:
    """One window's place in its trail: ``data`` is the trail's array, ``at`` the offset of the
    current sample in it (its index × ``STRIDE``)."""

    __slots__ = ("at", "data")

    def __init__(self, data: array[float]) -> None:
        self.data = data
        self.at = 0


class Trail:
    """Samples of one (symbol, source) for the windows of one tolerance (``spacing``), with their
    cursors (shortest window first: its cursor is never behind a longer window's)."""

    __slots__ = ("before", "cursors", "data", "last", "skip", "spacing")

    def __init__(
        self,
        data: array[float],
        cursors: tuple[Cursor, ...],
        *,
        spacing: float,
        skip: float,
        last: float,
        before: float,
    ) -> None:
        self.data = data
        self.cursors = cursors
        self.spacing = spacing
        self.skip = skip  # live values closer than this to the last one are not offered
        self.last = last  # the last sample's t (−inf: none)
        self.before = before  # the t of the sample before it (−inf: none): the thinning looks at it

    def trim(self) -> None:
        """Delete the samples every window is past, once they are many and most of the trail."""
        at = self.cursors[-1].at
        if at > TRIM_AFTER * STRIDE and 2 * at > len(self.data):
            del self.data[:at]
            for cursor in self.cursors:
                cursor.at -= at

    def __len__(self) -> int:
        """Samples some window can still use (those behind every cursor are dead)."""
        return (len(self.data) - self.cursors[-1].at) // STRIDE


class Series:
    """One (symbol, source): its current figure, its trails, and each window's cursor (ordered as
    ``signals.WINDOWS``).

    A trail whose ``skip`` is longer than a poll interval (4h and 24h at a 30 s poll) takes a live
    value every few readings only: those are in ``rare``, and ``rare_at`` is the first instant
    any of them takes one, so a reading before it does not touch them (``push`` then goes over
    ``trails`` only, else over ``every``: both kinds)."""

    __slots__ = ("counted", "cursors", "every", "figure", "now", "rare", "rare_at", "source", "trails")

    def __init__(self, source: str, groups: Sequence[tuple[int, int, int, bool]], windows: int) -> None:
        """``groups``: (tolerance, skip, how many windows, rare) per tolerance, shortest first."""
        self.source = source
        self.figure = NO_FIGURE
        self.now: Now = NO_VALUES  # the figure's values, found when it is pushed (``SignalBook``)
        self.counted = False  # in its symbol's current total (``SignalBook`` keeps this)
        trails: list[Trail] = []
        rare: list[Trail] = []
        cursors: list[Cursor] = []
        for spacing, skip, count, seldom in groups:
            data = array("d")
            own = tuple(Cursor(data) for _ in range(count))
            trail = Trail(data, own, spacing=float(spacing), skip=float(skip), last=-NEVER, before=-NEVER)
            (rare if seldom else trails).append(trail)
            cursors.extend(own)
        assert len(cursors) == windows
        self.trails = tuple(trails)
        self.rare = tuple(rare)
        self.every = (*self.trails, *self.rare)
        self.rare_at = -NEVER
        self.cursors = tuple(cursors)

    def every_trail(self) -> tuple[Trail, ...]:
        """Both kinds (for the sweep and the memory figures)."""
        return self.every

    def push(self, row: array[float], live: bool) -> None:
        """Offer one sample (t, coins, usd, price × usd) to every trail: one not after the last
        held is not kept (history overlapping what is held), nor a live one closer than ``skip``;
        then keep, thin, or split (the module docstring). Once per fresh reading: inlined."""
        t = row[0]
        trails = self.trails if live and t < self.rare_at else self.every
        for trail in trails:
            last = trail.last
            gap = t - last
            if gap <= 0 or (live and gap < trail.skip):
                continue
            trail.last = t
            data = trail.data
            if t - trail.before <= trail.spacing:  # the last sample may be redundant
                size = len(data)
                cursors = trail.cursors
                if size - cursors[0].at >= 8:  # it is no window's past value: replace it
                    data[size - 4 :] = row
                    continue
                if size - cursors[-1].at >= 8:  # it is the shorter windows' past value only
                    self.split(trail, row)
                    continue
            trail.before = last
            data.extend(row)
            if not len(data) & 63:  # every 16 samples: the dead ones may be many by now
                trail.trim()
        if trails is self.every and self.rare:
            self.rare_at = min([trail.last + trail.skip for trail in self.rare])

    def split(self, trail: Trail, row: array[float]) -> None:
        """The windows whose cursor is before the last sample drop it, the others keep it: each
        kind gets its own trail (the new one a copy, with the last sample replaced)."""
        cursors = trail.cursors
        size = len(trail.data)
        first = next(i for i, cursor in enumerate(cursors) if size - cursor.at >= 8)
        copy = array("d", trail.data)
        copy[size - 4 :] = row
        moved = cursors[first:]
        for cursor in moved:
            cursor.data = copy
        trail.cursors = cursors[:first]
        trail.before = trail.data[size - 4]
        trail.data.extend(row)
        # (only windows of a tolerance of 1.5 polls share a trail: it has no skip, so it is not rare)
        kept = Trail(
            copy, moved, spacing=trail.spacing, skip=trail.skip, last=trail.last, before=copy[size - 8]
        )
        self.trails = (*self.trails, kept)
        self.every = (*self.trails, *self.rare)


Pasts = tuple[float, bool, int, int, int, float, float, float, float, float]
"""One window's past side over a symbol's current sources (bit i: the i-th of them), as a plain
tuple (made and unpacked once per window a snapshot moves: a tuple is the cheapest of both):

due: the first instant at which any of these past values can change; wake: some cursor has no
later sample, so the next push may move it; compared, coins, priced: bits, the sources with a
past value within the tolerance, and of those the ones whose past value counts coins, has a
price; Σ past USD over compared, Σ past coins over coins, Σ past price × USD over priced, Σ past
USD over priced; oldest: the oldest past value's t (the instant when none)."""


def pasts(cursors: Sequence[Cursor], instant: float, tolerance: float) -> Pasts:
    """Move each cursor to the last sample at or before ``instant`` (a step at a time, searching
    when further behind) and sum the past values within ``tolerance`` of it, in the order of
    ``cursors``.

    The hot loop of every snapshot (bench/signals.py): the usual cursor moves one sample and
    finds a value with coins and a price, so the bits record the exceptions only (``missing``:
    no value, or too old, or not reached; ``no_coins``, ``no_price``)."""
    instant = float(instant)  # compared with floats only: the interpreter's fast path
    floor = instant - tolerance
    usd_sum = coins_sum = px_sum = priced_usd = 0.0
    missing = no_coins = no_price = 0
    oldest = instant
    due = NEVER  # the first next sample or value not yet reached; the oldest's end, after the loop
    wake = False
    for i, cursor in enumerate(cursors):
        data = cursor.data
        at = cursor.at
        try:
            t = data[at + 4]  # the next sample's
            if t <= instant:  # reached: the cursor moves on (usually one sample, when due)
                at += 4
                nxt = data[at + 4]
                if nxt <= instant:  # further behind (a trail seeded from history): search
                    at = seek(data, at + 4, instant)
                    t = data[at]
                    nxt = data[at + 4]
                cursor.at = at
            else:
                nxt = t
                t = data[at]
        except IndexError:  # no later sample (or none at all): only a push can change this one
            wake = True
            nxt = NEVER
            if not data:
                missing |= 1 << i
                continue
            cursor.at = at
            t = data[at]
        if nxt < due:
            due = nxt
        if t < floor or t > instant:  # too old, or not reached yet (due then: when it is)
            missing |= 1 << i
            if t < due and t > instant:
                due = t
            continue
        if t < oldest:
            oldest = t
        usd = data[at + 2]
        usd_sum += usd
        coin = data[at + 1]
        if isnan(coin):
            no_coins |= 1 << i
        else:
            coins_sum += coin
        px = data[at + 3]
        if isnan(px):
            no_price |= 1 << i
        else:
            px_sum += px
            priced_usd += usd
    compared = ((1 << len(cursors)) - 1) & ~missing
    if compared and oldest + tolerance + 1.0 < due:  # from then on the oldest value is too old
        due = oldest + tolerance + 1.0
    coins = compared & ~no_coins
    priced = compared & ~no_price
    return (due, wake, compared, coins, priced, usd_sum, coins_sum, px_sum, priced_usd, oldest)


def seek(data: array[float], first: int, instant: float) -> int:
    """The offset of the last sample at or before ``instant``, given that the one at ``first`` is:
    a binary search in C over a strided view of the samples' times (a restarted service's first
    snapshot does one per cursor, each over a day's trail)."""
    with memoryview(data) as view, view[first::STRIDE] as times:
        return first + STRIDE * (bisect_right(times, instant) - 1)


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
            at = cursor.at
            usd = data[at + 2]
            usd_sum += usd
            if coins & bit:
                coins_sum += data[at + 1]
            if priced & bit:
                px_sum += data[at + 3]
                priced_usd += usd
        bit <<= 1
    return usd_sum, coins_sum, px_sum, priced_usd
