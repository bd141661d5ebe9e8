"""``SignalBook`` against the straightforward computation, on random sequences.

``ReferenceBook`` below keeps, per (symbol, source) and window, a plain list of ``Point``s thinned
by the rule the module docstring states, moves each window's cursor only when the symbol's windows
are computed (the thinning never drops a window's current past value), and answers every window of
a computed symbol from scratch with ``last_at_or_before`` and ``compare``. ``SignalBook`` keeps
shared trails, cached past values and a schedule of when they can next change; whatever sequence
of snapshots and history values it is fed (sources going stale and coming back, re-ranking,
history seeding, readings closer than a tolerance, gaps longer than a window, sweeps), its answers
must be exactly the reference's.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from server.core.model import FigureSums, Snapshot, SourceFigures, SymbolTotal, VenueFigure
from server.core.signal_book import SignalBook
from server.core.signals import (
    SWEEP_MS,
    TOLERANCE_POLLS,
    WINDOWS,
    Change,
    Changes,
    Crowding,
    Point,
    Settings,
    by_source,
    compare,
    last_at_or_before,
    point_of,
    tolerance_ms,
)

T0 = 1_800_000_000_000
SOURCES = ("a", "b", "c", "d")
SYMBOLS = ("BTC", "ETH")


class ReferenceTrail:
    """One (symbol, source, window) series as a list, with the window's cursor."""

    def __init__(self) -> None:
        self.points: list[Point] = []
        self.head = 0

    def push(self, point: Point, spacing: int, skip: int) -> None:
        if self.points:
            gap = point.t - self.points[-1].t
            if gap <= 0 or gap < skip:
                return
            # the last is dropped when the one before it is close enough, unless it is the
            # window's current past value (the cursor is on it)
            if len(self.points) - self.head >= 2 and point.t - self.points[-2].t <= spacing:
                self.points[-1] = point
                return
        self.points.append(point)

    def at(self, instant: int, tolerance: int) -> Point | None:
        while self.head + 1 < len(self.points) and self.points[self.head + 1].t <= instant:
            self.head += 1
        return last_at_or_before(self.points, instant, tolerance)


