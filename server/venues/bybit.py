"""Bybit v5, source ``bybit``: linear (USDT/USDC) and inverse perpetuals from two bulk calls.

Docs: https://bybit-exchange.github.io/docs/v5/market/tickers (and /v5/market/instrument)

Endpoints:
- catalog, hourly: ``GET /v5/market/instruments-info?category=linear|inverse&limit=1000`` (+ ``cursor``
  pages): ``contractType``, ``status``, ``baseCoin``, ``settleCoin``, ``isPreListing``.
- cycle: ``GET /v5/market/tickers?category=linear`` and ``...=inverse``: ``openInterest``,
  ``singleOpenInterest`` (added 2026-06; may be absent), ``markPrice`` (all strings).

One convention (API.md): Bybit documents ``openInterest`` as *both sides* ("the sum of both sides").
We use ``singleOpenInterest`` when present and non-empty, otherwise ``openInterest`` / 2, which is
exactly what the venue's own single-side field equals (doc example 63910691 vs 31955346).

Units per category (single side S):
- linear: S is in base units of ``baseCoin`` (1000PEPE bundles for 1000PEPEUSDT): base coins =
  S × prefix factor, USD = S × markPrice.
- inverse: S is in USD (1 contract = 1 USD): USD = S, base coins = S / markPrice.
Counted: ``LinearPerpetual``/``InversePerpetual`` with ``status`` Trading, not pre-listing. USDT
(BTCUSDT), USDC (BTCPERP) and inverse (BTCUSD) books all add up under ``baseCoin`` (BTC).
Errors arrive as HTTP 200 with a non-zero ``retCode`` (10006 = rate limit).
Fixtures: tests/fixtures/bybit/.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from server.core.model import ContractKind, Market, MarketOI, ParsedPoll
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
    code_envelope,
    collect,
    field_of,
    num,
    obj,
    opt_num,
    rows,
    text,
)

CATEGORIES: Final = ("linear", "inverse")
PERPETUAL_TYPES: Final = {"LinearPerpetual": ContractKind.LINEAR, "InversePerpetual": ContractKind.INVERSE}
RATE_LIMIT_RETCODE: Final = 10006
BOTH_SIDES: Final = 2.0  # openInterest counts longs + shorts


def result_list(body: object, what: str) -> list[Row]:
    return list(
        rows(field_of(obj(field_of(obj(body, what), "result"), f"{what}.result"), "list"), f"{what}.list")
    )


def instrument_market(row: Row) -> Market | None:
    kind = PERPETUAL_TYPES.get(text(row, "contractType"))
    if kind is None or text(row, "status") != "Trading" or row.get("isPreListing") is True:
        return None
    base, factor = canonical_base(text(row, "baseCoin"))
    return Market(
        venue_symbol=text(row, "symbol"),
        base=base,
        base_factor=factor,
        kind=kind,
        contract_size=1.0,  # linear: 1 base unit; inverse: 1 USD
        settle=text(row, "settleCoin"),
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    return catalog_of(
        instrument_market(row)
        for category in CATEGORIES
        for page in bodies.pages(f"instruments:{category}")
        for row in result_list(page, "instruments-info")
    )


def single_side_oi(row: Row) -> float:
    """One-sided OI in the row's own unit: ``singleOpenInterest``, else half of ``openInterest``."""
    single = opt_num(row, "singleOpenInterest")
    return single if single is not None else num(row, "openInterest") / BOTH_SIDES


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    tickers = [
        row for category in CATEGORIES for row in result_list(bodies.one(f"tickers:{category}"), "tickers")
    ]

    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "symbol"))
        if market is None:
            return None  # dated future, pre-launch or delisted
        return market_oi(market, single_side_oi(row), num(row, "markPrice"))

    return collect(tickers, convert, label=lambda row: str(row.get("symbol")))


def next_page(request: Request, body: object) -> Request | None:
    """instruments-info pages with ``result.nextPageCursor`` (empty string on the last page)."""
    cursor = obj(field_of(obj(body, "instruments-info"), "result"), "result").get("nextPageCursor")
    if not isinstance(cursor, str) or not cursor:
        return None
    return replace(request, params=(*(p for p in request.params if p[0] != "cursor"), ("cursor", cursor)))


# Every Bybit body carries ``retCode``: 0 is success, even when the HTTP status was 200.
check_envelope: Final = code_envelope(
    "bybit", "retCode", 0, message_field="retMsg", rate_limited=(RATE_LIMIT_RETCODE,), retry_after_s=5.0
)


SPEC: Final = VenueSpec(
    id="bybit",
    base_url="https://api.bybit.com",
    docs_url="https://bybit-exchange.github.io/docs/v5/market/tickers",
    catalog_requests=tuple(
        Request(
            key=f"instruments:{c}",
            path="/v5/market/instruments-info",
            params=(("category", c), ("limit", "1000")),
        )
        for c in CATEGORIES
    ),
    parse_catalog=parse_catalog,
    cycle_requests=always(
        *(
            Request(key=f"tickers:{c}", path="/v5/market/tickers", params=(("category", c),))
            for c in CATEGORIES
        )
    ),
    parse=parse,
    check_envelope=check_envelope,
    next_page=next_page,
)
