"""Simulated OKX v5: instruments, open-interest and mark-price for instType SWAP, and funding-rate.

Formats follow tests/fixtures/okx/ (funding-rate: the doc's response example). Contract values are
OKX's real ones for the core coins (BTC-USDT-SWAP 0.01 BTC, PEPE 10,000,000 PEPE, BTC-USD-SWAP
100 USD inverse). A ``preopen`` instrument is listed too, which the adapter must skip. Funding:
``fundingTime`` is the next settlement and ``nextFundingTime`` the one after, one interval apart;
a few swaps settle every 4, 2 or 1 h, as OKX moves volatile ones.
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
# Funding intervals (hours) of the adjusted USDT swaps; every other swap settles every 8 h.
FUNDING_INTERVALS: Final = {"DOGE": 4.0, "WIF": 2.0, "PEPE": 1.0}
FUNDING_LIMIT: Final = "0.00375"  # the doc example's max/minFundingRate
HOUR_MS: Final = 3_600_000


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        size = CONTRACT_VALUES.get(asset.symbol, 1.0)
        result.append(
            Listing(
                venue_symbol=f"{asset.symbol}-USDT-SWAP",
                asset=asset.symbol,
                contract_size=size,
                share=0.6,
                funding_interval_h=FUNDING_INTERVALS.get(asset.symbol, 8.0),
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


def _funding_row(market: ListingState, now_ms: int) -> dict[str, object]:
    """One row of the documented funding-rate response (keys in the doc example's order)."""
    settles_at = market.next_funding_ms(now_ms)
    rate = fmt(market.funding_rate, 16)
    return {
        "formulaType": "noRate",
        "fundingRate": rate,
        "fundingTime": str(settles_at),
        "impactValue": "",
        "instId": market.listing.venue_symbol,
        "instType": "SWAP",
        "interestRate": "",
        "maxFundingRate": FUNDING_LIMIT,
        "method": "current_period",
        "minFundingRate": f"-{FUNDING_LIMIT}",
        "nextFundingRate": "",
        "nextFundingTime": str(settles_at + int(market.listing.funding_interval_h * HOUR_MS)),
        "premium": rate,
        "settFundingRate": rate,
        "settState": "settled",
        "ts": str(now_ms),
    }


def funding_rate(request: SimRequest) -> object:
    """``instId=ANY``: every swap; one instId: its row; an unknown one: OKX's 51001 error body."""
    wanted = request.query.get("instId", "")
    markets = (
        request.markets
        if wanted == "ANY"
        else [m for m in request.markets if m.listing.venue_symbol == wanted]
    )
    if not markets:
        return {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    return _envelope([_funding_row(m, request.now_ms) for m in markets])


SIM: Final = SimVenue(
    id="okx",
    listings=listings,
    routes=(
        SimRoute(path="/api/v5/public/instruments", respond=instruments),
        SimRoute(path="/api/v5/public/open-interest", respond=open_interest),
        SimRoute(path="/api/v5/public/mark-price", respond=mark_price),
        SimRoute(path="/api/v5/public/funding-rate", respond=funding_rate),
    ),
    venue_share=0.5,
    market_count=250,
)