class ReferenceBook:
    """``SignalBook``'s answers computed the slow and obvious way (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        poll = settings.poll_interval_ms
        self.windows = [(name, ms, tolerance_ms(ms, poll)) for name, ms in WINDOWS.items()]
        self.skips = [max(0, tol - round(TOLERANCE_POLLS * poll)) for _, _, tol in self.windows]
        self.trails: dict[tuple[str, str], list[ReferenceTrail]] = {}
        self.seen: dict[tuple[str, str], VenueFigure] = {}
        self.totals: dict[str, SymbolTotal] = {}
        self.changes: dict[str, Changes] = {}
        self.computed_at: dict[str, int] = {}
        self.swept_ms = 0

    def record(self, symbol: str, source: str, point: Point, *, live: bool = False) -> None:
        trails = self.trails.setdefault((symbol, source), [ReferenceTrail() for _ in self.windows])
        for trail, (_, _, tolerance), skip in zip(trails, self.windows, self.skips, strict=True):
            trail.push(point, tolerance, skip if live else 0)

    def observe(self, snapshot: Snapshot) -> dict[str, Changes]:
        now = snapshot.built_at_ms
        for symbol in self.totals.keys() - snapshot.symbols.keys():
            del self.totals[symbol]
            self.changes.pop(symbol, None)
            self.computed_at.pop(symbol, None)
        every = self.settings.min_recompute_ms
        for symbol, total in snapshot.symbols.items():
            if self.totals.get(symbol) is total:
                continue
            self.totals[symbol] = total
            for figure in total.venues:
                if self.seen.get((symbol, figure.source)) is not figure:
                    self.seen[(symbol, figure.source)] = figure
                    self.record(symbol, figure.source, point_of(figure), live=True)
            if now - self.computed_at.get(symbol, now - every) >= every:
                self.computed_at[symbol] = now
                self.changes[symbol] = self.compute(total, now)
        if now - self.swept_ms >= SWEEP_MS:
            self.swept_ms = now
            self.forget_gone(snapshot)
        return self.changes

    def compute(self, total: SymbolTotal, now: int) -> Changes:
        funded = math.fsum(f.sums.funded_usd for f in total.venues)
        funding = math.fsum(f.sums.funding_x_usd for f in total.venues) / funded if funded > 0 else None
        current = {f.source: point_of(f) for f in total.venues}
        answers = []
        for index, (name, ms, tolerance) in enumerate(self.windows):
            then = {}
            for source in current:
                past = self.trails[(total.symbol, source)][index].at(now - ms, tolerance)
                if past is not None:
                    then[source] = past
            change = compare(
                name,
                now,
                now - ms,
                current,
                then,
                total_usd=total.total_oi_usd,
                funding_8h=funding,
                settings=self.settings,
            )
            if change is not None:
                answers.append(change)
        return tuple(answers)

    def forget_gone(self, snapshot: Snapshot) -> None:
        horizon = snapshot.built_at_ms - max(ms + tol for _, ms, tol in self.windows)
        for (symbol, source), trails in list(self.trails.items()):
            total = snapshot.symbols.get(symbol)
            counted = total is not None and any(f.source == source for f in total.venues)
            longest = trails[-1].points
            if not counted and (not longest or longest[-1].t < horizon):
                del self.trails[(symbol, source)]
                self.seen.pop((symbol, source), None)


def figure(
    source: str, t: int, coins: float | None, usd: float, price: float | None, funding: float
) -> VenueFigure:
    priced = usd if price is not None else 0.0
    return VenueFigure(
        source=source,
        oi_usd=usd,
        oi_base=coins,
        updated_at_ms=t,
        sums=FigureSums(
            price_x_usd=(price or 0.0) * priced,
            priced_usd=priced,
            funding_x_usd=funding * usd,
            funded_usd=usd,
        ),
    )


def total_of(symbol: str, figures: Mapping[str, VenueFigure]) -> SymbolTotal:
    """As the aggregator orders them: largest USD first (so a move can re-rank sources)."""
    venues = tuple(sorted(figures.values(), key=lambda f: (-f.oi_usd, f.source)))
    return SymbolTotal(symbol=symbol, total_oi_usd=math.fsum(f.oi_usd for f in venues), venues=venues)


class Feed:
    """Drives both books with the same snapshots and history values and compares every answer."""

    def __init__(self, settings: Settings) -> None:
        self.book = SignalBook(settings)
        self.handed_on = SignalBook(settings)  # given the figures by source, as the aggregator does
        self.sources: dict[str, SourceFigures] = {}
        self.reference = ReferenceBook(settings)
        self.figures: dict[str, dict[str, VenueFigure]] = {s: {} for s in SYMBOLS}
        self.totals: dict[str, SymbolTotal] = {}
        self.compared = 0

    def record(self, symbol: str, source: str, point: Point) -> None:
        self.book.record(symbol, source, point)
        self.handed_on.record(symbol, source, point)
        self.reference.record(symbol, source, point)

    def snapshot(self, now: int, updates: Mapping[str, Mapping[str, VenueFigure | None]]) -> None:
        """``updates``: per symbol, a source's new figure, or None to drop it (gone stale)."""
        for symbol, figures in updates.items():
            current = self.figures[symbol]
            for source, new in figures.items():
                if new is None:
                    current.pop(source, None)
                else:
                    current[source] = new
            if current:
                self.totals[symbol] = total_of(symbol, current)
            else:
                self.totals.pop(symbol, None)
        snap = Snapshot(built_at_ms=now, symbols=dict(self.totals))
        got = self.book.observe(snap)
        want = self.reference.observe(snap)
        assert got == want
        handed = Snapshot(built_at_ms=now, symbols=snap.symbols, sources=self.by_source())
        assert self.handed_on.observe(handed) == want
        assert got is self.book.changes
        self.compared += sum(len(c) for c in want.values())

    def by_source(self) -> dict[str, SourceFigures]:
        """The figures by source as the aggregator hands them on: the same object while none of a
        source's figures changed."""
        grouped = by_source(self.totals)
        for source, figures in grouped.items():
            held = self.sources.get(source)
            if held is not None and list(held.figures.items()) == list(figures.figures.items()):
                grouped[source] = held
        self.sources = grouped
        return grouped


