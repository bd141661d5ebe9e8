"""``WindowTrails``: the rings of samples behind the signal windows, against plain lists.

``tests/core/test_signals_reference.py`` checks the answers built on them; these check the ring
itself where the answers rarely reach: the search over a long trail, a ring that fills up (what
it drops, and growing when it may drop nothing), rows of different lengths side by side.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Mapping, Sequence

import numpy as np

from server.core.trails import FIELDS, FIRST_CAPACITY, T, WindowTrails

WINDOW_MS = 60_000


def sample(t: float, value: float) -> list[float]:
    return [t, value, 10 * value, math.nan]


def push_all(trails: WindowTrails, series: Mapping[int, Sequence[float]], settled: float = -math.inf) -> None:
    """Each row's times in order, the n-th of every row in one push (as ``SignalBook.flush``)."""
    for rank in range(max(len(times) for times in series.values())):
        rows = [row for row, times in series.items() if rank < len(times)]
        samples = [sample(series[row][rank], rank) for row in rows]
        trails.push(np.array(rows), np.array(samples), live=False, settled=settled)


def test_cursors_find_the_last_sample_at_or_before_an_instant_as_a_plain_search_does() -> None:
    rng = random.Random(7)
    trails = WindowTrails(WINDOW_MS, tolerance=0, skip=0)  # no thinning: every sample is kept
    series = {row: sorted(rng.sample(range(0, 10_000_000, 1000), rng.randrange(1, 300))) for row in range(40)}
    push_all(trails, series)
    assert trails.capacity >= max(len(times) for times in series.values())  # it grew
    rows = np.arange(40)
    instant = -1.0
    for _ in range(60):  # instants only move forward; steps of every size: none, one, a few, many
        instant += rng.choice((0, 1000, 3000, 50_000, 2_000_000))
        trails.move(rows, instant)
        found, held = trails.pasts(rows)
        for row, times in series.items():
            at = bisect_right(times, instant) - 1
            expected = times[max(at, 0)]  # none at or before it: the cursor stays on the first
            assert held[row]
            assert found[row, T] == expected


def test_a_full_ring_drops_what_no_later_snapshot_can_use_and_never_the_newest() -> None:
    trails = WindowTrails(WINDOW_MS, tolerance=0, skip=0)
    times = [float(t) for t in range(0, 600_000, 30_000)]  # 20 samples, 30 s apart
    settled = 600_000.0  # every later instant is at or after 540 s: the 540 s sample is a past value
    push_all(trails, {0: times}, settled=settled)
    assert trails.capacity == FIRST_CAPACITY  # made room each time it was full instead of growing
    first = trails.pasts(np.array([0]))[0][0, T]
    assert 0 < first <= 540_000.0  # room was made: the first samples are gone, the 540 s one kept
    assert trails.newest(0) == times[-1]
    assert trails.held(np.array([0])) == len([t for t in times if t >= first])
    trails.move(np.array([0]), 540_000.0)
    assert trails.head[0] == trails.end[0] - 2


def test_a_full_ring_grows_when_what_later_snapshots_can_use_fills_it() -> None:
    trails = WindowTrails(WINDOW_MS, tolerance=0, skip=0)
    times = [float(t) for t in range(0, 600_000, 30_000)]
    push_all(trails, {0: times}, settled=400_000.0)  # 330 s on may be a past value: 9 samples
    assert trails.capacity == 2 * FIRST_CAPACITY
    assert trails.pasts(np.array([0]))[0][0, T] == 330_000.0
    assert trails.held(np.array([0])) == 9


def test_a_full_ring_never_moves_its_cursor_onto_the_newest_sample() -> None:
    trails = WindowTrails(WINDOW_MS, tolerance=0, skip=0)
    times = [float(t) for t in range(0, 9 * 1000, 1000)]
    push_all(trails, {0: times}, settled=1e12)  # every sample is long past
    # when the 9th came, the cursor went no further than the sample before the newest (7 s): the
    # newest stays a sample the thinning may replace, as in a trail that drops nothing
    assert trails.pasts(np.array([0]))[0][0, T] == 6000.0
    assert trails.held(np.array([0])) == 3


