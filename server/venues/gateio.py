"""Gate APIv4 futures, source ``gateio``: USDT-settled (linear) and BTC-settled (inverse) perpetuals.

Docs: https://www.gate.com/docs/developers/apiv4/en/#listfuturestickers

Endpoints (bare JSON arrays, no envelope; numbers are strings, some older ones JSON numbers), per settle
currency ``usdt`` and ``btc``; everything under ``/futures/`` is perpetual (dated futures live under
``/delivery/``, never polled):
- ``GET /api/v4/futures/{settle}/contracts``, hourly for the catalog and every cycle for the figures:
  ``name``, ``type`` (direct / inverse), ``quanto_multiplier`` (base units per contract), ``status``,
  ``contract_type`` (TradFi class, optional), ``position_size`` (open interest, contracts, one side),
  ``mark_price`` / ``index_price`` / ``last_price``, ``funding_rate``, ``funding_interval`` (s),
  ``funding_next_apply`` (unix s).
- ``GET /api/v4/futures/{settle}/tickers``, optional, with both: ``total_size`` (contracts), read only
  for the fallback below.

One-sided (issue 12, reference page): count ``position_size``, documented "Current total long position
size", one side (API.md: a venue's single-side field where it has one; convention single_side_field).
``tickers.total_size`` matched it in 2019 and 2024 captures but is about twice it in 2026 ones (1.999
and 1.95 on BTC_USDT), so it is no longer taken as one-sided. Fallback where a contracts row lacks
``position_size``: that contract's ``total_size``, halved (two_sided_halved) when it was 1.8-2.2 × the
``position_size`` at the last catalog refresh, else as sent (one_sided). ``raw`` is the field used.
Units (contract sizes from the catalog, never hard-coded):
- ``*_USDT`` (type direct): a contract is ``quanto_multiplier`` base units (0.0001 BTC for BTC_USDT,
  10000 SHIB for SHIB_USDT): base coins = contracts × multiplier × prefix factor; USD = that × mark_price.
- ``BTC_USD`` (type inverse, settle btc): a contract is 1 USD (``quanto_multiplier`` "0"; the page's
  reading, confirmed by recorded numbers): USD = contracts; base coins = contracts / mark_price.
Price: ``mark_price`` of the same contracts row; ``index_price``, then ``last_price`` when it is empty
or "0" (``price_kind`` says which).
Funding: the contracts row's ``funding_rate`` (the fraction longs pay per interval, as sent) per its
``funding_interval`` (seconds ÷ 3600 = hours; 28800 = 8 h in the doc example), next settlement
``funding_next_apply`` (unix seconds × 1000). A missing or unusable rate or interval gives funding
None, never a failed OI reading.
Counted: ``status`` trading, circuit_breaker or delisting (positions still open); ``total_size`` > 0.
Skipped: ``prelaunch``, ``delisted``, tickers absent from contracts, TradFi ``contract_type`` (stocks,
metals, forex, commodities), and any BTC-settled contract that is not BTC itself inverse (quanto coins
settled in BTC, none listed since 2025; the page says skip them).
Undecided on the page: ``contract_type`` "indices" is a TradFi class, but Gate's only recorded contract
(BTC_USDT) carries it as a placeholder; we keep "indices" (and "") rather than risk dropping crypto books.
Base: ``name`` before the first ``_`` through canonical_base (1000X → X, ×1000); Gate's ``M``-prefixed
names (MBABYDOGE) stay as they are (no verified alias).
Errors: HTTP non-2xx with ``{"label", "message"}`` (the poller's); such a body on 200 is rejected here.
Fixtures: tests/fixtures/gateio/.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Final

from server.core.errors import ImplausibleValue, VenueRateLimited, VenueRejected
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
    collect,
    field_of,
    funding_of,
    num,
    opt_num,
    optional,
    raw_figure,
    rows,
    text,
)

API: Final = "/api/v4/futures"
SETTLES: Final = ("usdt", "btc")
LINEAR_SETTLES: Final = frozenset({"usdt"})
OPEN_STATUSES: Final = frozenset({"trading", "circuit_breaker", "delisting"})
TRADFI_TYPES: Final = frozenset({"stocks", "metals", "forex", "commodities"})
INVERSE_CONTRACT_USD: Final = 1.0  # BTC_USD: one contract is 1 USD (quanto_multiplier "0")
PRICE_FIELDS: Final = ("mark_price", "index_price", "last_price")  # contracts rows, in order of preference
PRICE_KINDS: Final = (PriceKind.MARK, PriceKind.INDEX, PriceKind.LAST)
RATE_LIMIT_LABEL: Final = "TOO_MANY_REQUESTS"
# total_size / position_size in this band at the catalog refresh: total_size counts both sides
TWO_SIDED_RATIO: Final = (1.8, 2.2)
SECONDS_PER_HOUR: Final = 3600.0


class GateMarket(Market, frozen=True, kw_only=True):
    """A catalog market plus how its ``total_size`` counted at the catalog refresh (2.0: both sides,
    1.0: one side or unknown), for the fallback when ``position_size`` is missing."""

    total_size_sides: float


def total_size_sides(contract: Row, ticker: Row | None) -> float:
    """2.0 where the ticker's ``total_size`` was about twice the contract's ``position_size``, else 1.0."""
    if ticker is None:
        return 1.0
    long_side = optional(lambda: num(contract, "position_size"))
    total = optional(lambda: num(ticker, "total_size"))
    if not long_side or total is None:
        return 1.0
    low, high = TWO_SIDED_RATIO
    return 2.0 if low <= total / long_side <= high else 1.0


def tickers_by_contract(body: object | None) -> dict[str, Row]:
    """The optional tickers body by contract name; empty when the call failed or drifted."""
    found = optional(lambda: rows(body, "tickers"))
    return {str(row.get("contract")): row for row in found or ()}


def contract_market(row: Row, settle: str, ticker: Row | None = None) -> GateMarket | None:
    """A perpetual we count, or None (pre-launch, delisted, TradFi, quanto or undocumented)."""
    if text(row, "status") not in OPEN_STATUSES or row.get("contract_type", "") in TRADFI_TYPES:
        return None
    name = text(row, "name")
    coin = name.split("_")[0]
    base, factor = canonical_base(coin)
    multiplier = num(row, "quanto_multiplier")
    kind = text(row, "type")
    if kind == "direct" and settle in LINEAR_SETTLES and multiplier > 0:
        contract_size, contract_kind = multiplier, ContractKind.LINEAR  # base units per contract
    elif kind == "inverse" and coin == settle.upper() and multiplier == 0:
        contract_size, contract_kind = INVERSE_CONTRACT_USD, ContractKind.INVERSE
    else:
        return None
    return GateMarket(
        venue_symbol=name,
        base=base,
        base_factor=factor,
        kind=contract_kind,
        contract_size=contract_size,
        settle=settle.upper(),
        total_size_sides=total_size_sides(row, ticker),
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    def settle_markets(settle: str) -> list[GateMarket | None]:
        tickers = tickers_by_contract(bodies.get(f"tickers:{settle}"))
        return [
            contract_market(row, settle, tickers.get(str(row.get("name"))))
            for row in rows(bodies.one(f"contracts:{settle}"), f"{settle} contracts")
        ]

    return catalog_of(market for settle in SETTLES for market in settle_markets(settle))


def price(row: Row) -> tuple[float, PriceKind]:
    """``mark_price``, else ``index_price``, else ``last_price`` when the preferred one is empty or "0"
    (a negative one is no fallback case: market_oi rejects the row), with which one was used."""
    field_of(row, PRICE_FIELDS[0])  # always sent: its absence is drift, not a fallback case
    for name, kind in zip(PRICE_FIELDS, PRICE_KINDS, strict=True):
        value = opt_num(row, name)
        if value is not None and value != 0:
            return value, kind
    raise ImplausibleValue(f"no usable price in {', '.join(PRICE_FIELDS)}")


def open_interest(row: Row, market: Market, ticker: Row | None) -> tuple[float, Raw, Convention]:
    """One side's contracts: ``position_size``; without it, the ticker's ``total_size`` as the catalog
    refresh found it counting (halved where it was two-sided)."""
    if "position_size" in row or ticker is None:
        return (
            num(row, "position_size"),
            raw_figure(row, "position_size", RawUnit.CONTRACTS),
            (Convention.SINGLE_SIDE_FIELD),
        )
    sides = market.total_size_sides if isinstance(market, GateMarket) else 1.0
    convention = Convention.TWO_SIDED_HALVED if sides == 2.0 else Convention.ONE_SIDED
    return num(ticker, "total_size") / sides, raw_figure(ticker, "total_size", RawUnit.CONTRACTS), convention


def interval_hours(row: Row) -> float | None:
    """``funding_interval`` (seconds) in hours, or None where it is not a positive number."""
    seconds = num(row, "funding_interval")
    return seconds / SECONDS_PER_HOUR if seconds > 0 else None


def funding(row: Row) -> Funding | None:
    next_apply_s = optional(lambda: num(row, "funding_next_apply"))
    return funding_of(
        num(row, "funding_rate"),
        interval_hours(row),
        next_at_ms=None if next_apply_s is None else next_apply_s * 1000,
    )


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    contracts = [row for s in SETTLES for row in rows(bodies.one(f"contracts:{s}"), f"{s} contracts")]

    @cache
    def tickers() -> dict[str, Row]:
        """The optional tickers by contract, read only for the fallback: built on first need."""
        return {k: v for s in SETTLES for k, v in tickers_by_contract(bodies.get(f"tickers:{s}")).items()}

    def convert(row: Row) -> MarketOI | None:
        name = text(row, "name")
        market = catalog.markets.get(name)
        if market is None:
            return None  # pre-launch, delisted, TradFi or quanto
        ticker = None if "position_size" in row else tickers().get(name)
        size, raw, convention = open_interest(row, market, ticker)
        if size == 0:
            return None  # no open positions (reference page: skip)
        mark, kind = price(row)
        return market_oi(
            market,
            size,
            mark,
            raw=raw,
            price_kind=kind,
            convention=convention,
            funding=optional(lambda: funding(row)),
        )

    return collect(contracts, convert, label=lambda row: str(row.get("name")))


def check_envelope(body: object) -> None:
    """Gate answers errors with a non-2xx ``{"label", "message"}``; reject one that arrives as 200."""
    if isinstance(body, Mapping) and "label" in body:
        message = f"gate {body['label']}: {str(body.get('message'))[:120]}"
        if body["label"] == RATE_LIMIT_LABEL:
            raise VenueRateLimited(message, retry_after_s=10.0)
        raise VenueRejected(message)


def requests(key: str, path: str, *, optional: bool = False) -> tuple[Request, ...]:
    return tuple(Request(key=f"{key}:{s}", path=f"{API}/{s}/{path}", optional=optional) for s in SETTLES)


# contracts carry the one-sided figure, the mark price and funding; tickers only the fallback's total_size
REQUESTS: Final = (*requests("contracts", "contracts"), *requests("tickers", "tickers", optional=True))


SPEC: Final = VenueSpec(
    id="gateio",
    base_url="https://api.gateio.ws",
    docs_url="https://www.gate.com/docs/developers/apiv4/en/#listfuturestickers",
    catalog_requests=REQUESTS,
    parse_catalog=parse_catalog,
    cycle_requests=always(*REQUESTS),
    parse=parse,
    check_envelope=check_envelope,
)
