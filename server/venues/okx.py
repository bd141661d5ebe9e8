"""OKX v5, source ``okx``: every perpetual swap (linear and inverse) from two bulk calls.

Docs: https://www.okx.com/docs-v5/en/#public-data-rest-api-get-open-interest

Endpoints (every number is a string):
- catalog, hourly: ``GET /api/v5/public/instruments?instType=SWAP``: ``ctType``, ``ctVal``, ``ctMult``,
  ``ctValCcy``, ``settleCcy``, ``instFamily``, ``state``, ``ruleType``.
- cycle: ``GET /api/v5/public/open-interest?instType=SWAP`` (``oi`` contracts, ``oiCcy`` base coins,
  ``oiUsd`` USD; ``oiUsd`` is absent in older responses) and ``GET /api/v5/public/mark-price?instType=SWAP``
  (``markPx``).

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
Errors: ``code`` is a string, "0" = success (HTTP 200 for most errors; "50011" = rate limit).
Fixtures: tests/fixtures/okx/.
"""

from __future__ import annotations

from typing import Final

from server.core.model import ContractKind, Market, MarketOI, ParsedPoll
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
    num,
    opt_num,
    text,
)

KINDS: Final = {"linear": ContractKind.LINEAR, "inverse": ContractKind.INVERSE}
RATE_LIMIT_CODE: Final = "50011"
SWAP: Final = (("instType", "SWAP"),)


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


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    marks = {
        text(row, "instId"): opt_num(row, "markPx")
        for row in field_rows(bodies.one("markPrice"), "data", "mark-price")
    }

    def convert(row: Row) -> MarketOI | None:
        market = catalog.markets.get(text(row, "instId"))
        if market is None:
            return None
        mark = marks.get(market.venue_symbol)
        oi_ccy = opt_num(row, "oiCcy")
        if oi_ccy is None:  # no coin figure from the venue: the contract formula
            return None if mark is None else market_oi(market, num(row, "oi"), mark)
        oi_usd = opt_num(row, "oiUsd")
        if oi_usd is None:  # older responses have no oiUsd
            if mark is None:
                return None
            oi_usd = oi_ccy * mark
        return reported_oi(market, oi_base=oi_ccy, oi_usd=oi_usd, price_usd=mark)

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
    ),
    parse=parse,
    check_envelope=check_envelope,
)
