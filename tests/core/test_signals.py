"""Signals on hand-made series: windows, same-set comparison, dead bands, labels, crowding."""

from __future__ import annotations

import math

import pytest

from server.config import parse_config
from server.core.model import FigureSums, Snapshot, SymbolTotal, VenueFigure
from server.core.signal_book import SignalBook
from server.core.signals import (
    DEFAULT_OI_BANDS,
    WINDOWS,
    Change,
    Crowding,
    Point,
    Settings,
    Signal,
    by_source,
    compare,
    crowding,
    figure_samples,
    label,
    last_at_or_before,
    point_of,
    tolerance_ms,
)

POLL_MS = 30_000
T0 = 1_800_000_000_000


def figure(
    source: str, t: int, coins: float | None, price: float, funding_8h: float | None = None
) -> VenueFigure:
    usd = (coins or 1.0) * price
    return VenueFigure(
        source=source,
        oi_usd=usd,
        oi_base=coins,
        updated_at_ms=t,
        sums=FigureSums(
            coins=coins or 0.0,
            coins_usd=usd if coins is not None else 0.0,
            coin_markets=1 if coins is not None else 0,
            price_x_usd=price * usd,
            priced_usd=usd,
            funding_x_usd=(funding_8h or 0.0) * usd,
            funded_usd=usd if funding_8h is not None else 0.0,
        ),
    )


def snapshot(t: int, **figures: VenueFigure) -> Snapshot:
    venues = tuple(figures.values())
    total = SymbolTotal(symbol="BTC", total_oi_usd=math.fsum(f.oi_usd for f in venues), venues=venues)
    return Snapshot(built_at_ms=t, symbols={"BTC": total})


def window(changes: tuple[Change, ...], name: str) -> Change | None:
    return next((c for c in changes if c.window == name), None)


def test_tolerance_is_the_larger_of_one_and_a_half_polls_and_two_percent() -> None:
    assert tolerance_ms(WINDOWS["1m"], POLL_MS) == 45_000
    assert tolerance_ms(WINDOWS["1h"], POLL_MS) == 72_000
    assert tolerance_ms(WINDOWS["24h"], POLL_MS) == 1_728_000


def test_last_at_or_before_exact_boundaries() -> None:
    points = [Point(t=t, coins=1.0, usd=1.0, price=1.0) for t in (0, 10, 20)]
    assert last_at_or_before(points, 20, 5) == points[2]  # exactly at the instant counts
    assert last_at_or_before(points, 25, 5) == points[2]  # exactly the tolerance old counts
    assert last_at_or_before(points, 26, 5) is None  # one ms more: too old, absent
    assert last_at_or_before(points, -1, 5) is None  # nothing recorded before


def test_labels_per_quadrant_and_band_edges() -> None:
    assert label(2.0, 1.0, 1.0, 0.5) is Signal.NEW_LONGS
    assert label(2.0, -1.0, 1.0, 0.5) is Signal.NEW_SHORTS
    assert label(-2.0, 1.0, 1.0, 0.5) is Signal.SHORT_COVERING
    assert label(-2.0, -1.0, 1.0, 0.5) is Signal.LONG_LIQUIDATION
    assert label(1.0, 5.0, 1.0, 0.5) is Signal.NEUTRAL  # OI move exactly the band: flat
    assert label(-5.0, -0.5, 1.0, 0.5) is Signal.NEUTRAL  # price move exactly the band: flat
    assert label(5.0, None, 1.0, 0.5) is Signal.NEUTRAL  # no price: nothing to say


def test_crowding_needs_oi_up_beyond_its_band_and_funding_at_the_threshold() -> None:
    assert crowding(2.0, 1.0, 0.0005, 0.0005) is Crowding.LONGS  # exactly the threshold counts
    assert crowding(2.0, 1.0, -0.0005, 0.0005) is Crowding.SHORTS
    assert crowding(2.0, 1.0, 0.00049, 0.0005) is None
    assert crowding(1.0, 1.0, 0.01, 0.0005) is None  # OI within the band
    assert crowding(-3.0, 1.0, 0.01, 0.0005) is None  # OI falling
    assert crowding(3.0, 1.0, None, 0.0005) is None  # no funding


def test_compare_uses_the_same_set_at_both_ends() -> None:
    now = {
        "a": Point(t=100, coins=110.0, usd=1100.0, price=10.0),
        "b": Point(t=100, coins=None, usd=500.0, price=None),
        "new": Point(t=100, coins=1000.0, usd=10000.0, price=10.0),
    }
    then = {
        "a": Point(t=40, coins=100.0, usd=1000.0, price=10.0),
        "b": Point(t=40, coins=None, usd=400.0, price=None),
    }
    change = compare("1m", 100, 40, now, then, total_usd=11600.0, funding_8h=None, settings=Settings())
    assert change is not None
    assert change.oi_pct == pytest.approx(10.0)  # a alone: b counts no coins, new was not there
    assert change.oi_usd_pct == pytest.approx(100 * (1600 / 1400 - 1))
    assert change.price_pct == pytest.approx(0.0)
    assert change.coverage == pytest.approx(1600 / 11600)
    assert change.coins_coverage == pytest.approx(1100 / 11600)
    assert change.sources == 2 and change.oldest_ms == 40
    assert change.signal is Signal.NEUTRAL  # price flat
    assert compare("1m", 100, 40, now, {}, total_usd=11600.0, funding_8h=None, settings=Settings()) is None


