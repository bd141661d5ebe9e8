"""Simulated KuCoin Futures: ``GET /api/v1/contracts/active``, every contract with its OI in lots.

Format follows tests/fixtures/kucoin/ (the official examples): ``{"code": "200000", "data": [...]}``,
``openInterest`` a string of whole lots, ``multiplier`` and ``markPrice`` JSON numbers (tiny prices
come out in exponent form, as KuCoin's do). Naming: XBT for bitcoin, ``<BASE><QUOTE>M`` symbols;
PEPE and SHIB per coin with large multipliers, BONK as ``1000BONKUSDTM`` (``baseCurrency`` "1000BONK":
unverified, see the adapter). Books: USDT linear for the core coins, USDC for XBT/ETH, inverse
(1 USD a lot, ``multiplier`` -1.0) for a few. Decoys the adapter must skip: a dated ``XBTMH26``
(``type`` FFICSX) and a pre-launch contract (``status`` Init).
Funding as KuCoin sends it: ``fundingFeeRate`` (the walked rate per the listing's interval),
``fundingRateGranularity`` (the interval in ms: 8 h, with a few USDT books on 4 h and 1 h, as KuCoin
runs some alts) and ``nextFundingRateTime`` (ms until the next settlement, as in the samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from server.core.model import ContractKind
from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, fmt, real_assets, significant, with_synthetic
from server.venues.kucoin import CONTRACTS_PATH, OPEN, PERPETUAL

BASE_NAMES: Final = {"BTC": "XBT", "BONK": "1000BONK"}
BUNDLES: Final = {"BONK": 1000.0}
# Base units per lot, KuCoin-like (XBTUSDTM 0.001 BTC, ETHUSDTM 0.01 ETH, PEPEUSDTM 1,000,000 PEPE).
LOT_MULTIPLIERS: Final = {
    "BTC": 0.001,
    "ETH": 0.01,
    "SOL": 0.1,
    "XRP": 10.0,
    "DOGE": 100.0,
    "BNB": 0.01,
    "HYPE": 0.1,
    "SUI": 1.0,
    "ADA": 10.0,
    "LINK": 0.1,
    "AVAX": 0.1,
    "LTC": 0.1,
    "PEPE": 1_000_000.0,
    "SHIB": 100_000.0,
    "BONK": 100.0,
    "WIF": 1.0,
    "DOT": 1.0,
    "TRX": 100.0,
    "ARB": 1.0,
    "OP": 1.0,
}
# USDT books that settle funding more often than every 8 h (illustrative choice of coins).
FUNDING_HOURS: Final = {"SOL": 4.0, "DOGE": 4.0, "PEPE": 1.0, "WIF": 1.0}
RATE_DIGITS: Final = 9  # fundingFeeRate as a JSON number with a few significant digits
USDC_BOOKS: Final = ("BTC", "ETH")
INVERSE_BOOKS: Final = ("BTC", "ETH", "SOL", "XRP", "DOT")
DIGITS: Final = 7  # KuCoin's JSON numbers carry few significant digits
MARKET_COUNT: Final = 500  # estimate: the reference page gives no count


def lot_multiplier(asset: Asset) -> float:
    """A lot worth a few USD: the real multiplier for core coins, else the power of ten below $10."""
    return LOT_MULTIPLIERS.get(asset.symbol, 10.0 ** math.floor(math.log10(10.0 / asset.price_usd)))


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in real_assets(assets):
        name = BASE_NAMES.get(asset.symbol, asset.symbol)
        size = lot_multiplier(asset)
        factor = BUNDLES.get(asset.symbol, 1.0)
        usdc = asset.symbol in USDC_BOOKS
        inverse = asset.symbol in INVERSE_BOOKS
        linear_share = 0.8 - 0.05 * usdc - 0.1 * inverse
        result.append(
            Listing(
                venue_symbol=f"{name}USDTM",
                asset=asset.symbol,
                contract_size=size,
                venue_factor=factor,
                share=linear_share,
                funding_interval_h=FUNDING_HOURS.get(asset.symbol, 8.0),
            )
        )
        if usdc:
            result.append(
                Listing(
                    venue_symbol=f"{name}USDCM",
                    asset=asset.symbol,
                    contract_size=size,
                    settle="USDC",
                    share=0.05,
                    price_skew=0.0002,
                )
            )
        if inverse:
            result.append(
                Listing(
                    venue_symbol=f"{name}USDM",
                    asset=asset.symbol,
                    kind=ContractKind.INVERSE,
                    settle=name,
                    share=0.1,
                    price_skew=-0.0001,
                )
            )
    return with_synthetic(
        result,
        assets,
        MARKET_COUNT,
        lambda a: Listing(
            venue_symbol=f"{a.symbol}USDTM", asset=a.symbol, contract_size=lot_multiplier(a), share=0.8
        ),
    )


def _contract(market: ListingState, now_ms: int) -> dict[str, object]:
    listing = market.listing
    inverse = listing.kind is ContractKind.INVERSE
    quote = "USD" if inverse else listing.settle
    base = listing.venue_symbol.removesuffix(f"{quote}M")
    price = significant(market.venue_price, DIGITS)
    interval_ms = round(listing.funding_interval_h * 3_600_000)
    rate = round(market.funding_rate, RATE_DIGITS)
    return {
        "symbol": listing.venue_symbol,
        "rootSymbol": base if inverse else quote,
        "type": PERPETUAL,
        "firstOpenDate": 1585555200000,
        "expireDate": None,
        "settleDate": None,
        "baseCurrency": base,
        "quoteCurrency": quote,
        "settleCurrency": listing.settle,
        "maxOrderQty": 1000000,
        "maxPrice": 1000000.0,
        "lotSize": 1,
        "tickSize": significant(price / 10_000, DIGITS),
        "multiplier": -1.0 if inverse else listing.contract_size,
        "isQuanto": not inverse,  # deprecated; KuCoin's own example has true on a linear contract
        "isInverse": inverse,
        "markMethod": "FairPrice",
        "fairMethod": "FundingRate",
        "indexSymbol": f".K{base}{quote}",
        "status": OPEN,
        "fundingFeeRate": rate,
        "predictedFundingFeeRate": round(rate * 1.1, RATE_DIGITS),
        "fundingRateGranularity": interval_ms,
        "openInterest": fmt(round(market.contracts), 0),
        "turnoverOf24h": significant(market.oi_usd * 1.7, DIGITS),
        "volumeOf24h": significant(market.oi_base / listing.venue_factor * 1.7, DIGITS),
        "markPrice": price,
        "indexPrice": significant(price * 1.0001, DIGITS),
        "lastTradePrice": significant(price * 0.9999, DIGITS),
        "nextFundingRateTime": market.next_funding_ms(now_ms) - now_ms,
        "maxLeverage": 75 if inverse else 125,
    }


def contracts_active(request: SimRequest) -> object:
    rows = [_contract(m, request.now_ms) for m in request.markets]
    xbt = next(row for row in rows if row["symbol"] == "XBTUSDTM")
    dated = {**xbt, "symbol": "XBTMH26", "type": "FFICSX", "expireDate": 1774598400000}
    prelaunch = {**xbt, "symbol": "NEWCOINUSDTM", "baseCurrency": "NEWCOIN", "status": "Init"}
    return {"code": "200000", "data": [*rows, dated, prelaunch]}


SIM: Final = SimVenue(
    id="kucoin",
    listings=listings,
    routes=(SimRoute(path=CONTRACTS_PATH, respond=contracts_active),),
    venue_share=0.25,
    market_count=MARKET_COUNT,
)
