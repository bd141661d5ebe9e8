"""Candle arithmetic on hand-made sequences: alignment, OHLC of a stock, rollups, gaps."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.core.aggregate import aggregate
from server.core.model import Funding, MarketOI, VenueReading
from server.core.stats import symbol_stats
from server.history.candles import (
    ROLLUPS,
    Sample,
    bucket_start,
    candles_of,
    fold_minute,
    fold_sample,
    open_candle,
    rollup,
    symbol_samples,
)
from server.history.model import AGGREGATE, Candle, Interval

T0 = 1_709_640_000_000  # 2024-03-05 12:00:00 UTC
MIN = 60_000


def sample(t: int, usd: float, *, funding: float | None = None, coins: float | None = 1.0) -> Sample:
    return Sample(
        t_ms=t, oi_usd=usd, oi_coins=coins, price_usd=usd / 10, exchange_count=2, funding_8h=funding
    )


@pytest.mark.parametrize(
    ("t", "interval", "start"),
    [
        (T0, Interval.M1, T0),
        (T0 + 59_999, Interval.M1, T0),
        (T0 + 60_000, Interval.M1, T0 + 60_000),
        (T0 + 7 * MIN + 5, Interval.M5, T0 + 5 * MIN),
        (T0 + 29 * MIN, Interval.M15, T0 + 15 * MIN),
        (T0 + 59 * MIN, Interval.H1, T0),
        (T0 + 5 * 60 * MIN, Interval.H4, T0 + 4 * 60 * MIN),  # 17:00 is in the 16:00 bucket
        (T0 + 11 * 60 * MIN, Interval.D1, 1_709_596_800_000),  # 23:00 is in the day from 00:00 UTC
        (1_709_596_800_000, Interval.D1, 1_709_596_800_000),  # midnight UTC is a day's start
        (-1, Interval.M1, -60_000),  # floor, not truncation, before 1970
    ],
)
def test_bucket_start_is_utc_aligned(t: int, interval: Interval, start: int) -> None:
    assert bucket_start(t, interval) == start
    assert start <= t < start + interval.ms


def test_a_minute_is_a_stock_open_first_close_last() -> None:
    candles = candles_of(
        "BTC",
        "",
        [
            sample(T0 + 1_000, 100.0, funding=0.001),
            sample(T0 + 6_000, 130.0),
            sample(T0 + 11_000, 90.0, funding=0.003, coins=7.0),
            sample(T0 + 16_000, 110.0, coins=None),
        ],
    )
    assert len(candles) == 1
    c = candles[0]
    assert (c.t, c.interval) == (T0, Interval.M1)
    assert (c.oi_usd_open, c.oi_usd_high, c.oi_usd_low, c.oi_usd_close) == (100.0, 130.0, 90.0, 110.0)
    assert c.close_at_ms == T0 + 16_000
    assert c.oi_coins is None  # at the close, not the last non-null
    assert c.price_usd == 11.0
    assert c.samples == 4
    assert c.funding_8h_sum == pytest.approx(0.004)
    assert c.funding_samples == 2
    assert c.funding_8h == pytest.approx(0.002)  # the mean of what had funding; never summed


def test_no_funding_recorded_is_none_not_zero() -> None:
    c = candles_of("BTC", "okx", [sample(T0, 1.0), sample(T0 + 5_000, 2.0)])[0]
    assert c.funding_8h is None
    assert c.funding_samples == 0


def test_a_late_sample_never_becomes_the_close() -> None:
    c = open_candle("BTC", "", sample(T0 + 30_000, 100.0))
    c = fold_sample(c, sample(T0 + 10_000, 300.0))
    assert c.oi_usd_close == 100.0 and c.close_at_ms == T0 + 30_000
    assert c.oi_usd_high == 300.0 and c.samples == 2


def test_a_sample_outside_the_bucket_is_refused() -> None:
    c = open_candle("BTC", "", sample(T0, 100.0))
    with pytest.raises(ValueError, match="outside"):
        fold_sample(c, sample(T0 + MIN, 1.0))


def test_gaps_stay_gaps() -> None:
    """Minutes 0, 1 and 4 recorded, 2 and 3 not: three candles, nothing forward-filled."""
    samples = [sample(T0 + m * MIN + 1_000, 100.0 + m) for m in (0, 1, 4)]
    minutes = candles_of("BTC", "", samples)
    assert [c.t for c in minutes] == [T0, T0 + MIN, T0 + 4 * MIN]
    five = rollup(minutes, Interval.M5)
    assert len(five) == 1
    assert (five[0].oi_usd_open, five[0].oi_usd_close, five[0].samples) == (100.0, 104.0, 3)
    # a 5-minute bucket with no minute at all does not exist
    later = candles_of("BTC", "", [sample(T0 + 12 * MIN, 1.0)])
    assert [c.t for c in rollup(minutes + later, Interval.M5)] == [T0, T0 + 10 * MIN]


def test_rollup_of_hand_made_minutes() -> None:
    minutes = [
        *candles_of("BTC", "", [sample(T0 + 1_000, 10.0, funding=0.01), sample(T0 + 50_000, 12.0)]),
        *candles_of("BTC", "", [sample(T0 + MIN, 8.0), sample(T0 + MIN + 30_000, 15.0, funding=0.03)]),
        *candles_of("BTC", "", [sample(T0 + 2 * MIN + 10, 11.0, coins=4.0)]),
    ]
    (hour,) = rollup(minutes, Interval.H1)
    assert hour.interval is Interval.H1 and hour.t == T0
    assert (hour.oi_usd_open, hour.oi_usd_high, hour.oi_usd_low, hour.oi_usd_close) == (10.0, 15.0, 8.0, 11.0)
    assert hour.close_at_ms == T0 + 2 * MIN + 10
    assert hour.oi_coins == 4.0 and hour.samples == 5
    assert hour.funding_8h == pytest.approx(0.02)


def test_rollup_keeps_series_apart() -> None:
    a = candles_of("BTC", "", [sample(T0, 1.0)])
    b = candles_of("BTC", "okx", [sample(T0, 2.0)])
    c = candles_of("ETH", "", [sample(T0, 3.0)])
    assert {(x.symbol, x.source, x.oi_usd_close) for x in rollup(a + b + c, Interval.D1)} == {
        ("BTC", "", 1.0),
        ("BTC", "okx", 2.0),
        ("ETH", "", 3.0),
    }


def test_replacing_a_partial_minute_counts_nothing_twice() -> None:
    """A shutdown wrote minute m as it stood; after the restart the whole minute replaces it."""
    first = candles_of("BTC", "", [sample(T0 + 1_000, 10.0, funding=0.01)])[0]
    partial = candles_of("BTC", "", [sample(T0 + MIN + 1_000, 20.0, funding=0.02)])[0]
    whole = fold_sample(partial, sample(T0 + MIN + 40_000, 5.0, funding=0.04))
    written = fold_minute(fold_minute(None, first, Interval.H1), partial, Interval.H1)
    continued = fold_minute(written, whole, Interval.H1, replacing=partial)
    assert continued == rollup([first, whole], Interval.H1)[0]


def _series(draw: st.DrawFn) -> list[Sample]:
    times = sorted(
        draw(
            st.lists(st.integers(min_value=0, max_value=3 * 86_400_000), min_size=1, max_size=60, unique=True)
        )
    )
    return [
        Sample(
            t_ms=T0 + t,
            oi_usd=draw(st.floats(min_value=0, max_value=1e12)),
            oi_coins=draw(st.none() | st.floats(min_value=0, max_value=1e9)),
            price_usd=draw(st.none() | st.floats(min_value=1e-9, max_value=1e6)),
            exchange_count=draw(st.integers(min_value=1, max_value=18)),
            funding_8h=draw(st.none() | st.floats(min_value=-0.05, max_value=0.05)),
        )
        for t in times
    ]


@st.composite
def series(draw: st.DrawFn) -> list[Sample]:
    return _series(draw)


def _direct(samples: list[Sample], interval: Interval) -> list[Candle]:
    """Candles of ``interval`` built straight from the samples (no 1-minute step)."""
    result: list[Candle] = []
    for s in samples:
        if result and result[-1].t == bucket_start(s.t_ms, interval):
            result[-1] = fold_sample(result[-1], s)
        else:
            result.append(open_candle("BTC", AGGREGATE, s, interval))
    return result


def _same(a: Candle, b: Candle) -> bool:
    exact = replace(a, funding_8h_sum=0.0) == replace(b, funding_8h_sum=0.0)
    return exact and math.isclose(a.funding_8h_sum, b.funding_8h_sum, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(series())
def test_rollups_equal_re_aggregating_the_samples(samples: list[Sample]) -> None:
    """Rolling 1-minute candles up gives what aggregating the raw samples per bucket gives, for
    every resolution; folding the minutes one by one (as the recorder does) gives the same."""
    minutes = candles_of("BTC", AGGREGATE, samples)
    for interval in ROLLUPS:
        rolled = rollup(minutes, interval)
        direct = _direct(samples, interval)
        assert [c.t for c in rolled] == [c.t for c in direct]
        assert all(_same(r, d) for r, d in zip(rolled, direct, strict=True))
        assert sum(c.samples for c in rolled) == len(samples)


def test_symbol_samples_are_the_served_figures() -> None:
    now = T0
    funding = Funding(rate=0.0001, interval_hours=1.0)  # 0.0008 per 8 h
    readings = {
        "okx": VenueReading(
            source="okx",
            fetched_at_ms=now,
            markets=(
                MarketOI(venue_symbol="BTC-USDT", base="BTC", oi_base=2.0, oi_usd=200.004, price_usd=100.0),
                MarketOI(
                    venue_symbol="BTC-USD",
                    base="BTC",
                    oi_base=1.0,
                    oi_usd=100.0,
                    price_usd=100.0,
                    funding=funding,
                ),
            ),
        ),
        "bybit": VenueReading(
            source="bybit",
            fetched_at_ms=now,
            markets=(
                MarketOI(venue_symbol="BTCUSDT", base="BTC", oi_base=None, oi_usd=300.0, price_usd=None),
            ),
        ),
    }
    total = aggregate(readings, now_ms=now, stale_after_ms=dict.fromkeys(readings, 60_000)).symbols["BTC"]
    result = dict(
        symbol_samples(
            total,
            symbol_stats(total),
            total_cents=60_000,
            source_cents={"okx": 30_000, "bybit": 30_000},
            t_ms=now + 5,
        )
    )
    agg = result[AGGREGATE]
    assert agg.t_ms == now + 5
    assert (agg.oi_usd, agg.exchange_count) == (600.0, 2)
    assert agg.oi_coins == 3.0
    assert agg.price_usd == pytest.approx(100.0)
    assert agg.funding_8h == pytest.approx(0.0008)  # OI-weighted over the markets with funding
    okx = result["okx"]
    assert (okx.oi_usd, okx.oi_coins, okx.exchange_count) == (300.0, 3.0, 1)
    assert okx.funding_8h == pytest.approx(0.0008)
    bybit = result["bybit"]
    assert (bybit.oi_usd, bybit.oi_coins, bybit.price_usd, bybit.funding_8h) == (300.0, None, None, None)