def same(a: Changes, b: Changes) -> bool:
    return len(a) == len(b) and all(isinstance(x, Change) and x == y for x, y in zip(a, b, strict=True))


# --- random sequences ----------------------------------------------------------------------------

Values = tuple[float | None, float, float | None, float]  # coins, usd, price, funding per 8 h
values = st.tuples(
    st.one_of(st.none(), st.floats(min_value=0.5, max_value=2e6)),  # coins (None: USD only)
    st.floats(min_value=1.0, max_value=1e9),  # usd
    st.one_of(st.none(), st.floats(min_value=1e-6, max_value=1e5)),  # price (None: no price)
    st.sampled_from((0.0, 0.001, -0.001)),  # funding per 8 h
)
step = st.tuples(
    st.one_of(  # time to the next snapshot
        st.integers(min_value=0, max_value=40_000),
        st.integers(min_value=40_000, max_value=400_000),
        st.integers(min_value=400_000, max_value=3 * 3_600_000),
    ),
    st.lists(  # (symbol, source, what): what is None to drop the source, else (lag, values)
        st.tuples(
            st.sampled_from(SYMBOLS),
            st.sampled_from(SOURCES),
            st.one_of(st.none(), st.tuples(st.integers(min_value=-5_000, max_value=60_000), values)),
        ),
        max_size=6,
    ),
    st.lists(  # history values recorded just before the snapshot: (symbol, source, how long ago)
        st.tuples(
            st.sampled_from(SYMBOLS),
            st.sampled_from(SOURCES),
            st.integers(min_value=-5_000, max_value=90_000),
        ),
        max_size=2,
    ),
)
history = st.lists(  # (symbol, source, how long ago, values): seeded before the first snapshot
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.sampled_from(SOURCES),
        st.integers(min_value=0, max_value=26 * 3_600_000),
        values,
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    poll=st.sampled_from((2_000, 30_000, 60_000)),
    every=st.sampled_from((0, 1_000, 20_000)),
    seeded=history,
    steps=st.lists(step, max_size=40),
)
def test_answers_equal_the_straightforward_computation(
    poll: int,
    every: int,
    seeded: list[tuple[str, str, int, Values]],
    steps: list[tuple[int, list[tuple[str, str, tuple[int, Values] | None]], list[tuple[str, str, int]]]],
) -> None:
    feed = Feed(Settings(poll_interval_ms=poll, min_recompute_ms=every))
    for symbol, source, ago, (coins, usd, price, _) in sorted(seeded, key=lambda s: -s[2]):
        feed.record(symbol, source, Point(t=T0 - ago, coins=coins, usd=usd, price=price))
    now = T0
    for dt, changes, recorded in steps:
        now += dt
        for symbol, source, ago in recorded:
            feed.record(symbol, source, Point(t=now - ago, coins=7.0, usd=70.0, price=None))
        updates: dict[str, dict[str, VenueFigure | None]] = {}
        for symbol, source, what in changes:
            if what is None:
                updates.setdefault(symbol, {})[source] = None
            else:
                lag, (coins, usd, price, funding) = what
                updates.setdefault(symbol, {})[source] = figure(source, now - lag, coins, usd, price, funding)
        feed.snapshot(now, updates)


