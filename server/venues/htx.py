"""HTX (ex-Huobi), source ``htx``: USDT-margined and coin-margined perpetual swaps, two bulk OI calls.

Docs: https://www.htx.com/en-us/opend/newApiPages/?id=8cb80166-77b5-11ed-9966-0242ac110003 (USDT-M OI;
coin-M OI ?id=5d5173ee-77b6-11ed-9966-0242ac110003; contract info ?id=8cb802c2-… and ?id=5d516f96-…)

Endpoints (numbers are JSON numbers; envelope ``{"status": "ok", "data": [...], "ts"}``), one pair per
product, ``/linear-swap-api/v1`` (USDT-M, codes ``BTC-USDT``) and ``/swap-api/v1`` (coin-M, ``BTC-USD``):
- catalog, hourly: ``swap_contract_info``: ``contract_code``, ``symbol``, ``contract_size``,
  ``contract_status``, ``contract_type`` (USDT-M only; ``swap`` for perpetuals).
- cycle: ``swap_open_interest`` (all contracts, no parameters): ``volume`` (contracts), ``amount``
  (base coins), ``value`` (USDT-M only: USDT); and, optional, ``swap_batch_funding_rate`` (Funding).

Units (``contract_size`` from the catalog):
- USDT-M: a contract is ``contract_size`` base coins (BTC-USDT 0.001; the doc's "USDT of one contract"
  is a doc error): base = ``amount`` (= volume × contract_size), USD = ``value`` (USDT as USD).
- coin-M: a contract is ``contract_size`` USD (BTC-USD 100, others 10): USD = volume × contract_size,
  base = ``amount`` (= USD / price, HTX's own conversion).
Price: none. HTX has no bulk mark-price endpoint (only a per-contract mark-price kline); the reference
page recommends the OI call's own ``value`` and face value instead, so there are no per-contract
requests and no pacing, and ``price_usd`` is None.
One-sided: each product at its own doc's word (reference page, issue 12). The USDT-M OI doc calls
``volume``/``amount`` "Sum of both buy and sell sides" (the phrase HTX's trade fields use for real
double counting: CoinGecko and DefiLlama halve those), and ``value`` is ``amount`` × price, so all
three are halved (convention two_sided_halved); the coin-M doc says "Single side": taken as sent
(one_sided). ``raw`` is ``volume`` (contracts) as sent, before halving; ``contract_size`` says what one
contract is (base coins on USDT-M, USD on coin-M).
Funding: +2 optional bulk calls per cycle, ``/linear-swap-api/v1/swap_batch_funding_rate`` and
``/swap-api/v1/swap_batch_funding_rate`` (all contracts, no parameters; docs
?id=8cb7ed6a-77b5-11ed-9966-0242ac110003 and ?id=5d516c58-77b6-11ed-9966-0242ac110003): ``funding_rate`` (a
decimal string, the fraction longs pay per period, "updated once a minute"), taken as sent. Interval: a
fixed 8 h, the constant ``FUNDING_INTERVAL_H``: HTX settles funding "on 00:00(GMT+8), 08:00(GMT+8) and
16:00(GMT+8)" (USDT-M doc, "[Isolated] Get Information of an Order",
?id=8cb85222-77b5-11ed-9966-0242ac110003; also the swap FAQ per shared/notes/funding-history-signals.md
B.1); no per-contract interval field exists. ``next_at_ms`` = ``funding_time`` only when it is the next
settlement, i.e. after the body's ``ts`` and at most 8 h past it (the doc's batch example shows a past
``funding_time``); ``estimated_rate``/``next_funding_time`` are deprecated (null). A failed funding call, a
contract missing from it or an unusable rate gives funding None; the OI reading never waits on or fails with
it.
Counted: USDT-M ``contract_type`` swap (dated ``BTC-USDT-211217`` rows are skipped); ``contract_status``
1 (listing), 5 (in settlement) and 7 (settlement completed): HTX swaps settle every 8 h and the older
coin-M swap docs list 5 and 7 as those momentary states (the recorded BTC-USD example shows 7), so
dropping them at the hourly catalog refresh would lose a trading market for an hour; 3 (suspension)
only while it holds open interest. Skipped: 0, 2, 4, 6, 8, 9 and unknown statuses, codes missing
from the catalog. Canonical base = ``symbol`` (no XBT; a ``1000`` prefix gets its factor).
Errors: HTTP 200 with ``status`` "error", ``err_code`` (1032 = rate limit), ``err_msg``.
Fixtures: tests/fixtures/htx/.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

from server.core.errors import VenueRateLimited, VenueRejected
from server.core.model import ContractKind, Convention, Funding, Market, MarketOI, ParsedPoll, RawUnit
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
    collect,
    field_of,
    field_rows,
    funding_of,
    num,
    obj,
    optional,
    raw_figure,
    text,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    """One of HTX's two swap books: same endpoints under ``api``, different units."""

    name: str
    api: str
    kind: ContractKind
    settle: str | None  # None: settled in the base coin
    perpetual_type: str | None  # ``contract_type`` of a perpetual, where the book also has dated rows
    sides: float = 1.0  # divide the OI figures by this (2 for a two-sided figure)

    @property
    def convention(self) -> Convention:
        return Convention.TWO_SIDED_HALVED if self.sides == 2.0 else Convention.ONE_SIDED


