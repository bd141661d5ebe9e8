"""Simulated Backpack Exchange: ``/api/v1/markets``, ``/api/v1/openInterest``, ``/api/v1/markPrices``.

Formats follow tests/fixtures/backpack/ (the recorded SOL_USDC_PERP market object, the ccxt-recorded
openInterest and markPrices elements); bulk answers are arrays of those elements. Bundled coins use
Backpack's k-prefix (kPEPE, kSHIB, kBONK = 1000 coins per unit). Decoys the adapter must skip: a spot
market (SOL_USDC), a closed perp and a tokenized-stock perp (NVDA.US_USDC_PERP), the last two with
open interest and a mark price.
Funding: ``fundingInterval`` (ms) on each market of /markets (1 h, as recorded, with a few markets on
8 h, the older setting), and on /markPrices the walked ``fundingRate`` per that interval (a decimal
string) with ``nextFundingTimestamp`` the listing's next settlement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, fmt, real_assets, with_synthetic
from server.venues.backpack import MARK_PRICES_PATH, MARKETS_PATH, OPEN_INTEREST_PATH

BUNDLED: Final = ("PEPE", "SHIB", "BONK")
NOT_LISTED: Final = ("TRX",)
CLOSED_SYMBOL: Final = "FTT_USDC_PERP"
STOCK_SYMBOL: Final = "NVDA.US_USDC_PERP"
FUNDING_HOURS: Final = 1.0  # the recorded market's fundingInterval: 3,600,000 ms
EIGHT_HOURLY: Final = ("DOGE", "LINK", "AVAX")  # a few markets on the older 8 h interval (illustrative)
RATE_DECIMALS: Final = 10


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result = [
        Listing(
            venue_symbol=f"k{a.symbol}_USDC_PERP" if a.symbol in BUNDLED else f"{a.symbol}_USDC_PERP",
            asset=a.symbol,
            venue_factor=1000.0 if a.symbol in BUNDLED else 1.0,
            settle="USDC",
            funding_interval_h=8.0 if a.symbol in EIGHT_HOURLY else FUNDING_HOURS,
        )
        for a in real_assets(assets)
        if a.symbol not in NOT_LISTED
    ]
    return with_synthetic(
        result,
        assets,
        80,
        lambda a: Listing(
            venue_symbol=f"{a.symbol}_USDC_PERP",
            asset=a.symbol,
            settle="USDC",
            funding_interval_h=FUNDING_HOURS,
        ),
    )


def _market(symbol: str, base: str, price: float, funding_hours: float = FUNDING_HOURS) -> dict[str, object]:
    tick = fmt(price / 10_000, 10)
    return {
        "baseSymbol": base,
        "createdAt": "2025-01-21T06:34:54.691858",
        "filters": {
            "price": {
                "borrowEntryFeeMaxMultiplier": None,
                "borrowEntryFeeMinMultiplier": None,
                "maxImpactMultiplier": "1.01",
                "maxMultiplier": "2",
                "maxPrice": fmt(price * 100, 8),
                "meanMarkPriceBand": {"maxMultiplier": "1.1", "minMultiplier": "0.9"},
                "meanPremiumBand": {"tolerancePct": "0.05"},
                "minImpactMultiplier": "0.99",
                "minMultiplier": "0.25",
                "minPrice": tick,
                "tickSize": tick,
            },
            "quantity": {"maxQuantity": None, "minQuantity": "0.00001", "stepSize": "0.00001"},
        },
        "fundingInterval": round(funding_hours * 3_600_000),
        "fundingRateLowerBound": "-100",
        "fundingRateUpperBound": "100",
        "imfFunction": {"base": "0.02", "factor": "0.00006", "type": "sqrt"},
        "marketType": "PERP",
        "mmfFunction": {"base": "0.0135", "factor": "0.000036", "type": "sqrt"},
        "openInterestLimit": "4000000",
        "orderBookState": "Open",
        "positionLimitWeight": "1",
        "quoteSymbol": "USDC",
        "symbol": symbol,
        "visible": True,
    }


def _base_symbol(listing: Listing) -> str:
    return listing.venue_symbol.split("_")[0]


def _decoy_prices(markets: Sequence[ListingState]) -> dict[str, float]:
    sol = next(m for m in markets if m.listing.asset == "SOL")
    return {CLOSED_SYMBOL: 0.8, STOCK_SYMBOL: 180.0, "SOL_USDC": sol.venue_price}


def markets(request: SimRequest) -> object:
    rows = [
        _market(m.listing.venue_symbol, _base_symbol(m.listing), m.venue_price, m.listing.funding_interval_h)
        for m in request.markets
    ]
    prices = _decoy_prices(request.markets)
    closed = {**_market(CLOSED_SYMBOL, "FTT", prices[CLOSED_SYMBOL]), "orderBookState": "Closed"}
    stock = _market(STOCK_SYMBOL, "NVDA.US", prices[STOCK_SYMBOL])
    # a spot row: the perp object with marketType SPOT (no spot object is recorded)
    spot = {**_market("SOL_USDC", "SOL", prices["SOL_USDC"]), "marketType": "SPOT"}
    return [spot, *rows, closed, stock]


def open_interest(request: SimRequest) -> object:
    rows: list[dict[str, object]] = [
        {"openInterest": fmt(m.venue_units, 5), "symbol": m.listing.venue_symbol, "timestamp": request.now_ms}
        for m in request.markets
    ]
    decoys = (CLOSED_SYMBOL, STOCK_SYMBOL)
    rows += [{"openInterest": "1234.5", "symbol": s, "timestamp": request.now_ms} for s in decoys]
    wanted = request.query.get("symbol")
    return [r for r in rows if r["symbol"] == wanted] if wanted else rows


def _mark(symbol: str, price: float, rate: float, next_funding_ms: int) -> dict[str, object]:
    return {
        "fundingRate": fmt(rate, RATE_DECIMALS),
        "indexPrice": fmt(price * 0.9999, 8),
        "markPrice": fmt(price, 8),
        "nextFundingTimestamp": next_funding_ms,
        "symbol": symbol,
    }


def mark_prices(request: SimRequest) -> object:
    next_hour = request.now_ms - request.now_ms % 3_600_000 + 3_600_000
    rows = [
        _mark(m.listing.venue_symbol, m.venue_price, m.funding_rate, m.next_funding_ms(request.now_ms))
        for m in request.markets
    ]
    decoys = _decoy_prices(request.markets).items()
    rows += [_mark(s, p, 0.0001, next_hour) for s, p in decoys if s != "SOL_USDC"]
    wanted = request.query.get("symbol")
    return [r for r in rows if r["symbol"] == wanted] if wanted else rows


SIM: Final = SimVenue(
    id="backpack",
    listings=listings,
    routes=(
        SimRoute(path=MARKETS_PATH, respond=markets),
        SimRoute(path=OPEN_INTEREST_PATH, respond=open_interest),
        SimRoute(path=MARK_PRICES_PATH, respond=mark_prices),
    ),
    venue_share=0.02,
    market_count=80,
)
