"""Backpack Exchange, source ``backpack``: USDC-margined linear perps (``BTC_USDC_PERP``), bulk calls.

Docs: https://docs.backpack.exchange/#tag/Markets/operation/get_open_interest

Endpoints (public; decimals are strings, timestamps ms numbers):
- catalog, every 5 minutes (the reference page: slow-changing, refresh every few minutes):
  ``GET /api/v1/markets``: ``symbol``, ``baseSymbol``, ``quoteSymbol``, ``marketType``,
  ``orderBookState``, ``visible`` (newer responses only), ``rwaMarketType`` (where present).
- cycle: ``GET /api/v1/openInterest`` without ``symbol`` (every perp; the page's third-party reading of
  the OpenAPI spec, not recorded: the per-symbol answer is the same array of one element, so a
  fallback to one request per symbol changes ``cycle_requests`` only) and ``GET /api/v1/markPrices``.

Units: one market type, linear with no multiplier (contract size 1, read nowhere because Backpack has
none): ``openInterest`` is in base units of ``baseSymbol`` (the page's evidence: 5 decimals = BTC's
step 0.00001, and 1,273.85 BTC ≈ 150.75 M USD is plausible where 1,274 USD is not; ccxt's USD label is
wrong). oi_base = openInterest × bundle factor (``kBONK`` = 1000 BONK via ``canonical_base``, the
page's safety net: third-party market lists show kBONK/kPEPE/kSHIB); oi_usd = openInterest × markPrice.
Price: ``markPrice`` from /markPrices (USDC = USD), the venue's margining price, as the page says.
Counted: ``marketType`` PERP, ``orderBookState`` Open, ``visible`` not false, not a tokenized stock
(``rwaMarketType`` STOCK or a ``.US`` base). Spot, IPERP, DATED, PREDICTION, closed markets skipped.
Funding: ``fundingRate`` of each /markPrices element (string, a fraction per interval, positive = longs
pay shorts: ccxt reads it as the rate for ``nextFundingTimestamp``) and ``nextFundingTimestamp`` (unix
ms) as the next settlement; the interval is the catalog row's ``fundingInterval`` (milliseconds:
3,600,000 = 1 h in the recorded market, 8 h in older ones), kept per symbol in the catalog
because the shared ``Market`` has no interval field. A missing or malformed rate or interval gives
funding None and never touches the OI reading.
Provenance: raw = ``openInterest`` (base units), convention one_sided, price mark; margin asset the
market's ``quoteSymbol`` (USDC).
One-sided: not documented; Backpack is a central limit order book of matched positions, so each
matched contract is counted once (assumed, as the reference page says): used as is.
Errors: HTTP 4xx/5xx with ``{"code": "<ApiErrorCode>", "message"}``; the same body in a 200 is
rejected too (TOO_MANY_REQUESTS = rate limit). Fixtures: tests/fixtures/backpack/.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Final

from server.core.errors import VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Funding, Market, MarketOI, ParsedPoll, PriceKind, RawUnit
from server.core.symbols import canonical_base
from server.core.units import market_oi
from server.venues.base import (
    Bodies,
    Catalog,
    Request,
    Row,
    VenueSpec,
    always,
    catalog_of,
    collect,
    funding_of,
    num,
    opt_num,
    optional,
    raw_figure,
    rows,
    text,
)

MARKETS_PATH: Final = "/api/v1/markets"
OPEN_INTEREST_PATH: Final = "/api/v1/openInterest"
MARK_PRICES_PATH: Final = "/api/v1/markPrices"
CATALOG_TTL_S: Final = 300.0
RATE_LIMIT_CODE: Final = "TOO_MANY_REQUESTS"
STOCK_MARKER: Final = ".US"  # tokenized US equities: SPCX.US_USDC, NVDA.US_USDC_PERP
HOUR_MS: Final = 3_600_000.0


def perp_market(row: Row) -> Market | None:
    if (
        text(row, "marketType") != "PERP"
        or text(row, "orderBookState") != "Open"
        or row.get("visible") is False
        or row.get("rwaMarketType") == "STOCK"
    ):
        return None
    raw_base = text(row, "baseSymbol")
    if STOCK_MARKER in raw_base:
        return None
    base, factor = canonical_base(raw_base)
    return Market(
        venue_symbol=text(row, "symbol"),
        base=base,
        base_factor=factor,
        kind=ContractKind.LINEAR,
        contract_size=1.0,  # quantities are base units; Backpack has no contract multiplier
        settle=text(row, "quoteSymbol"),
    )


def interval_hours(row: Row) -> float | None:
    """A market's ``fundingInterval`` (ms) in hours, or None when missing, null or not positive."""
    interval = opt_num(row, "fundingInterval")
    return interval / HOUR_MS if interval is not None and interval > 0 else None


def parse_catalog(bodies: Bodies) -> Catalog:
    markets = rows(bodies.one("markets"), "markets")
    catalog = catalog_of(perp_market(row) for row in markets)
    intervals: dict[str, float] = {}
    for row in markets:
        symbol = row.get("symbol")
        if isinstance(symbol, str) and symbol in catalog.markets:
            hours = optional(partial(interval_hours, row))
            if hours is not None:
                intervals[symbol] = hours
    return Catalog(markets=catalog.markets, funding_interval_h=intervals)


def mark_funding(mark: Row, interval_h: float | None) -> Funding | None:
    """``fundingRate`` per the catalog's interval, settling at ``nextFundingTimestamp`` (where usable)."""
    next_at = optional(lambda: num(mark, "nextFundingTimestamp"))
    return funding_of(num(mark, "fundingRate"), interval_h, next_at_ms=next_at)


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    marks = {text(row, "symbol"): row for row in rows(bodies.one("markPrices"), "markPrices")}
    intervals = catalog.funding_interval_h

    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "symbol"))
        mark = None if market is None else marks.get(market.venue_symbol)
        if market is None or mark is None:
            return None  # not a perp we count, or not priced yet
        interval_h = intervals.get(market.venue_symbol)
        return market_oi(
            market,
            num(row, "openInterest"),
            num(mark, "markPrice"),
            raw=raw_figure(row, "openInterest", RawUnit.BASE),
            price_kind=PriceKind.MARK,
            funding=optional(lambda: mark_funding(mark, interval_h)),
        )

    return collect(
        rows(bodies.one("openInterest"), "openInterest"), convert, label=lambda r: str(r.get("symbol"))
    )


def check_envelope(body: object) -> None:
    """Backpack errors are ``{"code": "<ApiErrorCode>", "message": "..."}``; data bodies are arrays."""
    if isinstance(body, Mapping) and isinstance(body.get("code"), str) and "message" in body:
        message = f"backpack {body['code']}: {str(body['message'])[:120]}"
        if body["code"] == RATE_LIMIT_CODE:
            raise VenueRateLimited(message, retry_after_s=10.0)
        raise VenueRejected(message)


SPEC: Final = VenueSpec(
    id="backpack",
    base_url="https://api.backpack.exchange",
    docs_url="https://docs.backpack.exchange/#tag/Markets/operation/get_open_interest",
    catalog_requests=(Request(key="markets", path=MARKETS_PATH),),
    parse_catalog=parse_catalog,
    catalog_ttl_s=CATALOG_TTL_S,
    cycle_requests=always(
        Request(key="openInterest", path=OPEN_INTEREST_PATH),
        Request(key="markPrices", path=MARK_PRICES_PATH),
    ),
    parse=parse,
    check_envelope=check_envelope,
)
