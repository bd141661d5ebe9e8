"""Coinbase perpetuals, source ``coinbase``: the International Exchange (INTX) and the US CDE books.

Docs: https://docs.cdp.coinbase.com/international-exchange/ (INTX) and
https://docs.cdp.coinbase.com/advanced-trade/reference/retailbrokerageapi_getpublicproducts (CDE).
"Coinbase perps" are two books run by two entities on two hosts (reference page). The page recommends
polling both and reporting them under ``coinbase`` (API.md's one source id), so this spec spans two
hosts: INTX on ``base_url`` and CDE on the ``us`` host. Each book is one bulk request per cycle that
carries metadata and OI together, so there is no catalog request. Both are required: a poll with one
book missing would publish a figure that silently lost part of the venue, so it fails instead and
the last good reading of both stays.

INTX, ``GET /api/v1/instruments`` (bare array, SPOT and PERP; numbers are strings):
- ``open_interest`` in base-asset units; ``quote.mark_price`` USDC per unit (USDC = USD).
  oi_base = open_interest × bundle; oi_usd = open_interest × mark_price. Price: mark (the venue's
  own fair price, the one its margining uses). Counted: ``type`` PERP, ``trading_state`` TRADING.
- Bundles (undecided on the page, unverified for ``1000SHIB-PERP``): a 1000-prefix in
  ``base_asset_name`` or the symbol, or ``base_asset_multiplier`` above 1, each mean one unit =
  that many coins; the page's reading is that they describe the same bundle, so the largest is
  taken and they are never multiplied together.
CDE, ``GET /api/v3/brokerage/market/products?product_type=FUTURE`` (``pagination.next_cursor`` pages):
- ``future_product_details.open_interest`` in contracts of ``contract_size`` base units (read from
  the row). oi_base = contracts × contract_size; oi_usd = oi_base × price. Price: ``price`` (last),
  else ``mid_market_price``, else ``index_price``: the page's order; there is no mark price.
- Counted: ``product_venue`` FCM (INTX rows there are counted from INTX only), perp-style (non-null
  ``funding_interval``, ``PERP`` in ``display_name`` or ``Perp`` in ``group_description``; the
  ``contract_expiry_type`` is EXPIRING for both), crypto, not disabled/cancel-only. Dated skipped.
Funding (both books: the rate is a fraction per interval, positive = longs pay shorts):
- INTX gives only the *predicted* rate: ``quote.predicted_funding`` (string, the rate expected at the
  end of the running interval; the settled rate lives in a per-instrument history endpoint that is
  not polled), so that predicted figure is the rate reported. Interval: the row's ``funding_interval``
  (nanoseconds as a string: "3600000000000" = 1 h). No next funding time in the response: None.
- CDE: ``future_product_details.funding_rate`` (string; "" on dated contracts) per
  ``future_product_details.funding_interval`` (a duration in seconds, "3600s" = 1 h: funding accrues
  hourly and is settled twice a day). ``funding_time`` is not read as the next funding time: no doc
  says whether it is the last or the next accrual, so ``next_at`` stays None rather than a guess.
A missing or malformed rate or interval gives funding None and never touches the OI reading.
Provenance: raw = INTX ``open_interest`` (base units) / CDE ``future_product_details.open_interest``
(contracts); price kind mark on INTX, on CDE the price actually used (last, mid or index); margin
asset: INTX ``quote_asset_name`` (USDC), CDE ``quote_currency_id`` (USD).
One-sided (both): neither doc says; both are matched order books (CDE a CFTC DCM, where OI counts
one side by convention), so the figure is used as is, per the reference page.
Errors: HTTP statuses; an Advanced Trade body with ``error`` is rejected. Fixtures: tests/fixtures/coinbase/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from server.core.errors import ImplausibleValue, VenueRejected
from server.core.model import ContractKind, Funding, Market, MarketOI, ParsedPoll, PriceKind, RawUnit
from server.core.symbols import canonical_base
from server.core.units import market_oi
from server.venues.base import (
    Bodies,
    Catalog,
    Request,
    Row,
    VenueSpec,
    always,
    collect,
    field_of,
    field_rows,
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

INTX_BASE_URL: Final = "https://api.international.coinbase.com"
INSTRUMENTS_PATH: Final = "/api/v1/instruments"
CDE_BASE_URL: Final = "https://api.coinbase.com"
PRODUCTS_PATH: Final = "/api/v3/brokerage/market/products"
PRODUCTS_PARAMS: Final = (
    ("product_type", "FUTURE"),
    ("expiring_contract_status", "STATUS_UNEXPIRED"),
    ("limit", "250"),
)
CDE_VENUE: Final = "FCM"
CRYPTO: Final = "FUTURES_ASSET_TYPE_CRYPTO"
DISABLED_FLAGS: Final = ("trading_disabled", "is_disabled", "cancel_only")
# The CDE prices in the page's order, each with its kind: the row's last trade and mid, then the
# contract's index price (in future_product_details).
ROW_PRICES: Final = (("price", PriceKind.LAST), ("mid_market_price", PriceKind.MID))
DETAILS_PRICES: Final = (("index_price", PriceKind.INDEX),)
NS_PER_HOUR: Final = 3_600_000_000_000.0
S_PER_HOUR: Final = 3600.0


# --- INTX -----------------------------------------------------------------------------------------


def intx_market(row: Row) -> Market | None:
    if text(row, "type") != "PERP" or text(row, "trading_state") != "TRADING":
        return None
    base, named = canonical_base(text(row, "base_asset_name"))
    _, in_symbol = canonical_base(text(row, "symbol").removesuffix("-PERP"))
    multiplier = num(row, "base_asset_multiplier")
    if multiplier <= 0:
        raise ImplausibleValue(f"base_asset_multiplier {multiplier!r} is not positive")
    return Market(
        venue_symbol=text(row, "symbol"),
        base=base,
        base_factor=max(named, in_symbol, multiplier),  # one bundle, however it is spelled
        kind=ContractKind.LINEAR,
        contract_size=1.0,  # open_interest is in base units
        settle=text(row, "quote_asset_name"),
    )


def intx_funding(row: Row) -> Funding | None:
    """INTX's predicted rate (the only one in the response) per ``funding_interval`` nanoseconds."""
    rate = num(obj(field_of(row, "quote"), "quote"), "predicted_funding")
    return funding_of(rate, num(row, "funding_interval") / NS_PER_HOUR)


