"""Simulated Bitget v2 mix API: contracts and tickers per productType (USDT-, USDC-, COIN-FUTURES).

Formats follow tests/fixtures/bitget/ (doc examples and a live ticker row). ``holdingAmount`` is base
coin in every product type, one side. USDC books are named ``<COIN>PERP``, coin-margined ones
``<COIN>USD``. Decoys the adapter must skip: a coin-margined delivery (``BTCUSD_260626``), a pre-launch
(``listed``) and an offline (``off``) USDT contract, and an RWA (``isRwa`` YES) one, all with positions.
Funding: tickers ``fundingRate`` is the listing's rate per its own interval, contracts ``fundInterval``
that interval in hours ("8"; a few books 4 h or 1 h, as Bitget sets per symbol).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimHttpError, SimRequest, SimRoute, SimVenue, fmt, real_assets, with_synthetic
from server.venues.bitget import API, PRODUCT_TYPES

USDC_BOOKS: Final = ("BTC", "ETH", "SOL", "XRP")
COIN_BOOKS: Final = ("BTC", "ETH", "XRP", "SOL", "LTC", "ADA", "DOGE")
DELIVERY_SYMBOL: Final = "BTCUSD_260626"
DELIVERY_TIME: Final = "1782460800000"
# Bitget sets the funding interval per symbol (1, 2, 4 or 8 h): a few books off the 8 h default.
FUNDING_INTERVALS_H: Final = {"DOGEUSDT": 4.0, "SOLUSDT": 4.0, "XRPPERP": 1.0, "ETHUSD": 2.0}
# (symbol, baseCoin, field overrides): contracts the adapter must not count; tickers carry positions.
DECOYS: Final = (
    ("NEWCOINUSDT", "NEWCOIN", {"symbolStatus": "listed"}),
    ("OLDCOINUSDT", "OLDCOIN", {"symbolStatus": "off"}),
    ("AAPLUSDT", "AAPL", {"isRwa": "YES"}),
)


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        coin = asset.symbol
        result.append(
            Listing(
                venue_symbol=f"{coin}USDT", asset=coin, share=0.85, funding_interval_h=interval(f"{coin}USDT")
            )
        )
        if coin in USDC_BOOKS:
            result.append(
                Listing(
                    venue_symbol=f"{coin}PERP",
                    asset=coin,
                    settle="USDC",
                    share=0.05,
                    funding_interval_h=interval(f"{coin}PERP"),
                )
            )
        if coin in COIN_BOOKS:
            result.append(
                Listing(
                    venue_symbol=f"{coin}USD",
                    asset=coin,
                    kind=ContractKind.INVERSE,
                    settle=coin,
                    share=0.1,
                    price_skew=0.0001,
                    funding_interval_h=interval(f"{coin}USD"),
                )
            )
    return with_synthetic(
        result, assets, 540, lambda a: Listing(venue_symbol=f"{a.symbol}USDT", asset=a.symbol, share=0.85)
    )


def interval(symbol: str) -> float:
    """The listing's funding interval in hours: 8 unless the book is one of the adjusted ones."""
    return FUNDING_INTERVALS_H.get(symbol, 8.0)


def product_type(market: ListingState) -> str:
    if market.listing.kind is ContractKind.INVERSE:
        return "COIN-FUTURES"
    return "USDC-FUTURES" if market.listing.settle == "USDC" else "USDT-FUTURES"


def _wanted(request: SimRequest) -> str:
    wanted = request.query.get("productType", "").upper()
    if wanted not in PRODUCT_TYPES:
        raise SimHttpError(400, {"code": "40034", "msg": "Parameter productType error", "data": None})
    return wanted


def _envelope(rows: list[dict[str, object]], now_ms: int) -> dict[str, object]:
    return {"code": "00000", "msg": "success", "requestTime": now_ms, "data": rows}


