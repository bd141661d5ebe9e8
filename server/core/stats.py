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
- ``by_margin`` and ``by_venue_type`` split the USD total by the market's margin type and the
  venue's type; each split sums to the total.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from server.core.model import HOURS_PER_YEAR, MarginType, MarketOI, SymbolTotal, VenueType


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolStats:
    total_oi_usd: float
    total_oi_coins: float | None
    coins_coverage: float
    price_usd: float | None
    funding_8h: float | None
    funding_coverage: float
    by_margin: dict[MarginType, float]
    by_venue_type: dict[VenueType, float]

    @property
    def funding_apr(self) -> float | None:
        return None if self.funding_8h is None else self.funding_8h * HOURS_PER_YEAR / 8.0


def _weighted(pairs: Iterable[tuple[float, float]]) -> tuple[float | None, float]:
    """(Σ value × weight / Σ weight, Σ weight); None when no weight."""
    items = list(pairs)
    weight = math.fsum(w for _, w in items)
    if not items or weight <= 0:
        return None, weight
    return math.fsum(v * w for v, w in items) / weight, weight


def _share(part: float, total: float) -> float:
    return part / total if total > 0 else 0.0


def symbol_stats(total: SymbolTotal) -> SymbolStats:
    """The statistics of one symbol's counted markets (every fresh source's markets of that base)."""
    counted: list[tuple[MarketOI, VenueType]] = [
        (market, figure.venue_type) for figure in total.venues for market in figure.markets
    ]
    usd = total.total_oi_usd
    with_coins = [m for m, _ in counted if m.oi_base is not None]
    coins_usd = math.fsum(m.oi_usd for m in with_coins)
    price, _ = _weighted((m.price_usd, m.oi_usd) for m, _ in counted if m.price_usd is not None)
    funding, funded_usd = _weighted(
        (m.funding.rate_8h, m.oi_usd) for m, _ in counted if m.funding is not None
    )
    by_margin = {kind: 0.0 for kind in MarginType}
    by_venue_type = {kind: 0.0 for kind in VenueType}
    for market, venue_type in counted:
        by_margin[market.margin_type] += market.oi_usd
        by_venue_type[venue_type] += market.oi_usd
    return SymbolStats(
        total_oi_usd=usd,
        total_oi_coins=math.fsum(m.oi_base for m in with_coins if m.oi_base is not None)
        if with_coins
        else None,
        coins_coverage=_share(coins_usd, usd),
        price_usd=price,
        funding_8h=funding,
        funding_coverage=_share(funded_usd, usd),
        by_margin=by_margin,
        by_venue_type=by_venue_type,
    )
