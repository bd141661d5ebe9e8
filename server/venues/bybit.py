"""Bybit v5, source ``bybit``: linear (USDT/USDC) and inverse perpetuals from two bulk calls.

Docs: https://bybit-exchange.github.io/docs/v5/market/tickers (and /v5/market/instrument)

Endpoints:
- catalog, hourly: ``GET /v5/market/instruments-info?category=linear|inverse&limit=1000`` (+ ``cursor``
  pages): ``contractType``, ``status``, ``baseCoin``, ``settleCoin``, ``isPreListing``.
  Also ``fundingInterval`` (minutes, a JSON number: 480 = 8 h) per symbol.
- cycle: ``GET /v5/market/tickers?category=linear`` and ``...=inverse``: ``openInterest``,
  ``singleOpenInterest`` (added 2026-06; may be absent), ``markPrice``, ``fundingRate``,
  ``nextFundingTime`` (unix ms) and, in newer responses, ``fundingIntervalHour`` (all strings).

One convention (API.md): Bybit documents ``openInterest`` as *both sides* ("the sum of both sides").
We use ``singleOpenInterest`` when present and non-empty, otherwise ``openInterest`` / 2, which is
exactly what the venue's own single-side field equals (doc example 63910691 vs 31955346).

Units per category (single side S):
- linear: S is in base units of ``baseCoin`` (1000PEPE bundles for 1000PEPEUSDT): base coins =
  S × prefix factor, USD = S × markPrice.
- inverse: S is in USD (1 contract = 1 USD): USD = S, base coins = S / markPrice.
Provenance: raw = the field used, verbatim (``singleOpenInterest`` → convention ``single_side_field``;
``openInterest`` → ``two_sided_halved``), unit ``base`` (linear) or ``usd`` (inverse); price ``mark``;
margin asset = ``settleCoin`` (USDT, USDC, or the coin for inverse).

Funding: tickers ``fundingRate``, a fraction per interval (the rate longs pay, sent as is), next
settlement ``nextFundingTime``. Interval per symbol: the ticker's ``fundingIntervalHour`` where
present, else instruments-info ``fundingInterval`` / 60 (the catalog, refreshed hourly); neither →
funding None. https://bybit-exchange.github.io/docs/v5/market/instrument

Counted: ``LinearPerpetual``/``InversePerpetual`` with ``status`` Trading, not pre-listing. USDT
(BTCUSDT), USDC (BTCPERP) and inverse (BTCUSD) books all add up under ``baseCoin`` (BTC).
Errors arrive as HTTP 200 with a non-zero ``retCode`` (10006 = rate limit).
Fixtures: tests/fixtures/bybit/.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from server.core.model import (
    ContractKind,
    Convention,
    Funding,
    Market,
    MarketOI,
    ParsedPoll,
    PriceKind,
    Raw,
    RawUnit,
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
    catalog_of,
    code_envelope,
    collect,
    field_of,
    funding_of,
    num,
    obj,
    opt_num,
    optional,
    raw_figure,
    rows,
    text,
)

CATEGORIES: Final = ("linear", "inverse")
PERPETUAL_TYPES: Final = {"LinearPerpetual": ContractKind.LINEAR, "InversePerpetual": ContractKind.INVERSE}
RATE_LIMIT_RETCODE: Final = 10006
BOTH_SIDES: Final = 2.0  # openInterest counts longs + shorts
MINUTES_PER_HOUR: Final = 60.0


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


def catalog_interval_h(row: Row) -> float | None:
    """instruments-info ``fundingInterval`` (minutes) in hours; None when missing or unusable."""
    return optional(lambda: num(row, "fundingInterval") / MINUTES_PER_HOUR)


def parse_catalog(bodies: Bodies) -> Catalog:
    instruments = [
        row
        for category in CATEGORIES
        for page in bodies.pages(f"instruments:{category}")
        for row in result_list(page, "instruments-info")
    ]
    markets = catalog_of(instrument_market(row) for row in instruments).markets
    intervals: dict[str, float] = {}
    for row in instruments:
        symbol = row.get("symbol")
        hours = catalog_interval_h(row)
        if isinstance(symbol, str) and symbol in markets and hours is not None:
            intervals[symbol] = hours
    return Catalog(markets=markets, funding_interval_h=intervals)


def single_side_oi(row: Row, unit: RawUnit) -> tuple[float, Raw, Convention]:
    """One-sided OI in the row's own unit, the figure it came from and the rule applied:
    ``singleOpenInterest`` as sent, else half of the two-sided ``openInterest``."""
    single = opt_num(row, "singleOpenInterest")
    if single is not None:
        return single, raw_figure(row, "singleOpenInterest", unit), Convention.SINGLE_SIDE_FIELD
    halved = num(row, "openInterest") / BOTH_SIDES
    return halved, raw_figure(row, "openInterest", unit), Convention.TWO_SIDED_HALVED


def funding(row: Row, catalog_h: float | None) -> Funding | None:
    """Ticker ``fundingRate`` over the ticker's ``fundingIntervalHour``, else the catalog's interval;
    None when the rate or both intervals are missing or unusable (a bad ``nextFundingTime`` costs
    only ``next_at_ms``)."""
    interval_h = optional(lambda: opt_num(row, "fundingIntervalHour"))
    next_at = optional(lambda: opt_num(row, "nextFundingTime"))
    return optional(
        lambda: funding_of(
            num(row, "fundingRate"),
            interval_h if interval_h is not None else catalog_h,
            next_at_ms=next_at,
        )
    )


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    tickers = [
        row for category in CATEGORIES for row in result_list(bodies.one(f"tickers:{category}"), "tickers")
    ]
    intervals = catalog.funding_interval_h

    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "symbol"))
        if market is None:
            return None  # dated future, pre-launch or delisted
        # linear: base units of baseCoin (contracts of 1); inverse: USD (contracts of 1 USD)
        unit = RawUnit.USD if market.kind is ContractKind.INVERSE else RawUnit.BASE
        contracts, raw, convention = single_side_oi(row, unit)
        return market_oi(
            market,
            contracts,
            num(row, "markPrice"),
            raw=raw,
            price_kind=PriceKind.MARK,
            convention=convention,
            funding=funding(row, intervals.get(market.venue_symbol)),
        )

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