def _contract(symbol: str, coin: str, quote: str, margin: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "symbol": symbol,
        "baseCoin": coin,
        "quoteCoin": quote,
        "buyLimitPriceRatio": "0.05",
        "sellLimitPriceRatio": "0.05",
        "feeRateUpRatio": "0.005",
        "makerFeeRate": "0.0002",
        "takerFeeRate": "0.0006",
        "openCostUpRatio": "0.01",
        "supportMarginCoins": [margin],
        "minTradeNum": "0.001",
        "priceEndStep": "1",
        "volumePlace": "3",
        "pricePlace": "1",
        "sizeMultiplier": "0.001",
        "symbolType": "perpetual",
        "minTradeUSDT": "5",
        "maxSymbolOrderNum": "200",
        "maxProductOrderNum": "400",
        "maxPositionNum": "150",
        "symbolStatus": "normal",
        "offTime": "-1",
        "limitOpenTime": "-1",
        "deliveryTime": "",
        "deliveryStartTime": "",
        "launchTime": "",
        "fundInterval": "8",
        "minLever": "1",
        "maxLever": "125",
        "posLimit": "0.05",
        "maintainTime": "",
        "isRwa": "NO",
    }
    row.update(overrides)
    return row


def _listed_contract(market: ListingState) -> dict[str, object]:
    listing = market.listing
    inverse = listing.kind is ContractKind.INVERSE
    quote = "USD" if inverse else listing.settle
    return _contract(
        listing.venue_symbol,
        listing.asset,
        quote,
        listing.settle,
        fundInterval=fmt(listing.funding_interval_h, 2),
    )


def contracts(request: SimRequest) -> object:
    wanted = _wanted(request)
    rows = [_listed_contract(m) for m in request.markets if product_type(m) == wanted]
    if wanted == "COIN-FUTURES":
        rows.append(
            _contract(DELIVERY_SYMBOL, "BTC", "USD", "BTC", symbolType="delivery", deliveryTime=DELIVERY_TIME)
        )
    if wanted == "USDT-FUTURES":
        rows += [_contract(symbol, coin, "USDT", "USDT", **extra) for symbol, coin, extra in DECOYS]
    return _envelope(rows, request.now_ms)


def _ticker(
    symbol: str, price: float, holding: float, now_ms: int, delivery: str | None, *, funding: float = 0.0001
) -> dict[str, object]:
    return {
        "symbol": symbol,
        "lastPr": fmt(price * 1.0001, 12),
        "askPr": fmt(price * 1.0002, 12),
        "bidPr": fmt(price * 1.0001, 12),
        "bidSz": "0.703",
        "askSz": "13.894",
        "high24h": fmt(price * 1.02, 12),
        "low24h": fmt(price * 0.98, 12),
        "ts": str(now_ms),
        "change24h": "0.00471",
        "baseVolume": fmt(holding * 10, 4),
        "quoteVolume": fmt(holding * 10 * price, 4),
        "usdtVolume": fmt(holding * 10 * price, 4),
        "openUtc": fmt(price, 12),
        "changeUtc24h": "-0.00009",
        "indexPrice": fmt(price * 0.9999, 12),
        "fundingRate": fmt(funding, 8),  # per the contract's fundInterval
        "holdingAmount": fmt(holding, 4),  # base coin, one side, in every product type
        "deliveryStartTime": None if delivery is None else "1766620800000",
        "deliveryTime": delivery,
        "deliveryStatus": "",
        "open24h": fmt(price, 12),
        "markPrice": fmt(price, 12),
    }


def _btc(markets: Sequence[ListingState]) -> ListingState:
    return next(m for m in markets if m.listing.venue_symbol == "BTCUSDT")


def tickers(request: SimRequest) -> object:
    wanted = _wanted(request)
    now = request.now_ms
    rows = [
        _ticker(m.listing.venue_symbol, m.venue_price, m.venue_units, now, None, funding=m.funding_rate)
        for m in request.markets
        if product_type(m) == wanted
    ]
    btc = _btc(request.markets)
    if wanted == "COIN-FUTURES":
        rows.append(_ticker(DELIVERY_SYMBOL, btc.venue_price, btc.venue_units * 0.05, now, DELIVERY_TIME))
    if wanted == "USDT-FUTURES":
        rows += [_ticker(symbol, 1.5, 1000.0, now, None) for symbol, _, _ in DECOYS]
    return _envelope(rows, now)


SIM: Final = SimVenue(
    id="bitget",
    listings=listings,
    routes=(
        SimRoute(path=f"{API}/contracts", respond=contracts),
        SimRoute(path=f"{API}/tickers", respond=tickers),
    ),
    venue_share=0.45,
    market_count=540,
)
