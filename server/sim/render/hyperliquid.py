"""Simulated Hyperliquid: ``POST /info {"type":"metaAndAssetCtxs"}`` for the main perp dex.

Format follows tests/fixtures/hyperliquid/ (the recorded ctxs): a bare ``[meta, assetCtxs]`` array
paired by position, decimal strings with prices at 5 significant figures ("77562.0"), and
``openInterest`` TWO-SIDED (longs + shorts = 2 × the simulated one-sided units). Bundled coins are
``kPEPE``/``kSHIB``/``kBONK`` (1000 coins per unit, priced per unit). A delisted MATIC sits at
index 3, as on mainnet (``isDelisted``, OI "0.0", null mid/premium/impact): the adapter skips it.
``funding`` is the listing's hourly rate (every listing has the venue's fixed 1 h interval), as a
decimal string of up to 10 places like the recorded "-0.0000015186"; the delisted row sends "0.0".
Any other body (another ``type``, a HIP-3 ``dex``) gets the venue's HTTP 422.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from server.sim.market import Asset, Listing
from server.sim.venue import SimHttpError, SimRequest, SimRoute, SimVenue, fmt, real_assets, with_synthetic
from server.venues.hyperliquid import FUNDING_INTERVAL_H, INFO_PATH, META_AND_CTXS

BUNDLED: Final = {"PEPE": "kPEPE", "SHIB": "kSHIB", "BONK": "kBONK"}
DELISTED_INDEX: Final = 3
BAD_BODY: Final = "Failed to deserialize the JSON body into the target type"
MAX_SZ_DECIMALS: Final = 5
FUNDING_DECIMALS: Final = 10


def listings(assets: Sequence[Asset]) -> tuple[Listing, ...]:
    result = [
        Listing(
            venue_symbol=BUNDLED.get(a.symbol, a.symbol),
            asset=a.symbol,
            venue_factor=1000.0 if a.symbol in BUNDLED else 1.0,
            settle="USDC",
            funding_interval_h=FUNDING_INTERVAL_H,
        )
        for a in real_assets(assets)
    ]
    return with_synthetic(
        result,
        assets,
        180,
        lambda a: Listing(
            venue_symbol=a.symbol, asset=a.symbol, settle="USDC", funding_interval_h=FUNDING_INTERVAL_H
        ),
    )


def px(value: float) -> str:
    """A Hyperliquid price string: 5 significant figures, whole numbers written "77562.0"."""
    decimals = max(0, 4 - math.floor(math.log10(value)))
    text = fmt(round(value, decimals), decimals)
    return text if "." in text else f"{text}.0"


def sz(value: float, decimals: int) -> str:
    text = fmt(value, decimals)
    return text if "." in text else f"{text}.0"


def sz_decimals(price: float) -> int:
    return max(0, min(MAX_SZ_DECIMALS, round(math.log10(price)) + 1))


def _asset(name: str, decimals: int, **extra: object) -> dict[str, object]:
    return {"szDecimals": decimals, "name": name, "maxLeverage": 20, "marginTableId": 20, **extra}


def _ctx(
    price: float, open_interest: str, decimals: int, *, funding: float = 0.0, live: bool = True
) -> dict[str, object]:
    volume_usd = 1e6 if live else 0.0
    return {
        "funding": sz(funding, FUNDING_DECIMALS) if live else "0.0",
        "openInterest": open_interest,
        "prevDayPx": px(price * 0.99),
        "dayNtlVlm": sz(volume_usd, 4),
        "premium": "-0.0002" if live else None,
        "oraclePx": px(price * 1.0003),
        "markPx": px(price),
        "midPx": px(price) if live else None,
        "impactPxs": [px(price * 0.9999), px(price * 1.0001)] if live else None,
        "dayBaseVlm": sz(volume_usd / price, decimals) if live else "0.0",
    }


def meta_and_asset_ctxs(request: SimRequest) -> object:
    body = request.body
    if not isinstance(body, dict) or body.get("type") != META_AND_CTXS or body.get("dex", "") != "":
        raise SimHttpError(422, BAD_BODY)
    universe: list[dict[str, object]] = []
    ctxs: list[dict[str, object]] = []
    for state in request.markets:
        decimals = sz_decimals(state.venue_price)
        universe.append(_asset(state.listing.venue_symbol, decimals))
        # two-sided: every matched contract is counted once for the long and once for the short
        open_interest = sz(2 * state.venue_units, decimals)
        ctxs.append(_ctx(state.venue_price, open_interest, decimals, funding=state.funding_rate))
    at = min(DELISTED_INDEX, len(universe))
    universe.insert(at, _asset("MATIC", 1, isDelisted=True))
    ctxs.insert(at, _ctx(0.37621, "0.0", 1, live=False))
    return [{"universe": universe, "marginTables": [], "collateralToken": 0}, ctxs]


SIM: Final = SimVenue(
    id="hyperliquid",
    listings=listings,
    routes=(SimRoute(path=INFO_PATH, respond=meta_and_asset_ctxs, method="POST"),),
    venue_share=0.35,
    market_count=180,
)
