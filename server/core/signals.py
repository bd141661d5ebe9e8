"""The OI / price table, live (API.md section 7): changes over 1m–24h, their quadrant, crowding.

Definitions (the README's "Signals" section says the same for users):

- A symbol's *now* is the time of its current figures (the snapshot that last changed them: every
  fresh source re-reads each poll interval, so a live symbol's windows move at least that often).
- For a window W, each source's *past* value is the last one recorded at or before now − W, and
  only if it was recorded within ``tolerance_ms`` of that instant: max(1.5 poll intervals, 2 % of
  W). The compared set is the sources counted now that have such a past value: a source that
  joined, left or went stale in between is out of both ends, so a venue dropping out never reads
  as OI falling. ``coverage`` = the compared set's share of the symbol's current USD total. No
  source compared: the window is absent, never 0.
- ``oi_pct`` = 100 × (Σ coins now / Σ coins then − 1) over the compared sources that count coins
  at both ends (a source whose OI cannot be counted in coins is left out of the coin comparison
  only; ``coins_coverage`` says how much of the total the coin comparison covers). ``oi_usd_pct``
  likewise in USD over the whole compared set. ``price_pct`` on the OI-weighted price (weights:
  USD OI) of the compared sources that have a price at both ends, each end weighted by its own OI.
- ``signal``: the OI move (coins; USD where no source counts coins) and the price move against the
  window's dead bands: inside a band is flat, and a flat side makes ``neutral``.
- ``crowding``: ``longs`` when OI is up beyond its band and the symbol's current OI-weighted
  ``funding_8h`` ≥ threshold, ``shorts`` when OI is up and funding ≤ −threshold, else None.

Sums run over the sources in name order (so an answer does not depend on how the venues rank).

Memory: each (symbol, source) keeps, per window, a trail (a row of that window's
``core/trails.py`` rings) of the values it may still compare against: those before the window's
current past value go, and a sample is dropped when the ones either side of it are within the
tolerance of each other, unless it is the window's current past value (the kept ones stay at most
one tolerance apart, so the past value used is the last kept one at or before now − W, and it is
within the tolerance whenever readings arrived). Pure apart from that state: the clock is each
snapshot's build time.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import msgspec

from server.core.model import SourceFigures, SymbolTotal, VenueFigure

MINUTE_MS: Final = 60_000
WINDOWS: Final = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "24h": 1440 * MINUTE_MS,
}
# Dead bands in percent. From the notes (section E.3), a synthesis of the bands used in the wild
# (E.2): Coinglass prints 5m OI moves of 0.04 % as everyday noise, scanners use 0.5 % (5m–4h) to
# 1–4 % (12h–1d) for OI, and prices move about a third as much as OI on the same horizon. 1m is
# ours: below the 5m floor, above the tick noise of a single poll.
DEFAULT_OI_BANDS: Final = {"1m": 0.2, "5m": 0.3, "15m": 0.5, "1h": 1.0, "4h": 2.0, "24h": 3.0}
DEFAULT_PRICE_BANDS: Final = {"1m": 0.05, "5m": 0.1, "15m": 0.2, "1h": 0.5, "4h": 1.0, "24h": 2.0}
# 0.05 % per 8 h ≈ 55 % APR: above the justhodl "highly bullish leverage" line (0.03 %), half of
# the "overleveraged" 0.10 % (notes section B.4).
DEFAULT_CROWDING_THRESHOLD: Final = 0.0005
TOLERANCE_POLLS: Final = 1.5
TOLERANCE_SHARE: Final = 0.02
SWEEP_MS: Final = 10 * MINUTE_MS  # how often series no longer counted are looked for
NAN: Final = math.nan


class Signal(StrEnum):
    NEW_LONGS = "new_longs"  # OI up, price up: trend continuation
    NEW_SHORTS = "new_shorts"  # OI up, price down: bearish pressure
    SHORT_COVERING = "short_covering"  # OI down, price up: may exhaust
    LONG_LIQUIDATION = "long_liquidation"  # OI down, price down: capitulation
    NEUTRAL = "neutral"  # OI or price flat


class Crowding(StrEnum):
    LONGS = "longs"
    SHORTS = "shorts"


def tolerance_ms(window_ms: int, poll_interval_ms: int) -> int:
    """How far before now − W a past value may have been recorded and still count."""
    return max(round(TOLERANCE_POLLS * poll_interval_ms), round(TOLERANCE_SHARE * window_ms))


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Dead bands (percent, per window) and the crowding threshold (fraction per 8 h)."""

    poll_interval_ms: int = 30_000
    oi_bands: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_OI_BANDS))
    price_bands: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICE_BANDS))
    crowding_threshold: float = DEFAULT_CROWDING_THRESHOLD
    # A symbol's windows are computed at most this often (its values are recorded every time):
    # at a short poll interval a coin on 18 venues changes many times a second, and its windows
    # need not follow each reading (see ``core.signal_book.SignalBook``).
    min_recompute_ms: int = 1_000


