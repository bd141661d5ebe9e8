"""Venue contract counts → canonical base coins and USD. Pure; every formula is written once here.

Conventions (per contract, see ``ContractKind``):

- LINEAR:  base  = contracts × contract_size (venue base units) × base_factor
           usd   = contracts × contract_size × price_per_venue_unit
           (the venue quotes the price of *its* unit, e.g. 1000PEPE, so USD needs no factor)
- INVERSE: usd   = contracts × contract_size (USD per contract)
           base  = usd / price_per_venue_unit × base_factor
- QUANTO:  settle = contracts × contract_size × price_per_venue_unit   (in the settle currency)
           usd    = settle × settle_price_usd;  base = contracts × contract_size × base_factor
                    only where the venue defines the multiplier per base unit (see the venue module)

USDT and USDC are taken as 1 USD, as the venues' own USD figures do.
"""

from __future__ import annotations

import math
from typing import Final

from server.core.errors import ImplausibleValue
from server.core.model import (
    ContractKind,
    Convention,
    Funding,
    Market,
    MarketOI,
    PriceKind,
    Raw,
    RawUnit,
)

# One market's OI can never reach 1e12 USD: the whole crypto perpetual market holds ~1e11.
# A bigger figure is a unit bug or a venue glitch, and must not reach the totals.
MAX_MARKET_OI_USD: Final = 1e12


def require_price(price: float, what: str) -> float:
    """A usable price: finite and strictly positive."""
    if not math.isfinite(price) or price <= 0:
        raise ImplausibleValue(f"{what} {price!r} is not a positive price")
    return price


def require_amount(amount: float, what: str) -> float:
    """A usable OI amount: finite and not negative (zero is a real, reportable value)."""
    if not math.isfinite(amount) or amount < 0:
        raise ImplausibleValue(f"{what} {amount!r} is not a non-negative amount")
    return amount


def _checked_usd(market: Market, oi_usd: float) -> None:
    if not math.isfinite(oi_usd) or oi_usd > MAX_MARKET_OI_USD:
        raise ImplausibleValue(f"{market.venue_symbol}: oi_usd {oi_usd!r} exceeds {MAX_MARKET_OI_USD:.0e}")


def _record(
    market: Market,
    *,
    oi_base: float | None,
    oi_usd: float,
    price_usd: float | None,
    raw: Raw | None,
    price_kind: PriceKind | None,
    convention: Convention,
    funding: Funding | None,
    borrow_rate_1h: float | None,
) -> MarketOI:
    """The one place a ``MarketOI`` is built from a catalog ``Market``: the catalog's facts (kind,
    margin asset, bundle factor, contract size where the raw figure counts contracts) are copied
    here, so no venue can forget one."""
    return MarketOI(
        venue_symbol=market.venue_symbol,
        base=market.base,
        oi_base=oi_base,
        oi_usd=oi_usd,
        price_usd=price_usd,
        kind=market.kind,
        margin_asset=market.settle,
        contract_size=market.contract_size if raw is not None and raw.unit is RawUnit.CONTRACTS else None,
        base_factor=market.base_factor,
        raw=raw,
        convention=convention,
        price_kind=price_kind if price_usd is not None else None,
        funding=funding,
        borrow_rate_1h=borrow_rate_1h,
    )


def market_oi(
    market: Market,
    contracts: float,
    price: float,
    *,
    raw: Raw | None = None,
    price_kind: PriceKind | None = PriceKind.MARK,
    convention: Convention = Convention.ONE_SIDED,
    funding: Funding | None = None,
) -> MarketOI:
    """Convert a LINEAR or INVERSE market's contract count at ``price`` (USD per venue base unit).
    ``contracts`` is already one-sided (``convention`` says how); ``raw`` is the figure as sent."""
    require_amount(contracts, f"{market.venue_symbol} open interest")
    require_price(price, f"{market.venue_symbol} price")
    if market.kind is ContractKind.LINEAR:
        venue_units = contracts * market.contract_size
        oi_base, oi_usd = venue_units * market.base_factor, venue_units * price
    elif market.kind is ContractKind.INVERSE:
        oi_usd = contracts * market.contract_size
        oi_base = oi_usd / price * market.base_factor
    else:
        raise ValueError(f"{market.venue_symbol}: use quanto_market_oi for {market.kind}")
    _checked_usd(market, oi_usd)
    return _record(
        market,
        oi_base=oi_base,
        oi_usd=oi_usd,
        price_usd=price / market.base_factor,
        raw=raw,
        price_kind=price_kind,
        convention=convention,
        funding=funding,
        borrow_rate_1h=None,
    )


def quanto_market_oi(
    market: Market,
    contracts: float,
    price: float,
    settle_price_usd: float,
    *,
    base_derivable: bool,
    raw: Raw | None = None,
    price_kind: PriceKind | None = PriceKind.MARK,
    funding: Funding | None = None,
) -> MarketOI:
    """Convert a QUANTO market: ``contract_size`` is settle-currency units per contract per price unit."""
    require_amount(contracts, f"{market.venue_symbol} open interest")
    require_price(price, f"{market.venue_symbol} price")
    require_price(settle_price_usd, f"{market.venue_symbol} settle price")
    usd = contracts * market.contract_size * price * settle_price_usd
    oi_base = usd / (price / market.base_factor) if base_derivable else None
    _checked_usd(market, usd)
    return _record(
        market,
        oi_base=oi_base,
        oi_usd=usd,
        price_usd=price / market.base_factor,
        raw=raw,
        price_kind=price_kind,
        convention=Convention.ONE_SIDED,
        funding=funding,
        borrow_rate_1h=None,
    )


def reported_oi(
    market: Market,
    *,
    oi_base: float | None,
    oi_usd: float,
    price_usd: float | None,
    raw: Raw | None = None,
    price_kind: PriceKind | None = PriceKind.MARK,
    convention: Convention = Convention.ONE_SIDED,
    funding: Funding | None = None,
    borrow_rate_1h: float | None = None,
) -> MarketOI:
    """A market whose venue reports base coins and/or USD itself (already in venue base units).

    ``oi_base`` is in venue base units and gets the market's ``base_factor``; ``price_usd`` is the
    price per venue unit when one was used.
    """
    require_amount(oi_usd, f"{market.venue_symbol} oi_usd")
    if oi_base is not None:
        require_amount(oi_base, f"{market.venue_symbol} oi_base")
    if price_usd is not None:
        require_price(price_usd, f"{market.venue_symbol} price")
    _checked_usd(market, oi_usd)
    return _record(
        market,
        oi_base=None if oi_base is None else oi_base * market.base_factor,
        oi_usd=oi_usd,
        price_usd=None if price_usd is None else price_usd / market.base_factor,
        raw=raw,
        price_kind=price_kind,
        convention=convention,
        funding=funding,
        borrow_rate_1h=borrow_rate_1h,
    )
