"""Simulated Jupiter Perpetuals: ``/v1/jlp-info`` (all custodies) and ``/v1/market-stats?mint=``.

Formats follow tests/fixtures/jupiter/ (assembled from the reference page's field lists: no real
response was ever recorded). Integers are strings: token fields raw (10^decimals per token), USD
fields × 1e6. Each market's OI is split into longs (``locked``, tokens) and shorts
(``globalShortSizes``, USD at the mark), which the adapter adds back together. The USDC and USDT
custodies (collateral only, with ``locked`` shorts' stablecoins) are the decoys it must skip.
Jupiter lists three markets, so no synthetic coins are added. Neither endpoint carries funding
(Jupiter has none) or a borrow rate, as on the reference page: none is served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.sim.market import Asset, Listing
from server.sim.venue import SimHttpError, SimRequest, SimRoute, SimVenue, fmt
from server.venues.jupiter import ETH_MINT, JLP_INFO_PATH, MARKET_STATS_PATH, SOL_MINT, WBTC_MINT

MINTS: Final = {"SOL": SOL_MINT, "ETH": ETH_MINT, "BTC": WBTC_MINT}
SYMBOLS: Final = {"SOL": "SOL", "ETH": "ETH", "BTC": "WBTC"}  # the custody's own symbol text
DECIMALS: Final = {"SOL": 9, "ETH": 8, "BTC": 8}
SHARES: Final = {"SOL": 10.0, "ETH": 1.0, "BTC": 1.0}  # SOL is by far Jupiter's largest market
STABLES: Final = (
    ("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 0.9),
    ("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 0.1),
)
STABLE_DECIMALS: Final = 6
LONG_SHARE: Final = 0.6  # of each market's OI in coins; the rest are shorts
UTILISATION: Final = 0.1  # locked / owned
USD_SCALE: Final = 1e6


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    return tuple(
        Listing(venue_symbol=MINTS[a.symbol], asset=a.symbol, settle="USD", share=SHARES[a.symbol])
        for a in assets
        if a.symbol in MINTS
    )


def _custody(
    symbol: str, mint: str, decimals: int, *, locked_tokens: float, short_usd: float, price: float
) -> dict[str, object]:
    owned_tokens = locked_tokens / UTILISATION
    unit = 10**decimals
    return {
        "symbol": symbol,
        "mint": mint,
        "aumUsd": str(round(owned_tokens * price * USD_SCALE)),
        "aumTokenAmount": str(round(owned_tokens * unit)),
        "aumTokenAmountFormatted": fmt(owned_tokens, decimals),
        "owned": str(round(owned_tokens * unit)),
        "locked": str(round(locked_tokens * unit)),
        "guaranteedUsd": str(round(locked_tokens * price * 0.8 * USD_SCALE)),
        "globalShortSizes": str(round(short_usd * USD_SCALE)),
        "globalShortAveragePrice": str(round(price * 1.01 * USD_SCALE)),
        "utilizationPct": fmt(UTILISATION * 100, 2),
    }


def jlp_info(request: SimRequest) -> object:
    rows = []
    total_short_usd = 0.0
    for m in request.markets:
        asset = m.listing.asset
        short_usd = m.oi_base * (1 - LONG_SHARE) * m.venue_price
        total_short_usd += short_usd
        rows.append(
            _custody(
                SYMBOLS[asset],
                m.listing.venue_symbol,
                DECIMALS[asset],
                locked_tokens=m.oi_base * LONG_SHARE,
                short_usd=short_usd,
                price=m.venue_price,
            )
        )
    # Shorts' collateral sits in the stablecoin custodies; their shorts fields stay 0.
    rows += [
        _custody(
            symbol, mint, STABLE_DECIMALS, locked_tokens=total_short_usd * part, short_usd=0.0, price=1.0
        )
        for symbol, mint, part in STABLES
    ]
    aum = sum(int(str(row["aumUsd"])) for row in rows)
    return {
        "aumUsd": str(aum),
        "aumUsdFormatted": fmt(aum / USD_SCALE, 2),
        "jlpPriceUsdFormatted": "4.52",
        "jlpAprPct": "12.34",
        "jlpApyPct": "13.13",
        "custodies": rows,
    }


def market_stats(request: SimRequest) -> object:
    mint = request.query.get("mint", "")
    for m in request.markets:
        if m.listing.venue_symbol == mint:
            price = m.venue_price
            return {
                "price": fmt(price, 6),
                "priceChange24H": "0.35",
                "priceHigh24H": fmt(price * 1.012, 6),
                "priceLow24H": fmt(price * 0.99, 6),
                "volume": fmt(m.oi_usd * 0.4, 2),
            }
    raise SimHttpError(400, {"error": "market data not found"})  # the page: 400; its body is not recorded


SIM: Final = SimVenue(
    id="jupiter",
    listings=listings,
    routes=(
        SimRoute(path=JLP_INFO_PATH, respond=jlp_info),
        SimRoute(path=MARKET_STATS_PATH, respond=market_stats),
    ),
    venue_share=0.02,
    market_count=3,
)
