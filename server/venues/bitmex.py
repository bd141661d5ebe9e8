"""BitMEX REST v1, source ``bitmex``: inverse, linear and quanto perpetuals from one bulk call.

Docs: https://www.bitmex.com/api/explorer/#!/Instrument/Instrument_getActive
(contract definitions: https://www.bitmex.com/app/perpetualContractsGuide)

Endpoint: ``GET /api/v1/instrument/active``, one request per cycle and no catalog request: a JSON
array of every active instrument (perpetuals, dated futures, spot, indices), each record carrying its
multipliers *and* its open interest, so contract sizes come from the record they apply to. No
``columns`` filter: its list syntax is unverified, and the full body is a few hundred kB.
Numbers read (JSON numbers): ``openInterest`` (contracts); ``markPrice`` (quote currency per one
underlying); ``multiplier`` (settle minor units per contract per price unit, negative on inverse);
``underlyingToPositionMultiplier`` (linear: contracts per underlying); ``underlyingToSettleMultiplier``
(inverse: settle minor units per underlying, -1e8 for XBt). Settle minor units: ``XBt`` = 1e-8 XBT,
priced at XBTUSD's ``markPrice`` from the same response; ``USDt`` = 1e-6 USDT = 1e-6 USD.

Units (USD, USDT and USDC quotes taken as USD):
- inverse (``isInverse``: XBTUSD): a contract is multiplier / underlyingToSettleMultiplier quote units
  (1 USD): USD = contracts × size, base = USD / markPrice. A cross quoted in another currency (XBTETH:
  0.01 ETH a contract, markPrice in ETH per XBT) gives base = contracts × size / markPrice the same way,
  and USD = base × XBTUSD mark (an inverse contract settles in its own base coin, here XBt).
- linear (neither flag: XBTUSDT, JTOUSDT): base = contracts / underlyingToPositionMultiplier,
  USD = base × markPrice.
- quanto (``isQuanto``: ETHUSD, settled in XBt): a contract is ``multiplier`` XBt per USD of price:
  USD = contracts × multiplier / 1e8 × markPrice × XBTUSD mark. Base coins: the contract holds no fixed
  amount of ETH, but the reference page's rule base = USD / markPrice is exactly the position's ETH
  delta at current prices (dUSD/dETH price), the same at-mark reading inverse contracts get. Counted
  (``QUANTO_BASE_DERIVABLE``); with False, oi_base is None and the aggregate drops BitMEX's coin figure
  for every base that has a quanto book.
Price: each record's ``markPrice`` (BitMEX's fair price, at which positions are margined); XBt is
priced at XBTUSD's ``markPrice``, as the page says.
Funding: ``fundingRate`` (JSON number, a fraction: the rate paid at ``fundingTimestamp``, the next
settlement; positive = longs pay shorts; ``indicativeFundingRate``, the interval after, is not read).
Interval: ``fundingInterval``, which BitMEX sends as a timestamp measured from 2000-01-01T00:00Z
("2000-01-01T08:00:00.000Z" = 8 h), parsed here as that duration. ``fundingTimestamp`` (ISO) is
``next_at``. A missing or malformed rate or interval gives funding None and never touches the OI.
Provenance: raw = ``openInterest`` (contracts), convention one_sided, price mark (on the XBTETH cross,
XBTUSD's mark, which prices the XBT amount); margin asset = ``settlCurrency`` in whole units: ``XBt``
is XBT (inverse XBTUSD, the XBTETH cross and every quanto), ``USDt`` is USDT (linear).
One-sided: ``openInterest`` counts open contracts, each held by one long and one short, and
``openValue`` is that same count × contract value (the tests cross-check it): used as is, never halved.
Skipped: ``typ`` other than FFWCSX (dated FFCCSX, spot IFXXXP, ``.``-indices), ``state`` other than Open;
linear and quanto contracts not quoted in USD/USDT/USDC; settle currencies other than XBt/USDt and
XBt-priced rows when the response has no XBTUSD mark (both as counted skips).
Naming: ``underlying`` XBT is BTC; a ``1000``-prefixed underlying (none seen) would count × 1000.
Errors: HTTP 4xx/5xx with ``{"error": {"message", "name"}}`` (the http layer maps statuses; such a
body arriving with HTTP 200 is rejected here too). Fixtures: tests/fixtures/bitmex/.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from server.core.errors import ImplausibleValue, VenueRejected
from server.core.model import ContractKind, Funding, Market, MarketOI, ParsedPoll, PriceKind, RawUnit
from server.core.symbols import canonical_base
from server.core.units import market_oi, quanto_market_oi, reported_oi, require_amount, require_price
from server.venues.base import (
    Bodies,
    Catalog,
    Request,
    Row,
    VenueSpec,
    always,
    collect,
    field_of,
    flag,
    funding_of,
    num,
    obj,
    opt_num,
    optional,
    raw_figure,
    rows,
    text,
)

INSTRUMENTS_PATH: Final = "/api/v1/instrument/active"
PERPETUAL: Final = "FFWCSX"
OPEN: Final = "Open"
XBT_PRICE_SYMBOL: Final = "XBTUSD"  # its markPrice prices XBt
USD_QUOTES: Final = frozenset({"USD", "USDT", "USDC"})
SETTLE_SCALE: Final = {"XBt": 1e8, "USDt": 1e6}  # minor units per settle coin
SETTLE_ASSET: Final = {"XBt": "XBT", "USDt": "USDT"}  # the margin asset each minor unit belongs to
FUNDING_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)  # fundingInterval counts from here
HOUR_S: Final = 3600.0
QUANTO_BASE_DERIVABLE: Final = True


def nullable_num(row: Row, name: str) -> float:
    """A number BitMEX may send as null on a live row: absent is drift, null is a bad row."""
    if field_of(row, name) is None:
        raise ImplausibleValue(f"field {name!r} is null")
    return num(row, name)


def multiplier(row: Row, name: str) -> float:
    """A multiplier field (null or absent on other contract types): without it a row is bad."""
    value = opt_num(row, name)
    if value is None or value == 0:
        raise ImplausibleValue(f"{name} {value!r} cannot size a contract")
    return value


def instrument_market(row: Row) -> Market | None:
    """The perpetual an instrument record describes, or None (dated, spot, index, not open)."""
    if text(row, "typ") != PERPETUAL or text(row, "state") != OPEN:
        return None
    settle = text(row, "settlCurrency")
    if settle not in SETTLE_SCALE:
        raise ImplausibleValue(f"unsupported settle currency {settle!r}")
    if flag(row, "isInverse"):  # quote units per contract
        kind = ContractKind.INVERSE
        size = multiplier(row, "multiplier") / multiplier(row, "underlyingToSettleMultiplier")
    elif flag(row, "isQuanto"):  # settle coins per contract per USD of price
        kind, size = ContractKind.QUANTO, multiplier(row, "multiplier") / SETTLE_SCALE[settle]
    else:  # underlying units per contract
        kind, size = ContractKind.LINEAR, 1 / multiplier(row, "underlyingToPositionMultiplier")
    if size <= 0:
        raise ImplausibleValue(f"{kind} contract size {size!r} is not positive")
    base, factor = canonical_base(text(row, "underlying"))
    return Market(
        venue_symbol=text(row, "symbol"),
        base=base,
        base_factor=factor,
        kind=kind,
        contract_size=size,
        settle=SETTLE_ASSET[settle],
    )


def settle_price_usd(market: Market, xbt_usd: float | None) -> float:
    if market.settle == SETTLE_ASSET["USDt"]:
        return 1.0
    if xbt_usd is None:
        raise ImplausibleValue(f"no {XBT_PRICE_SYMBOL} mark to price XBt")
    return xbt_usd


def iso_time(row: Row, name: str) -> datetime:
    """An ISO-8601 UTC timestamp field ("2024-03-02T04:00:00.000Z")."""
    value = text(row, name)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ImplausibleValue(f"field {name!r}: {value[:40]!r} is not an ISO time") from None
    if moment.tzinfo is None:
        raise ImplausibleValue(f"field {name!r}: {value[:40]!r} has no time zone")
    return moment


def instrument_funding(row: Row) -> Funding | None:
    """``fundingRate`` per ``fundingInterval`` (a time since 2000-01-01T00:00Z read as a duration),
    paid at ``fundingTimestamp``."""
    interval_h = (iso_time(row, "fundingInterval") - FUNDING_EPOCH).total_seconds() / HOUR_S
    next_at = optional(lambda: iso_time(row, "fundingTimestamp").timestamp() * 1000)
    return funding_of(num(row, "fundingRate"), interval_h, next_at_ms=next_at)


def instrument_oi(row: Row, xbt_usd: float | None) -> MarketOI | None:
    """One instrument record; ``xbt_usd`` is XBTUSD's mark from the same response (None if absent)."""
    market = instrument_market(row)
    if market is None:
        return None
    contracts, mark = nullable_num(row, "openInterest"), nullable_num(row, "markPrice")
    usd_quoted = text(row, "quoteCurrency") in USD_QUOTES
    raw = raw_figure(row, "openInterest", RawUnit.CONTRACTS)
    funding = optional(lambda: instrument_funding(row))
    if market.kind is ContractKind.QUANTO:
        if not usd_quoted:
            return None
        settle_usd = settle_price_usd(market, xbt_usd)
        return quanto_market_oi(
            market,
            contracts,
            mark,
            settle_usd,
            base_derivable=QUANTO_BASE_DERIVABLE,
            raw=raw,
            price_kind=PriceKind.MARK,
            funding=funding,
        )
    if usd_quoted:
        return market_oi(market, contracts, mark, raw=raw, price_kind=PriceKind.MARK, funding=funding)
    if market.kind is ContractKind.INVERSE:  # a cross such as XBTETH: base coin = settle coin
        require_amount(contracts, f"{market.venue_symbol} open interest")
        oi_base = contracts * market.contract_size / require_price(mark, f"{market.venue_symbol} price")
        price_usd = settle_price_usd(market, xbt_usd)  # XBTUSD's mark
        return reported_oi(
            market,
            oi_base=oi_base,
            oi_usd=oi_base * price_usd,
            price_usd=price_usd,
            raw=raw,
            price_kind=PriceKind.MARK,
            funding=funding,
        )
    return None