def run_day(seed: int, poll: int, hours: int) -> Feed:
    """A long seeded run at a steady poll: sources on their own clocks, some stalling for minutes
    to hours, re-reads closer than a tolerance, history values arriving mid-run, sweeps."""
    rng = random.Random(seed)
    feed = Feed(Settings(poll_interval_ms=poll, min_recompute_ms=rng.choice((0, 1_000))))
    level = {(symbol, source): rng.uniform(100, 10_000) for symbol in SYMBOLS for source in SOURCES}
    for (symbol, source), value in level.items():  # a day of history at a 15-minute and 1-minute grain
        for t in range(T0 - 26 * 3_600_000, T0 - 4 * 3_600_000, 900_000):
            feed.record(symbol, source, Point(t=t, coins=value, usd=value * 50, price=50.0))
        for t in range(T0 - 4 * 3_600_000, T0, 60_000):
            feed.record(symbol, source, Point(t=t, coins=value, usd=value * 51, price=None))
    next_read = {key: T0 + rng.randrange(poll) for key in level}
    now = T0
    while now < T0 + hours * 3_600_000:
        now += rng.choice((poll // 7, poll // 3, poll))
        updates: dict[str, dict[str, VenueFigure | None]] = {}
        for (symbol, source), due in next_read.items():
            if due > now:
                continue
            roll = rng.random()
            if roll < 0.002:  # stalls: dropped from the snapshot, back after a while
                updates.setdefault(symbol, {})[source] = None
                next_read[(symbol, source)] = now + rng.choice((2 * 60_000, 40 * 60_000, 5 * 3_600_000))
                continue
            level[(symbol, source)] *= math.exp(rng.gauss(0.0, 0.002))
            value = level[(symbol, source)]
            coins = None if source == "d" else value
            price = None if roll < 0.01 else 50.0 * (1 + 0.01 * math.sin(now / 3e6))
            lag = rng.randrange(2_000)
            updates.setdefault(symbol, {})[source] = figure(
                source, now - lag, coins, value * 50, price, 0.001
            )
            next_read[(symbol, source)] = now + (poll // 2 if roll < 0.05 else poll)
        if rng.random() < 0.01:  # a late history value (older than held: skipped; newer: kept)
            symbol, source = rng.choice(list(level))
            feed.record(
                symbol, source, Point(t=now - rng.randrange(3 * poll), coins=1.0, usd=50.0, price=50.0)
            )
        feed.snapshot(now, updates)
    return feed


def test_a_long_run_at_a_30_s_poll_equals_the_straightforward_computation() -> None:
    feed = run_day(seed=1, poll=30_000, hours=27)
    assert feed.compared > 50_000  # every window answered, many times over
    day = feed.book.changes["BTC"]
    assert {c.window for c in day} == set(WINDOWS)


def test_a_long_run_at_a_60_s_poll_equals_the_straightforward_computation() -> None:
    # at 60 s, 1m to 1h have one tolerance (90 s), longer than the 1m window: windows of one
    # tolerance then disagree about which values thinning drops
    feed = run_day(seed=2, poll=60_000, hours=12)
    assert feed.compared > 10_000


def test_a_value_pushed_after_a_window_lost_its_source_brings_it_back() -> None:
    """``a`` is read at 0 s and its figure re-sent with that time at 60 s and 110 s (nothing new
    to keep). At 110 s the 1m window has no value of ``a`` within 45 s of now − 1m and nothing
    later in the trail: only a push can change that, and the one at 130 s must count from 190 s."""
    feed = Feed(Settings(poll_interval_ms=30_000, min_recompute_ms=0))

    def one_minute(at_s: int, read_s: int, coins: float) -> Change | None:
        a = figure("a", T0 + read_s * 1000, coins, 10 * coins, 10.0, 0.0)
        feed.snapshot(T0 + at_s * 1000, {"BTC": {"a": a}})
        return next((c for c in feed.book.changes["BTC"] if c.window == "1m"), None)

    assert one_minute(0, 0, 100.0) is None
    assert one_minute(60, 0, 100.0) is not None
    assert one_minute(110, 0, 100.0) is None  # now − 1m = 50 s: the 0 s value is too old
    assert one_minute(130, 130, 110.0) is None  # the 130 s value is not reached yet
    back = one_minute(190, 130, 110.0)
    assert back is not None and back.oldest_ms == T0 + 130_000


def test_history_recorded_between_snapshots_is_used() -> None:
    """A value recorded after the windows were computed becomes a past value when its time comes."""
    feed = Feed(Settings(poll_interval_ms=30_000, min_recompute_ms=0))
    feed.snapshot(T0, {"BTC": {"a": figure("a", T0, 100.0, 1000.0, 10.0, 0.0)}})
    feed.snapshot(T0 + 40_000, {"BTC": {"b": figure("b", T0 + 40_000, 5.0, 50.0, 10.0, 0.0)}})
    feed.record("BTC", "a", Point(t=T0 + 50_000, coins=90.0, usd=900.0, price=10.0))
    for s in (80, 110):
        feed.snapshot(T0 + s * 1000, {"BTC": {"b": figure("b", T0 + s * 1000, 5.0, 50.0, 10.0, 0.0)}})
    one = next(c for c in feed.book.changes["BTC"] if c.window == "1m")
    assert one.oldest_ms == T0 + 40_000 and one.oi_coins == (95.0, 105.0)


def test_windows_of_one_tolerance_that_disagree_about_thinning_both_stay_exact() -> None:
    """Poll 60 s: 1m, 5m, 15m and 1h have one tolerance, 90 s. ``a`` reads at 0 s and 20 s; at 80 s
    the 1m window's past value is the 20 s one (now − 1m = 20 s), the longer windows' the 0 s one.
    A reading at 85 s is within 90 s of the 0 s one: the longer windows drop the 20 s value (it is
    none of theirs), the 1m window must keep it. Later answers of both kinds are checked."""
    feed = Feed(Settings(poll_interval_ms=60_000, min_recompute_ms=0))
    a = {s: figure("a", T0 + s * 1000, 100.0 + s, 1000.0 + s, 10.0, 0.0) for s in (0, 20, 85)}
    b = figure("b", T0 + 80_000, 5.0, 50.0, 10.0, 0.0)
    feed.snapshot(T0, {"BTC": {"a": a[0]}})
    feed.snapshot(T0 + 20_000, {"BTC": {"a": a[20]}})
    feed.snapshot(T0 + 80_000, {"BTC": {"b": b}})
    feed.snapshot(T0 + 85_000, {"BTC": {"a": a[85]}})
    one = next(c for c in feed.book.changes["BTC"] if c.window == "1m")
    assert one.oldest_ms == T0 + 20_000  # now − 1m = 25 s: the 20 s value, kept for the 1m window
    for s in range(90, 325, 5):
        b = figure("b", T0 + s * 1000, 5.0, 50.0 + s, 10.0, 0.0)
        feed.snapshot(T0 + s * 1000, {"BTC": {"b": b}})
    five = next(c for c in feed.book.changes["BTC"] if c.window == "5m")
    assert five.then_ms == T0 + 20_000 and five.oldest_ms == T0  # the 20 s value is not the 5m's


def test_crowding_where_funding_is_at_and_near_the_threshold_equals_the_straightforward_computation() -> None:
    """A symbol's funding is summed exactly only where one of its markets' rates could reach the
    threshold (an OI-weighted mean is never beyond its largest term): at, just under and just over
    the threshold, and with the markets' rates either side of it, the answers must not differ."""
    threshold = Settings().crowding_threshold
    cases = {
        "at": (2 * threshold, 0.0),  # equal weights: the mean is exactly the threshold
        "under": (threshold * (1 - 1e-12), threshold * (1 - 1e-12)),
        "over": (threshold * (1 + 1e-12), threshold),
        "straddling": (3 * threshold, -threshold),
        "short side": (-2 * threshold, 0.0),
    }
    seen = set()
    for a_rate, b_rate in cases.values():
        feed = Feed(Settings(poll_interval_ms=30_000, min_recompute_ms=0))
        for step, coins in ((0, 100.0), (60, 110.0)):  # OI up 10 % in a minute: beyond every band
            t = T0 + step * 1000
            feed.snapshot(
                t,
                {
                    "BTC": {
                        "a": figure("a", t, coins, 10 * coins, 10.0, a_rate),
                        "b": figure("b", t, coins, 10 * coins, 10.0, b_rate),
                    }
                },
            )
        one = next(c for c in feed.book.changes["BTC"] if c.window == "1m")
        seen.add(one.crowding)
    assert seen == {Crowding.LONGS, Crowding.SHORTS, None}  # each outcome was reached