def feed(book: SignalBook, start: int, end: int, step: int, **series: tuple[float, float]) -> None:
    """Snapshots every ``step`` ms; each source's coins and price grow by the given factors per minute."""
    for t in range(start, end + 1, step):
        minutes = (t - T0) / 60_000
        figures = {
            source: figure(source, t, 100.0 * oi**minutes, 10.0 * px**minutes)
            for source, (oi, px) in series.items()
        }
        book.observe(snapshot(t, **figures))


def test_windows_appear_only_once_history_covers_them() -> None:
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    feed(book, T0, T0 + 50_000, 10_000, a=(1.05, 1.02))
    assert not book.changes["BTC"]  # 50 s of history: no window yet, never a zero
    feed(book, T0 + 60_000, T0 + 60_000, 10_000, a=(1.05, 1.02))
    changes = book.changes["BTC"]
    assert [c.window for c in changes] == ["1m"]
    assert changes[0].oi_pct == pytest.approx(5.0, abs=1e-9)
    assert changes[0].price_pct == pytest.approx(2.0, abs=1e-9)
    assert changes[0].signal is Signal.NEW_LONGS
    assert changes[0].then_ms == T0 and changes[0].oldest_ms == T0


def test_a_venue_leaving_mid_window_is_not_oi_falling() -> None:
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    for i in range(8):
        t = T0 + i * 10_000
        figures = {"a": figure("a", t, 100.0, 10.0)}
        if i < 4:  # b (as large as a) leaves after 30 s
            figures["b"] = figure("b", t, 100.0, 10.0)
        book.observe(snapshot(t, **figures))
    change = window(book.changes["BTC"], "1m")
    assert change is not None
    assert change.oi_pct == pytest.approx(0.0) and change.oi_usd_pct == pytest.approx(0.0)
    assert change.sources == 1 and change.coverage == pytest.approx(1.0)
    assert change.signal is Signal.NEUTRAL


def test_a_venue_joining_mid_window_is_left_out_and_coverage_says_so() -> None:
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    for i in range(8):
        t = T0 + i * 10_000
        figures = {"a": figure("a", t, 100.0, 10.0)}
        if i >= 4:
            figures["b"] = figure("b", t, 300.0, 10.0)
        book.observe(snapshot(t, **figures))
    change = window(book.changes["BTC"], "1m")
    assert change is not None and change.oi_pct == pytest.approx(0.0)
    assert change.coverage == pytest.approx(0.25)


def test_a_gap_in_history_leaves_the_window_absent() -> None:
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    feed(book, T0, T0 + 10_000, 10_000, a=(1.0, 1.0))
    # nothing recorded between T0 + 10 s and T0 + 120 s: now − 1m falls in the gap
    feed(book, T0 + 120_000, T0 + 120_000, 10_000, a=(1.0, 1.0))
    assert window(book.changes["BTC"], "1m") is None


def test_a_window_just_too_old_is_absent_and_just_in_time_is_present() -> None:
    tolerance = tolerance_ms(WINDOWS["1m"], POLL_MS)
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    book.observe(snapshot(T0, a=figure("a", T0, 100.0, 10.0)))
    now = T0 + 60_000 + tolerance
    book.observe(snapshot(now, a=figure("a", now, 110.0, 10.0)))
    change = window(book.changes["BTC"], "1m")
    assert change is not None and change.oi_pct == pytest.approx(10.0)  # exactly the tolerance old
    late = SignalBook(Settings(poll_interval_ms=POLL_MS))
    late.observe(snapshot(T0, a=figure("a", T0, 100.0, 10.0)))
    late.observe(snapshot(now + 1, a=figure("a", now + 1, 110.0, 10.0)))
    assert window(late.changes["BTC"], "1m") is None  # one ms older: absent


def test_each_quadrant_and_crowding_from_series() -> None:
    cases = {
        (1.05, 1.02, 0.002): (Signal.NEW_LONGS, Crowding.LONGS),
        (1.05, 0.98, -0.002): (Signal.NEW_SHORTS, Crowding.SHORTS),
        (0.95, 1.02, 0.002): (Signal.SHORT_COVERING, None),  # OI falling: never crowding
        (0.95, 0.98, None): (Signal.LONG_LIQUIDATION, None),
        (1.05, 1.0, 0.0001): (Signal.NEUTRAL, None),
    }
    for (oi, px, funding), expected in cases.items():
        book = SignalBook(Settings(poll_interval_ms=POLL_MS))
        for i in range(7):
            t = T0 + i * 10_000
            f = figure("a", t, 100.0 * oi ** (i / 6), 10.0 * px ** (i / 6), funding)
            book.observe(snapshot(t, a=f))
        change = window(book.changes["BTC"], "1m")
        assert change is not None
        assert (change.signal, change.crowding) == expected


