"""Simulated Drift Data API: ``GET /stats/markets`` (spot and perp markets in one list).

Format follows tests/fixtures/drift/ (the recorded BTC-PERP row). Open interest is written as Drift
sends it: ``long`` ≥ 0 and ``short`` ≤ 0 in base units, the vAMM absorbing the users' imbalance, so
the larger side is the market's one-sided OI and the other side is a few percent smaller (which side
is larger alternates). PEPE and BONK trade as ``1MPEPE`` / ``1MBONK`` (units of a million coins,
priced per unit). Decoys the adapter must skip: a spot market, a ``-BET`` prediction market, a
delisted and a pre-launch (initialized) perp.
Funding is written as the Data API's backend writes it (the SDK's formatted hourly rates, see
server/venues/drift.py): ``fundingRate.long`` / ``.short`` in percent per hour, each side's rate as
RECEIVED (negative = that side pays). Every listing has Drift's fixed 1 h interval. Where longs
pay a larger short side, the vAMM caps what the shorts receive (here 0.9 × the longs' rate), as the
SDK's capped estimate does; the longs' side is never capped here, so it stays the listing's rate.
``fundingRateUpdateTs`` is the last hourly update, a few seconds after the hour (unix seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, fmt, with_synthetic
from server.venues.drift import FUNDING_INTERVAL_H, MARKETS_PATH, PERCENT, PERP_SUFFIX

DRIFT_ASSETS: Final = (
    *("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "HYPE", "SUI", "LINK", "AVAX", "LTC"),
    *("PEPE", "BONK", "WIF", "ARB", "OP", "ADA", "DOT"),
)
MILLION_BUNDLES: Final = ("PEPE", "BONK")  # 1MPEPE-PERP, 1MBONK-PERP
MARKET_COUNT: Final = 73  # perps on Drift, Feb 2026 (reference page: ≈73 of ≈136 markets)
CAPPED_SHARE: Final = 0.9  # what a larger receiving side gets of the paying side's rate
FUNDING_DECIMALS: Final = 12
UPDATE_DELAY_S: Final = 10  # the keeper's crank lands a few seconds after the hour


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
                funding_interval_h=FUNDING_INTERVAL_H,
            )
        )
    return with_synthetic(
        result,
        assets,
        MARKET_COUNT,
        lambda a: Listing(
            venue_symbol=f"{a.symbol}{PERP_SUFFIX}",
            asset=a.symbol,
            settle="USDC",
            funding_interval_h=FUNDING_INTERVAL_H,
        ),
    )


def received_rates(rate: float, long: float, short: float) -> tuple[float, float]:
    """(longs', shorts') rates as received, in percent, from ``rate`` (the fraction longs pay) and
    the sides' sizes. Only a larger receiving SHORT side is capped: the longs' rate stays the
    listing's rate, the truth the adapter's ``rate`` is checked against."""
    pct = rate * PERCENT
    capped = pct > 0 and short > long  # longs pay the larger short side
    return -pct, pct * CAPPED_SHARE if capped else pct


def _row(market: ListingState, index: int, now_ms: int) -> dict[str, object]:
    symbol = market.listing.venue_symbol
    price = market.venue_price
    one_side = market.contracts  # venue base units
    other_side = one_side * (0.97 - 0.02 * (index % 4))
    long, short = (one_side, other_side) if index % 2 else (other_side, one_side)
    long_rate, short_rate = received_rates(market.funding_rate, long, short)
    last_update_s = market.next_funding_ms(now_ms) // 1000 - 3600 + UPDATE_DELAY_S
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
        "fundingRate": {
            "long": fmt(long_rate, FUNDING_DECIMALS),
            "short": fmt(short_rate, FUNDING_DECIMALS),
        },
        "fundingRate24h": "-0.000569",
        "fundingRateUpdateTs": last_update_s,
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
