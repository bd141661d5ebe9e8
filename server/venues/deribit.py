"""Deribit API v2, source ``deribit``: inverse and USDC-linear perpetuals, one bulk call per settle currency.

Docs: https://docs.deribit.com/api-reference/market-data/public-get_book_summary_by_currency.md

Endpoints (HTTP GET; every number is a JSON number):
- catalog, hourly: ``GET /public/get_instruments?currency=C&kind=future&expired=false`` for C in BTC,
  ETH, USDC (and USDT, optional: unverified, usually no perpetuals): ``kind``, ``settlement_period``,
  ``instrument_type`` (``reversed`` = inverse, ``linear``; ``future_type`` is its deprecated twin),
  ``is_active``, ``base_currency``, ``settlement_currency``.
- cycle: ``GET /public/get_book_summary_by_currency?currency=C&kind=future`` for each C whose catalog
  holds a perpetual (2-3 calls): ``instrument_name``, ``open_interest``, ``mark_price``.

Units: ``open_interest`` is an *amount*, not a contract count (Deribit: "the total amount of
outstanding contracts in the corresponding amount units"):
- inverse (``BTC-PERPETUAL``, ``ETH-PERPETUAL``, coin-settled): USD; base coins = USD / mark_price.
- linear (``BTC_USDC-PERPETUAL`` ..., USDC-settled): base coins; USD = coins × mark_price (USDC = USD).
So a "contract" here is one amount unit (1 USD or 1 coin). The catalog's ``contract_size`` (10 USD for
BTC-PERPETUAL, 0.001 BTC for BTC_USDC-PERPETUAL) is the order-amount step and is deliberately not read:
multiplying by it would be wrong (reference page). No quanto markets and no 1000-prefixed names.
Price: ``mark_price`` of the same book-summary item (USD for inverse, USDC for linear): the venue's
own valuation price for positions, taken at the same instant as the open interest.
Funding: ``funding_8h`` of the same book-summary item (JSON number, a fraction; Deribit's reference for
this method documents it as "Funding 8h (perpetual only)", i.e. the funding over 8 hours, positive =
longs pay shorts), so rate = funding_8h and interval = 8 h (a constant: the field's own window).
``current_funding`` ("Current funding (perpetual only)") is not read: no interval is documented for it,
and an interval is never guessed. Deribit funding accrues continuously, so there is no next time
(``next_at`` None). A missing or malformed ``funding_8h`` gives funding None and never touches the OI.
Provenance: raw = ``open_interest`` (unit usd on inverse, base on linear), convention one_sided, price
mark; margin asset = ``settlement_currency`` (the coin on inverse, USDC on linear).
One-sided: Deribit defines OI as the outstanding contracts (the matched position count); the worked
example (333,091,400 USD = 14,229.56 BTC on 2023-02-28) agrees with aggregators' one-sided figure.
Counted: ``kind`` future, ``settlement_period`` perpetual, ``is_active``; dated futures (BTC-27DEC24)
are absent from the catalog and skipped; options are never requested (``kind=future``).
Undecided on the page, chosen here: an instrument listed under two currencies counts once; the
catalog is refreshed hourly (the page suggests minutes; a new perpetual waits up to an hour).
Errors: JSON-RPC ``error`` objects (``10028`` too_many_requests = rate limit).
Fixtures: tests/fixtures/deribit/.
"""

from __future__ import annotations

from typing import Final

from server.core.errors import MalformedResponse, VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Funding, Market, MarketOI, ParsedPoll, PriceKind, RawUnit
from server.core.symbols import canonical_base
from server.core.units import market_oi
from server.venues.base import (
    Bodies,
    Catalog,
    Request,
    Row,
    VenueSpec,
    collect,
    field_rows,
    flag,
    funding_of,
    num,
    obj,
    optional,
    raw_figure,
    text,
)

CURRENCIES: Final = ("BTC", "ETH", "USDC")  # settlement currencies that list perpetuals
OPTIONAL_CURRENCIES: Final = ("USDT",)  # unverified: a failed or empty answer is dropped
INSTRUMENTS_PATH: Final = "/public/get_instruments"
SUMMARY_PATH: Final = "/public/get_book_summary_by_currency"
KINDS: Final = {"reversed": ContractKind.INVERSE, "linear": ContractKind.LINEAR}
AMOUNT_UNIT: Final = 1.0  # open_interest is already USD (inverse) or coins (linear)
RATE_LIMIT_CODE: Final = 10028
RATE_LIMIT_WAIT_S: Final = 1.0  # credits refill continuously
# funding_8h is the funding over 8 hours ("Funding 8h (perpetual only)"):
# https://docs.deribit.com/api-reference/market-data/public-get_book_summary_by_currency.md
FUNDING_8H_HOURS: Final = 8.0
# open_interest is USD on inverse books and coins on linear ones (see the module docstring)
RAW_UNITS: Final = {ContractKind.INVERSE: RawUnit.USD, ContractKind.LINEAR: RawUnit.BASE}


