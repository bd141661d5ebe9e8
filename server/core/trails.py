"""Where the signal windows find each source's past values: one window's samples of every
(symbol, source) pair, as columns (``core/signals.py`` computes with them).

A *trail* holds one window's samples (t, coins, usd, price × usd; NaN for None) of one pair, from
the window's current past value (its *cursor*) to the newest sample: the samples before the
cursor can never be a past value again, since a window's instant (now − W) only moves forward.
``WindowTrails`` keeps the trails of every pair of one window as rows of one array, each a ring of
``capacity`` samples addressed by absolute counters (``head``: the cursor, ``end``: one past the
newest; a counter's slot is counter & (capacity − 1)), so a snapshot pushes and looks up every
pair it touches in a few array operations instead of a loop of interpreter steps per pair.

Thinning, as the module docstring of ``core/signals.py`` states it: a new sample replaces the last
one when the one before the last is within the window's tolerance of it, unless the last is the
window's current past value (the cursor is on it); a live value closer than ``skip`` to the last
one is not offered at all. A ring that is full first drops the samples no later snapshot can use
(before the last one at or before the latest snapshot's instant, never the newest), and only then
grows (every row doubles; the capacity a window needs is bounded by the thinning: about
2 × (W + tolerance) / tolerance samples).

The caller gives each pair one row, clears a row before it is reused, and never names a row twice
in one call.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Flags = NDArray[np.bool_]

T, COINS, USD, PX = 0, 1, 2, 3  # a sample's fields: t, coins (NaN: none), usd, price × usd (NaN: no price)
FIELDS: Final = 4
FIRST_CAPACITY: Final = 8
EMPTY: Final[Ints] = np.zeros(0, dtype=np.int64)


class WindowTrails:
    """Every pair's trail for one window (``window_ms``, with its ``tolerance``; live values closer
    than ``skip`` to the last sample are not offered)."""

    def __init__(self, window_ms: int, tolerance: int, skip: int, rows: int = 64) -> None:
        self.window_ms = float(window_ms)
        self.spacing = float(tolerance)
        self.skip = float(skip)
        self.data: Floats = np.zeros((rows, FIRST_CAPACITY, FIELDS))
        self.head: Ints = np.zeros(rows, dtype=np.int64)
        self.end: Ints = np.zeros(rows, dtype=np.int64)

    @property
    def capacity(self) -> int:
        return int(self.data.shape[1])

    def add_rows(self, rows: int) -> None:
        """Room for at least ``rows`` pairs (the new rows empty)."""
        if rows <= len(self.head):
            return
        more = max(rows, len(self.head) + len(self.head) // 4) - len(self.head)
        self.data = np.concatenate([self.data, np.zeros((more, self.capacity, FIELDS))])
        self.head = np.concatenate([self.head, np.zeros(more, dtype=np.int64)])
        self.end = np.concatenate([self.end, np.zeros(more, dtype=np.int64)])

    def clear(self, row: int) -> None:
        self.head[row] = self.end[row] = 0

    def push(self, rows: Ints, samples: Floats, *, live: bool, settled: float) -> None:
        """Offer one sample per row (``samples``: one row of fields per pair): one not after the
        last held is not kept (history overlapping what is held), nor a live one closer than
        ``skip``; then keep or thin. ``settled``: the latest snapshot's time (no later instant is
        before ``settled`` − W; −inf when none is known)."""
        end = self.end[rows]
        held = end - self.head[rows]
        mask = self.capacity - 1
        t = samples[:, T]
        last = np.where(held >= 1, self.data[rows, (end - 1) & mask, T], -math.inf)
        gap = t - last
        offered = gap > 0
        if live and self.skip > 0:
            offered &= gap >= self.skip
        if not offered.all():
            rows, samples, end, held, t = (
                rows[offered],
                samples[offered],
                end[offered],
                held[offered],
                t[offered],
            )
        if not len(rows):
            return
        before = np.where(held >= 2, self.data[rows, (end - 2) & mask, T], -math.inf)
        # held >= 2: the last sample is not the cursor's (the cursor is the first held)
        replace = (t - before <= self.spacing) & (held >= 2)
        if replace.any():
            self.data[rows[replace], (end[replace] - 1) & mask] = samples[replace]
            keep = ~replace
            rows, samples, end, held = rows[keep], samples[keep], end[keep], held[keep]
        if not len(rows):
            return
        if (held >= self.capacity).any():
            self._make_room(rows[held >= self.capacity], settled)
            mask = self.capacity - 1
        self.data[rows, end & mask] = samples
        self.end[rows] = end + 1

    def _make_room(self, full: Ints, settled: float) -> None:
        """Full rings drop what no later snapshot can use; if one is still full, every ring grows."""
        if settled > -math.inf:
            end = self.end[full]
            cursor = self.seek(full, settled - self.window_ms, np.maximum(end - 2, self.head[full]))
            self.head[full] = cursor
        if (self.end[full] - self.head[full] >= self.capacity).any():
            self._grow()

    def _grow(self) -> None:
        old, capacity = self.data, self.capacity
        data = np.zeros((len(self.head), 2 * capacity, FIELDS))
        offsets = self.head[:, None] + np.arange(capacity)
        held = offsets < self.end[:, None]
        rows = np.broadcast_to(np.arange(len(self.head))[:, None], offsets.shape)[held]
        counters = offsets[held]
        data[rows, counters & (2 * capacity - 1)] = old[rows, counters & (capacity - 1)]
        self.data = data

    def move(self, rows: Ints, instant: float) -> Ints:
        """Move each row's cursor to its last sample at or before ``instant`` (it stays where it
        is when none is after it or the next one is later); the cursors."""
        cursors = self.seek(rows, instant, self.end[rows] - 1)
        self.head[rows] = cursors
        return cursors

    def seek(self, rows: Ints, instant: float, limit: Ints) -> Ints:
        """Each row's last sample at or before ``instant``, from its cursor up to ``limit`` (a
        counter): usually the cursor or the next sample (a step or two), else a binary search."""
        cursors = self.head[rows]
        data, mask = self.data, self.capacity - 1
        moving = np.flatnonzero(cursors < limit)
        for _ in range(2):
            if not len(moving):
                return cursors
            step = cursors[moving] + 1
            reached = data[rows[moving], step & mask, T] <= instant
            moving = moving[reached]
            cursors[moving] += 1
            moving = moving[cursors[moving] < limit[moving]]
        if len(moving):  # far behind (a trail seeded from history): search the rest
            low, high = cursors[moving], limit[moving].copy()  # low's sample is reached
            which = rows[moving]
            while (low < high).any():
                middle = (low + high + 1) // 2
                reached = data[which, middle & mask, T] <= instant
                low = np.where(reached, middle, low)
                high = np.where(reached, high, middle - 1)
            cursors[moving] = low
        return cursors

    def samples(self, rows: Ints, cursors: Ints) -> tuple[Floats, Flags]:
        """The samples at ``cursors`` (one row of fields per pair) and which rows hold any."""
        return self.data[rows, cursors & (self.capacity - 1)], self.end[rows] > cursors

    def newest(self, row: int) -> float | None:
        """The newest sample's t of one row (None: it holds none)."""
        if self.end[row] == self.head[row]:
            return None
        return float(self.data[row, (self.end[row] - 1) & (self.capacity - 1), T])

    def held(self, rows: Ints) -> int:
        """Samples held over ``rows`` (for the memory figures)."""
        return int((self.end[rows] - self.head[rows]).sum())