def test_unchanged_symbols_keep_their_answer_object() -> None:
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    first = snapshot(T0, a=figure("a", T0, 100.0, 10.0))
    book.observe(first)
    before = book.changes["BTC"]
    book.observe(Snapshot(built_at_ms=T0 + 1000, symbols=first.symbols))
    assert book.changes["BTC"] is before


def test_memory_stays_bounded_over_a_day_of_readings() -> None:
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    feed(book, T0, T0 + 26 * 3_600_000, POLL_MS, a=(1.0001, 1.0))
    # every window keeps at most (W + tolerance) / spacing samples, about 230 in all
    assert book.sample_count() < 260
    assert {c.window for c in book.changes["BTC"]} == set(WINDOWS)
    day = window(book.changes["BTC"], "24h")
    assert day is not None and T0 + 2 * 3_600_000 - day.oldest_ms <= tolerance_ms(WINDOWS["24h"], POLL_MS)


def test_dead_bands_and_threshold_are_configurable() -> None:
    config = parse_config(["--oi-dead-bands", "1h=1.5, 4h=3", "--crowding-threshold", "0.001"], environ={})
    assert config.oi_dead_bands == {**DEFAULT_OI_BANDS, "1h": 1.5, "4h": 3.0}
    assert config.crowding_threshold == 0.001
    config = parse_config([], environ={"OI_PRICE_DEAD_BANDS": "1m=0.1"})
    assert config.price_dead_bands["1m"] == 0.1 and config.price_dead_bands["24h"] == 2.0
    for bad in ("2m=1", "1h", "1h=-1", "1h=x"):
        with pytest.raises(SystemExit):
            parse_config(["--oi-dead-bands", bad], environ={})


def test_a_figures_samples_are_the_values_compare_takes_to_the_last_bit() -> None:
    """Six floats a figure: t, coins (NaN: none), USD, price × USD (NaN: no price), Σ funding_8h
    × USD, funded USD; price × USD as ``point_of`` reckons it (Σ price × USD / Σ priced USD) × USD."""
    # two markets, one converted with a price of 100 (USD 300), one without (USD 100):
    # price = 30,000 / 300 = 100, price × USD = 100 × 400 = 40,000
    partly = VenueFigure(
        source="a",
        oi_usd=400.0,
        oi_base=None,
        updated_at_ms=T0,
        sums=FigureSums(price_x_usd=30_000.0, priced_usd=300.0, funding_x_usd=0.03, funded_usd=300.0),
    )
    unpriced = VenueFigure(source="b", oi_usd=7.0, oi_base=0.5, updated_at_ms=T0 + 1)
    odd = figure("c", T0 + 2, 0.1, 3.3, 0.0001)  # values whose products round
    samples = figure_samples([partly, unpriced, odd]).tolist()
    assert samples[0] == T0 and samples[2:6] == [400.0, 40_000.0, 0.03, 300.0]
    assert math.isnan(samples[1]) and math.isnan(samples[9])  # no coins; no price
    assert samples[6:9] == [T0 + 1, 0.5, 7.0] and samples[10:12] == [0.0, 0.0]
    point = point_of(odd)
    assert point.price is not None
    funding = [0.0001 * odd.oi_usd, odd.oi_usd]
    assert samples[12:] == [point.t, point.coins, point.usd, point.price * point.usd, *funding]


def test_a_snapshot_made_by_hand_is_taken_in_as_the_aggregators_would_be() -> None:
    """``by_source`` groups a hand-made snapshot's figures by source, as the aggregator hands them
    on; the book's answers are the same either way."""
    first = snapshot(T0, a=figure("a", T0, 1.0, 100.0), b=figure("b", T0, None, 100.0))
    grouped = by_source(first.symbols)
    assert {source: dict(g.figures) for source, g in grouped.items()} == {
        "a": {"BTC": first.symbols["BTC"].venues[0]},
        "b": {"BTC": first.symbols["BTC"].venues[1]},
    }
    later = snapshot(T0 + 300_000, a=figure("a", T0 + 300_000, 1.1, 101.0), b=figure("b", T0, None, 100.0))
    by_hand, handed_on = SignalBook(Settings()), SignalBook(Settings())
    for snap in (first, later):
        sources = by_source(snap.symbols)
        if snap is later:
            sources["b"] = grouped["b"]  # b's reading unchanged: the same object, as the aggregator keeps it
        handed = Snapshot(built_at_ms=snap.built_at_ms, symbols=snap.symbols, sources=sources)
        assert by_hand.observe(snap) == handed_on.observe(handed)
    assert window(by_hand.changes["BTC"], "5m") is not None
