"""The source ids of API.md section 1: the one list both front doors validate a ``source`` against
(the venue registry must list exactly these; a test keeps the two equal); and what the front doors
show of a source's health (``SourceStatusView``), written by the polling layer's ``SourceStatus``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import msgspec

SOURCE_IDS: Final = (
    "binance",
    "binance_coinm",
    "bybit",
    "okx",
    "bitget",
    "gateio",
    "mexc",
    "htx",
    "kucoin",
    "coinbase",
    "backpack",
    "deribit",
    "bitmex",
    "hyperliquid",
    "dydx",
    "drift",
    "avantis",
    "jupiter",
)


class SourceState(StrEnum):
    OK = "ok"  # last poll succeeded, nothing rejected
    DEGRADED = "degraded"  # fresh data served, but the last poll failed or had readings rejected
    STALE = "stale"  # data too old to count; the source is out of the totals
    DOWN = "down"  # never had data, or failing with nothing left to serve


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceStatusView:
    source: str
    state: SourceState
    last_success_ms: int | None
    last_error: str | None
    last_error_ms: int | None
    consecutive_failures: int
    markets: int
    skipped_rows: int
    last_poll_duration_ms: int | None
    readings_rejected: int
    poll_interval_s: float


class SourceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What is known of one source's polls, without the clock: its state follows from these and
    the time it is looked at (``view``). The poller's bookkeeping makes one per look, and a
    collector publishes them, so an API replica judges staleness by its own clock, as the
    collector would."""

    source: str
    poll_interval_s: float
    last_success_ms: int | None = None
    last_error: str | None = None
    last_error_ms: int | None = None
    consecutive_failures: int = 0
    markets: int = 0
    skipped_rows: int = 0
    last_poll_duration_ms: int | None = None
    readings_rejected: int = 0
    rejected_last_poll: int = 0

    def view(self, *, now_ms: int, stale_after_ms: int) -> SourceStatusView:
        if self.last_success_ms is None:
            state = SourceState.DOWN
        elif now_ms - self.last_success_ms > stale_after_ms:
            state = SourceState.STALE
        elif self.consecutive_failures or self.rejected_last_poll:
            state = SourceState.DEGRADED
        else:
            state = SourceState.OK
        return SourceStatusView(
            source=self.source,
            state=state,
            last_success_ms=self.last_success_ms,
            last_error=self.last_error,
            last_error_ms=self.last_error_ms,
            consecutive_failures=self.consecutive_failures,
            markets=self.markets,
            skipped_rows=self.skipped_rows,
            last_poll_duration_ms=self.last_poll_duration_ms,
            readings_rejected=self.readings_rejected,
            poll_interval_s=self.poll_interval_s,
        )
