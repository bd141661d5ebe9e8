"""Binance USD-M futures (fapi), source ``binance``; also the shared parser for ``binance_coinm``.

Docs: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest

Endpoints (no bulk OI endpoint exists, so one OI request per perpetual, paced):
- catalog, hourly: ``GET /fapi/v1/exchangeInfo`` (weight 1): ``symbols[]`` with ``contractType``,
  ``status``, ``baseAsset``, ``underlyingType``; ``rateLimits[]`` gives the REQUEST_WEIGHT budget per
  minute, read at runtime (6000 in the 2022 sample, 2400 reported in 2025).
- cycle: ``GET /fapi/v1/premiumIndex`` without symbol (weight 10): every ``markPrice`` (string);
  ``GET /fapi/v1/openInterest?symbol=X`` (weight 1) per perpetual: ``openInterest`` (string).

Units: every fapi contract is LINEAR with size 1 venue base unit, so ``openInterest`` is already in
base units of ``baseAsset`` (BTC for BTCUSDT; bundles of 1000 PEPE for 1000PEPEUSDT):
base coins = openInterest × prefix factor; USD = openInterest × markPrice (price of the venue unit).
Price: ``markPrice``. Counted: ``contractType`` PERPETUAL, ``status`` TRADING, ``underlyingType`` COIN
(composite indices such as BTCDOMUSDT are not a crypto base). USDT and USDC books add up per base.
One-sided: Binance counts each matched long/short pair once (the industry's reference convention).
Fixtures: tests/fixtures/binance/ (from the recorded samples, see SOURCES.md there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from server.core.errors import VenueRejected
from server.core.model import ContractKind, Market, MarketOI, ParsedPoll
from server.core.symbols import canonical_base
from server.core.units import market_oi
from server.venues.base import (
    Bodies,
    Catalog,
    Pacing,
    Request,
    Row,
    VenueSpec,
    catalog_of,
    collect,
    field_of,
    field_rows,
    num,
    obj,
    rows,
    text,
)

# Fallback budget until exchangeInfo.rateLimits is read: the lower of the two published figures.
DEFAULT_WEIGHT_PER_MINUTE: Final = 2400
PREMIUM_INDEX_WEIGHT: Final = 10  # premiumIndex without a symbol


def weight_limit(info: object) -> int | None:
    """The REQUEST_WEIGHT per-minute limit from ``exchangeInfo.rateLimits``, if published."""
    for limit in rows(field_of(obj(info, "exchangeInfo"), "rateLimits"), "rateLimits"):
        if (
            limit.get("rateLimitType") == "REQUEST_WEIGHT"
            and limit.get("interval") == "MINUTE"
            and limit.get("intervalNum") == 1
        ):
            return int(num(limit, "limit"))
    return None


def usdm_market(row: Row) -> Market | None:
    """A USD-M perpetual we count, or None (dated, not trading, not a coin)."""
    if (
        text(row, "contractType") != "PERPETUAL"
        or text(row, "status") != "TRADING"
        or text(row, "underlyingType") != "COIN"
    ):
        return None
    base, factor = canonical_base(text(row, "baseAsset"))
    return Market(
        venue_symbol=text(row, "symbol"),
        base=base,
        base_factor=factor,
        kind=ContractKind.LINEAR,
        contract_size=1.0,  # fapi quantities are in base units
        settle=text(row, "marginAsset"),
    )


def catalog_parser(market_of: Callable[[Row], Market | None]) -> Callable[[Bodies], Catalog]:
    def parse_catalog(bodies: Bodies) -> Catalog:
        info = bodies.one("exchangeInfo")
        markets = [market_of(row) for row in field_rows(info, "symbols", "exchangeInfo")]
        return catalog_of(markets, weight_limit_per_minute=weight_limit(info))

    return parse_catalog


def cycle_requester(api: str) -> Callable[[Catalog], tuple[Request, ...]]:
    def cycle_requests(catalog: Catalog) -> tuple[Request, ...]:
        premium = Request(key="premiumIndex", path=f"{api}/premiumIndex", weight=PREMIUM_INDEX_WEIGHT)
        per_symbol = tuple(
            Request(
                key=f"oi:{symbol}", path=f"{api}/openInterest", params=(("symbol", symbol),), optional=True
            )
            for symbol in sorted(catalog.markets)
        )
        return (premium, *per_symbol)

    return cycle_requests


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    """Join each perpetual's ``openInterest`` with its ``markPrice``; convert per the market's kind."""
    marks = {text(row, "symbol"): row for row in rows(bodies.one("premiumIndex"), "premiumIndex")}

    def convert(market: Market) -> MarketOI | None:
        body = bodies.get(f"oi:{market.venue_symbol}")
        mark = marks.get(market.venue_symbol)
        if body is None or mark is None:
            return None  # request failed (logged by the poller) or market not priced yet
        return market_oi(market, num(obj(body, "openInterest"), "openInterest"), num(mark, "markPrice"))

    return collect(catalog.markets.values(), convert, label=lambda m: m.venue_symbol)


def check_envelope(body: object) -> None:
    """Binance errors are ``{"code": <negative int>, "msg": "..."}``, usually with an HTTP 4xx."""
    if isinstance(body, dict) and isinstance(body.get("code"), int) and body["code"] < 0 and "msg" in body:
        raise VenueRejected(f"binance error {body['code']}: {str(body['msg'])[:120]}")


def binance_spec(
    *, id: str, base_url: str, api: str, docs_url: str, market_of: Callable[[Row], Market | None]
) -> VenueSpec:
    """The Binance futures family: same endpoints under ``api``, same pacing; markets differ."""
    return VenueSpec(
        id=id,
        base_url=base_url,
        docs_url=docs_url,
        catalog_requests=(Request(key="exchangeInfo", path=f"{api}/exchangeInfo"),),
        parse_catalog=catalog_parser(market_of),
        cycle_requests=cycle_requester(api),
        parse=parse,
        check_envelope=check_envelope,
        pacing=Pacing(weight_per_minute=DEFAULT_WEIGHT_PER_MINUTE, used_weight_header="X-MBX-USED-WEIGHT-1M"),
    )


SPEC: Final = binance_spec(
    id="binance",
    base_url="https://fapi.binance.com",
    api="/fapi/v1",
    docs_url="https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest",
    market_of=usdm_market,
)
