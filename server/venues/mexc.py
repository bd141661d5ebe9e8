"""MEXC contract API v1, source ``mexc``: linear (USDT/USDC) and inverse perpetuals from one bulk call.

Docs: https://mexcdevelop.github.io/apidocs/contract_v1_en/ (ticker, detail, error codes)

Endpoints (every number is a JSON number; envelope ``{"success", "code", "data"}``):
- catalog, hourly: ``GET /api/v1/contract/detail`` (all contracts; its 1 request / 5 s limit keeps it
  out of the cycle): ``symbol``, ``baseCoin``, ``quoteCoin``, ``settleCoin``, ``contractSize``,
  ``state``, ``futureType`` (2025 docs only).
- catalog, hourly, optional: ``GET /api/v1/contract/funding_rate`` without a symbol (Funding below).
- cycle: ``GET /api/v1/contract/ticker`` without ``symbol`` (``data`` is an array; with a symbol it is
  one object, which we read too): ``holdVol`` (open interest in contracts), ``fairPrice``, ``fundingRate``.

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
Provenance: ``raw`` = ``holdVol`` (contracts), convention one_sided, price_kind mark (``fairPrice``),
index or last as used for that row.
Funding: the ticker's ``fundingRate`` (a JSON number, the fraction longs pay per interval, as sent) per the
symbol's ``collectCycle`` (hours; "charge cycle", 8 in the doc example). MEXC documents ``collectCycle``
only on ``GET /api/v1/contract/funding_rate/{symbol}`` (20 req / 2 s): one request per symbol, ~800 symbols,
i.e. 80 s of MEXC's whole budget per sweep. The same path without a symbol answers every contract at once in
the per-symbol rows' shape (``data`` an array); MEXC's page does not list that form, but JKorf/Mexc.Net
implements it (``GetFundingRatesAsync``; its test body is
tests/fixtures/mexc/contract_funding_rate_all.json). We read it once an hour as an *optional catalog
request*: one call, no pacing, nothing added to the cycle, and the intervals live in the catalog
(``MexcMarket.funding_interval_h``), the only place a pure parser can remember them. Why not the per-symbol
form: catalog requests are a fixed list fetched before the catalog exists, so they cannot name symbols, and
a per-symbol rotation in the cycle has nowhere to keep what earlier cycles learnt (parse is pure); a
per-symbol refresh needs a poller stage whose requests depend on the catalog. If the bulk call fails or
drops a symbol, those markets get funding None (never a guessed 8 h) until the next hourly refresh; their OI
is unaffected. ``next_at_ms``: the catalog's ``nextSettleTime`` stepped by whole intervals to the first
settlement after the ticker row's ``timestamp``.
Counted: ``state`` 0 (enabled) and, where ``futureType`` is present, 1 (perpetual); rows with
``holdVol`` 0 and tickers missing from the catalog are skipped. MEXC names cheap coins plainly with a
large ``contractSize`` (SHIB_USDT 1000); a ``1000``-prefixed ``baseCoin`` still gets its factor.
Errors: HTTP 200 with ``success`` false and a non-zero ``code`` (510 = too frequent).
Not handled here: the page's fallback host ``api.mexc.com`` (the shared poller has one base URL;
``--venue-url mexc=https://api.mexc.com`` switches it). Fixtures: tests/fixtures/mexc/.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
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
    obj,
    opt_num,
    optional,
    raw_figure,
    rows,
    text,
)

DETAIL_PATH: Final = "/api/v1/contract/detail"
TICKER_PATH: Final = "/api/v1/contract/ticker"
FUNDING_PATH: Final = "/api/v1/contract/funding_rate"  # no symbol: every contract (see Funding)
HOUR_MS: Final = 3_600_000
ENABLED_STATE: Final = 0
PERPETUAL_FUTURE_TYPE: Final = 1
PRICE_FIELDS: Final = ("fairPrice", "indexPrice", "lastPrice")  # mark first, fallbacks after
PRICE_KINDS: Final = (PriceKind.MARK, PriceKind.INDEX, PriceKind.LAST)
INVERSE_FACE_USD: Final = {"BTC": 100.0}  # every other coin-margined contract: 10 USD
OTHER_INVERSE_FACE_USD: Final = 10.0
RATE_LIMIT_CODE: Final = 510


class MexcMarket(Market, frozen=True, kw_only=True):
    """A catalog market plus its funding schedule from the hourly funding call (None: unknown)."""

    funding_interval_h: float | None = None
    next_settle_ms: float | None = None


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


def schedule(row: Row) -> tuple[str, float, float | None]:
    """One funding row: symbol, ``collectCycle`` (hours, positive) and ``nextSettleTime`` (ms) if usable."""
    hours = num(row, "collectCycle")
    if hours <= 0:
        raise ImplausibleValue(f"collectCycle {hours!r}")
    return text(row, "symbol"), hours, optional(lambda: num(row, "nextSettleTime"))


def funding_schedules(body: object | None) -> dict[str, tuple[float, float | None]]:
    """symbol → (``collectCycle`` hours, ``nextSettleTime`` ms or None) from the optional funding call;
    a failed or drifted call, or an unusable row, leaves its symbols out (their interval is unknown)."""
    found = optional(lambda: data_rows(body, "contract/funding_rate")) or ()
    usable = (optional(partial(schedule, row)) for row in found)
    return {symbol: (hours, next_ms) for symbol, hours, next_ms in filter(None, usable)}


def detail_market(row: Row, schedules: Mapping[str, tuple[float, float | None]]) -> MexcMarket | None:
    future_type = opt_num(row, "futureType")  # absent before the 2025 docs
    if num(row, "state") != ENABLED_STATE or future_type not in (None, PERPETUAL_FUTURE_TYPE):
        return None
    kind = contract_kind(row)
    if kind is None:
        return None
    base, factor = canonical_base(text(row, "baseCoin"))
    symbol = text(row, "symbol")
    interval, next_settle = schedules.get(symbol, (None, None))
    return MexcMarket(
        venue_symbol=symbol,
        base=base,
        base_factor=factor,
        kind=kind,
        contract_size=num(row, "contractSize"),  # base coins (linear) or USD (inverse)
        settle=text(row, "settleCoin"),
        funding_interval_h=interval,
        next_settle_ms=next_settle,
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    schedules = funding_schedules(bodies.get("funding"))
    return catalog_of(
        detail_market(row, schedules) for row in data_rows(bodies.one("detail"), "contract/detail")
    )


def mark_price(row: Row) -> tuple[float, PriceKind]:
    """``fairPrice``, else ``indexPrice``, else ``lastPrice`` when it is not positive, with which one
    was used; each field read is required (absent or null is SchemaDrift)."""
    for name, kind in zip(PRICE_FIELDS, PRICE_KINDS, strict=True):
        value = num(row, name)
        if value > 0:
            return value, kind
    raise ImplausibleValue(f"no usable price in {', '.join(PRICE_FIELDS)}")


def next_settlement_ms(first_ms: float, interval_h: float, now_ms: float) -> float:
    """The first settlement after ``now_ms`` on the schedule through ``first_ms`` every ``interval_h``."""
    step = interval_h * HOUR_MS
    if now_ms < first_ms:
        return first_ms
    return first_ms + (math.floor((now_ms - first_ms) / step) + 1) * step


def funding(market: Market, row: Row) -> Funding | None:
    if not isinstance(market, MexcMarket) or market.funding_interval_h is None:
        return None  # the hourly funding call has not given this symbol's interval
    interval = market.funding_interval_h
    first = market.next_settle_ms
    now = optional(lambda: num(row, "timestamp"))
    return funding_of(
        num(row, "fundingRate"),
        interval,
        next_at_ms=None if first is None or now is None else next_settlement_ms(first, interval, now),
    )


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
        price, kind = mark_price(row)
        return market_oi(
            market,
            contracts,
            price,
            raw=raw_figure(row, "holdVol", RawUnit.CONTRACTS),
            price_kind=kind,
            convention=Convention.ONE_SIDED,
            funding=optional(lambda: funding(market, row)),
        )

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
    catalog_requests=(
        Request(key="detail", path=DETAIL_PATH),
        Request(key="funding", path=FUNDING_PATH, optional=True),
    ),
    parse_catalog=parse_catalog,
    cycle_requests=always(Request(key="ticker", path=TICKER_PATH)),
    parse=parse,
    check_envelope=check_envelope,
)