def instrument_oi(row: Row) -> MarketOI | None:
    """One INTX instrument (an element of /instruments, or /instruments/{symbol} itself)."""
    market = intx_market(row)
    if market is None:
        return None
    # quote fields are left out when they have no value (best_bid_price in the samples): skip the row
    mark = opt_num(obj(field_of(row, "quote"), "quote"), "mark_price")
    if mark is None:
        raise ImplausibleValue("no quote.mark_price")
    return market_oi(
        market,
        num(row, "open_interest"),
        mark,
        raw=raw_figure(row, "open_interest", RawUnit.BASE),
        price_kind=PriceKind.MARK,
        funding=optional(lambda: intx_funding(row)),
    )


def intx_rows(bodies: Bodies) -> list[Row]:
    return list(rows(bodies.one("instruments"), "instruments"))


def parse_intx(_: Catalog, bodies: Bodies) -> ParsedPoll:
    return collect(intx_rows(bodies), instrument_oi, label=lambda r: str(r.get("symbol")))


# --- CDE (Advanced Trade public products) ---------------------------------------------------------


def is_perp_style(row: Row, details: Row) -> bool:
    return (
        field_of(details, "funding_interval") not in (None, "")
        or "PERP" in text(row, "display_name")
        or "Perp" in text(details, "group_description")
    )


def cde_market(row: Row) -> Market | None:
    if text(row, "product_venue") != CDE_VENUE:
        return None
    details = obj(field_of(row, "future_product_details"), "future_product_details")
    if (
        not is_perp_style(row, details)
        or text(details, "futures_asset_type") != CRYPTO
        or any(flag(row, name) for name in DISABLED_FLAGS)
    ):
        return None
    base, factor = canonical_base(text(details, "contract_root_unit"))
    return Market(
        venue_symbol=text(row, "product_id"),
        base=base,
        base_factor=factor,
        kind=ContractKind.LINEAR,
        contract_size=num(details, "contract_size"),  # base units per contract
        settle=text(row, "quote_currency_id"),
    )


