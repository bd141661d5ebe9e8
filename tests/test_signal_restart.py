"""A restarted service has its windows at once: the book is seeded from any ``HistoryStore``
(here an in-memory fake) through ``since``, and the first snapshot is answered with them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from server.api.convert import PreparedSnapshot
from server.core.aggregate import aggregate
from server.core.model import MarketOI, VenueReading
from server.core.signal_book import SignalBook
from server.core.signals import Settings, Signal
from server.history.model import AGGREGATE, Candle, HistoryUnavailable, Interval
from server.signals.seed import seed

NOW = 1_800_000_000_000 // 60_000 * 60_000
POLL_MS = 30_000


def candle(interval: Interval, t: int, source: str, coins: float, price: float) -> Candle:
    return Candle(
        symbol="BTC",
        source=source,
        interval=interval,
        t=t,
        oi_usd_open=coins * price,
        oi_usd_high=coins * price,
        oi_usd_low=coins * price,
        oi_usd_close=coins * price,
        close_at_ms=t + interval.ms - 10_000,  # the last value recorded in the bucket
        oi_coins=coins,
        price_usd=price,
        exchange_count=1,
        funding_8h_sum=0.0,
        funding_samples=0,
        samples=4,
    )


class FakeStore:
    """The part of ``HistoryStore`` seeding uses, over a list of candles."""

    def __init__(self, candles: Sequence[Candle], *, broken: bool = False) -> None:
        self.candles = list(candles)
        self.broken = broken

    async def since(self, interval: Interval, start_ms: int) -> list[Candle]:
        if self.broken:
            raise HistoryUnavailable("sqlite:///x: database is locked")
        return [c for c in self.candles if c.interval is interval and c.t >= start_ms]


def level(t: int) -> tuple[float, float]:
    """OI grew 1 % per hour and price 0.5 % per hour over the last day (a steady build-up)."""
    hours = (t - NOW) / 3_600_000
    return 1000.0 * 1.01**hours, 50_000.0 * 1.005**hours


def history() -> list[Candle]:
    candles = []
    for t in range(NOW - 26 * 3_600_000, NOW, Interval.M15.ms):
        candles.append(candle(Interval.M15, t, "binance", *level(t + Interval.M15.ms - 10_000)))
    for t in range(NOW - 5 * 3_600_000, NOW, Interval.M1.ms):
        candles.append(candle(Interval.M1, t, "binance", *level(t + Interval.M1.ms - 10_000)))
        candles.append(candle(Interval.M1, t, AGGREGATE, *level(t + Interval.M1.ms - 10_000)))
    return candles


def first_snapshot_after_restart() -> PreparedSnapshot:
    coins, price = level(NOW)
    reading = VenueReading(
        source="binance",
        fetched_at_ms=NOW,
        markets=(
            MarketOI(
                venue_symbol="BTCUSDT", base="BTC", oi_base=coins, oi_usd=coins * price, price_usd=price
            ),
        ),
    )
    return PreparedSnapshot(aggregate({"binance": reading}, now_ms=NOW, stale_after_ms={"binance": 90_000}))


async def test_a_seeded_book_answers_the_long_windows_on_the_first_snapshot() -> None:
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    taken = await seed(book, FakeStore(history()), NOW)
    assert taken > 0
    snapshot = first_snapshot_after_restart().snapshot
    changes = {c.window: c for c in book.observe(snapshot)["BTC"]}
    assert {"1h", "4h", "24h"} <= set(changes)
    for window, hours in (("1h", 1), ("4h", 4), ("24h", 24)):
        change = changes[window]
        assert change.oi_pct == pytest.approx(100 * (1.01**hours - 1), rel=0.02)
        assert change.price_pct == pytest.approx(100 * (1.005**hours - 1), rel=0.02)
        assert change.sources == 1 and change.coverage == pytest.approx(1.0)
    assert changes["24h"].signal is Signal.NEW_LONGS
    prepared = PreparedSnapshot(snapshot, changes=book.changes)
    body = prepared.symbols_json("BTC")
    assert body is not None and b'"24h":{"oi_pct":26.9' in body


async def test_an_unreadable_store_leaves_the_windows_to_fill_live() -> None:
    book = SignalBook(Settings(poll_interval_ms=POLL_MS))
    assert await seed(book, FakeStore(history(), broken=True), NOW) == 0
    assert book.observe(first_snapshot_after_restart().snapshot)["BTC"] == ()
