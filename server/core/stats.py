"""Per-symbol statistics over the counted markets (API.md section 5). Pure, unrounded.

Every share and average is weighted by the markets' one-sided ``oi_usd`` (API.md section 1), over
the markets that carry the figure in question, and says how much of the total it covers:

- ``total_oi_coins`` = Σ ``oi_base`` over the markets that have it; ``coins_coverage`` = their share
  of the symbol's USD total.
- ``price_usd`` = Σ price × oi_usd / Σ oi_usd over the markets converted with a price (per
  canonical coin: a 1000PEPE market's price is divided by its bundle first).
- ``funding_8h`` = Σ rate_8h × oi_usd / Σ oi_usd over the markets with funding (normalised to 8 h
  first, then weighted); ``funding_apr`` = funding_8h × 1095 (8760 / 8); ``funding_coverage`` =
  their share of the total. Pool borrow fees never enter it (they are not funding).
- The splits by margin type and venue type are sums of market cents (``FigureSums``), made at
  the edge where the total is.

Each source's part is summed once when its reading arrives (``figure_sums``); a symbol's
statistics add up its sources' parts, so a snapshot costs no per-market work for them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import msgspec

from server.core.model import HOURS_PER_YEAR, FigureSums, MarginType, MarketOI, SymbolTotal


class SymbolStats(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A symbol's statistics (numbers only: untracked by the cyclic GC, like ``core.model``'s records)."""

    total_oi_usd: float
    total_oi_coins: float | None
    coins_coverage: float
    price_usd: float | None
    funding_8h: float | None
    funding_coverage: float

    @property
    def funding_apr(self) -> float | None:
        return None if self.funding_8h is None else self.funding_8h * HOURS_PER_YEAR / 8.0


def figure_sums(markets: Iterable[MarketOI]) -> FigureSums:
    """One source's contribution to its symbol's statistics (once per reading, not per snapshot)."""
    total_cents = stable_cents = coin_markets = 0
    coins = coins_usd = price_x_usd = priced_usd = funding_x_usd = funded_usd = 0.0
    for market in markets:
        usd = market.oi_usd
        market_cents = round(usd * 100)
        total_cents += market_cents
        if market.margin_type is MarginType.STABLECOIN:
            stable_cents += market_cents
        if market.oi_base is not None:
            coins += market.oi_base
            coins_usd += usd
            coin_markets += 1
        if market.price_usd is not None:
            price_x_usd += market.price_usd * usd
            priced_usd += usd
        if market.funding is not None:
            funding_x_usd += market.funding.rate_8h * usd
            funded_usd += usd
    return FigureSums(
        oi_usd_cents=total_cents,
        coins=coins,
        coins_usd=coins_usd,
        coin_markets=coin_markets,
        price_x_usd=price_x_usd,
        priced_usd=priced_usd,
        funding_x_usd=funding_x_usd,
        funded_usd=funded_usd,
        stablecoin_cents=stable_cents,
    )


def _share(part: float, total: float) -> float:
    return part / total if total > 0 else 0.0


def symbol_stats(total: SymbolTotal) -> SymbolStats:
    """The statistics of one symbol's counted markets, from its sources' ``FigureSums``."""
    sums = [figure.sums for figure in total.venues]
    usd = total.total_oi_usd
    # fsum over lists, not generators: a third cheaper at a symbol's ~10 sources, and this runs
    # for every symbol a reading changes when the statistics are asked for
    coins_usd = math.fsum([s.coins_usd for s in sums])
    priced_usd = math.fsum([s.priced_usd for s in sums])
    funded_usd = math.fsum([s.funded_usd for s in sums])
    has_coins = any(s.coin_markets for s in sums)
    return SymbolStats(
        total_oi_usd=usd,
        total_oi_coins=math.fsum([s.coins for s in sums]) if has_coins else None,
        coins_coverage=_share(coins_usd, usd),
        price_usd=math.fsum([s.price_x_usd for s in sums]) / priced_usd if priced_usd > 0 else None,
        funding_8h=math.fsum([s.funding_x_usd for s in sums]) / funded_usd if funded_usd > 0 else None,
        funding_coverage=_share(funded_usd, usd),
    )