@dataclass(frozen=True, slots=True)
class Point:
    """One source's figures for one symbol at one instant: ``coins`` None where the source cannot
    count its OI in coins, ``price`` None where it used no price (OI-weighted within the source)."""

    t: int
    coins: float | None
    usd: float
    price: float | None


def point_of(figure: VenueFigure) -> Point:
    sums = figure.sums
    price = sums.price_x_usd / sums.priced_usd if sums.priced_usd > 0 else None
    return Point(t=figure.updated_at_ms, coins=figure.oi_base, usd=figure.oi_usd, price=price)


SAMPLE_FIELDS: Final = 6  # per figure in ``figure_samples``


def figure_samples(figures: Iterable[VenueFigure]) -> array[float]:
    """Each figure's values as the signal windows take them, six floats a figure: its time, coins
    (NaN: none), USD, price × USD (NaN: no price), Σ funding_8h × USD and funded USD. Price × USD
    is (Σ price × USD / Σ priced USD) × USD, as ``point_of`` and ``compare`` reckon it (the same
    operations in the same order: the same value to the last bit)."""
    values: list[float] = []  # (a list, then one array: a third cheaper than extending the array)
    extend = values.extend
    for figure in figures:
        sums, coins, usd = figure.sums, figure.oi_base, figure.oi_usd
        priced = sums.priced_usd
        extend(
            (
                figure.updated_at_ms,
                NAN if coins is None else coins,
                usd,
                sums.price_x_usd / priced * usd if priced > 0 else NAN,
                sums.funding_x_usd,
                sums.funded_usd,
            )
        )
    return array("d", values)


def by_source(symbols: Mapping[str, SymbolTotal]) -> dict[str, SourceFigures]:
    """The totals' figures grouped by source, as the aggregator hands them on (for a snapshot
    made by hand)."""
    grouped: dict[str, dict[str, VenueFigure]] = {}
    for symbol, total in symbols.items():
        for figure in total.venues:
            grouped.setdefault(figure.source, {})[symbol] = figure
    return {source: SourceFigures(group, figure_samples(group.values())) for source, group in grouped.items()}


class Change(msgspec.Struct, frozen=True, gc=False):
    """One window's answer for one symbol, with what explains it (a msgspec Struct: one is made
    per window of every symbol a reading touches, ~10x cheaper than a frozen dataclass; untracked
    by the cyclic GC, as it holds numbers, strings and tuples of numbers only, so it can be in
    no cycle)."""

    window: str
    oi_pct: float | None  # coins; None when no compared source counts coins
    oi_usd_pct: float
    price_pct: float | None  # None when no compared source has a price
    signal: Signal
    crowding: Crowding | None
    now_ms: int
    then_ms: int  # now − W: the instant the past values were looked up at
    oldest_ms: int  # the oldest past value used (then_ms − oldest_ms ≤ tolerance)
    oi_coins: tuple[float, float] | None  # (then, now) over the coin comparison
    oi_usd: tuple[float, float]  # (then, now) over the compared set
    price_usd: tuple[float, float] | None  # (then, now) OI-weighted
    coverage: float  # the compared set's share of the current total USD
    coins_coverage: float  # the coin comparison's share of the current total USD
    sources: int  # how many sources were compared

    @property
    def oi_move(self) -> float:
        """The OI move the label uses: coins, or USD where no source counts coins."""
        return self.oi_usd_pct if self.oi_pct is None else self.oi_pct


