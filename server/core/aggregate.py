"""Latest per-source readings → one immutable Snapshot. Pure: the clock is an argument.

A source counts only while fresh: its last good fetch is at most ``stale_after_ms[source]`` old
(API.md: 3 × its poll interval). Figures are summed with ``math.fsum`` so totals do not depend on
the order sources or markets arrive in. Nothing is rounded here: rounding to cents is the edge's job.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

from server.core.model import MarketOI, Snapshot, SymbolTotal, VenueFigure, VenueReading


def is_fresh(reading: VenueReading, now_ms: int, stale_after_ms: int) -> bool:
    return now_ms - reading.fetched_at_ms <= stale_after_ms


def venue_figures(reading: VenueReading) -> dict[str, VenueFigure]:
    """One source's markets grouped by base: USD summed; base coins summed only if every market has them."""
    by_base: dict[str, list[MarketOI]] = defaultdict(list)
    for market in reading.markets:
        by_base[market.base].append(market)
    figures: dict[str, VenueFigure] = {}
    for base, markets in by_base.items():
        bases = [m.oi_base for m in markets]
        symbols = {m.venue_symbol for m in markets}
        figures[base] = VenueFigure(
            source=reading.source,
            oi_usd=math.fsum(m.oi_usd for m in markets),
            oi_base=None if any(b is None for b in bases) else math.fsum(b for b in bases if b is not None),
            updated_at_ms=reading.fetched_at_ms,
            venue_type=reading.venue_type,
            markets=tuple(sorted(markets, key=lambda m: (-m.oi_usd, m.venue_symbol))),
            carried={s: at for s, at in reading.carried.items() if s in symbols},
        )
    return figures


def aggregate(
    readings: Mapping[str, VenueReading], *, now_ms: int, stale_after_ms: Mapping[str, int]
) -> Snapshot:
    """Build the snapshot of every fresh source's latest good reading."""
    return Aggregator().build(readings, now_ms=now_ms, stale_after_ms=stale_after_ms)


class Aggregator:
    """``aggregate``, remembering what the last build made so the next costs only what changed.

    A reading's per-symbol figures are grouped once (readings are immutable: the same object
    gives the same figures), and a symbol whose figures are the very same objects as in the last
    snapshot keeps the same ``SymbolTotal`` object. Everything built from a ``SymbolTotal``
    downstream (rounded rows, serialized bytes, statistics) can then be reused by identity.
    """

    def __init__(self) -> None:
        self._figures: dict[str, tuple[VenueReading, dict[str, VenueFigure]]] = {}
        self._last: Mapping[str, SymbolTotal] = {}

    def _figures_of(self, reading: VenueReading) -> dict[str, VenueFigure]:
        cached = self._figures.get(reading.source)
        if cached is not None and cached[0] is reading:
            return cached[1]
        figures = venue_figures(reading)
        self._figures[reading.source] = (reading, figures)
        return figures

    def build(
        self, readings: Mapping[str, VenueReading], *, now_ms: int, stale_after_ms: Mapping[str, int]
    ) -> Snapshot:
        per_symbol: dict[str, list[VenueFigure]] = defaultdict(list)
        for source in sorted(readings):
            reading = readings[source]
            if not is_fresh(reading, now_ms, stale_after_ms[source]):
                continue
            for base, figure in self._figures_of(reading).items():
                per_symbol[base].append(figure)
        for source in self._figures.keys() - readings.keys():
            del self._figures[source]
        symbols: dict[str, SymbolTotal] = {}
        for symbol, figures in sorted(per_symbol.items()):
            venues = tuple(sorted(figures, key=lambda f: (-f.oi_usd, f.source)))
            before = self._last.get(symbol)
            if (
                before is not None
                and len(before.venues) == len(venues)
                and all(a is b for a, b in zip(before.venues, venues, strict=True))
            ):
                symbols[symbol] = before
            else:
                symbols[symbol] = SymbolTotal(
                    symbol=symbol, total_oi_usd=math.fsum(f.oi_usd for f in venues), venues=venues
                )
        self._last = symbols
        return Snapshot(built_at_ms=now_ms, symbols=symbols)
