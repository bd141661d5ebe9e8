"""Gate APIv4 futures, source ``gateio``: USDT-settled (linear) and BTC-settled (inverse) perpetuals.

Docs: https://www.gate.com/docs/developers/apiv4/en/#listfuturestickers

Endpoints (bare JSON arrays, no envelope; numbers are strings, some older ones JSON numbers), per settle
currency ``usdt`` and ``btc``; everything under ``/futures/`` is perpetual (dated futures live under
``/delivery/``, never polled):
- catalog, hourly: ``GET /api/v4/futures/{settle}/contracts``: ``name``, ``type`` (direct / inverse),
  ``quanto_multiplier`` (base units per contract), ``status``, ``contract_type`` (TradFi class, optional).
- cycle: ``GET /api/v4/futures/{settle}/tickers``: ``total_size`` (open interest in contracts),
  ``mark_price`` / ``index_price`` / ``last`` (USDT, or USD for BTC_USD, per base unit).

Units (contract sizes from the catalog, never hard-coded):
- ``*_USDT`` (type direct): a contract is ``quanto_multiplier`` base units (0.0001 BTC for BTC_USDT,
  10000 SHIB for SHIB_USDT): base coins = total_size × multiplier × prefix factor; USD = that × mark_price.
- ``BTC_USD`` (type inverse, settle btc): a contract is 1 USD (``quanto_multiplier`` "0"; the page's
  reading, confirmed by recorded numbers): USD = total_size; base coins = total_size / mark_price.
Price: ``mark_price`` of the same ticker row; ``index_price``, then ``last`` when it is empty or "0".
Counted: ``status`` trading, circuit_breaker or delisting (positions still open); ``total_size`` > 0.
Skipped: ``prelaunch``, ``delisted``, tickers absent from contracts, TradFi ``contract_type`` (stocks,
metals, forex, commodities), and any BTC-settled contract that is not BTC itself inverse (quanto coins
settled in BTC, none listed since 2025; the page says skip them).
Undecided on the page: ``contract_type`` "indices" is a TradFi class, but Gate's only recorded contract
(BTC_USDT) carries it as a placeholder; we keep "indices" (and "") rather than risk dropping crypto books.
Base: ``name`` before the first ``_`` through canonical_base (1000X → X, ×1000); Gate's ``M``-prefixed
names (MBABYDOGE) stay as they are (no verified alias).
One-sided: the contracts doc defines ``position_size`` as "current total long position size", and real
data show ``total_size`` equal to it (12,791,802 vs 12,785,272 contracts on BTC_USD), so used as is.
Errors: HTTP non-2xx with ``{"label", "message"}`` (the poller's); such a body on 200 is rejected here.
Fixtures: tests/fixtures/gateio/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from server.core.errors import VenueRateLimited, VenueRejected
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
    collect,
    first_price,
    num,
    rows,
    text,
)

API: Final = "/api/v4/futures"
SETTLES: Final = ("usdt", "btc")
LINEAR_SETTLES: Final = frozenset({"usdt"})
OPEN_STATUSES: Final = frozenset({"trading", "circuit_breaker", "delisting"})
TRADFI_TYPES: Final = frozenset({"stocks", "metals", "forex", "commodities"})
INVERSE_CONTRACT_USD: Final = 1.0  # BTC_USD: one contract is 1 USD (quanto_multiplier "0")
PRICE_FIELDS: Final = ("mark_price", "index_price", "last")  # in order of preference
RATE_LIMIT_LABEL: Final = "TOO_MANY_REQUESTS"


def contract_market(row: Row, settle: str) -> Market | None:
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
    return Market(
        venue_symbol=name,
        base=base,
        base_factor=factor,
        kind=contract_kind,
        contract_size=contract_size,
        settle=settle.upper(),
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    return catalog_of(
        contract_market(row, settle)
        for settle in SETTLES
        for row in rows(bodies.one(f"contracts:{settle}"), f"{settle} contracts")
    )


def price(row: Row) -> float:
    """``mark_price``, else ``index_price``, else ``last`` when the preferred one is empty or "0"
    (a negative one is no fallback case: market_oi rejects the row)."""
    return first_price(row, PRICE_FIELDS, usable=lambda value: value != 0)


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    tickers = [row for s in SETTLES for row in rows(bodies.one(f"tickers:{s}"), f"{s} tickers")]

    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "contract"))
        if market is None:
            return None  # pre-launch, delisted, TradFi or quanto
        contracts = num(row, "total_size")  # one side
        if contracts == 0:
            return None  # no open positions (reference page: skip)
        return market_oi(market, contracts, price(row))

    return collect(tickers, convert, label=lambda row: str(row.get("contract")))


def check_envelope(body: object) -> None:
    """Gate answers errors with a non-2xx ``{"label", "message"}``; reject one that arrives as 200."""
    if isinstance(body, Mapping) and "label" in body:
        message = f"gate {body['label']}: {str(body.get('message'))[:120]}"
        if body["label"] == RATE_LIMIT_LABEL:
            raise VenueRateLimited(message, retry_after_s=10.0)
        raise VenueRejected(message)


def requests(key: str, path: str) -> tuple[Request, ...]:
    return tuple(Request(key=f"{key}:{s}", path=f"{API}/{s}/{path}") for s in SETTLES)


SPEC: Final = VenueSpec(
    id="gateio",
    base_url="https://api.gateio.ws",
    docs_url="https://www.gate.com/docs/developers/apiv4/en/#listfuturestickers",
    catalog_requests=requests("contracts", "contracts"),
    parse_catalog=parse_catalog,
    cycle_requests=always(*requests("tickers", "tickers")),
    parse=parse,
    check_envelope=check_envelope,
)
