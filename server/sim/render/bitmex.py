"""Simulated BitMEX: ``GET /api/v1/instrument/active``, a bare JSON array of instrument records.

Format follows tests/fixtures/bitmex/ (recorded XBTUSD, JTOUSDT records): JSON numbers, whole
contracts, ``openValue`` in settle minor units (``XBt`` satoshis, ``USDt`` micro-USDT). Books:
XBTUSD inverse (1 USD a contract); linear USDT books with ``underlyingToPositionMultiplier`` a power
of ten (1,000,000 for XBTUSDT, 100,000 for ETHUSDT, 100 for XRPUSDT, as the reference page lists);
quanto ETHUSD/SOLUSD/XRPUSD/DOGEUSD settled in XBt (``multiplier`` XBt per USD of price). PEPE, SHIB
and BONK are left out: BitMEX's naming of them is unrecorded. Decoys the adapter must skip: a dated
``XBTZ26`` (FFCCSX), a spot pair (IFXXXP) and the ``.BXBT`` index.
Funding as BitMEX sends it: ``fundingRate`` (the walked rate per the listing's interval),
``fundingInterval`` as a timestamp that far past 2000-01-01T00:00Z ("2000-01-01T08:00:00.000Z" = 8 h;
a few linear books on 4 h, illustrative) and ``fundingTimestamp`` the next settlement (ISO).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import (
    SimRequest,
    SimRoute,
    SimVenue,
    by_symbol,
    real_assets,
    significant,
    with_synthetic,
)
from server.venues.bitmex import (
    FUNDING_EPOCH,
    INSTRUMENTS_PATH,
    OPEN,
    PERPETUAL,
    SETTLE_SCALE,
    XBT_PRICE_SYMBOL,
)

SATOSHI: Final = SETTLE_SCALE["XBt"]
MICRO_USDT: Final = SETTLE_SCALE["USDt"]
QUANTO_MULTIPLIERS: Final = {"ETH": 100, "SOL": 1_000, "XRP": 20_000, "DOGE": 100_000}  # XBt per USD
UNLISTED: Final = ("PEPE", "SHIB", "BONK")
MARKET_COUNT: Final = 110  # estimate: the reference page gives no count
DIGITS: Final = 7  # significant digits of BitMEX's JSON numbers
TIMESTAMP: Final = "2024-03-02T02:44:11.507Z"
FOUR_HOURLY: Final = ("SOL", "DOGE")  # linear books settling every 4 h (illustrative)
RATE_DIGITS: Final = 10


def _iso(moment: datetime) -> str:
    """BitMEX's timestamp form: milliseconds and a Z ("2024-03-02T04:00:00.000Z")."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def positions_per_coin(price: float) -> int:
    """Contracts per underlying: the power of ten that makes a contract worth at most ~0.1 USD."""
    return int(10 ** max(0, math.ceil(math.log10(price / 0.1))))


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        if asset.symbol in UNLISTED:
            continue
        name = "XBT" if asset.symbol == "BTC" else asset.symbol
        linear_share = 0.3 if asset.symbol == "BTC" or asset.symbol in QUANTO_MULTIPLIERS else 1.0
        per_coin = positions_per_coin(asset.price_usd)
        result.append(
            Listing(
                venue_symbol=f"{name}USDT",
                asset=asset.symbol,
                contract_size=1 / per_coin,
                share=linear_share,
                funding_interval_h=4.0 if asset.symbol in FOUR_HOURLY else 8.0,
            )
        )
        if asset.symbol == "BTC":
            result.append(
                Listing(
                    venue_symbol="XBTUSD", asset="BTC", kind=ContractKind.INVERSE, settle="XBT", share=0.7
                )
            )
        if asset.symbol in QUANTO_MULTIPLIERS:
            result.append(
                Listing(
                    venue_symbol=f"{name}USD",
                    asset=asset.symbol,
                    kind=ContractKind.QUANTO,
                    contract_size=QUANTO_MULTIPLIERS[asset.symbol] / SATOSHI,  # XBT per USD of price
                    settle="XBT",
                    share=0.7,
                    price_skew=0.0001,
                )
            )
    return with_synthetic(
        result,
        assets,
        MARKET_COUNT,
        lambda a: Listing(
            venue_symbol=f"{a.symbol}USDT", asset=a.symbol, contract_size=1 / positions_per_coin(a.price_usd)
        ),
    )


