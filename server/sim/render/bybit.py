"""Simulated Bybit v5: instruments-info (paged by ``limit``/``cursor``) and tickers, linear and inverse.

Formats follow tests/fixtures/bybit/ (the recorded doc examples). Tickers carry both the two-sided
``openInterest`` and the single-side ``singleOpenInterest`` (= half), as Bybit has since 2026-06.
A dated ``BTC-26JUN26`` LinearFutures market is listed too, which the adapter must skip.
Funding: tickers carry ``fundingRate`` (per the listing's interval), ``nextFundingTime`` and
``fundingIntervalHour`` (as the recorded inverse ticker does); instruments-info carries
``fundingInterval`` in minutes. A few linear listings settle every 4 h or 1 h.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, fmt, real_assets, with_synthetic

# Bybit's own names for bundled coins: SHIB's is a *suffix* (SHIB1000USDT, baseCoin SHIB1000).
BASE_COINS: Final = {"PEPE": "1000PEPE", "SHIB": "SHIB1000", "BONK": "1000BONK"}
USDC_PERPS: Final = ("BTC", "ETH", "SOL")
INVERSE_PERPS: Final = ("BTC", "ETH", "XRP")
DATED_SYMBOL: Final = "BTC-26JUN26"
DEFAULT_LIMIT: Final = 500
# Funding intervals (hours) of the adjusted USDT perpetuals; every other listing settles every 8 h.
FUNDING_INTERVALS: Final = {"DOGE": 4.0, "PEPE": 4.0, "WIF": 1.0}
MAX_LIMIT: Final = 1000


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        coin = BASE_COINS.get(asset.symbol, asset.symbol)
        factor = 1000.0 if asset.symbol in BASE_COINS else 1.0
        result.append(
            Listing(
                venue_symbol=f"{coin}USDT",
                asset=asset.symbol,
                venue_factor=factor,
                share=0.8,
                funding_interval_h=FUNDING_INTERVALS.get(asset.symbol, 8.0),
            )
        )
        if asset.symbol in USDC_PERPS:
            result.append(Listing(venue_symbol=f"{coin}PERP", asset=asset.symbol, settle="USDC", share=0.05))
        if asset.symbol in INVERSE_PERPS:
            result.append(
                Listing(
                    venue_symbol=f"{coin}USD",
                    asset=asset.symbol,
                    kind=ContractKind.INVERSE,
                    settle=asset.symbol,
                    share=0.15,
                    price_skew=0.0001,
                )
            )
    return with_synthetic(
        result, assets, 550, lambda a: Listing(venue_symbol=f"{a.symbol}USDT", asset=a.symbol, share=0.8)
    )


def _category(market: ListingState) -> str:
    return "inverse" if market.listing.kind is ContractKind.INVERSE else "linear"


def _base_coin(market: ListingState) -> str:
    symbol = market.listing.venue_symbol
    for suffix in ("USDT", "PERP", "USD"):
        if symbol.endswith(suffix):
            return symbol.removesuffix(suffix)
    return symbol


def _instrument(market: ListingState) -> dict[str, object]:
    inverse = market.listing.kind is ContractKind.INVERSE
    return {
        "symbol": market.listing.venue_symbol,
        "contractType": "InversePerpetual" if inverse else "LinearPerpetual",
        "status": "Trading",
        "baseCoin": _base_coin(market),
        "quoteCoin": "USD" if inverse else market.listing.settle,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": "2",
        "fundingInterval": int(market.listing.funding_interval_h * 60),  # minutes
        "settleCoin": market.listing.settle,
        "isPreListing": False,
        "preListingInfo": None,
        "symbolType": "",
    }


def _dated(btc: ListingState) -> dict[str, object]:
    return {
        **_instrument(btc),
        "symbol": DATED_SYMBOL,
        "contractType": "LinearFutures",
        "deliveryTime": "1782460800000",
        "settleCoin": "USDC",
        "quoteCoin": "USDC",
    }


def _envelope(result: dict[str, object], now_ms: int) -> dict[str, object]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms}


def _linear_btc(markets: Sequence[ListingState]) -> ListingState:
    return next(m for m in markets if m.listing.venue_symbol == "BTCUSDT")


def instruments_info(request: SimRequest) -> object:
    category = request.query.get("category", "")
    rows = [_instrument(m) for m in request.markets if _category(m) == category]
    if category == "linear":
        rows.append(_dated(_linear_btc(request.markets)))
    limit = min(int(request.query.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
    start = int(request.query.get("cursor") or 0)
    page = rows[start : start + limit]
    cursor = str(start + limit) if start + limit < len(rows) else ""
    return _envelope({"category": category, "list": page, "nextPageCursor": cursor}, request.now_ms)


def _ticker(market: ListingState, now_ms: int, symbol: str | None = None) -> dict[str, object]:
    inverse = market.listing.kind is ContractKind.INVERSE
    single = market.contracts  # linear: venue base units (size 1); inverse: USD (1 USD contracts)
    single_value = single / market.venue_price if inverse else single * market.venue_price
    return {
        "symbol": symbol or market.listing.venue_symbol,
        "lastPrice": fmt(market.venue_price * 1.0001, 6),
        "indexPrice": fmt(market.venue_price * 0.9999, 6),
        "markPrice": fmt(market.venue_price, 6),
        "openInterest": fmt(2 * single, 3),
        "openInterestValue": fmt(2 * single_value, 2),
        "singleOpenInterest": fmt(single, 3),
        "singleOpenInterestValue": fmt(single_value, 2),
        "fundingRate": fmt(market.funding_rate, 8),
        "nextFundingTime": str(market.next_funding_ms(now_ms)),
        "deliveryTime": "1782460800000" if symbol == DATED_SYMBOL else "0",
        "fundingIntervalHour": fmt(market.listing.funding_interval_h),
    }


def tickers(request: SimRequest) -> object:
    category = request.query.get("category", "")
    rows = [_ticker(m, request.now_ms) for m in request.markets if _category(m) == category]
    if category == "linear":
        rows.append(_ticker(_linear_btc(request.markets), request.now_ms, DATED_SYMBOL))
    return _envelope({"category": category, "list": rows}, request.now_ms)


SIM: Final = SimVenue(
    id="bybit",
    listings=listings,
    routes=(
        SimRoute(path="/v5/market/instruments-info", respond=instruments_info),
        SimRoute(path="/v5/market/tickers", respond=tickers),
    ),
    venue_share=0.6,
    market_count=550,
)
