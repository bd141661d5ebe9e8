"""Seed a ``SignalBook`` from recorded history, so a restarted service has its windows at once.

The windows compare against values up to 24 h + tolerance old. Per (symbol, source) series the
store holds candles whose close is the last value recorded in the bucket, at ``close_at_ms``:
exactly a past value as the windows define it. 1-minute candles cover the last 4 h 10 min (the
1h and 4h windows' tolerances, 72 s and 288 s at a 30 s poll, are wider than their spacing);
15-minute candles cover the rest of the day (the 24h window's tolerance is 28.8 min). The 1m,
5m and 15m windows (tolerance 45 s at a 30 s poll) take a 1-minute close where one falls within
it, and fill from live readings within a minute or two otherwise.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Protocol

from server.core.signals import MINUTE_MS, WINDOWS, Point, tolerance_ms
from server.history.model import AGGREGATE, Candle, HistoryUnavailable, Interval

if TYPE_CHECKING:
    from server.core.signal_book import SignalBook

log = logging.getLogger("oi.signals")


class CandleSource(Protocol):
    """The one method of ``HistoryStore`` seeding needs."""

    async def since(self, interval: Interval, start_ms: int) -> list[Candle]: ...


FINE_SPAN_MS: Final = 250 * MINUTE_MS  # 4 h 10 min of 1-minute closes


def seed_points(candles: list[Candle]) -> list[tuple[str, str, Point]]:
    """(symbol, source, past value) per source candle, ascending by when it was recorded."""
    points = [
        (c.symbol, c.source, Point(t=c.close_at_ms, coins=c.oi_coins, usd=c.oi_usd_close, price=c.price_usd))
        for c in candles
        if c.source != AGGREGATE and c.oi_usd_close > 0
    ]
    points.sort(key=lambda item: item[2].t)
    return points


async def seed(book: SignalBook, store: CandleSource, now_ms: int) -> int:
    """Fill ``book`` from ``store``; how many values it took. A store that cannot be read leaves
    the windows to fill from live readings (logged, never fatal)."""
    longest = max(ms + tolerance_ms(ms, book.settings.poll_interval_ms) for ms in WINDOWS.values())
    fine_from = now_ms - FINE_SPAN_MS
    try:
        coarse = await store.since(Interval.M15, now_ms - longest - Interval.M15.ms)
        fine = await store.since(Interval.M1, fine_from)
    except HistoryUnavailable as error:
        log.warning("signal windows start empty: %s", error)
        return 0
    # a 15-minute bucket closing within the fine span is covered by the 1-minute closes
    candles = [c for c in coarse if c.close_at_ms < fine_from] + fine
    points = seed_points(candles)
    for symbol, source, point in points:
        book.record(symbol, source, point)
    book.flush(now_ms)
    return len(points)
