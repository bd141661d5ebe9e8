"""Simulated dYdX v4 Indexer: ``GET /v4/perpetualMarkets``, every market in one object keyed by ticker.

Format follows tests/fixtures/dydx/perpetualMarkets.json (a real indexer body): ``<BASE>-USD``
tickers (no 1000-prefixes: PEPE-USD quotes one PEPE), ``openInterest`` one-sided in base coins,
``oraclePrice`` in USD, the five integer fields as JSON numbers. Synthetic coins are ``ISOLATED``
(permissionless) markets, counted like the rest. Decoys the adapter must skip: a FINAL_SETTLEMENT
market that still shows open interest and an INITIALIZING (pre-launch) one.
``nextFundingRate`` is the listing's hourly rate (every listing has dYdX's fixed 1 h interval),
written with 20 decimals like the recorded "0.00000254545454545455"; ``defaultFundingRate1H`` "0"
as recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, fmt, real_assets, with_synthetic
from server.venues.dydx import FUNDING_INTERVAL_H, MARKETS_PATH

DECOYS: Final = (("MATIC-USD", "FINAL_SETTLEMENT", 0.38, 125000.0), ("NEWCOIN-USD", "INITIALIZING", 1.0, 0.0))
FUNDING_DECIMALS: Final = 20
DECOY_FUNDING: Final = 0.00000125


def _listing(symbol: str) -> Listing:
    return Listing(
        venue_symbol=f"{symbol}-USD", asset=symbol, settle="USDC", funding_interval_h=FUNDING_INTERVAL_H
    )


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result = [_listing(a.symbol) for a in real_assets(assets)]
    return with_synthetic(result, assets, 230, lambda a: _listing(a.symbol))


def _size_decimals(price: float) -> int:
    """Decimals of ``stepSize``: 4 for BTC (0.0001), 1 for SOL (0.1), 0 for sub-dollar coins."""
    return max(0, min(4, round(math.log10(price)) - 1))


def _row(
    index: int,
    ticker: str,
    status: str,
    price: float,
    open_interest: float,
    *,
    funding: float = DECOY_FUNDING,
) -> dict[str, object]:
    decimals = _size_decimals(price)
    price_decimals = max(0, 6 - math.floor(math.log10(price)))
    return {
        "clobPairId": str(index),
        "ticker": ticker,
        "status": status,
        "oraclePrice": fmt(price, price_decimals),
        "priceChange24H": fmt(price * 0.01, price_decimals),
        "volume24H": "1000000",
        "trades24H": 1000,
        "nextFundingRate": fmt(funding, FUNDING_DECIMALS),
        "initialMarginFraction": "0.05",
        "maintenanceMarginFraction": "0.03",
        "openInterest": fmt(open_interest, decimals),
        "atomicResolution": -6 - decimals,
        "quantumConversionExponent": -9,
        "tickSize": fmt(10.0 ** (-price_decimals + 2), 12),
        "stepSize": fmt(10.0**-decimals, 4),
        "stepBaseQuantums": 1000000,
        "subticksPerTick": 100000,
        "marketType": "ISOLATED" if ticker.startswith("SIM") else "CROSS",
        "openInterestLowerCap": "0",
        "openInterestUpperCap": "0",
        "baseOpenInterest": fmt(open_interest * 1.5, decimals),
        "defaultFundingRate1H": "0",
    }


def _market(index: int, state: ListingState) -> dict[str, object]:
    symbol, price = state.listing.venue_symbol, state.venue_price
    return _row(index, symbol, "ACTIVE", price, state.venue_units, funding=state.funding_rate)


def perpetual_markets(request: SimRequest) -> object:
    rows = [_market(i, m) for i, m in enumerate(request.markets)]
    rows += [_row(len(rows) + i, *decoy) for i, decoy in enumerate(DECOYS)]
    return {"markets": {str(row["ticker"]): row for row in rows}}


SIM: Final = SimVenue(
    id="dydx",
    listings=listings,
    routes=(SimRoute(path=MARKETS_PATH, respond=perpetual_markets),),
    venue_share=0.01,
    market_count=230,
)
