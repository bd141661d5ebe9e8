"""Bitget v2 mix API, source ``bitget``: USDT-M, USDC-M and coin-margined perpetuals, three bulk calls.

Docs: https://www.bitget.com/api-doc/contract/market/Get-All-Symbol-Ticker

Endpoints (numbers are JSON strings; envelope ``{"code": "00000", "msg", "requestTime", "data": [...]}``),
one request per product type USDT-FUTURES, USDC-FUTURES, COIN-FUTURES (demo S*-FUTURES never polled):
- catalog, hourly: ``GET /api/v2/mix/market/contracts?productType=...``: ``symbol``, ``baseCoin``,
  ``symbolType`` (perpetual / delivery), ``symbolStatus``, ``isRwa`` (newer doc field, optional).
- cycle: ``GET /api/v2/mix/market/tickers?productType=...``: ``holdingAmount`` (open interest in base
  coin: "current positions in the unit of number of coins traded"), ``markPrice``, ``indexPrice``,
  ``lastPr`` (quote currency per base coin: USDT, USDC or USD).

Funding: tickers ``fundingRate`` (a fraction per interval, positive = longs pay; taken as sent) per the
contracts' ``fundInterval`` (hours, per symbol: 1, 2, 4 or 8; the notes' B.1 row and the v2 contracts
doc). Bitget's tickers carry no next funding time, so ``next_at_ms`` is None. A missing or unusable
``fundingRate`` or ``fundInterval`` gives funding None, never a failed or delayed OI reading.
Provenance: ``raw`` = ``holdingAmount`` (base coin), convention one_sided, price_kind mark / index /
last as used for that row.

Units: Bitget sizes every futures position in base coin, in all three product types, so there is no
contract size to read (``sizeMultiplier`` is the order-quantity step, never a contract value):
- USDT-/USDC-FUTURES (linear): base coins = holdingAmount × prefix factor; USD = holdingAmount × markPrice.
- COIN-FUTURES (inverse, settled in the coin): the same formulas; holdingAmount is still in base coin.
Price: ``markPrice`` of the same ticker row (same ``ts``); ``indexPrice``, then ``lastPr`` when it is empty
or "0" (reference page). USDT and USDC are taken as 1 USD.
Counted: contracts ``symbolType`` perpetual, ``symbolStatus`` normal / limit_open / restrictedAPI /
maintain, ``isRwa`` not YES, ``holdingAmount`` > 0. Skipped: deliveries (``ETHUSD_231229``), ``listed``
(pre-launch) and ``off`` contracts, RWA underlyings, tickers absent from contracts, zero holdings.
Base: contracts ``baseCoin``, never the symbol (USDC books are named ``BTCPERP``); all three books of a
coin add up under it. A 1000-prefixed ``baseCoin`` goes through canonical_base (none recorded: the
page's service-wide rule, unverified for Bitget).
One-sided: Bitget's docs do not say whether longs and shorts are summed; there is no long/short split and
the reference page finds no contrary evidence, so ``holdingAmount`` is used as is, each position once
(the page's decision, unverified live).
Errors: any ``code`` other than "00000" is VenueRejected (HTTP 429 is the poller's).
Fixtures: tests/fixtures/bitget/.
"""

from __future__ import annotations

from typing import Final

from server.core.errors import ImplausibleValue
from server.core.model import ContractKind, Convention, Market, MarketOI, ParsedPoll, PriceKind, RawUnit
from server.core.symbols import canonical_base
from server.core.units import reported_oi
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
    field_rows,
    funding_of,
    num,
    opt_num,
    optional,
    raw_figure,
    text,
)

API: Final = "/api/v2/mix/market"
# product type → (kind, settle currency; None = the base coin itself)
PRODUCT_TYPES: Final[dict[str, tuple[ContractKind, str | None]]] = {
    "USDT-FUTURES": (ContractKind.LINEAR, "USDT"),
    "USDC-FUTURES": (ContractKind.LINEAR, "USDC"),
    "COIN-FUTURES": (ContractKind.INVERSE, None),
}
OPEN_STATUSES: Final = frozenset({"normal", "limit_open", "restrictedAPI", "maintain"})
PRICE_FIELDS: Final = ("markPrice", "indexPrice", "lastPr")  # in order of preference
PRICE_KINDS: Final = (PriceKind.MARK, PriceKind.INDEX, PriceKind.LAST)
SUCCESS: Final = "00000"