def test_rings_grow_when_nothing_can_be_dropped_and_keep_every_row_in_order() -> None:
    rng = random.Random(3)
    trails = WindowTrails(WINDOW_MS, tolerance=0, skip=0, rows=5)
    series = {row: [float(t) for t in range(0, 1000 * rng.randrange(1, 100), 1000)] for row in range(12)}
    trails.add_rows(12)
    push_all(trails, series)  # no snapshot yet: nothing may be dropped
    for row, times in series.items():
        held = [
            trails.data[row, c & (trails.capacity - 1), T] for c in range(trails.head[row], trails.end[row])
        ]
        assert held == times


def test_thinning_replaces_the_last_sample_unless_it_is_the_cursors() -> None:
    trails = WindowTrails(WINDOW_MS, tolerance=45_000, skip=0)
    rows = np.array([0])
    for t in (0.0, 20_000.0, 40_000.0):  # 40 s is within 45 s of 0 s: 20 s is dropped
        trails.push(rows, np.array([sample(t, 1.0)]), live=False, settled=-math.inf)
    assert trails.held(rows) == 2 and trails.newest(0) == 40_000.0
    trails.move(rows, 40_000.0)  # the cursor on the last sample: it stays
    trails.push(rows, np.array([sample(50_000.0, 1.0)]), live=False, settled=40_000.0)
    assert trails.held(rows) == 2 and trails.pasts(rows)[0][0, T] == 40_000.0


def test_a_live_value_closer_than_skip_is_not_offered() -> None:
    trails = WindowTrails(WINDOW_MS, tolerance=288_000, skip=243_000)
    rows = np.array([0])
    for t in (0.0, 30_000.0, 240_000.0, 250_000.0):
        trails.push(rows, np.array([sample(t, 1.0)]), live=True, settled=-math.inf)
    assert trails.held(rows) == 2 and trails.newest(0) == 250_000.0
    assert trails.data.shape[2] == FIELDS


def assert_columns_agree_with_rings(trails: WindowTrails) -> None:
    """The columns kept beside the rings say what the rings hold."""
    mask = trails.capacity - 1
    for row in range(len(trails.head)):
        head, end = int(trails.head[row]), int(trails.end[row])
        if end == head:
            continue
        times = [trails.data[row, c & mask, T] for c in range(head, end)]
        assert times == sorted(set(times))  # strictly increasing
        assert trails.last[row] == times[-1]
        if len(times) >= 2:
            assert trails.before[row] == times[-2]
        assert trails.next[row] == (times[1] if len(times) >= 2 else math.inf)
        assert np.array_equal(trails.past[row], trails.data[row, head & mask], equal_nan=True)


def test_the_columns_beside_the_rings_follow_every_push_move_and_growth() -> None:
    rng = random.Random(11)
    for tolerance, skip in ((45_000, 0), (72_000, 27_000), (0, 0)):
        trails = WindowTrails(WINDOW_MS, tolerance=tolerance, skip=skip, rows=3)
        trails.add_rows(20)
        clock = [0.0] * 20
        now = 0.0
        for _ in range(400):
            rows = np.array(sorted(rng.sample(range(20), rng.randrange(1, 20))))
            for row in rows.tolist():
                clock[row] += rng.choice((-5_000.0, 10_000.0, 30_000.0, 31_000.0, 200_000.0))
            samples = np.array([sample(clock[row], rng.random()) for row in rows.tolist()])
            now = max(now, *clock)
            settled = rng.choice((-math.inf, now))
            trails.push(rows, samples, live=rng.random() < 0.5, settled=settled)
            if rng.random() < 0.3:
                trails.move(rows, now - WINDOW_MS)
            if rng.random() < 0.02:
                trails.clear(int(rows[0]))
                clock[int(rows[0])] = now
            assert_columns_agree_with_rings(trails)
        assert trails.capacity > FIRST_CAPACITY  # rings filled up and grew on the way