def _instrument(market: ListingState, xbt_usd: float, now_ms: int) -> dict[str, object]:
    listing = market.listing
    underlying = listing.venue_symbol.removesuffix("USDT").removesuffix("USD")
    price = significant(market.venue_price, DIGITS)
    row: dict[str, object] = {
        "symbol": listing.venue_symbol,
        "rootSymbol": underlying,
        "state": OPEN,
        "typ": PERPETUAL,
        "listing": "2023-12-08T04:00:00.000Z",
        "front": "2023-12-08T04:00:00.000Z",
        "positionCurrency": underlying if listing.kind is ContractKind.LINEAR else "USD",
        "underlying": underlying,
        "quoteCurrency": "USDT" if listing.kind is ContractKind.LINEAR else "USD",
        "underlyingSymbol": f"{underlying}=",
        "reference": "BMEX",
        "referenceSymbol": f".B{underlying}",
        "maxOrderQty": 10000000,
        "lotSize": 1,
        "tickSize": significant(price / 10_000, DIGITS),
    }
    if listing.kind is ContractKind.INVERSE:  # 1 USD a contract, settled in XBt
        contracts = round(market.contracts)
        open_value = contracts / price * SATOSHI
        row |= {"multiplier": -100000000, "settlCurrency": "XBt", "underlyingToSettleMultiplier": -100000000}
        row |= {"isQuanto": False, "isInverse": True}
    elif listing.kind is ContractKind.QUANTO:  # multiplier XBt per USD of price, settled in XBt
        xbt_per_usd = listing.contract_size
        contracts = round(market.oi_usd / (xbt_per_usd * price * xbt_usd))
        multiplier = round(xbt_per_usd * SATOSHI)
        open_value = contracts * multiplier * price
        row |= {"multiplier": multiplier, "settlCurrency": "XBt", "underlyingToSettleMultiplier": None}
        row |= {"quoteToSettleMultiplier": None, "isQuanto": True, "isInverse": False}
    else:  # linear: 1 / underlyingToPositionMultiplier coins a contract, settled in USDt
        per_coin = round(1 / listing.contract_size)
        contracts = round(market.contracts)
        multiplier = round(MICRO_USDT / per_coin)  # USDt per contract per USD of price
        open_value = contracts * multiplier * price
        row |= {"multiplier": multiplier, "settlCurrency": "USDt"}
        row |= {"underlyingToPositionMultiplier": per_coin, "quoteToSettleMultiplier": 1000000}
        row |= {"isQuanto": False, "isInverse": False}
    interval = timedelta(hours=listing.funding_interval_h)
    next_funding = datetime.fromtimestamp(market.next_funding_ms(now_ms) / 1000, UTC)
    return row | {
        "fundingTimestamp": _iso(next_funding),
        "fundingInterval": _iso(FUNDING_EPOCH + interval),
        "fundingRate": round(market.funding_rate, RATE_DIGITS),
        "indicativeFundingRate": round(market.funding_rate * 0.9, RATE_DIGITS),
        "lastPrice": significant(price * 1.0001, DIGITS),
        "hasLiquidity": True,
        "openInterest": contracts,
        "openValue": round(open_value),
        "fairMethod": "FundingRate",
        "fairPrice": price,
        "markMethod": "FairPrice",
        "markPrice": price,
        "timestamp": TIMESTAMP,
    }


def instrument_active(request: SimRequest) -> object:
    markets = by_symbol(request.markets)
    xbt_usd = significant(markets[XBT_PRICE_SYMBOL].venue_price, DIGITS)
    rows = [_instrument(m, xbt_usd, request.now_ms) for m in request.markets]
    xbt = _instrument(markets[XBT_PRICE_SYMBOL], xbt_usd, request.now_ms)
    decoys = [
        {**xbt, "symbol": "XBTZ26", "typ": "FFCCSX", "markPrice": significant(xbt_usd * 1.01, DIGITS)},
        {**xbt, "symbol": "XBT_USDT", "typ": "IFXXXP", "openInterest": 0, "openValue": 0},
        {**xbt, "symbol": ".BXBT", "typ": "MRCXXX", "openInterest": None, "openValue": None},
    ]
    return [*rows, *decoys]


SIM: Final = SimVenue(
    id="bitmex",
    listings=listings,
    routes=(SimRoute(path=INSTRUMENTS_PATH, respond=instrument_active),),
    venue_share=0.05,
    market_count=MARKET_COUNT,
)