def xbt_mark(instruments: Sequence[Row]) -> float | None:
    """XBTUSD's markPrice, or None when it is missing or unusable (XBt rows are then skipped)."""
    for row in instruments:
        if row.get("symbol") == XBT_PRICE_SYMBOL:
            try:
                return require_price(nullable_num(row, "markPrice"), XBT_PRICE_SYMBOL)
            except ImplausibleValue:
                return None
    return None


def parse(_: Catalog, bodies: Bodies) -> ParsedPoll:
    instruments = rows(bodies.one("instruments"), "instrument/active")
    xbt_usd = xbt_mark(instruments)
    return collect(
        instruments, lambda row: instrument_oi(row, xbt_usd), label=lambda row: str(row.get("symbol"))
    )


def check_envelope(body: object) -> None:
    """BitMEX errors are ``{"error": {"message", "name"}}``; a success is a bare array."""
    if isinstance(body, dict) and "error" in body:
        error = obj(body["error"], "error")
        raise VenueRejected(f"bitmex {error.get('name')}: {str(error.get('message'))[:120]}")


SPEC: Final = VenueSpec(
    id="bitmex",
    base_url="https://www.bitmex.com",
    docs_url="https://www.bitmex.com/api/explorer/#!/Instrument/Instrument_getActive",
    cycle_requests=always(Request(key="instruments", path=INSTRUMENTS_PATH)),
    parse=parse,
    check_envelope=check_envelope,
)
