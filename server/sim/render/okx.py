"""Simulated OKX v5: instruments, open-interest and mark-price for instType SWAP.

Formats follow tests/fixtures/okx/. Contract values are OKX's real ones for the core coins
(BTC-USDT-SWAP 0.01 BTC, PEPE 10,000,000 PEPE, BTC-USD-SWAP 100 USD inverse). A ``preopen``
instrument is listed too, which the adapter must skip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, by_symbol, fmt, real_assets, with_synthetic

CONTRACT_VALUES: Final = {
    "BTC": 0.01,
    "ETH": 0.1,
    "SOL": 1.0,
    "XRP": 100.0,
    "DOGE": 1000.0,
    "BNB": 0.01,
    "ADA": 100.0,
    "LINK": 1.0,
    "AVAX": 1.0,
    "LTC": 1.0,
    "PEPE": 10_000_000.0,
    "SHIB": 1_000_000.0,
    "BONK": 100_000.0,
    "DOT": 1.0,
    "TRX": 1000.0,
    "ARB": 10.0,
    "OP": 1.0,
    "SUI": 1.0,
    "WIF": 1.0,
    "HYPE": 0.1,
}
INVERSE_VALUES: Final = {"BTC": 100.0, "ETH": 10.0}
PREOPEN_ID: Final = "NEWCOIN-USDT-SWAP"


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        size = CONTRACT_VALUES.get(asset.symbol, 1.0)
        result.append(
            Listing(
                venue_symbol=f"{asset.symbol}-USDT-SWAP", asset=asset.symbol, contract_size=size, share=0.6
            )
        )
        if asset.symbol in INVERSE_VALUES:
            result.append(
                Listing(
                    venue_symbol=f"{asset.symbol}-USD-SWAP",
                    asset=asset.symbol,
                    kind=ContractKind.INVERSE,
                    contract_size=INVERSE_VALUES[asset.symbol],
                    settle=asset.symbol,
                    share=0.2,
                    price_skew=0.0001,
                )
            )
        if asset.symbol == "BTC":
            result.append(
                Listing(
                    venue_symbol="BTC-USDC-SWAP", asset="BTC", contract_size=0.0001, settle="USDC", share=0.05
                )
            )
    return with_synthetic(
        result,
        assets,
        250,
        lambda a: Listing(venue_symbol=f"{a.symbol}-USDT-SWAP", asset=a.symbol, contract_size=1.0, share=0.6),
    )


def _instrument(market: ListingState) -> dict[str, object]:
    listing = market.listing
    inverse = listing.kind is ContractKind.INVERSE
    family = listing.venue_symbol.removesuffix("-SWAP")
    return {
        "alias": "",
        "baseCcy": "",
        "category": "1",
        "ctMult": "1",
        "ctType": "inverse" if inverse else "linear",
        "ctVal": fmt(listing.contract_size),
        "ctValCcy": "USD" if inverse else listing.asset,
        "expTime": "",
        "instFamily": family,
        "instId": listing.venue_symbol,
        "instType": "SWAP",
        "lever": "100",
        "listTime": "1573557408000",
        "lotSz": "0.01",
        "minSz": "0.01",
        "quoteCcy": "",
        "ruleType": "normal",
        "settleCcy": listing.settle,
        "state": "live",
        "tickSz": "0.1",
        "uly": family,
    }


def _envelope(rows: list[dict[str, object]]) -> dict[str, object]:
    return {"code": "0", "msg": "", "data": rows}


def instruments(request: SimRequest) -> object:
    rows = [_instrument(m) for m in request.markets]
    preopen = {
        **rows[0],
        "instId": PREOPEN_ID,
        "instFamily": "NEWCOIN-USDT",
        "uly": "NEWCOIN-USDT",
        "ctValCcy": "NEWCOIN",
        "state": "preopen",
    }
    return _envelope([*rows, preopen])


def open_interest(request: SimRequest) -> object:
    ts = str(request.now_ms)
    return _envelope(
        [
            {
                "instId": m.listing.venue_symbol,
                "instType": "SWAP",
                "oi": fmt(m.contracts, 2),
                "oiCcy": fmt(m.oi_base, 4),
                "oiUsd": fmt(m.oi_usd, 2),
                "ts": ts,
            }
            for m in request.markets
        ]
    )


def mark_price(request: SimRequest) -> object:
    ts = str(request.now_ms)
    return _envelope(
        [
            {"instType": "SWAP", "instId": symbol, "markPx": fmt(m.venue_price, 8), "ts": ts}
            for symbol, m in by_symbol(request.markets).items()
        ]
    )


SIM: Final = SimVenue(
    id="okx",
    listings=listings,
    routes=(
        SimRoute(path="/api/v5/public/instruments", respond=instruments),
        SimRoute(path="/api/v5/public/open-interest", respond=open_interest),
        SimRoute(path="/api/v5/public/mark-price", respond=mark_price),
    ),
    venue_share=0.5,
    market_count=250,
)
