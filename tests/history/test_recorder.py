"""The recorder over an in-memory store: minutes close into candles and rollups, a failing store
is survived and recovered from, the queue stays bounded, shutdown flushes, restarts continue."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

import pytest

from server.api.convert import PreparedSnapshot
from server.core.aggregate import aggregate
from server.core.hub import SnapshotHub
from server.core.model import Funding, MarketOI, Snapshot, VenueReading
from server.history.candles import ROLLUPS, bucket_start, rollup
from server.history.model import AGGREGATE, Candle, Interval
from server.history.recorder import HistoryRecorder, RecorderState
from tests.history.memory_store import MemoryStore

T0 = 1_709_640_000_000  # 12:00:00 UTC, the start of an hour
MIN = 60_000


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def prepared(okx_usd: float, bybit_usd: float = 50.0, *, at: int = T0) -> PreparedSnapshot:
    funding = Funding(rate=0.0001, interval_hours=8.0)
    readings = {
        "okx": VenueReading(
            source="okx",
            fetched_at_ms=at,
            markets=(
                MarketOI(
                    venue_symbol="BTC-USDT",
                    base="BTC",
                    oi_base=okx_usd / 100,
                    oi_usd=okx_usd,
                    price_usd=100.0,
                ),
            ),
        ),
        "bybit": VenueReading(
            source="bybit",
            fetched_at_ms=at,
            markets=(
                MarketOI(
                    venue_symbol="BTCUSDT",
                    base="BTC",
                    oi_base=bybit_usd / 100,
                    oi_usd=bybit_usd,
                    price_usd=100.0,
                    funding=funding,
                ),
            ),
        ),
    }
    return PreparedSnapshot(aggregate(readings, now_ms=at, stale_after_ms=dict.fromkeys(readings, 10**12)))


def recorder(store: MemoryStore, clock: Clock, **kwargs: object) -> HistoryRecorder:
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(PreparedSnapshot(Snapshot(built_at_ms=T0)))
    options: dict[str, object] = {"sample_every_s": 3600.0, "backoff_s": (0.01, 0.05), **kwargs}
    return HistoryRecorder(store, hub, clock, describe="memory store", **options)  # type: ignore[arg-type]


async def wait_for(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def test_a_closed_minute_is_written_with_its_rollups() -> None:
    store, clock = MemoryStore(), Clock()
    rec = recorder(store, clock)
    await rec.start()
    try:
        rec.observe(prepared(100.0), T0 + 1_000)
        rec.observe(prepared(120.0), T0 + 20_000)
        rec.observe(prepared(80.0), T0 + 40_000)
        assert not store.candles  # nothing is written while the minute is open
        rec.observe(prepared(90.0), T0 + MIN + 1_000)  # closes minute 0
        await asyncio.wait_for(rec.queue.drained(), 5)
    finally:
        await rec.stop()
    (agg,) = [c for c in store.series("BTC", AGGREGATE, Interval.M1) if c.t == T0]
    assert (agg.oi_usd_open, agg.oi_usd_high, agg.oi_usd_low, agg.oi_usd_close) == (
        150.0,
        170.0,
        130.0,
        130.0,
    )
    assert (agg.samples, agg.exchange_count, agg.close_at_ms) == (3, 2, T0 + 40_000)
    assert agg.oi_coins == pytest.approx(1.3)
    okx = store.series("BTC", "okx", Interval.M1)[0]
    assert (okx.oi_usd_open, okx.oi_usd_close, okx.exchange_count, okx.funding_8h) == (100.0, 80.0, 1, None)
    bybit = store.series("BTC", "bybit", Interval.M1)[0]
    assert bybit.funding_8h == pytest.approx(0.0001)
    for interval in ROLLUPS:
        (rolled,) = store.series("BTC", AGGREGATE, interval)
        # stop() flushed minute 1 as well: the rollup holds both minutes
        assert rolled == rollup(store.series("BTC", AGGREGATE, Interval.M1), interval)[0]
        assert (
            rolled.t == bucket_start(T0, interval)
            and rolled.oi_usd_open == 150.0
            and rolled.oi_usd_close == 140.0
        )


async def test_a_failing_store_is_logged_once_counted_and_recovered(caplog: pytest.LogCaptureFixture) -> None:
    store, clock = MemoryStore(), Clock()
    rec = recorder(store, clock)
    await rec.start()
    caplog.set_level(logging.INFO, logger="oi.history")
    try:
        store.failing = "connection refused (PostgreSQL stopped)"
        for minute in range(4):
            rec.observe(prepared(100.0 + minute), T0 + minute * MIN + 1_000)
        await wait_for(lambda: rec.status().failures >= 3)
        status = rec.status()
        assert status.state is RecorderState.UNAVAILABLE
        assert status.failures >= 3
        assert status.last_error == "connection refused (PostgreSQL stopped)"
        assert status.queue_depth == 3  # minutes 0-2 closed, waiting
        assert not store.candles
        down = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(down) == 1, "the failure is logged once, not per attempt"
        assert "\n" not in down[0].getMessage()

        store.failing = None  # the store comes back: writing resumes by itself
        await asyncio.wait_for(rec.queue.drained(), 5)
        assert rec.status().state is RecorderState.OK
        assert [c.t for c in store.series("BTC", AGGREGATE, Interval.M1)] == [T0, T0 + MIN, T0 + 2 * MIN]
        assert sum(1 for r in caplog.records if "store back:" in r.getMessage()) == 1
    finally:
        await rec.stop()


async def test_minutes_dropped_during_a_long_outage_stay_a_gap() -> None:
    store, clock = MemoryStore(), Clock()
    rec = recorder(store, clock, max_queued_batches=2)
    await rec.start()
    try:
        store.failing = "disk full"
        for minute in range(5):
            rec.observe(prepared(100.0 + minute), T0 + minute * MIN + 1_000)
        await wait_for(lambda: rec.status().failures >= 1)
        assert rec.status().dropped_minutes == 2
        assert rec.status().state is RecorderState.UNAVAILABLE
        store.failing = None
        await asyncio.wait_for(rec.queue.drained(), 5)
        assert rec.status().state is RecorderState.DEGRADED  # minutes were lost within the hour
    finally:
        await rec.stop()
    minutes = [c.t for c in store.series("BTC", AGGREGATE, Interval.M1)]
    assert minutes == [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]  # 0 and 1 are a gap, not filled


async def test_a_burst_never_grows_the_queue_past_its_bound() -> None:
    store, clock = MemoryStore(), Clock()
    rec = recorder(store, clock, max_queued_batches=3)
    await rec.start()
    try:
        store.failing = "database is locked"
        for minute in range(200):
            rec.observe(prepared(100.0), T0 + minute * MIN)
            assert len(rec.queue) <= 3
        status = rec.status()
        assert status.queue_depth == 3
        assert status.dropped_minutes == 196  # 199 closed minutes, 3 kept
        assert status.queued_candles == 3 * 3 * (1 + len(ROLLUPS))  # 3 series per minute
    finally:
        await rec.stop()


async def test_stop_flushes_the_open_minute_in_bounded_time() -> None:
    store, clock = MemoryStore(), Clock()
    rec = recorder(store, clock)
    await rec.start()
    rec.observe(prepared(100.0), T0 + 1_000)
    rec.observe(prepared(110.0), T0 + 30_000)
    await rec.stop()
    (minute,) = store.series("BTC", AGGREGATE, Interval.M1)
    assert (minute.t, minute.samples, minute.oi_usd_close) == (T0, 2, 160.0)
    assert store.series("BTC", "okx", Interval.D1)[0].oi_usd_close == 110.0
    assert not store.opened

    # a store that hangs: stop still returns within its budget, and says what was lost
    slow, clock = MemoryStore(), Clock()
    rec = recorder(slow, clock, stop_timeout_s=0.5)
    await rec.start()
    rec.observe(prepared(100.0), T0 + 1_000)
    slow.delay_s = 10.0
    started = time.monotonic()
    await rec.stop()
    assert time.monotonic() - started < 1.0
    assert not slow.candles


async def test_a_restart_continues_the_open_buckets() -> None:
    store, clock = MemoryStore(), Clock()
    first = recorder(store, clock)
    await first.start()
    first.observe(prepared(100.0), T0 + 1_000)
    first.observe(prepared(300.0), T0 + MIN + 1_000)
    first.observe(prepared(50.0), T0 + MIN + 10_000)
    await first.stop()  # minute 1 written as it stood

    clock.now = T0 + MIN + 30_000  # back within the same minute
    second = recorder(store, clock)
    await second.start()
    assert second.status().open_series == 3  # the open minute continues
    second.observe(prepared(200.0), T0 + MIN + 40_000)
    second.observe(prepared(120.0), T0 + 2 * MIN + 1_000)  # closes minute 1
    await asyncio.wait_for(second.queue.drained(), 5)
    await second.stop()

    minutes = store.series("BTC", AGGREGATE, Interval.M1)
    assert [(c.t, c.samples) for c in minutes] == [(T0, 1), (T0 + MIN, 3), (T0 + 2 * MIN, 1)]
    assert (minutes[1].oi_usd_open, minutes[1].oi_usd_high, minutes[1].oi_usd_close) == (350.0, 350.0, 250.0)
    for interval in ROLLUPS:
        (stored,) = store.series("BTC", AGGREGATE, interval)
        expected = rollup(minutes, interval)[0]  # nothing lost, nothing counted twice
        assert replace(stored, funding_8h_sum=0.0) == replace(expected, funding_8h_sum=0.0), interval
        assert stored.funding_8h_sum == pytest.approx(expected.funding_8h_sum)
        assert stored.samples == 5

    # a restart in a later minute: the open hour carries on from what was written
    clock.now = T0 + 10 * MIN
    third = recorder(store, clock)
    await third.start()
    third.observe(prepared(10.0), T0 + 10 * MIN + 1_000)
    await third.stop()
    (hour,) = store.series("BTC", "okx", Interval.H1)
    assert (hour.oi_usd_open, hour.oi_usd_high, hour.oi_usd_low, hour.oi_usd_close) == (
        100.0,
        300.0,
        10.0,
        10.0,
    )
    assert hour.samples == 6


async def test_a_store_down_at_start_leaves_serving_alone_and_recovers() -> None:
    store, clock = MemoryStore(), Clock()
    earlier = recorder(store, clock)
    await earlier.start()
    earlier.observe(prepared(500.0), T0 + 1_000)
    await earlier.stop()  # minute 0 of the hour is stored

    clock.now = T0 + 2 * MIN
    store.failing = "could not connect to server"
    rec = recorder(store, clock)
    await rec.start()  # does not raise
    try:
        assert rec.status().state is RecorderState.UNAVAILABLE
        with pytest.raises(Exception, match="not open: could not connect"):
            await rec.read(symbol="BTC", source="", interval=Interval.M1, start_ms=None, end_ms=None, limit=5)
        rec.observe(prepared(100.0), T0 + 2 * MIN + 1_000)
        rec.observe(prepared(50.0), T0 + 3 * MIN + 1_000)
        store.failing = None
        await asyncio.wait_for(rec.queue.drained(), 5)
        assert rec.status().state is RecorderState.OK
        assert await rec.has_symbol("BTC")
    finally:
        await rec.stop()
    # the open hour continued from what the store held, not overwritten by this run's part
    (hour,) = store.series("BTC", "okx", Interval.H1)
    assert (hour.oi_usd_open, hour.oi_usd_high, hour.oi_usd_close, hour.samples) == (500.0, 500.0, 50.0, 3)


async def test_retention_deletes_exactly_what_is_older() -> None:
    store, clock = MemoryStore(), Clock()
    day = 86_400_000
    now = T0 + 40 * day
    for interval, t in [
        (Interval.M1, now - 30 * day - MIN),  # older than 30 days: goes
        (Interval.M1, now - 30 * day),  # exactly 30 days (the cutoff minute): stays
        (Interval.M1, now - MIN),
        (Interval.M5, now - 366 * day),  # goes
        (Interval.M5, now - 364 * day),
        (Interval.H1, now - 3000 * day),  # forever
    ]:
        c = Candle(
            symbol="BTC",
            source="",
            interval=interval,
            t=t,
            oi_usd_open=1.0,
            oi_usd_high=1.0,
            oi_usd_low=1.0,
            oi_usd_close=1.0,
            close_at_ms=t,
            oi_coins=None,
            price_usd=None,
            exchange_count=1,
            funding_8h_sum=0.0,
            funding_samples=0,
            samples=1,
        )
        store.candles[(c.symbol, c.source, c.interval, c.t)] = c
    retention = {Interval.M1: 30 * day, Interval.M5: 365 * day, Interval.M15: 365 * day, Interval.H1: None}
    rec = recorder(store, clock, retention_ms=retention)
    store.opened = True
    deleted = await rec.apply_retention(now)
    assert deleted == {Interval.M1: 1, Interval.M5: 1, Interval.M15: 0}
    assert sorted((k[2].value, now - k[3]) for k in store.candles) == sorted(
        [("1m", 30 * day), ("1m", MIN), ("5m", 364 * day), ("1h", 3000 * day)]
    )


async def test_the_sampler_follows_the_hub_on_its_own() -> None:
    store, clock = MemoryStore(), Clock()
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(prepared(100.0))
    rec = HistoryRecorder(store, hub, clock, sample_every_s=0.01)
    await rec.start()
    try:
        await wait_for(lambda: rec.status().open_series == 3)
        hub.publish(prepared(400.0))
        clock.now = T0 + 30_000
        await asyncio.sleep(0.05)
        clock.now = T0 + MIN + 5_000
        await wait_for(lambda: store.series("BTC", "okx", Interval.M1))
    finally:
        await rec.stop()
    first = store.series("BTC", "okx", Interval.M1)[0]
    assert (first.t, first.oi_usd_open, first.oi_usd_close) == (T0, 100.0, 400.0)
    assert first.samples >= 2
