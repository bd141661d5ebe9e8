"""Hyperliquid, source ``hyperliquid``: every perpetual of the main (first) perp dex in one POST.

Docs: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals

Endpoint: ``POST /info`` with JSON body ``{"type":"metaAndAssetCtxs"}`` (weight 20 of 1200/min per IP),
every cycle; no catalog request. The answer is a bare 2-element array ``[meta, assetCtxs]``:
``meta.universe[i]`` (``name``; ``isDelisted`` only present when true) describes ``assetCtxs[i]``,
POSITIONALLY (a ctx carries no name), so each body is parsed with its own universe and the whole
body is refused when the two lengths differ. No contract sizes exist to cache: a size of 1 is one
unit of the coin in ``name``. Success bodies have no envelope; errors are HTTP statuses (shared layer).

Units (decimal strings): ``openInterest`` in base units of ``name`` (bundles of 1000 for ``kPEPE``-style
names), ``markPx`` / ``oraclePx`` USD (USDC) per unit of ``name``. Only LINEAR USDC perps.
- base coins = openInterest / 2 × k (k = 1000 for ``k`` + upper-case names, else 1)
- USD = openInterest / 2 × markPx (markPx of kPEPE prices 1000 PEPE, so k cancels)
Price: ``markPx`` (the margining price, as the reference page recommends); ``oraclePx`` when markPx
is absent or null.
Two-sided (reference page): ``openInterest`` sums longs and shorts (a Hyperliquid team member's
statement; the HIP-3 docs define the OI cap as the "sum of absolute position sizes"). No single-side
field exists, so API.md's rule applies: half.
Skipped: ``isDelisted`` markets; ``openInterest`` zero; any ``dex:COIN`` name. HIP-3 builder dexes
(``perpDexs`` + one request per dex) are NOT polled: the page keeps them out of crypto totals by
default, they list mostly equities, indices and commodities, margin in other collateral tokens
(USDH, USDE, ...) whose USD price we would need, and would cost 20 weight per dex per cycle; API.md
has no sub-venue id to report them under.
Undecided on the page: two-sidedness is not confirmed by an API doc sentence; we halve (API.md).
Provenance: ``raw`` = ``openInterest`` as sent (base units of ``name``, two-sided), convention
two_sided_halved, price kind mark (oracle on the rows that fell back to ``oraclePx``).
Funding: ctx ``funding`` (decimal string), the fraction longs pay per HOUR (positive = longs pay
shorts): Hyperliquid settles funding every hour, the 8-hour premium formula divided by 8, capped at
4 %/h (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding; the notes' sources
docs.hyena.trade/trading/funding-rates and cortex-vigil.com/wiki/funding-rates reproduce it). The
interval is that fixed hour (``FUNDING_INTERVAL_H``): the ctx carries no interval field; the recorded
ctxs show the baseline "0.0000125" = 0.01 %/8 h ÷ 8. No next-funding time is sent (settlement is on
the hour); a missing or unusable ``funding`` leaves funding None, never the OI reading.
Fixtures: tests/fixtures/hyperliquid/ (see SOURCES.md there).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from server.core.errors import MalformedResponse, SchemaDrift
from server.core.model import (
    ContractKind,
    Convention,
    Market,
    MarketOI,
    ParsedPoll,
    PriceKind,
    RawUnit,
    VenueType,
)
from server.core.symbols import canonical_base
from server.core.units import market_oi
from server.venues.base import (
    Bodies,
    Catalog,
    Request,
    Row,
    VenueSpec,
    always,
    collect,
    field_rows,
    funding_of,
    num,
    opt_num,
    optional,
    raw_figure,
    rows,
    text,
)

INFO_PATH: Final = "/info"
META_AND_CTXS: Final = "metaAndAssetCtxs"
REQUEST_WEIGHT: Final = 20
BOTH_SIDES: Final = 2.0  # openInterest counts longs + shorts
HIP3_SEPARATOR: Final = ":"  # builder-dex markets are named "dex:COIN"
# Funding is paid every hour: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding
FUNDING_INTERVAL_H: Final = 1.0


def meta_and_ctxs(body: object) -> tuple[Sequence[Row], Sequence[Row]]:
    """``[meta, assetCtxs]`` as (universe, ctxs) of equal length, paired by position."""
    if not isinstance(body, list) or len(body) != 2:
        raise SchemaDrift(f"{META_AND_CTXS}: expected a 2-element array [meta, assetCtxs]")
    universe = field_rows(body[0], "universe", "meta")
    ctxs = rows(body[1], "assetCtxs")
    if len(universe) != len(ctxs):
        raise MalformedResponse(f"{len(universe)} universe entries but {len(ctxs)} assetCtxs")
    return universe, ctxs


def perp_market(asset: Row) -> Market | None:
    """A main-dex perpetual we count, or None (delisted, or a HIP-3 ``dex:COIN`` market)."""
    name = text(asset, "name")
    if asset.get("isDelisted") is True or HIP3_SEPARATOR in name:
        return None
    base, factor = canonical_base(name)
    return Market(
        venue_symbol=name,
        base=base,
        base_factor=factor,
        kind=ContractKind.LINEAR,
        contract_size=1.0,  # a size of 1 is one unit of ``name``
        settle="USDC",
    )


def convert(pair: tuple[Row, Row]) -> MarketOI | None:
    asset, ctx = pair
    market = perp_market(asset)
    if market is None:
        return None
    two_sided = num(ctx, "openInterest")
    if two_sided == 0:
        return None  # listed but nobody holds a position
    mark = opt_num(ctx, "markPx")
    price = mark if mark is not None else num(ctx, "oraclePx")
    return market_oi(
        market,
        two_sided / BOTH_SIDES,
        price,
        raw=raw_figure(ctx, "openInterest", RawUnit.BASE),
        price_kind=PriceKind.MARK if mark is not None else PriceKind.ORACLE,
        convention=Convention.TWO_SIDED_HALVED,
        funding=optional(lambda: funding_of(num(ctx, "funding"), FUNDING_INTERVAL_H)),
    )


def parse(_: Catalog, bodies: Bodies) -> ParsedPoll:
    universe, ctxs = meta_and_ctxs(bodies.one(META_AND_CTXS))
    return collect(zip(universe, ctxs, strict=True), convert, label=lambda pair: str(pair[0].get("name")))


SPEC: Final = VenueSpec(
    id="hyperliquid",
    base_url="https://api.hyperliquid.xyz",
    docs_url="https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals",
    cycle_requests=always(
        Request(
            key=META_AND_CTXS, path=INFO_PATH, body=json.dumps({"type": META_AND_CTXS}), weight=REQUEST_WEIGHT
        )
    ),
    parse=parse,
    venue_type=VenueType.DEX,
)