def seconds(value: str) -> float:
    """A protobuf-style duration ("3600s") in seconds; anything else is ImplausibleValue."""
    if not value.endswith("s"):
        raise ImplausibleValue(f"duration {value[:40]!r} is not in seconds")
    try:
        return float(value.removesuffix("s"))
    except ValueError:
        raise ImplausibleValue(f"duration {value[:40]!r} is not a number of seconds") from None


def cde_funding(details: Row) -> Funding | None:
    """CDE's ``funding_rate`` per ``funding_interval`` ("3600s"); no next time (see the docstring)."""
    return funding_of(num(details, "funding_rate"), seconds(text(details, "funding_interval")) / S_PER_HOUR)


def cde_price(row: Row, details: Row) -> tuple[float, PriceKind]:
    """The first usable CDE price in the page's order (last, mid, index), with its kind."""
    candidates = [(row, *p) for p in ROW_PRICES] + [(details, *p) for p in DETAILS_PRICES]
    for source, name, kind in candidates:
        price = opt_num(source, name)
        if price is not None:
            return price, kind
    raise ImplausibleValue("no price, mid_market_price or index_price")


def product_oi(row: Row) -> MarketOI | None:
    market = cde_market(row)
    if market is None:
        return None
    details = obj(row["future_product_details"], "future_product_details")
    price, kind = cde_price(row, details)
    return market_oi(
        market,
        num(details, "open_interest"),
        price,
        raw=raw_figure(details, "open_interest", RawUnit.CONTRACTS),
        price_kind=kind,
        funding=optional(lambda: cde_funding(details)),
    )


def products(bodies: Bodies) -> list[Row]:
    return [row for page in bodies.pages("products") for row in field_rows(page, "products", "products")]


def parse_cde(_: Catalog, bodies: Bodies) -> ParsedPoll:
    return collect(products(bodies), product_oi, label=lambda r: str(r.get("product_id")))


def parse(_: Catalog, bodies: Bodies) -> ParsedPoll:
    """Both books: INTX instruments and CDE products, each row read by its own book's rule."""
    items = [(instrument_oi, row) for row in intx_rows(bodies)] + [
        (product_oi, row) for row in products(bodies)
    ]
    return collect(
        items,
        lambda item: item[0](item[1]),
        label=lambda item: str(item[1].get("symbol", item[1].get("product_id"))),
    )


def next_page(request: Request, body: object) -> Request | None:
    """Follow ``pagination.next_cursor`` while ``pagination.has_next``; ``pagination`` may be null."""
    if request.key != "products":
        return None
    pagination = obj(body, "products").get("pagination")
    if not isinstance(pagination, Mapping) or pagination.get("has_next") is not True:
        return None
    cursor = pagination.get("next_cursor")
    if not isinstance(cursor, str) or not cursor:
        return None
    return replace(request, params=(*(p for p in request.params if p[0] != "cursor"), ("cursor", cursor)))


def check_envelope(body: object) -> None:
    """Advanced Trade errors: ``{"error", "code", "message", "details"}`` (normally with an HTTP 4xx)."""
    if isinstance(body, Mapping) and "error" in body:
        raise VenueRejected(
            f"coinbase {body['error']} ({body.get('code')}): {str(body.get('message'))[:120]}"
        )


US_HOST: Final = "us"


SPEC: Final = VenueSpec(
    id="coinbase",
    base_url=INTX_BASE_URL,
    hosts={US_HOST: CDE_BASE_URL},
    docs_url="https://docs.cdp.coinbase.com/international-exchange/",
    cycle_requests=always(
        Request(key="instruments", path=INSTRUMENTS_PATH),
        Request(key="products", path=PRODUCTS_PATH, params=PRODUCTS_PARAMS, host=US_HOST),
    ),
    parse=parse,
    check_envelope=check_envelope,
    next_page=next_page,
)