class BitgetMarket(Market, frozen=True, kw_only=True):
    """A catalog market plus its funding interval (contracts ``fundInterval``, hours; None if unusable)."""

    funding_interval_h: float | None


def funding_interval_h(row: Row) -> float | None:
    """``fundInterval`` in hours ("8"), or None where it is missing, unusable or not positive."""
    hours = optional(lambda: num(row, "fundInterval"))
    return hours if hours is not None and hours > 0 else None


def contract_market(row: Row, product_type: str) -> Market | None:
    """A perpetual we count, or None (delivery, pre-launch, offline, RWA)."""
    if (
        text(row, "symbolType") != "perpetual"
        or text(row, "symbolStatus") not in OPEN_STATUSES
        or row.get("isRwa") == "YES"
    ):
        return None
    kind, settle = PRODUCT_TYPES[product_type]
    coin = text(row, "baseCoin")
    base, factor = canonical_base(coin)
    return BitgetMarket(
        venue_symbol=text(row, "symbol"),
        base=base,
        base_factor=factor,
        kind=kind,
        contract_size=1.0,  # sizes are base coin in every product type: no contract unit
        settle=settle or coin,
        funding_interval_h=funding_interval_h(row),
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    return catalog_of(
        contract_market(row, product_type)
        for product_type in PRODUCT_TYPES
        for row in field_rows(bodies.one(f"contracts:{product_type}"), "data", "contracts")
    )


def price(row: Row) -> tuple[float, PriceKind]:
    """``markPrice``, else ``indexPrice``, else ``lastPr`` when the preferred one is empty or "0"
    (a negative one is no fallback case: reported_oi rejects the row), with which one was used."""
    field_of(row, PRICE_FIELDS[0])  # always sent: its absence is drift, not a fallback case
    for name, kind in zip(PRICE_FIELDS, PRICE_KINDS, strict=True):
        value = opt_num(row, name)
        if value is not None and value != 0:
            return value, kind
    raise ImplausibleValue(f"no usable price in {', '.join(PRICE_FIELDS)}")


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    tickers = [
        row for pt in PRODUCT_TYPES for row in field_rows(bodies.one(f"tickers:{pt}"), "data", "tickers")
    ]

    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "symbol"))
        if market is None:
            return None  # delivery, pre-launch, offline or RWA
        holding = num(row, "holdingAmount")  # base coin, one side
        if holding == 0:
            return None  # no open positions (reference page: skip)
        mark, kind = price(row)
        interval = market.funding_interval_h if isinstance(market, BitgetMarket) else None
        return reported_oi(
            market,
            oi_base=holding,
            oi_usd=holding * mark,
            price_usd=mark,
            raw=raw_figure(row, "holdingAmount", RawUnit.BASE),
            price_kind=kind,
            convention=Convention.ONE_SIDED,
            funding=optional(lambda: funding_of(num(row, "fundingRate"), interval)),
        )

    return collect(tickers, convert, label=lambda row: str(row.get("symbol")))


# Every v2 body carries ``code`` (a string): "00000" is success; no in-body rate-limit code is read.
check_envelope: Final = code_envelope("bitget", "code", SUCCESS)


def requests(key: str, path: str) -> tuple[Request, ...]:
    return tuple(
        Request(key=f"{key}:{pt}", path=f"{API}/{path}", params=(("productType", pt),))
        for pt in PRODUCT_TYPES
    )


SPEC: Final = VenueSpec(
    id="bitget",
    base_url="https://api.bitget.com",
    docs_url="https://www.bitget.com/api-doc/contract/market/Get-All-Symbol-Ticker",
    catalog_requests=requests("contracts", "contracts"),
    parse_catalog=parse_catalog,
    cycle_requests=always(*requests("tickers", "tickers")),
    parse=parse,
    check_envelope=check_envelope,
)
