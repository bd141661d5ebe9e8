"""Where the signal windows find each source's past values: one window's samples of every
(symbol, source) pair, as columns (``core/signal_book.py`` computes with them).

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
    than ``skip`` to the last sample are not offered).

    Beside the rings, per row: the newest sample's t (``last``), the one's before it (``before``),
    the cursor's sample (``past``) and the t of the sample after it (``next``: +inf when none). A
    snapshot reads these (a few columns, in row order) and touches a ring only where a sample is
    written or a cursor moves: at a 30 s poll the 1h, 4h and 24h windows' cursors move every
    minute or few, and their rings take a value every few readings."""

    def __init__(self, window_ms: int, tolerance: int, skip: int, rows: int = 64) -> None:
        self.window_ms = float(window_ms)
        self.spacing = float(tolerance)
        self.skip = float(skip)
        self.data: Floats = np.zeros((rows, FIRST_CAPACITY, FIELDS))
        self.head: Ints = np.zeros(rows, dtype=np.int64)
        self.end: Ints = np.zeros(rows, dtype=np.int64)
        self.last: Floats = np.full(rows, -math.inf)
        self.before: Floats = np.full(rows, -math.inf)
        self.next: Floats = np.full(rows, math.inf)
        self.past: Floats = np.zeros((rows, FIELDS))

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
        self.last = np.concatenate([self.last, np.full(more, -math.inf)])
        self.before = np.concatenate([self.before, np.full(more, -math.inf)])
        self.next = np.concatenate([self.next, np.full(more, math.inf)])
        self.past = np.concatenate([self.past, np.zeros((more, FIELDS))])

    def clear(self, row: int) -> None:
        self.head[row] = self.end[row] = 0
        self.last[row] = self.before[row] = -math.inf
        self.next[row] = math.inf

    def push(self, rows: Ints, samples: Floats, *, live: bool, settled: float) -> None:
        """Offer one sample per row (``samples``: one row of fields per pair): one not after the
        last held is not kept (history overlapping what is held), nor a live one closer than
        ``skip``; then keep or thin. ``settled``: the latest snapshot's time (no later instant is
        before ``settled`` − W; −inf when none is known)."""
        t = samples[:, T]
        gap = t - self.last[rows]
        offered = gap > 0
        if live and self.skip > 0:
            offered &= gap >= self.skip
        if not offered.all():
            rows, samples, t = rows[offered], samples[offered], t[offered]
            if not len(rows):
                return
        end = self.end[rows]
        held = end - self.head[rows]
        # held >= 2: the last sample is not the cursor's (the cursor is the first held)
        replace = (held >= 2) & (t - self.before[rows] <= self.spacing)
        if replace.any():
            which, at = rows[replace], end[replace] - 1
            self.data[which, at & (self.capacity - 1)] = samples[replace]
            self.last[which] = t[replace]
            after_cursor = held[replace] == 2  # the replaced sample is the one after the cursor
            self.next[which[after_cursor]] = t[replace][after_cursor]
            keep = ~replace
            rows, samples, t, end, held = rows[keep], samples[keep], t[keep], end[keep], held[keep]
            if not len(rows):
                return
        if (held >= self.capacity).any():
            full = rows[held >= self.capacity]
            self._make_room(full, settled)
            held = end - self.head[rows]
        self.data[rows, end & (self.capacity - 1)] = samples
        self.end[rows] = end + 1
        self.before[rows] = self.last[rows]
        self.last[rows] = t
        self.next[rows[held == 1]] = t[held == 1]  # the new sample is the one after the cursor
        first = held == 0  # the new sample is the cursor's
        self.past[rows[first]] = samples[first]

    def _make_room(self, full: Ints, settled: float) -> None:
        """Full rings drop what no later snapshot can use; if one is still full, every ring grows."""
        if settled > -math.inf:
            head, end = self.head[full], self.end[full]
            cursors = head.copy()  # to the last sample at or before settled − W, never the newest
            ahead = np.flatnonzero(self.next[full] <= settled - self.window_ms)
            limit = np.maximum(end - 2, head)[ahead]
            cursors[ahead] = self._search(full[ahead], settled - self.window_ms, head[ahead], limit)
            self._place(full, cursors, self._time_after(full, cursors, end))
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

    def move(self, rows: Ints, instant: float) -> None:
        """Move each row's cursor to its last sample at or before ``instant`` (it stays where it
        is when none is after it or the next one is later). Usually one step, known from
        ``next`` without reading the ring; the time after it, read once, is the new ``next``."""
        moving = rows[self.next[rows] <= instant]
        if not len(moving):
            return
        end = self.end[moving]
        cursors = self.head[moving] + 1  # the next sample is reached
        following = self._time_after(moving, cursors, end)
        further = np.flatnonzero(following <= instant)
        if len(further):  # more than one step: a quiet pair catching up, a trail seeded from history
            which = moving[further]
            found = self._search(which, instant, cursors[further], end[further] - 1)
            cursors[further] = found
            following[further] = self._time_after(which, found, end[further])
        self._place(moving, cursors, following)

    def _time_after(self, rows: Ints, cursors: Ints, end: Ints) -> Floats:
        """The t of the sample after each cursor (+inf where there is none)."""
        after = cursors + 1
        return np.where(after < end, self.data[rows, after & (self.capacity - 1), T], math.inf)

    def _place(self, rows: Ints, cursors: Ints, following: Floats) -> None:
        """Put these rows' cursors at ``cursors`` (none behind where it was), the sample after
        each at ``following``."""
        self.head[rows] = cursors
        self.past[rows] = self.data[rows, cursors & (self.capacity - 1)]
        self.next[rows] = following

    def _search(self, rows: Ints, instant: float, reached: Ints, limit: Ints) -> Ints:
        """Each row's last sample at or before ``instant`` between ``reached`` (a counter whose
        sample is) and ``limit``: a binary search over all the rows at once."""
        low, high, mask = reached.copy(), limit.copy(), self.capacity - 1
        while (low < high).any():
            middle = (low + high + 1) // 2
            found = self.data[rows, middle & mask, T] <= instant
            low = np.where(found, middle, low)
            high = np.where(found, high, middle - 1)
        return low

    def pasts(self, rows: Ints) -> tuple[Floats, Flags]:
        """The samples at the rows' cursors (one row of fields per pair) and which rows hold any."""
        return self.past[rows], self.end[rows] > self.head[rows]

    def newest(self, row: int) -> float | None:
        """The newest sample's t of one row (None: it holds none)."""
        return None if self.end[row] == self.head[row] else float(self.last[row])

    def held(self, rows: Ints) -> int:
        """Samples held over ``rows`` (for the memory figures)."""
        return int((self.end[rows] - self.head[rows]).sum())