PRODUCTS: Final = (
    Product(
        name="linear",
        api="/linear-swap-api/v1",
        kind=ContractKind.LINEAR,
        settle="USDT",
        perpetual_type="swap",
        sides=2.0,  # "Sum of both buy and sell sides"
    ),
    Product(name="coinm", api="/swap-api/v1", kind=ContractKind.INVERSE, settle=None, perpetual_type=None),
)
COUNTED_STATUSES: Final = frozenset({1, 5, 7})  # listing, in settlement, settlement completed
SUSPENDED_STATUS: Final = 3  # counted only while it holds open interest
RATE_LIMIT_CODE: Final = 1032
FUNDING_INTERVAL_H: Final = 8.0  # settles 00:00, 08:00, 16:00 GMT+8 (see the module docstring)
HOUR_MS: Final = 3_600_000


class HtxMarket(Market, frozen=True, kw_only=True):
    """A catalog market plus what the cycle needs to know about it beyond ``Market``."""

    suspended: bool
    sides: float
    convention: Convention


def contract_market(product: Product, row: Row) -> HtxMarket | None:
    status = int(num(row, "contract_status"))
    if status not in COUNTED_STATUSES and status != SUSPENDED_STATUS:
        return None
    if product.perpetual_type is not None and text(row, "contract_type") != product.perpetual_type:
        return None  # a dated future sharing the USDT-M endpoints
    base, factor = canonical_base(text(row, "symbol"))
    return HtxMarket(
        venue_symbol=text(row, "contract_code"),
        base=base,
        base_factor=factor,
        kind=product.kind,
        contract_size=num(row, "contract_size"),  # base coins (USDT-M) or USD (coin-M)
        settle=product.settle or text(row, "symbol"),
        suspended=status == SUSPENDED_STATUS,
        sides=product.sides,
        convention=product.convention,
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    return catalog_of(
        contract_market(product, row)
        for product in PRODUCTS
        for row in field_rows(
            bodies.one(f"contracts:{product.name}"), "data", f"{product.name} swap_contract_info"
        )
    )


def funding_batch(body: object) -> tuple[float, Sequence[Row]]:
    """One ``swap_batch_funding_rate`` body: its ``ts`` and its rows."""
    envelope = obj(body, "swap_batch_funding_rate")
    return num(envelope, "ts"), field_rows(envelope, "data", "swap_batch_funding_rate")


def funding_rows(bodies: Bodies) -> dict[str, tuple[Row, float]]:
    """Each contract's ``swap_batch_funding_rate`` row with its body's ``ts``, from whichever of the
    two optional calls answered usably (a failed or drifted one simply adds nothing)."""
    found: dict[str, tuple[Row, float]] = {}
    for product in PRODUCTS:
        batch = optional(partial(funding_batch, bodies.get(f"funding:{product.name}")))
        if batch is None:
            continue
        ts, data = batch
        for row in data:
            code = row.get("contract_code")
            if isinstance(code, str):
                found[code] = (row, ts)
    return found


def next_settlement_ms(row: Row, ts: float) -> float | None:
    """``funding_time`` when it is the coming settlement (after ``ts``, within one interval), else None."""
    at = num(row, "funding_time")
    return at if ts < at <= ts + FUNDING_INTERVAL_H * HOUR_MS else None


def funding(found: tuple[Row, float] | None) -> Funding | None:
    if found is None:
        return None
    row, ts = found
    return funding_of(
        num(row, "funding_rate"),
        FUNDING_INTERVAL_H,
        next_at_ms=optional(lambda: next_settlement_ms(row, ts)),
    )


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    rates = funding_rows(bodies)

    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "contract_code"))
        if not isinstance(market, HtxMarket):
            return None  # dated future, delisted, pending listing or unknown status
        contracts = num(row, "volume") / market.sides
        if market.suspended and contracts == 0:
            return None
        oi_base = num(row, "amount") / market.sides  # venue base units
        if market.kind is ContractKind.LINEAR:
            oi_usd = num(row, "value") / market.sides  # USDT
        else:
            oi_usd = contracts * market.contract_size  # USD face value
        code = market.venue_symbol
        return reported_oi(
            market,
            oi_base=oi_base,
            oi_usd=oi_usd,
            price_usd=None,
            raw=raw_figure(row, "volume", RawUnit.CONTRACTS),
            convention=market.convention,
            funding=optional(lambda: funding(rates.get(code))),
        )

    oi_rows = [
        row
        for product in PRODUCTS
        for row in field_rows(
            bodies.one(f"openInterest:{product.name}"), "data", f"{product.name} swap_open_interest"
        )
    ]
    return collect(oi_rows, convert, label=lambda row: str(row.get("contract_code")))


def check_envelope(body: object) -> None:
    """HTX answers errors with HTTP 200 and ``status`` "error"."""
    envelope = obj(body, "htx response")
    if field_of(envelope, "status") == "ok":
        return
    code = envelope.get("err_code")
    message = f"htx err_code {code}: {str(envelope.get('err_msg'))[:120]}"
    if code == RATE_LIMIT_CODE:
        raise VenueRateLimited(message, retry_after_s=3.0)  # the limit is per 3 s window
    raise VenueRejected(message)


SPEC: Final = VenueSpec(
    id="htx",
    base_url="https://api.hbdm.com",
    docs_url="https://www.htx.com/en-us/opend/newApiPages/?id=8cb80166-77b5-11ed-9966-0242ac110003",
    catalog_requests=tuple(
        Request(key=f"contracts:{p.name}", path=f"{p.api}/swap_contract_info") for p in PRODUCTS
    ),
    parse_catalog=parse_catalog,
    cycle_requests=always(
        *(Request(key=f"openInterest:{p.name}", path=f"{p.api}/swap_open_interest") for p in PRODUCTS),
        *(
            Request(key=f"funding:{p.name}", path=f"{p.api}/swap_batch_funding_rate", optional=True)
            for p in PRODUCTS
        ),
    ),
    parse=parse,
    check_envelope=check_envelope,
)
