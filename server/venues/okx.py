"""OKX v5, source ``okx``: every perpetual swap (linear and inverse) from two bulk calls.

Docs: https://www.okx.com/docs-v5/en/#public-data-rest-api-get-open-interest

Endpoints (every number is a string):
- catalog, hourly: ``GET /api/v5/public/instruments?instType=SWAP``: ``ctType``, ``ctVal``, ``ctMult``,
  ``ctValCcy``, ``settleCcy``, ``instFamily``, ``state``, ``ruleType``.
- cycle: ``GET /api/v5/public/open-interest?instType=SWAP`` (``oi`` contracts, ``oiCcy`` base coins,
  ``oiUsd`` USD; ``oiUsd`` is absent in older responses) and ``GET /api/v5/public/mark-price?instType=SWAP``
  (``markPx``); and, optional, ``GET /api/v5/public/funding-rate?instId=ANY`` (every swap in one
  call; 10 requests / 2 s per IP + instrument, we make one per cycle): ``fundingRate``,
  ``fundingTime``, ``nextFundingTime``. Its failure leaves funding None and the OI reading whole.

Units: a contract is ``ctVal`` × ``ctMult`` of ``ctValCcy``.
- linear (``ctValCcy`` = base coin): base = oi × ctVal × ctMult (= ``oiCcy``);
  USD = base × markPx (= ``oiUsd``).
- inverse (``ctValCcy`` USD): USD = oi × ctVal × ctMult (= ``oiUsd``); base = USD / markPx (= ``oiCcy``).
We take the venue's ``oiCcy`` and ``oiUsd`` (its own conversion) and compute USD = oiCcy × markPx only
when ``oiUsd`` is absent or empty; base coins fall back to the contract formula when ``oiCcy`` is empty.
OKX uses no 1000-prefixes (small coins get a large ``ctVal``), so ``oiCcy`` is in plain coins.
Counted: ``state`` live, ``ruleType`` not pre_market; only instType SWAP is requested.
One-sided: not stated by OKX; one figure per market with no long/short split, of the same order as
Binance's one-sided figures (reference page), so used as is.
Provenance: raw = ``oiCcy`` verbatim (unit ``base``), or ``oi`` (unit ``contracts``) where the
contract formula was used; convention ``one_sided``; price ``mark`` (``markPx``; none when the
mark is missing and the venue's ``oiUsd`` stood alone); margin asset = ``settleCcy`` (USDT, USDC,
or the coin for inverse).

Funding (https://www.okx.com/docs-v5/en/#public-data-rest-api-get-funding-rate): ``fundingRate``, a
fraction per interval, "positive = long positions pay short positions at the next ``fundingTime``":
sent as is. ``fundingTime`` is that upcoming settlement (the doc example's ``ts`` precedes it), so it
is ``next_at_ms``. Interval = (``nextFundingTime`` − ``fundingTime``) in hours, as the doc says to
read it (8 h by default; OKX moves some swaps to 6, 4, 2 or 1 h); anything unusable → funding None.
Errors: ``code`` is a string, "0" = success (HTTP 200 for most errors; "50011" = rate limit).
Fixtures: tests/fixtures/okx/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

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
from server.core.units import market_oi, reported_oi
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
    field_rows,
    funding_of,
    num,
    opt_num,
    optional,
    raw_figure,
    text,
)

KINDS: Final = {"linear": ContractKind.LINEAR, "inverse": ContractKind.INVERSE}
RATE_LIMIT_CODE: Final = "50011"
SWAP: Final = (("instType", "SWAP"),)
EVERY_SWAP: Final = (("instId", "ANY"),)  # funding-rate: every swap's funding in one call
HOUR_MS: Final = 3_600_000


def instrument_market(row: Row) -> Market | None:
    kind = KINDS.get(text(row, "ctType"))
    if kind is None or text(row, "state") != "live" or row.get("ruleType") == "pre_market":
        return None
    family = text(row, "instFamily") or text(row, "uly")
    base, factor = canonical_base(family.split("-")[0])
    return Market(
        venue_symbol=text(row, "instId"),
        base=base,
        base_factor=factor,
        kind=kind,
        contract_size=num(row, "ctVal") * num(row, "ctMult"),  # base units (linear) or USD (inverse)
        settle=text(row, "settleCcy"),
    )


def parse_catalog(bodies: Bodies) -> Catalog:
    return catalog_of(
        instrument_market(row) for row in field_rows(bodies.one("instruments"), "data", "instruments")
    )


def funding_rows(body: object | None) -> Mapping[str, Row]:
    """The funding-rate rows by ``instId``; none when the request failed or its body is not the
    documented ``data`` array (funding must never fail the OI reading)."""
    data = None if body is None else optional(lambda: field_rows(body, "data", "funding-rate"))
    if data is None:
        return {}
    return {inst: row for row in data if isinstance(inst := row.get("instId"), str)}


def funding(row: Row | None) -> Funding | None:
    """``fundingRate`` per (``nextFundingTime`` − ``fundingTime``) hours, settling at ``fundingTime``;
    None when the row is absent or any of the three is missing or unusable."""
    if row is None:
        return None

    def read() -> Funding | None:
        settles_at = num(row, "fundingTime")
        interval_h = (num(row, "nextFundingTime") - settles_at) / HOUR_MS
        return funding_of(num(row, "fundingRate"), interval_h, next_at_ms=settles_at)

    return optional(read)


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    marks = {
        text(row, "instId"): opt_num(row, "markPx")
        for row in field_rows(bodies.one("markPrice"), "data", "mark-price")
    }
    fundings = funding_rows(bodies.get("fundingRate"))

    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "instId"))
        if market is None:
            return None
        mark = marks.get(market.venue_symbol)
        rate = funding(fundings.get(market.venue_symbol))
        oi_ccy = opt_num(row, "oiCcy")
        if oi_ccy is None:  # no coin figure from the venue: the contract formula
            if mark is None:
                return None
            return market_oi(
                market,
                num(row, "oi"),
                mark,
                raw=raw_figure(row, "oi", RawUnit.CONTRACTS),
                price_kind=PriceKind.MARK,
                convention=Convention.ONE_SIDED,
                funding=rate,
            )
        oi_usd = opt_num(row, "oiUsd")
        if oi_usd is None:  # older responses have no oiUsd
            if mark is None:
                return None
            oi_usd = oi_ccy * mark
        return reported_oi(
            market,
            oi_base=oi_ccy,
            oi_usd=oi_usd,
            price_usd=mark,
            raw=raw_figure(row, "oiCcy", RawUnit.BASE),
            price_kind=PriceKind.MARK,
            convention=Convention.ONE_SIDED,
            funding=rate,
        )

    return collect(
        field_rows(bodies.one("openInterest"), "data", "open-interest"),
        convert,
        label=lambda r: str(r.get("instId")),
    )


check_envelope: Final = code_envelope("okx", "code", "0", rate_limited=(RATE_LIMIT_CODE,), retry_after_s=2.0)


SPEC: Final = VenueSpec(
    id="okx",
    base_url="https://www.okx.com",
    docs_url="https://www.okx.com/docs-v5/en/#public-data-rest-api-get-open-interest",
    catalog_requests=(Request(key="instruments", path="/api/v5/public/instruments", params=SWAP),),
    parse_catalog=parse_catalog,
    cycle_requests=always(
        Request(key="openInterest", path="/api/v5/public/open-interest", params=SWAP),
        Request(key="markPrice", path="/api/v5/public/mark-price", params=SWAP),
        Request(key="fundingRate", path="/api/v5/public/funding-rate", params=EVERY_SWAP, optional=True),
    ),
    parse=parse,
    check_envelope=check_envelope,
)
