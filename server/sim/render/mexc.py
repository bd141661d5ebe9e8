"""Simulated MEXC contract API: ``contract/detail``, ``contract/ticker`` and ``contract/funding_rate``
(all symbols), JSON numbers.

Formats follow tests/fixtures/mexc/ (doc examples; the 2025 ``futureType`` field included). Contract
sizes are MEXC's real ones where crypto-crawler's table has them (BTC_USDT 0.0001, DOGE_USDT 100,
SHIB_USDT 1000); cheap coins keep their plain names with a large ``contractSize``. ``holdVol`` is a
whole number of contracts. Decoys the adapter must skip: an offline contract (``state`` 3) and a
ticker row with no detail row. Funding: the ticker's ``fundingRate`` is the listing's rate per its own
interval; ``contract/funding_rate`` without a symbol lists every contract in the per-symbol doc
example's shape (``collectCycle`` hours: 8, a few 4 or 1; ``nextSettleTime`` ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import (
    SimRequest,
    SimRoute,
    SimVenue,
    real_assets,
    significant,
    sub_dollar_size,
    with_synthetic,
)
from server.venues.mexc import DETAIL_PATH, FUNDING_PATH, TICKER_PATH

CONTRACT_SIZES: Final = {
    "BTC": 0.0001,
    "ETH": 0.01,
    "SOL": 0.1,
    "XRP": 1.0,
    "DOGE": 100.0,
    "BNB": 0.01,
    "ADA": 1.0,
    "LINK": 0.1,
    "AVAX": 0.1,
    "LTC": 0.01,
    "PEPE": 10_000_000.0,
    "SHIB": 1000.0,
    "BONK": 100_000.0,
    "DOT": 0.1,
    "TRX": 10.0,
}
USDC_BOOKS: Final = ("BTC", "ETH")
INVERSE_FACE_USD: Final = {"BTC": 100.0, "ETH": 10.0, "SOL": 10.0}
OFFLINE_SYMBOL: Final = "OLDCOIN_USDT"
UNLISTED_TICKER: Final = "NEWCOIN_USDT"
DIGITS: Final = 8  # MEXC prints prices as JSON numbers of limited precision
MARKET_COUNT: Final = 750  # best estimate of MEXC's USDT/USDC/USD perpetuals (2025)
# MEXC sets collectCycle per contract: a few off the 8 h default.
FUNDING_INTERVALS_H: Final = {"DOGE_USDT": 4.0, "PEPE_USDT": 4.0, "BONK_USDT": 1.0, "ETH_USDC": 4.0}


def contract_size_for(asset: Asset) -> float:
    """MEXC's size where known, else a power of ten worth between 0.1 and 1 USD per contract."""
    return CONTRACT_SIZES.get(asset.symbol, sub_dollar_size(asset.price_usd))


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        size = contract_size_for(asset)
        usdc = asset.symbol in USDC_BOOKS
        result.append(
            Listing(
                venue_symbol=f"{asset.symbol}_USDT",
                asset=asset.symbol,
                contract_size=size,
                share=0.8 if usdc else 1.0,
                funding_interval_h=FUNDING_INTERVALS_H.get(f"{asset.symbol}_USDT", 8.0),
            )
        )
        if usdc:
            result.append(
                Listing(
                    venue_symbol=f"{asset.symbol}_USDC",
                    asset=asset.symbol,
                    contract_size=size,
                    settle="USDC",
                    share=0.1,
                    price_skew=0.0002,
                    funding_interval_h=FUNDING_INTERVALS_H.get(f"{asset.symbol}_USDC", 8.0),
                )
            )
        if asset.symbol in INVERSE_FACE_USD:
            result.append(
                Listing(
                    venue_symbol=f"{asset.symbol}_USD",
                    asset=asset.symbol,
                    kind=ContractKind.INVERSE,
                    contract_size=INVERSE_FACE_USD[asset.symbol],
                    settle=asset.symbol,
                    share=0.1,
                    price_skew=-0.0001,
                )
            )
    return with_synthetic(
        result,
        assets,
        MARKET_COUNT,
        lambda a: Listing(
            venue_symbol=f"{a.symbol}_USDT", asset=a.symbol, contract_size=contract_size_for(a)
        ),
    )


def _envelope(data: object) -> dict[str, object]:
    return {"success": True, "code": 0, "data": data}


def _detail(market: ListingState) -> dict[str, object]:
    listing = market.listing
    base, quote = listing.venue_symbol.split("_")
    return {
        "symbol": listing.venue_symbol,
        "displayName": f"{listing.venue_symbol}永续",
        "displayNameEn": f"{listing.venue_symbol} SWAP",
        "positionOpenType": 3,
        "baseCoin": base,
        "quoteCoin": quote,
        "settleCoin": listing.settle,
        "contractSize": listing.contract_size,
        "minLeverage": 1,
        "maxLeverage": 125,
        "priceScale": 2,
        "volScale": 0,
        "amountScale": 4,
        "state": 0,
        "futureType": 1,
        "isNew": False,
        "isHot": True,
        "isHidden": False,
        "apiAllowed": False,
    }


def detail(request: SimRequest) -> object:
    rows = [_detail(m) for m in request.markets]
    offline = {**rows[0], "symbol": OFFLINE_SYMBOL, "baseCoin": "OLDCOIN", "state": 3}
    offline.update(displayName=f"{OFFLINE_SYMBOL}永续", displayNameEn=f"{OFFLINE_SYMBOL} SWAP")
    return _envelope([*rows, offline])


def _ticker(market: ListingState, now_ms: int, symbol: str | None = None) -> dict[str, object]:
    price = market.venue_price
    return {
        "symbol": symbol or market.listing.venue_symbol,
        "lastPrice": significant(price * 1.0001, DIGITS),
        "bid1": significant(price * 0.9999, DIGITS),
        "ask1": significant(price * 1.0001, DIGITS),
        "volume24": round(market.contracts * 3),
        "holdVol": round(market.contracts),
        "indexPrice": significant(price * 0.9998, DIGITS),
        "fairPrice": significant(price, DIGITS),
        "fundingRate": significant(market.funding_rate, DIGITS),
        "timestamp": now_ms,
    }


def ticker(request: SimRequest) -> object:
    rows = [_ticker(m, request.now_ms) for m in request.markets]
    decoys = [
        _ticker(request.markets[0], request.now_ms, OFFLINE_SYMBOL),
        _ticker(request.markets[0], request.now_ms, UNLISTED_TICKER),
    ]
    return _envelope([*rows, *decoys])


def _funding(market: ListingState, now_ms: int) -> dict[str, object]:
    return {
        "symbol": market.listing.venue_symbol,
        "fundingRate": significant(market.funding_rate, DIGITS),
        "maxFundingRate": 0.003,
        "minFundingRate": -0.003,
        "collectCycle": round(market.listing.funding_interval_h),
        "nextSettleTime": market.next_funding_ms(now_ms),
        "timestamp": now_ms,
    }


def funding_rate(request: SimRequest) -> object:
    return _envelope([_funding(m, request.now_ms) for m in request.markets])


SIM: Final = SimVenue(
    id="mexc",
    listings=listings,
    routes=(
        SimRoute(path=DETAIL_PATH, respond=detail),
        SimRoute(path=TICKER_PATH, respond=ticker),
        SimRoute(path=FUNDING_PATH, respond=funding_rate),
    ),
    venue_share=0.4,
    market_count=MARKET_COUNT,
)
