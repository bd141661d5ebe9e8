"""An API replica's read-only handle on the history its collector records (a shared PostgreSQL).

A replica never writes: it opens the store, reads with a time bound, and reports what happened
to its last attempt in ``/v1/history/status``. A store that is down answers HistoryUnavailable
(503) while everything live keeps serving; the driver's pool reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from server.history.model import Candle, HistoryStore, HistoryUnavailable, Interval

log = logging.getLogger("oi.history")

R = TypeVar("R")


class StoreReader:
    def __init__(
        self,
        store: HistoryStore,
        *,
        describe: str,
        clock_ms: Callable[[], int],
        timeout_s: float = 5.0,
    ) -> None:
        self._store = store
        self._describe = describe
        self._clock_ms = clock_ms
        self._timeout_s = timeout_s
        self._last_error: str | None = None
        self._last_error_at: int | None = None
        self._last_read_at: int | None = None
        self._opened = False
        self._opening: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the store in the background: a replica's start never waits for it (one that
        cannot be reached now is opened again by the next read)."""
        self._opening = asyncio.create_task(self._open(), name="history-open")
        log.info("history read from %s (replica: never written here)", self._describe)

    async def _open(self) -> None:
        with contextlib.suppress(HistoryUnavailable):
            await self._bounded(self._store.open())
            self._opened = True

    async def stop(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
            await asyncio.gather(self._opening, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._timeout_s):
                await self._store.close()

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
        await self._ensure_open()
        return await self._bounded(
            self._store.read(
                symbol=symbol, source=source, interval=interval, start_ms=start_ms, end_ms=end_ms, limit=limit
            )
        )

    async def has_symbol(self, symbol: str) -> bool:
        await self._ensure_open()
        return await self._bounded(self._store.has_symbol(symbol))

    async def _ensure_open(self) -> None:
        """Wait for an open in progress; after a failed one, try again in the background and
        answer unavailable now (a store that is down costs one wait, not one per request)."""
        if self._opened:
            return
        if self._opening is not None and not self._opening.done():
            await asyncio.shield(self._opening)
        if not self._opened:
            if self._opening is None or self._opening.done():
                self._opening = asyncio.create_task(self._open(), name="history-open")
            raise HistoryUnavailable(self._last_error or f"{self._describe} is not open yet")

    async def _bounded(self, call: Awaitable[R]) -> R:
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await call
        except (HistoryUnavailable, TimeoutError) as error:
            text = str(error) or f"{self._describe} did not answer within {self._timeout_s:g} s"
            if text != self._last_error:
                log.error("history unavailable: %s", text)
            self._last_error, self._last_error_at = text, self._clock_ms()
            raise HistoryUnavailable(text) from None
        if self._last_error is not None:
            log.info("history available again")
            self._last_error = None
        self._last_read_at = self._clock_ms()
        return result

    def status_json(self) -> dict[str, object]:
        return {
            "state": "unavailable" if self._last_error is not None else "ok",
            "store": self._describe,
            "role": "reader",
            "last_error": self._last_error,
            "last_error_at": self._last_error_at,
            "last_read_at": self._last_read_at,
        }
