"""Simulated Avantis data service: ``GET /v2/trading`` (the bare ``dataVersion`` 3 snapshot).

Format follows tests/fixtures/avantis/ (the recorded snapshots): ``pairInfos`` and ``groupInfo`` are
objects keyed by string index, numbers are JSON numbers in human units (USD rounded to cents, coins
to 10 decimals). Pool venue: a listing's OI is split into ``long`` and ``short`` legs (in USD and in
coins) that add up to it, as the vault faces every trader; ``pairOI`` = long + short. ``_UPSIDE``
twins of ETH, BTC, SOL, XRP and HYPE share their base's OI. Decoys the adapter must skip: FX, metal
and equity pairs, a delisted pair with a phantom USD leg, and an empty placeholder pair.
Funding per side in percent per hour, positive = that side pays (``fundingRate``): longs pay the
listing's hourly rate (every listing has the 1 h quote interval) and shorts the rate that moves the
same dollars the other way, as the recorded pairs do; rollover ``marginFee`` is 15 %/yr per hour on
both sides, as in the recorded snapshot (0.0017123… %/h).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from server.sim.market import Asset, Listing, ListingState
from server.sim.venue import SimRequest, SimRoute, SimVenue, with_synthetic
from server.venues.avantis import FUNDING_INTERVAL_H, PERCENT, TRADING_PATH

AVANTIS_ASSETS: Final = (
    *("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "HYPE", "SUI", "ADA", "LINK", "AVAX", "LTC"),
    *("PEPE", "SHIB", "BONK", "WIF", "TRX", "ARB", "OP"),
)
UPSIDE_TWINS: Final = ("ETH", "BTC", "SOL", "XRP", "HYPE")
UPSIDE_SHARE: Final = 0.25
GROUPS: Final = ("CRYPTO1", "CRYPTO2", "FOREX", "COMMODITIES", "CRYPTO3", "CRYPTO4", "EQUITIES")
CRYPTO_GROUPS: Final = (1, 4, 5)  # groups of the other crypto pairs; BTC and ETH are in group 0
MARKET_COUNT: Final = 75  # estimate: listed crypto pairs among ~120 pair indices (reference page)
ROLLOVER_PCT_PER_H: Final = 15 / 8760  # 15 %/yr, the recorded crypto pairs' marginFee
DECOY_FUNDING: Final = {"long": -0.001205382547771408, "short": 0.0007890155277678827}  # recorded ETH
# (from, to, group, assetType, listed, long USD) of the pairs the adapter must skip
DECOYS: Final = (
    ("USD", "JPY", 2, "fx", True, 1000700.6),
    ("XAU", "USD", 3, "metal", True, 249792.49),
    ("NVDA", "USD", 6, "equity", True, 13399.43),
    ("FET", "USD", 0, "", False, 994.86),
    ("", "", 0, "", False, 0.0),
)


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result: list[Listing] = []
    for asset in assets:
        if asset.symbol not in AVANTIS_ASSETS:
            continue
        twin = asset.symbol in UPSIDE_TWINS
        share = 1.0 - UPSIDE_SHARE if twin else 1.0
        result.append(_listing(f"{asset.symbol}/USD", asset.symbol, share))
        if twin:
            result.append(_listing(f"{asset.symbol}_UPSIDE/USD", asset.symbol, UPSIDE_SHARE))
    return with_synthetic(result, assets, MARKET_COUNT, lambda a: _listing(f"{a.symbol}/USD", a.symbol, 1.0))


def _listing(symbol: str, asset: str, share: float) -> Listing:
    return Listing(
        venue_symbol=symbol, asset=asset, settle="USDC", share=share, funding_interval_h=FUNDING_INTERVAL_H
    )


def funding_rates(rate: float, long_usd: float, short_usd: float) -> dict[str, float]:
    """Each side's rate in percent per hour (positive = pays) from ``rate``, the fraction longs pay:
    the shorts' rate moves the same dollars (rate × long = −short rate × short)."""
    long_pct = rate * PERCENT
    short_pct = -long_pct * long_usd / short_usd if short_usd > 0 else 0.0
    return {"long": long_pct, "short": short_pct}


