"""The history's records and the one interface both stores implement. Pure: no I/O here.

A *series* is one symbol's aggregate as served (``source`` = "") or one source's figures for the
symbol. A candle is one UTC-aligned bucket of one series at one resolution. OI is a stock, not a
flow: ``oi_usd`` open is the first value recorded in the bucket and close the last, high and low
the extremes; nothing is summed across time. At the close: coins, price, exchange count, and the
close's own time (``close_at_ms``: when the last value was recorded, which the signal windows
compare against). Funding is the bucket's mean, kept as a sum and a count so rollups stay exact
means. A bucket with nothing recorded has no candle: gaps stay gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

MINUTE_MS: Final = 60_000


class Interval(StrEnum):
    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def ms(self) -> int:
        return INTERVAL_MS[self]


INTERVAL_MS: Final = {
    Interval.M1: MINUTE_MS,
    Interval.M5: 5 * MINUTE_MS,
    Interval.M15: 15 * MINUTE_MS,
    Interval.H1: 60 * MINUTE_MS,
    Interval.H4: 240 * MINUTE_MS,
    Interval.D1: 1440 * MINUTE_MS,
}

AGGREGATE: Final = ""  # the ``source`` of a symbol's aggregate series


@dataclass(frozen=True, slots=True, kw_only=True)
class Candle:
    """One bucket of one series. ``t`` is the bucket start (unix ms, UTC-aligned)."""

    symbol: str
    source: str  # AGGREGATE ("") for the symbol as served
    interval: Interval
    t: int
    oi_usd_open: float
    oi_usd_high: float
    oi_usd_low: float
    oi_usd_close: float
    close_at_ms: int
    oi_coins: float | None  # at the close; None where not derivable
    price_usd: float | None  # at the close (OI-weighted over the series' markets)
    exchange_count: int  # at the close (1 for a source series)
    funding_8h_sum: float  # Σ of recorded funding_8h values (those that were not None)
    funding_samples: int  # how many values went into funding_8h_sum
    samples: int  # values recorded in the bucket

    @property
    def funding_8h(self) -> float | None:
        """The bucket's mean funding per 8 h, None when nothing recorded had funding."""
        return self.funding_8h_sum / self.funding_samples if self.funding_samples else None


class HistoryUnavailable(Exception):
    """The history store cannot be reached or used now (PostgreSQL down, disk full, locked file).
    One line, no traceback: the message says which store and why."""


class HistoryStore(Protocol):
    """What the recorder writes through and the front doors read from; SQLite and PostgreSQL
    implement it and one test suite runs against both. Every method raises HistoryUnavailable
    (never a driver's own exception) when the store cannot serve."""

    async def open(self) -> None:
        """Connect, then create or migrate the schema (versioned, idempotent migrations)."""

    async def close(self) -> None: ...

    async def upsert(self, candles: Sequence[Candle]) -> None:
        """Write candles in one transaction; a candle replaces the stored one with the same
        (symbol, source, interval, t)."""

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
        """Candles ascending by ``t`` within [start, end] (inclusive); the last ``limit`` of them."""

    async def has_symbol(self, symbol: str) -> bool:
        """True when anything was ever recorded for ``symbol`` (404 otherwise)."""

    async def since(self, interval: Interval, start_ms: int) -> list[Candle]:
        """Every series' candles of ``interval`` with ``t`` >= ``start_ms`` (to resume open buckets
        and seed in-memory windows after a restart)."""

    async def delete_before(self, interval: Interval, before_ms: int) -> int:
        """Retention: delete candles of ``interval`` with ``t`` < ``before_ms``; how many went."""
