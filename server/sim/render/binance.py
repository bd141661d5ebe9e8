"""Simulated Binance USD-M (fapi) and COIN-M (dapi): exchangeInfo, fundingInfo, premiumIndex,
openInterest.

Formats follow tests/fixtures/binance*/ (recorded samples and the fundingInfo doc example). Each
exchangeInfo also lists a dated quarterly and (fapi) a composite-index perpetual, which the adapter
must skip. Funding: premiumIndex ``lastFundingRate`` is the rate per the listing's own interval;
a few listings run 4 h or 1 h, and fundingInfo lists only the adjusted ones (those, plus one whose
cap alone was adjusted, at 8 h), as Binance does.
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
# Adjusted funding intervals (hours) by coin; every other listing settles every 8 h.
USDM_INTERVALS: Final = {"DOGE": 4.0, "PEPE": 4.0, "WIF": 1.0}
COINM_INTERVALS: Final = {"DOGE": 4.0}
# Listed in fundingInfo for an adjusted cap/floor only: the interval stays 8 h.
USDM_CAP_ONLY: Final = ("LINK",)
COINM_CAP_ONLY: Final = ("BTC",)
ADJUSTED_CAP: Final = "0.02000000"


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
                funding_interval_h=USDM_INTERVALS.get(asset.symbol, 8.0),
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
            funding_interval_h=COINM_INTERVALS.get(symbol, 8.0),
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


def _premium_row(market: ListingState, now_ms: int, coinm: bool) -> dict[str, object]:
    symbol = market.listing.venue_symbol
    price = market.venue_price
    row: dict[str, object] = {"symbol": symbol}
    if coinm:
        row["pair"] = symbol.removesuffix("_PERP")
    row.update(
        {
            "markPrice": fmt(price),
            "indexPrice": fmt(price * 0.9999),
            "estimatedSettlePrice": fmt(price * 0.9998),
            "lastFundingRate": f"{market.funding_rate:.8f}",  # Binance sends 8 decimals, zeros kept
            "interestRate": "0.00010000",
            "nextFundingTime": market.next_funding_ms(now_ms),
            "time": now_ms,
        }
    )
    return row


def funding_info(coinm: bool) -> Callable[[SimRequest], object]:
    """Only the adjusted symbols, as the doc example's shape (``fundingIntervalHours`` an integer)."""
    cap_only = COINM_CAP_ONLY if coinm else USDM_CAP_ONLY

    def respond(request: SimRequest) -> object:
        return [
            {
                "symbol": m.listing.venue_symbol,
                "adjustedFundingRateCap": ADJUSTED_CAP,
                "adjustedFundingRateFloor": f"-{ADJUSTED_CAP}",
                "fundingIntervalHours": int(m.listing.funding_interval_h),
                "disclaimer": False,
            }
            for m in request.markets
            if m.listing.funding_interval_h != 8.0 or m.listing.asset in cap_only
        ]

    return respond


def premium_index(coinm: bool) -> Callable[[SimRequest], object]:
    def respond(request: SimRequest) -> object:
        rows = [_premium_row(m, request.now_ms, coinm) for m in request.markets]
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
        SimRoute(path=f"{api}/fundingInfo", respond=funding_info(coinm)),
        SimRoute(path=f"{api}/premiumIndex", respond=premium_index(coinm)),
        SimRoute(path=f"{api}/openInterest", respond=open_interest(coinm)),
    )


USDM: Final = SimVenue(
    id="binance", listings=usdm_listings, routes=_routes(FAPI, False), venue_share=1.0, market_count=500
)
COINM: Final = SimVenue(
    id="binance_coinm", listings=coinm_listings, routes=_routes(DAPI, True), venue_share=1.0, market_count=35
)
