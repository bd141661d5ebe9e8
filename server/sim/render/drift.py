"""Simulated Drift Data API: ``GET /stats/markets`` (spot and perp markets in one list).

Format follows tests/fixtures/drift/ (the recorded BTC-PERP row). Open interest is written as Drift
sends it: ``long`` ≥ 0 and ``short`` ≤ 0 in base units, the vAMM absorbing the users' imbalance, so
the larger side is the market's one-sided OI and the other side is a few percent smaller (which side
is larger alternates). PEPE and BONK trade as ``1MPEPE`` / ``1MBONK`` (units of a million coins,
priced per unit). Decoys the adapter must skip: a spot market, a ``-BET`` prediction market, a
delisted and a pre-launch (initialized) perp.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, fmt, with_synthetic
from server.venues.drift import MARKETS_PATH, PERP_SUFFIX

DRIFT_ASSETS: Final = (
    *("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "HYPE", "SUI", "LINK", "AVAX", "LTC"),
    *("PEPE", "BONK", "WIF", "ARB", "OP", "ADA", "DOT"),
)
MILLION_BUNDLES: Final = ("PEPE", "BONK")  # 1MPEPE-PERP, 1MBONK-PERP
MARKET_COUNT: Final = 73  # perps on Drift, Feb 2026 (reference page: ≈73 of ≈136 markets)


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in assets:
        if asset.symbol not in DRIFT_ASSETS:
            continue
        bundled = asset.symbol in MILLION_BUNDLES
        name = f"1M{asset.symbol}" if bundled else asset.symbol
        result.append(
            Listing(
                venue_symbol=f"{name}{PERP_SUFFIX}",
                asset=asset.symbol,
                venue_factor=1_000_000.0 if bundled else 1.0,
                settle="USDC",
            )
        )
    return with_synthetic(
        result,
        assets,
        MARKET_COUNT,
        lambda a: Listing(venue_symbol=f"{a.symbol}{PERP_SUFFIX}", asset=a.symbol, settle="USDC"),
    )


def _row(market: ListingState, index: int, now_ms: int) -> dict[str, object]:
    symbol = market.listing.venue_symbol
    price = market.venue_price
    one_side = market.contracts  # venue base units
    other_side = one_side * (0.97 - 0.02 * (index % 4))
    long, short = (one_side, other_side) if index % 2 else (other_side, one_side)
    return {
        "symbol": symbol,
        "marketIndex": index,
        "marketType": "perp",
        "baseAsset": symbol.removesuffix(PERP_SUFFIX),
        "quoteAsset": "USDC",
        "status": "active",
        "precision": 9,
        "limits": {"leverage": {"min": 1, "max": 20}, "amount": {"min": 0.0001, "max": 3500}},
        "fees": {"maker": -0.00002, "taker": 0.00035},
        "oraclePrice": fmt(price, 6),
        "markPrice": fmt(price * 0.9994, 6),
        "baseVolume": fmt(one_side * 0.9, 6),
        "quoteVolume": fmt(one_side * 0.9 * price, 6),
        "openInterest": {"long": fmt(long, 4), "short": fmt(-short, 4)},
        "fundingRate": {"long": "0.00093", "short": "-0.00093"},
        "fundingRate24h": "-0.000569",
        "fundingRateUpdateTs": now_ms // 1000,
        "price": fmt(price * 0.998, 6),
        "priceChange24h": fmt(-price * 0.0107, 6),
        "priceChange24hPercent": "-1.07",
        "priceHigh": {"oracle": fmt(price * 1.037, 6), "fill": fmt(price * 1.037, 6)},
        "priceLow": {"oracle": fmt(price * 0.996, 6), "fill": fmt(price * 0.996, 6)},
    }


def _decoys(template: dict[str, object]) -> list[dict[str, object]]:
    return [
        {**template, "symbol": "SOL", "marketIndex": 1, "marketType": "spot", "baseAsset": "SOL"},
        {**template, "symbol": "TRUMP-WIN-2024-BET", "marketIndex": 36, "baseAsset": "TRUMP-WIN-2024-BET"},
        {**template, "symbol": "RLB-PERP", "marketIndex": 17, "baseAsset": "RLB", "status": "delisted"},
        {**template, "symbol": "ZEX-PERP", "marketIndex": 33, "baseAsset": "ZEX", "status": "initialized"},
    ]


def stats_markets(request: SimRequest) -> object:
    rows = [_row(m, i, request.now_ms) for i, m in enumerate(request.markets)]
    return {"success": True, "markets": rows + _decoys(rows[0])}


SIM: Final = SimVenue(
    id="drift",
    listings=listings,
    routes=(SimRoute(path=MARKETS_PATH, respond=stats_markets),),
    venue_share=0.005,
    market_count=MARKET_COUNT,
)