def instrument_market(row: Row) -> Market | None:
    """An active perpetual from ``get_instruments``, or None (dated, combo, inactive, other type)."""
    kind = KINDS.get(text(row, "instrument_type"))
    if (
        kind is None
        or text(row, "kind") != "future"
        or text(row, "settlement_period") != "perpetual"
        or not flag(row, "is_active")
    ):
        return None
    base, factor = canonical_base(text(row, "base_currency"))
    return Market(
        venue_symbol=text(row, "instrument_name"),
        base=base,
        base_factor=factor,
        kind=kind,
        contract_size=AMOUNT_UNIT,
        settle=text(row, "settlement_currency"),
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    markets: dict[str, Market] = {}
    groups: list[str] = []
    for currency in (*CURRENCIES, *OPTIONAL_CURRENCIES):
        key = f"instruments:{currency}"
        body = bodies.get(key) if currency in OPTIONAL_CURRENCIES else bodies.one(key)
        if body is None:
            continue  # the optional request failed
        found = [
            m for m in map(instrument_market, field_rows(body, "result", "get_instruments")) if m is not None
        ]
        if found:
            groups.append(currency)
            markets.update((m.venue_symbol, m) for m in found)
    if not markets:
        raise MalformedResponse("no active perpetual in get_instruments")
    return Catalog(markets=markets, groups=tuple(groups))


def summary_funding(row: Row) -> Funding | None:
    """``funding_8h``: a rate per 8 hours by its documented name."""
    return funding_of(num(row, "funding_8h"), FUNDING_8H_HOURS)


def summary_oi(market: Market, row: Row) -> MarketOI:
    """One book-summary (or ticker) item: ``open_interest`` amount at ``mark_price``."""
    return market_oi(
        market,
        num(row, "open_interest"),
        num(row, "mark_price"),
        raw=raw_figure(row, "open_interest", RAW_UNITS[market.kind]),
        price_kind=PriceKind.MARK,
        funding=optional(lambda: summary_funding(row)),
    )


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    summaries = {
        text(row, "instrument_name"): row
        for currency in catalog.groups
        for row in field_rows(bodies.one(f"summary:{currency}"), "result", "get_book_summary_by_currency")
    }

    def convert(item: tuple[str, Row]) -> MarketOI | None:
        market = catalog.markets.get(item[0])
        return None if market is None else summary_oi(market, item[1])  # None: dated future

    return collect(summaries.items(), convert, label=lambda item: item[0])


def check_envelope(body: object) -> None:
    """JSON-RPC: a body with an ``error`` object failed, whatever the HTTP status."""
    error = obj(body, "deribit response").get("error")
    if error is None:
        return
    details = obj(error, "deribit error")
    code = details.get("code")
    message = f"deribit error {code}: {str(details.get('message'))[:120]}"
    if code == RATE_LIMIT_CODE:
        raise VenueRateLimited(message, retry_after_s=RATE_LIMIT_WAIT_S)
    raise VenueRejected(message)


def cycle_requests(catalog: Catalog) -> tuple[Request, ...]:
    return tuple(
        Request(key=f"summary:{c}", path=SUMMARY_PATH, params=(("currency", c), ("kind", "future")))
        for c in catalog.groups
    )


def instruments_request(currency: str, *, optional: bool = False) -> Request:
    params = (("currency", currency), ("kind", "future"), ("expired", "false"))
    return Request(key=f"instruments:{currency}", path=INSTRUMENTS_PATH, params=params, optional=optional)


SPEC: Final = VenueSpec(
    id="deribit",
    base_url="https://www.deribit.com/api/v2",
    docs_url="https://docs.deribit.com/api-reference/market-data/public-get_book_summary_by_currency.md",
    catalog_requests=(
        *(instruments_request(c) for c in CURRENCIES),
        *(instruments_request(c, optional=True) for c in OPTIONAL_CURRENCIES),
    ),
    parse_catalog=parse_catalog,
    cycle_requests=cycle_requests,
    parse=parse,
    check_envelope=check_envelope,
)