def pct(now: float, then: float) -> float:
    return 100.0 * (now / then - 1.0)


def label(oi_move: float, price_move: float | None, oi_band: float, price_band: float) -> Signal:
    """The quadrant, with a move whose size is at most the band taken as flat (so a move of
    exactly the band is flat: "beyond the band" means strictly larger)."""
    if price_move is None or abs(oi_move) <= oi_band or abs(price_move) <= price_band:
        return Signal.NEUTRAL
    if oi_move > 0:
        return Signal.NEW_LONGS if price_move > 0 else Signal.NEW_SHORTS
    return Signal.SHORT_COVERING if price_move > 0 else Signal.LONG_LIQUIDATION


def crowding(oi_move: float, oi_band: float, funding_8h: float | None, threshold: float) -> Crowding | None:
    """``longs``/``shorts`` when OI is up beyond its band and funding is at or past ±threshold."""
    if funding_8h is None or oi_move <= oi_band:
        return None
    if funding_8h >= threshold:
        return Crowding.LONGS
    if funding_8h <= -threshold:
        return Crowding.SHORTS
    return None


def compare(
    window: str,
    now_ms: int,
    then_ms: int,
    now: Mapping[str, Point],
    then: Mapping[str, Point],
    *,
    total_usd: float,
    funding_8h: float | None,
    settings: Settings,
) -> Change | None:
    """One window over the sources present at both ends (``then`` holds only accepted past
    values); None when no source is at both ends or the compared USD is not positive."""
    usd_now = usd_then = coins_now = coins_then = coins_usd = 0.0
    px_now = px_then = w_now = w_then = 0.0
    coin_sources = priced = compared = 0
    oldest = then_ms
    for source in sorted(now):  # by name: the answer does not depend on how sources rank
        current = now[source]
        past = then.get(source)
        if past is None:
            continue
        compared += 1
        oldest = min(oldest, past.t)
        usd_now += current.usd
        usd_then += past.usd
        if current.coins is not None and past.coins is not None:
            coins_now += current.coins
            coins_then += past.coins
            coins_usd += current.usd
            coin_sources += 1
        if current.price is not None and past.price is not None:
            px_now += current.price * current.usd
            w_now += current.usd
            px_then += past.price * past.usd
            w_then += past.usd
            priced += 1
    if not compared or usd_then <= 0 or usd_now <= 0:
        return None
    oi_pct = pct(coins_now, coins_then) if coin_sources and coins_then > 0 else None
    price_then = px_then / w_then if priced and w_then > 0 else None
    price_now = px_now / w_now if priced and w_now > 0 else None
    price_pct = pct(price_now, price_then) if price_now is not None and price_then else None
    oi_usd_pct = pct(usd_now, usd_then)
    oi_move = oi_usd_pct if oi_pct is None else oi_pct
    oi_band = settings.oi_bands[window]
    return Change(
        window=window,
        oi_pct=oi_pct,
        oi_usd_pct=oi_usd_pct,
        price_pct=price_pct,
        signal=label(oi_move, price_pct, oi_band, settings.price_bands[window]),
        crowding=crowding(oi_move, oi_band, funding_8h, settings.crowding_threshold),
        now_ms=now_ms,
        then_ms=then_ms,
        oldest_ms=oldest,
        oi_coins=(coins_then, coins_now) if oi_pct is not None else None,
        oi_usd=(usd_then, usd_now),
        price_usd=(price_then, price_now) if price_pct is not None and price_then and price_now else None,
        coverage=usd_now / total_usd if total_usd > 0 else 0.0,
        coins_coverage=coins_usd / total_usd if total_usd > 0 else 0.0,
        sources=compared,
    )


def last_at_or_before(points: Iterable[Point], instant_ms: int, tolerance: int) -> Point | None:
    """The last of ``points`` (ascending by t) recorded at or before ``instant_ms``, if it was
    recorded within ``tolerance`` of it (the reference definition ``Trail`` implements)."""
    found: Point | None = None
    for point in points:
        if point.t > instant_ms:
            break
        found = point
    return found if found is not None and instant_ms - found.t <= tolerance else None


Changes = tuple[Change, ...]  # ordered as WINDOWS; absent windows left out
