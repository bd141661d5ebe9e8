"""An in-memory ``HistoryStore`` for the recorder and front-door tests: a dict keyed by
(symbol, source, interval, t), that can be switched to fail (raise HistoryUnavailable) like a
stopped PostgreSQL or a full disk, and counts what it was asked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from server.history.model import Candle, HistoryUnavailable, Interval

Key = tuple[str, str, Interval, int]


class MemoryStore:
    def __init__(self) -> None:
        self.candles: dict[Key, Candle] = {}
        self.failing: str | None = None  # the error message while "stopped"
        self.opened = False
        self.upserts: list[int] = []  # candles per successful upsert
        self.attempts = 0
        self.delay_s = 0.0  # each call takes this long (a slow store)
        self.written = asyncio.Event()

    async def _check(self) -> None:
        self.attempts += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failing is not None:
            raise HistoryUnavailable(self.failing)

    async def open(self) -> None:
        await self._check()
        self.opened = True

    async def close(self) -> None:
        self.opened = False

    async def upsert(self, candles: Sequence[Candle]) -> None:
        await self._check()
        for c in candles:
            self.candles[(c.symbol, c.source, c.interval, c.t)] = c
        self.upserts.append(len(candles))
        self.written.set()

    async def read(
        self,
        *,
        symbol: str,
        source: str,
        interval: Interval,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> list[Candle]:
        await self._check()
        found = sorted(
            (
                c
                for (sy, so, iv, t), c in self.candles.items()
                if (sy, so, iv) == (symbol, source, interval)
                and (start_ms is None or t >= start_ms)
                and (end_ms is None or t <= end_ms)
            ),
            key=lambda c: c.t,
        )
        return found[-limit:]

    async def has_symbol(self, symbol: str) -> bool:
        await self._check()
        return any(key[0] == symbol for key in self.candles)

    async def since(self, interval: Interval, start_ms: int) -> list[Candle]:
        await self._check()
        return [c for (_, _, iv, t), c in self.candles.items() if iv == interval and t >= start_ms]

    async def delete_before(self, interval: Interval, before_ms: int) -> int:
        await self._check()
        gone = [k for k in self.candles if k[2] == interval and k[3] < before_ms]
        for key in gone:
            del self.candles[key]
        return len(gone)

    def series(self, symbol: str, source: str, interval: Interval) -> list[Candle]:
        return sorted(
            (c for (sy, so, iv, _), c in self.candles.items() if (sy, so, iv) == (symbol, source, interval)),
            key=lambda c: c.t,
        )
