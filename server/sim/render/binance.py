"""Simulated Binance USD-M (fapi) and COIN-M (dapi): exchangeInfo, premiumIndex, openInterest.

Formats follow tests/fixtures/binance*/ (recorded samples). Each exchangeInfo also lists a dated
quarterly and (fapi) a composite-index perpetual, which the adapter must skip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import (
    SimHttpError,
    SimRequest,
    SimRoute,
    SimVenue,
    by_symbol,
    fmt,
    real_assets,
    with_synthetic,
)

FAPI: Final = "/fapi/v1"
DAPI: Final = "/dapi/v1"
BUNDLED: Final = {"PEPE": "1000PEPE", "SHIB": "1000SHIB", "BONK": "1000BONK"}
USDC_BOOKS: Final = ("BTC", "ETH", "SOL")
COINM_ASSETS: Final = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "LINK", "LTC", "DOT", "AVAX", "TRX")
WEIGHT_LIMIT: Final = 6000
DELIVERY_SENTINEL: Final = 4133404800000  # perpetuals' far-future deliveryDate
QUARTERLY_DELIVERY: Final = 1782460800000


def usdm_listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    listings: list[Listing] = []
    for asset in real_assets(assets):
        name = BUNDLED.get(asset.symbol, asset.symbol)
        factor = 1000.0 if asset.symbol in BUNDLED else 1.0
        usdc = asset.symbol in USDC_BOOKS
        listings.append(
            Listing(
                venue_symbol=f"{name}USDT",
                asset=asset.symbol,
                venue_factor=factor,
                share=0.85 if usdc else 1.0,
            )
        )
        if usdc:
            listings.append(
                Listing(
                    venue_symbol=f"{name}USDC",
                    asset=asset.symbol,
                    settle="USDC",
                    share=0.15,
                    price_skew=0.0002,
                )
            )
    return with_synthetic(
        listings, assets, 500, lambda a: Listing(venue_symbol=f"{a.symbol}USDT", asset=a.symbol)
    )


def coinm_listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    known = {a.symbol for a in assets}
    return tuple(
        Listing(
            venue_symbol=f"{symbol}USD_PERP",
            asset=symbol,
            kind=ContractKind.INVERSE,
            contract_size=100.0 if symbol == "BTC" else 10.0,
            settle=symbol,
            share=0.12,
            price_skew=-0.0001,
        )
        for symbol in COINM_ASSETS
        if symbol in known
    )


def _base_asset(market: ListingState) -> str:
    return market.listing.venue_symbol.removesuffix("USDC").removesuffix("USDT").removesuffix("USD_PERP")


def usdm_symbol_row(market: ListingState) -> dict[str, object]:
    listing = market.listing
    return {
        "symbol": listing.venue_symbol,
        "pair": listing.venue_symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": DELIVERY_SENTINEL,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "baseAsset": _base_asset(market),
        "quoteAsset": listing.settle,
        "marginAsset": listing.settle,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "underlyingType": "COIN",
        "underlyingSubType": [],
    }


def coinm_symbol_row(market: ListingState) -> dict[str, object]:
    listing = market.listing
    return {
        "symbol": listing.venue_symbol,
        "pair": listing.venue_symbol.removesuffix("_PERP"),
        "contractType": "PERPETUAL",
        "deliveryDate": DELIVERY_SENTINEL,
        "onboardDate": 1597042800000,
        "contractStatus": "TRADING",
        "contractSize": int(listing.contract_size),
        "marginAsset": listing.settle,
        "baseAsset": listing.asset,
        "quoteAsset": "USD",
        "pricePrecision": 1,
        "quantityPrecision": 0,
    }


def _decoys(markets: Sequence[ListingState], coinm: bool) -> list[dict[str, object]]:
    """A dated quarterly (both APIs) and a composite index perpetual (fapi): never counted."""
    btc = next(m for m in markets if m.listing.asset == "BTC")
    if coinm:
        row = coinm_symbol_row(btc)
        return [
            {
                **row,
                "symbol": "BTCUSD_260626",
                "contractType": "CURRENT_QUARTER",
                "deliveryDate": QUARTERLY_DELIVERY,
            }
        ]
    row = usdm_symbol_row(btc)
    return [
        {
            **row,
            "symbol": "BTCUSDT_260626",
            "contractType": "CURRENT_QUARTER",
            "deliveryDate": QUARTERLY_DELIVERY,
        },
        {
            **row,
            "symbol": "BTCDOMUSDT",
            "pair": "BTCDOMUSDT",
            "baseAsset": "BTCDOM",
            "underlyingType": "INDEX",
        },
    ]


def exchange_info(coinm: bool) -> Callable[[SimRequest], object]:
    def respond(request: SimRequest) -> object:
        rows = [coinm_symbol_row(m) if coinm else usdm_symbol_row(m) for m in request.markets]
        return {
            "timezone": "UTC",
            "serverTime": request.now_ms,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": WEIGHT_LIMIT,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "symbols": rows + _decoys(request.markets, coinm),
        }

    return respond


def _premium_row(symbol: str, price: float, now_ms: int, pair: str | None) -> dict[str, object]:
    row: dict[str, object] = {"symbol": symbol}
    if pair is not None:
        row["pair"] = pair
    row.update(
        {
            "markPrice": fmt(price),
            "indexPrice": fmt(price * 0.9999),
            "estimatedSettlePrice": fmt(price * 0.9998),
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": now_ms - now_ms % 28_800_000 + 28_800_000,
            "time": now_ms,
        }
    )
    return row


def premium_index(coinm: bool) -> Callable[[SimRequest], object]:
    def respond(request: SimRequest) -> object:
        rows = [
            _premium_row(
                m.listing.venue_symbol,
                m.venue_price,
                request.now_ms,
                m.listing.venue_symbol.removesuffix("_PERP") if coinm else None,
            )
            for m in request.markets
        ]
        wanted = request.query.get("symbol")
        if wanted is None:
            return rows
        for row in rows:
            if row["symbol"] == wanted:
                return row
        raise SimHttpError(400, {"code": -1121, "msg": "Invalid symbol."})

    return respond


def open_interest(coinm: bool) -> Callable[[SimRequest], object]:
    def respond(request: SimRequest) -> object:
        symbol = request.query.get("symbol", "")
        market = by_symbol(request.markets).get(symbol)
        if market is None:
            raise SimHttpError(400, {"code": -1121, "msg": "Invalid symbol."})
        if coinm:
            return {
                "symbol": symbol,
                "pair": symbol.removesuffix("_PERP"),
                "openInterest": fmt(round(market.contracts), 0),
                "contractType": "PERPETUAL",
                "time": request.now_ms,
            }
        return {"openInterest": fmt(market.contracts, 3), "symbol": symbol, "time": request.now_ms}

    return respond


def _routes(api: str, coinm: bool) -> tuple[SimRoute, ...]:
    return (
        SimRoute(path=f"{api}/exchangeInfo", respond=exchange_info(coinm)),
        SimRoute(path=f"{api}/premiumIndex", respond=premium_index(coinm)),
        SimRoute(path=f"{api}/openInterest", respond=open_interest(coinm)),
    )


USDM: Final = SimVenue(
    id="binance", listings=usdm_listings, routes=_routes(FAPI, False), venue_share=1.0, market_count=500
)
COINM: Final = SimVenue(
    id="binance_coinm", listings=coinm_listings, routes=_routes(DAPI, True), venue_share=1.0, market_count=35
)
