"""Simulated venues by source id: one explicit literal, in the same order as the adapter registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from server.sim.render import (
    avantis,
    backpack,
    binance,
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
from server.sim.venue import SimVenue

SIM_VENUES: Final[Mapping[str, SimVenue]] = {
    venue.id: venue
    for venue in (
        binance.USDM,
        binance.COINM,
        bybit.SIM,
        okx.SIM,
        bitget.SIM,
        gateio.SIM,
        mexc.SIM,
        htx.SIM,
        kucoin.SIM,
        coinbase.SIM,
        backpack.SIM,
        deribit.SIM,
        bitmex.SIM,
        hyperliquid.SIM,
        dydx.SIM,
        drift.SIM,
        avantis.SIM,
        jupiter.SIM,
    )
}
