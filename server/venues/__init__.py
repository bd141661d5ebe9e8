"""The venue registry: source id → spec, one explicit literal in API.md's order (no import-time scanning)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from server.venues import (
    avantis,
    backpack,
    binance,
    binance_coinm,
    bitget,
    bitmex,
    bybit,
    coinbase,
    deribit,
    drift,
    dydx,
    gateio,
    htx,
    hyperliquid,
    jupiter,
    kucoin,
    mexc,
    okx,
)
from server.venues.base import VenueSpec

REGISTRY: Final[Mapping[str, VenueSpec]] = {
    spec.id: spec
    for spec in (
        binance.SPEC,
        binance_coinm.SPEC,
        bybit.SPEC,
        okx.SPEC,
        bitget.SPEC,
        gateio.SPEC,
        mexc.SPEC,
        htx.SPEC,
        kucoin.SPEC,
        coinbase.SPEC,
        backpack.SPEC,
        deribit.SPEC,
        bitmex.SPEC,
        hyperliquid.SPEC,
        dydx.SPEC,
        drift.SPEC,
        avantis.SPEC,
        jupiter.SPEC,
    )
}
