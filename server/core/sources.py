"""The source ids of API.md section 1: the one list both front doors validate a ``source`` against
(the venue registry must list exactly these; a test keeps the two equal)."""

from __future__ import annotations

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
