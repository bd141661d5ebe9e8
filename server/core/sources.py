"""The source ids of API.md section 1: the one list both front doors validate a ``source`` against
(the venue registry must list exactly these; a test keeps the two equal); and what the front doors
show of a source's health (``SourceStatusView``), written by the polling layer's ``SourceStatus``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

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
