"""MEXC contract API v1, source ``mexc``: linear (USDT/USDC) and inverse perpetuals from one bulk call.

Docs: https://mexcdevelop.github.io/apidocs/contract_v1_en/ (ticker, detail, error codes)

Endpoints (every number is a JSON number; envelope ``{"success", "code", "data"}``):
- catalog, hourly: ``GET /api/v1/contract/detail`` (all contracts; its 1 request / 5 s limit keeps it
  out of the cycle): ``symbol``, ``baseCoin``, ``quoteCoin``, ``settleCoin``, ``contractSize``,
  ``state``, ``futureType`` (2025 docs only).
- cycle: ``GET /api/v1/contract/ticker`` without ``symbol`` (``data`` is an array; with a symbol it is
  one object, which we read too): ``holdVol`` (open interest in contracts), ``fairPrice``.

Units: ``contractSize`` comes from the detail catalog, never hard-coded.
- linear (``settleCoin`` = ``quoteCoin``): a contract is ``contractSize`` base coins (BTC_USDT 0.0001):
  base = holdVol × contractSize; USD = base × fairPrice. USDT and USDC books add up per ``baseCoin``.
- inverse (``settleCoin`` = ``baseCoin``, quote USD): a contract is ``contractSize`` USD:
  USD = holdVol × contractSize; base = USD / fairPrice. No inverse detail row was ever recorded, so
  the face value is checked against the known 100 USD (BTC) / 10 USD (others); a market whose
  ``contractSize`` differs is a skipped row (reported), never a guessed conversion.
Price: ``fairPrice`` (MEXC's mark price, what positions are valued at), from the same ticker row;
``indexPrice`` and then ``lastPrice`` only when it is not a positive number (reference page).
One-sided: undecided on the reference page (``holdVol`` is "total holdings" / "open interest
(contracts)", no word on sides). We take it as one-sided, as the page does: 4.16 bn USD of BTC_USDT in
the 2025 doc example is the size of a top venue's one-sided figure. Needs a live cross-check.
Counted: ``state`` 0 (enabled) and, where ``futureType`` is present, 1 (perpetual); rows with
``holdVol`` 0 and tickers missing from the catalog are skipped. MEXC names cheap coins plainly with a
large ``contractSize`` (SHIB_USDT 1000); a ``1000``-prefixed ``baseCoin`` still gets its factor.
Errors: HTTP 200 with ``success`` false and a non-zero ``code`` (510 = too frequent).
Not handled here: the page's fallback host ``api.mexc.com`` (the shared poller has one base URL;
``--venue-url mexc=https://api.mexc.com`` switches it). Fixtures: tests/fixtures/mexc/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from server.core.errors import ImplausibleValue, VenueRateLimited, VenueRejected
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
    field_of,
    first_price,
    num,
    obj,
    opt_num,
    rows,
    text,
)

DETAIL_PATH: Final = "/api/v1/contract/detail"
TICKER_PATH: Final = "/api/v1/contract/ticker"
ENABLED_STATE: Final = 0
PERPETUAL_FUTURE_TYPE: Final = 1
PRICE_FIELDS: Final = ("fairPrice", "indexPrice", "lastPrice")  # mark first, fallbacks after
INVERSE_FACE_USD: Final = {"BTC": 100.0}  # every other coin-margined contract: 10 USD
OTHER_INVERSE_FACE_USD: Final = 10.0
RATE_LIMIT_CODE: Final = 510


def data_rows(body: object, what: str) -> Sequence[Row]:
    """``data`` as rows: an array for all contracts, one object when a ``symbol`` was asked for."""
    data = field_of(obj(body, what), "data")
    return [data] if isinstance(data, Mapping) else rows(data, f"{what}.data")


def contract_kind(row: Row) -> ContractKind | None:
    settle = text(row, "settleCoin")
    if settle == text(row, "quoteCoin"):
        return ContractKind.LINEAR
    if settle == text(row, "baseCoin"):
        return ContractKind.INVERSE
    return None


def detail_market(row: Row) -> Market | None:
    future_type = opt_num(row, "futureType")  # absent before the 2025 docs
    if num(row, "state") != ENABLED_STATE or future_type not in (None, PERPETUAL_FUTURE_TYPE):
        return None
    kind = contract_kind(row)
    if kind is None:
        return None
    base, factor = canonical_base(text(row, "baseCoin"))
    return Market(
        venue_symbol=text(row, "symbol"),
        base=base,
        base_factor=factor,
        kind=kind,
        contract_size=num(row, "contractSize"),  # base coins (linear) or USD (inverse)
        settle=text(row, "settleCoin"),
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    return catalog_of(detail_market(row) for row in data_rows(bodies.one("detail"), "contract/detail"))


def mark_price(row: Row) -> float:
    """``fairPrice``, else ``indexPrice``, else ``lastPrice`` when it is not positive; each field read
    is required (absent or null is SchemaDrift)."""
    return first_price(row, PRICE_FIELDS, read=num)


def check_inverse_face(market: Market) -> None:
    expected = INVERSE_FACE_USD.get(market.base, OTHER_INVERSE_FACE_USD)
    if market.kind is ContractKind.INVERSE and market.contract_size != expected:
        raise ImplausibleValue(f"inverse contractSize {market.contract_size!r}, expected {expected!r} USD")


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "symbol"))
        if market is None:
            return None  # not an enabled perpetual in the catalog
        contracts = num(row, "holdVol")
        if contracts == 0:
            return None  # reference page: nothing open, not counted
        check_inverse_face(market)
        return market_oi(market, contracts, mark_price(row))

    ticker = data_rows(bodies.one("ticker"), "contract/ticker")
    return collect(ticker, convert, label=lambda row: str(row.get("symbol")))


def check_envelope(body: object) -> None:
    """Every MEXC body carries ``success`` and ``code`` (0 = OK), whatever the HTTP status."""
    envelope = obj(body, "mexc response")
    code = field_of(envelope, "code")
    if field_of(envelope, "success") is True and code == 0:
        return
    message = f"mexc code {code}: {str(envelope.get('message'))[:120]}"
    if code == RATE_LIMIT_CODE:
        raise VenueRateLimited(message, retry_after_s=2.0)
    raise VenueRejected(message)


SPEC: Final = VenueSpec(
    id="mexc",
    base_url="https://contract.mexc.com",
    docs_url="https://mexcdevelop.github.io/apidocs/contract_v1_en/",
    catalog_requests=(Request(key="detail", path=DETAIL_PATH),),
    parse_catalog=parse_catalog,
    cycle_requests=always(Request(key="ticker", path=TICKER_PATH)),
    parse=parse,
    check_envelope=check_envelope,
)