def _pair(
    index: int,
    pair: tuple[str, str],
    group: int,
    asset_type: str,
    *,
    listed: bool,
    legs: tuple[float, ...],
    funding: dict[str, float] = DECOY_FUNDING,
) -> dict[str, object]:
    long_usd, short_usd, long_coins, short_coins = legs
    kind = {"crypto": "Crypto", "fx": "FX", "metal": "Metal", "equity": "Equity.US"}.get(asset_type, "")
    return {
        "feed": {
            "maxOpenDeviationP": 1,
            "maxCloseDeviationP": 50,
            "feedId": f"0x{index:064x}",
            "attributes": {
                "symbol": f"{kind}.{pair[0].removesuffix('_UPSIDE')}/{pair[1]}" if kind else "",
                "assetType": asset_type,
                "isOpen": listed,
                "nextOpen": 0,
                "nextClose": 0,
                "schedule": "America/New_York;O,O,O,O,O,O,O;",
            },
        },
        "spreadP": 0.01,
        "leverages": {"minLeverage": 1, "maxLeverage": 75, "pnlMinLeverage": 75, "pnlMaxLeverage": 500},
        "groupIndex": group,
        "feeIndex": index,
        "from": pair[0],
        "to": pair[1],
        "openInterest": {"long": round(long_usd, 2), "short": round(short_usd, 2)},
        "marginFee": {"long": ROLLOVER_PCT_PER_H, "short": ROLLOVER_PCT_PER_H},
        "pairOI": round(long_usd, 2) + round(short_usd, 2),
        "pairMaxOI": 26118551.95,
        "index": index,
        "isPairListed": listed,
        "lazerFeed": {"feedId": index + 1, "exponent": -8, "minChannel": "real_time", "state": "stable"},
        "coinOI": {"long": round(long_coins, 10), "short": round(short_coins, 10)},
        "fundingFeePerHourP": 0.0022842,
        "fundingRate": funding,
        "additionalPairParams2": {"openTakerFeeP": 0.05, "closeTakerFeeP": 0.05, "closeOnlyMode": False},
    }


def _crypto_group(market: ListingState, index: int) -> int:
    return 0 if market.listing.asset in ("BTC", "ETH") else CRYPTO_GROUPS[index % len(CRYPTO_GROUPS)]


def _decoy_legs(long_usd: float, listed: bool) -> tuple[float, float, float, float]:
    if not listed:  # delisted: a phantom USD leg with no coins, as pair 28 (FET) in the recording
        return (long_usd, 0.0, 0.0, 0.0)
    return (long_usd, long_usd * 0.75, long_usd / 100, long_usd * 0.75 / 100)


def trading(request: SimRequest) -> object:
    pairs: dict[str, dict[str, object]] = {}
    group_oi = [0.0] * len(GROUPS)
    for index, market in enumerate(request.markets):
        long_part = 0.35 + 0.03 * (index % 10)  # longs and shorts rarely balance on a pool venue
        legs = (
            market.oi_usd * long_part,
            market.oi_usd * (1 - long_part),
            market.oi_base * long_part,
            market.oi_base * (1 - long_part),
        )
        base, quote = market.listing.venue_symbol.split("/")
        group = _crypto_group(market, index)
        funding = funding_rates(market.funding_rate, legs[0], legs[1])
        pairs[str(index)] = _pair(
            index, (base, quote), group, "crypto", listed=True, legs=legs, funding=funding
        )
        group_oi[group] += market.oi_usd
    for offset, (base, quote, group, asset_type, listed, long_usd) in enumerate(DECOYS):
        index = len(request.markets) + offset
        legs = _decoy_legs(long_usd, listed)
        pairs[str(index)] = _pair(index, (base, quote), group, asset_type, listed=listed, legs=legs)
        group_oi[group] += legs[0] + legs[1]
    return {
        "dataVersion": 3,
        "pairInfos": pairs,
        "groupInfo": {
            str(i): {
                "name": name,
                "maxOpenInterestP": 26,
                "isSpreadDynamic": name.startswith("CRYPTO"),
                "groupMaxOI": 26118551.95,
                "groupOI": round(group_oi[i], 2),
            }
            for i, name in enumerate(GROUPS)
        },
        "pairCount": len(pairs),
        "maxTradesPerPair": 40,
        "totalOi": round(sum(group_oi), 2),
        "maxOpenInterest": 90410372.13,
    }


SIM: Final = SimVenue(
    id="avantis",
    listings=listings,
    routes=(SimRoute(path=TRADING_PATH, respond=trading),),
    venue_share=0.0006,
    market_count=MARKET_COUNT,
)
