"""Binance USD-M futures (fapi), source ``binance``; also the shared parser for ``binance_coinm``.

Docs: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest

Endpoints (no bulk OI endpoint exists, so one OI request per perpetual, paced):
- catalog, hourly: ``GET /fapi/v1/exchangeInfo`` (weight 1): ``symbols[]`` with ``contractType``,
  ``status``, ``baseAsset``, ``underlyingType``; ``rateLimits[]`` gives the REQUEST_WEIGHT budget per
  minute, read at runtime (6000 in the 2022 sample, 2400 reported in 2025).
- catalog, hourly, optional: ``GET /fapi/v1/fundingInfo`` (weight 0): only the symbols whose funding
  was adjusted, each with ``fundingIntervalHours`` (a JSON integer) and its cap/floor.
- cycle: ``GET /fapi/v1/premiumIndex`` without symbol (weight 10): every ``markPrice`` (string),
  ``lastFundingRate`` (string), ``nextFundingTime`` (unix ms, JSON integer);
  ``GET /fapi/v1/openInterest?symbol=X`` (weight 1) per perpetual: ``openInterest`` (string).

Units: every fapi contract is LINEAR with size 1 venue base unit, so ``openInterest`` is already in
base units of ``baseAsset`` (BTC for BTCUSDT; bundles of 1000 PEPE for 1000PEPEUSDT):
base coins = openInterest × prefix factor; USD = openInterest × markPrice (price of the venue unit).
Price: ``markPrice``. Counted: ``contractType`` PERPETUAL, ``status`` TRADING, ``underlyingType`` COIN
(composite indices such as BTCDOMUSDT are not a crypto base). USDT and USDC books add up per base.
One-sided: Binance counts each matched long/short pair once (the industry's reference convention).
Provenance: raw = ``openInterest`` as sent (unit ``base``: fapi contracts are one base unit; dapi
counts contracts), convention ``one_sided``, price ``mark``; margin asset = exchangeInfo ``marginAsset``.

Funding: ``lastFundingRate`` of premiumIndex, a fraction per interval (the rate longs pay, sent as is),
next settlement ``nextFundingTime``. Interval: ``fundingIntervalHours`` where fundingInfo lists the
symbol, else Binance's standard 8 h (fundingInfo lists *only* adjusted symbols:
https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-Info).
Without a fundingInfo body (request failed) no symbol's interval is known, since any of them may
have been adjusted: funding is None for every market until the next catalog refresh, OI unchanged.
A listed symbol whose ``fundingIntervalHours`` is unusable has no known interval either (never 8 h).
Fixtures: tests/fixtures/binance/ (from the recorded samples, see SOURCES.md there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from server.core.errors import VenueRejected
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
    Pacing,
    Request,
    Row,
    VenueSpec,
    catalog_of,
    collect,
    field_of,
    field_rows,
    funding_of,
    num,
    obj,
    opt_num,
    optional,
    raw_figure,
    rows,
    text,
)

# Fallback budget until exchangeInfo.rateLimits is read: the lower of the two published figures.
DEFAULT_WEIGHT_PER_MINUTE: Final = 2400
PREMIUM_INDEX_WEIGHT: Final = 10  # premiumIndex without a symbol
FUNDING_INFO_WEIGHT: Final = 0  # fundingInfo (shares a separate 500 / 5 min / IP limit with fundingRate)
# The interval of every symbol fundingInfo does not list (it lists only the adjusted ones).
STANDARD_FUNDING_INTERVAL_H: Final = 8.0


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


def _listed_interval(row: Row) -> float | None:
    return optional(lambda: num(row, "fundingIntervalHours"))


def funding_intervals(funding_info: object | None, symbols: Iterable[str]) -> dict[str, float]:
    """Each symbol's funding interval in hours: fundingInfo's ``fundingIntervalHours`` for a listed
    (adjusted) symbol, the standard 8 h for the others. No body, or one that is not the documented
    array, gives no interval at all (any symbol may be adjusted); a listed symbol with an unusable
    ``fundingIntervalHours`` gets none either. Never fails: funding must not cost the catalog."""
    listed_rows = None if funding_info is None else optional(lambda: rows(funding_info, "fundingInfo"))
    if listed_rows is None:
        return {}
    listed = {
        row["symbol"]: _listed_interval(row) for row in listed_rows if isinstance(row.get("symbol"), str)
    }
    intervals: dict[str, float] = {}
    for symbol in symbols:
        hours = listed.get(symbol, STANDARD_FUNDING_INTERVAL_H)  # a listed symbol's None stays None
        if hours is not None:
            intervals[symbol] = hours
    return intervals


def catalog_parser(market_of: Callable[[Row], Market | None]) -> Callable[[Bodies], Catalog]:
    def parse_catalog(bodies: Bodies) -> Catalog:
        info = bodies.one("exchangeInfo")
        catalog = catalog_of(
            (market_of(row) for row in field_rows(info, "symbols", "exchangeInfo")),
            weight_limit_per_minute=weight_limit(info),
        )
        return Catalog(
            markets=catalog.markets,
            weight_limit_per_minute=catalog.weight_limit_per_minute,
            funding_interval_h=funding_intervals(bodies.get("fundingInfo"), catalog.markets),
        )

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


def funding(premium: Row, interval_h: float | None) -> Funding | None:
    """premiumIndex ``lastFundingRate`` (a fraction per interval, longs pay when positive) over the
    market's interval; None when the rate or the interval is missing or unusable. A bad
    ``nextFundingTime`` costs only ``next_at_ms``."""
    next_at = optional(lambda: opt_num(premium, "nextFundingTime"))
    return optional(lambda: funding_of(num(premium, "lastFundingRate"), interval_h, next_at_ms=next_at))


def parse(catalog: Catalog, bodies: Bodies) -> ParsedPoll:
    """Join each perpetual's ``openInterest`` with its ``markPrice``; convert per the market's kind."""
    marks = {text(row, "symbol"): row for row in rows(bodies.one("premiumIndex"), "premiumIndex")}
    intervals = catalog.funding_interval_h

    def convert(market: Market) -> MarketOI | None:
        body = bodies.get(f"oi:{market.venue_symbol}")
        mark = marks.get(market.venue_symbol)
        if body is None or mark is None:
            return None  # request failed (logged by the poller) or market not priced yet
        oi = obj(body, "openInterest")
        # fapi counts base units (LINEAR, one base unit per contract); dapi counts contracts (INVERSE)
        unit = RawUnit.CONTRACTS if market.kind is ContractKind.INVERSE else RawUnit.BASE
        return market_oi(
            market,
            num(oi, "openInterest"),
            num(mark, "markPrice"),
            raw=raw_figure(oi, "openInterest", unit),
            price_kind=PriceKind.MARK,
            convention=Convention.ONE_SIDED,
            funding=funding(mark, intervals.get(market.venue_symbol)),
        )

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
        catalog_requests=(
            Request(key="exchangeInfo", path=f"{api}/exchangeInfo"),
            Request(key="fundingInfo", path=f"{api}/fundingInfo", weight=FUNDING_INFO_WEIGHT, optional=True),
        ),
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
