"""Latest per-source readings → one immutable Snapshot. Pure: the clock is an argument.

A source counts only while fresh: its last good fetch is at most ``stale_after_ms[source]`` old
(API.md: 3 × its poll interval). Figures are summed with ``math.fsum`` so totals do not depend on
the order sources or markets arrive in. Nothing is rounded here: rounding to cents is the edge's job.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

from server.core.model import MarketOI, Snapshot, SourceFigures, SymbolTotal, VenueFigure, VenueReading
from server.core.signals import figure_samples
from server.core.stats import figure_sums


def is_fresh(reading: VenueReading, now_ms: int, stale_after_ms: int) -> bool:
    return now_ms - reading.fetched_at_ms <= stale_after_ms


def _carried_among(carried: Mapping[str, int], markets: list[MarketOI]) -> dict[str, int]:
    """The stand-in values' fetch times among ``markets`` (most readings carry none)."""
    if not carried:
        return {}
    symbols = {m.venue_symbol for m in markets}
    return {s: at for s, at in carried.items() if s in symbols}


def venue_figures(reading: VenueReading) -> dict[str, VenueFigure]:
    """One source's markets grouped by base: USD summed; base coins summed only if every market has them."""
    by_base: dict[str, list[MarketOI]] = defaultdict(list)
    for market in reading.markets:
        by_base[market.base].append(market)
    figures: dict[str, VenueFigure] = {}
    for base, markets in by_base.items():
        coins = [m.oi_base for m in markets if m.oi_base is not None]
        figures[base] = VenueFigure(
            source=reading.source,
            oi_usd=math.fsum([m.oi_usd for m in markets]),
            oi_base=math.fsum(coins) if len(coins) == len(markets) else None,
            updated_at_ms=reading.fetched_at_ms,
            venue_type=reading.venue_type,
            markets=tuple(sorted(markets, key=lambda m: (-m.oi_usd, m.venue_symbol))),
            carried=_carried_among(reading.carried, markets),
            sums=figure_sums(markets),
        )
    return figures


def aggregate(
    readings: Mapping[str, VenueReading], *, now_ms: int, stale_after_ms: Mapping[str, int]
) -> Snapshot:
    """Build the snapshot of every fresh source's latest good reading."""
    return Aggregator().build(readings, now_ms=now_ms, stale_after_ms=stale_after_ms)


class Aggregator:
    """``aggregate``, kept up to date reading by reading, so a snapshot costs what changed.

    It remembers which reading of each source is counted and every symbol's figures by source.
    A build compares the fresh readings with the counted ones: a source whose reading is new (or
    went stale, or came back) has its old figures taken out and its new ones put in, and only the
    symbols those figures touch get a new ``SymbolTotal``; every other symbol keeps the very same
    object, so everything built from it downstream (rounded rows, serialized bytes, statistics)
    is reused by identity. Readings are immutable, so the same object means the same figures.
    """

    def __init__(self) -> None:
        self._counted: dict[str, tuple[VenueReading, SourceFigures]] = {}
        self._by_symbol: dict[str, dict[str, VenueFigure]] = {}
        self._totals: dict[str, SymbolTotal] = {}

    def build(
        self, readings: Mapping[str, VenueReading], *, now_ms: int, stale_after_ms: Mapping[str, int]
    ) -> Snapshot:
        touched: set[str] = set()
        fresh = {
            source: reading
            for source, reading in readings.items()
            if is_fresh(reading, now_ms, stale_after_ms[source])
        }
        for source in self._counted.keys() - fresh.keys():
            touched.update(self._uncount(source))
        for source, reading in fresh.items():
            counted = self._counted.get(source)
            if counted is not None and counted[0] is reading:
                continue
            if counted is not None:
                touched.update(self._uncount(source))
            figures = venue_figures(reading)
            self._counted[source] = (reading, SourceFigures(figures, figure_samples(figures.values())))
            for base, figure in figures.items():
                self._by_symbol.setdefault(base, {})[source] = figure
            touched.update(figures)
        for symbol in touched:
            by_source = self._by_symbol.get(symbol)
            if not by_source:
                self._by_symbol.pop(symbol, None)
                self._totals.pop(symbol, None)
                continue
            venues = tuple(sorted(by_source.values(), key=lambda f: (-f.oi_usd, f.source)))
            self._totals[symbol] = SymbolTotal(
                symbol=symbol, total_oi_usd=math.fsum([f.oi_usd for f in venues]), venues=venues
            )
        return Snapshot(
            built_at_ms=now_ms,
            symbols=dict(sorted(self._totals.items())),
            sources={source: figures for source, (_, figures) in self._counted.items()},
        )

    def counted(self) -> dict[str, VenueReading]:
        """The reading of each source the last build counted (what a collector publishes, so a
        replica builds the very same snapshot)."""
        return {source: reading for source, (reading, _) in self._counted.items()}

    def _uncount(self, source: str) -> set[str]:
        """Take ``source``'s counted figures out; the symbols they touched."""
        _, counted = self._counted.pop(source)
        figures = counted.figures
        for base in figures:
            by_source = self._by_symbol.get(base)
            if by_source is not None:
                by_source.pop(source, None)
        return set(figures)
