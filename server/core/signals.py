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

Memory: each (symbol, source) keeps, per window, a compact trail (one ``array('d')``) of the
values it may still compare against: samples older than W + tolerance go, and samples closer
together than the tolerance are thinned (the kept ones stay at most one tolerance apart, so the
past value used is the last kept one at or before now − W, and it is within the tolerance
whenever readings arrived). Pure apart from that state: the clock is each snapshot's build time.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from math import isnan
from typing import Final

import msgspec

from server.core.model import Snapshot, SymbolTotal, VenueFigure

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
_STRIDE: Final = 4  # t, coins (NaN: none), usd, price (NaN: none)


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
    # need not follow each reading (see ``SignalBook``).
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


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One window's answer for one symbol, with what explains it (a msgspec Struct: one is made
    per window of every symbol a reading touches, ~10x cheaper than a frozen dataclass)."""

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
    for source, current in now.items():
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


def point_row(point: Point) -> array[float]:
    """``point`` as one trail row (t, coins, usd, price; NaN for None)."""
    return array(
        "d",
        (
            float(point.t),
            math.nan if point.coins is None else point.coins,
            point.usd,
            math.nan if point.price is None else point.price,
        ),
    )


class Trail:
    """One (symbol, source) series for one window: the samples it may still compare against,
    flat in one ``array('d')`` (t, coins, usd, price per sample; NaN for None), thinned so kept
    samples are at most ``spacing`` apart wherever the input was, and trimmed from the front as
    the window's instant moves past them. ``head`` is the first live sample."""

    __slots__ = ("data", "head")

    def __init__(self) -> None:
        self.data = array("d")
        self.head = 0

    def push(self, point: Point, spacing: int) -> None:
        self.push_row(point_row(point), spacing)

    def push_row(self, row: array[float], spacing: int) -> None:
        data = self.data
        n = len(data) // _STRIDE
        if n - self.head >= 2 and row[0] - data[(n - 2) * _STRIDE] <= spacing:
            data[(n - 1) * _STRIDE :] = row  # the middle one is redundant
        else:
            data.extend(row)

    def at(self, instant_ms: int, tolerance: int) -> Point | None:
        """The last sample at or before ``instant_ms`` within ``tolerance``; ``instant_ms`` never
        goes back for one trail, so the samples before the answer can go."""
        data = self.data
        n = len(data) // _STRIDE
        head = self.head
        while n - head >= 2 and data[(head + 1) * _STRIDE] <= instant_ms:
            head += 1
        if head > 32 and 2 * head > n:
            del data[: head * _STRIDE]
            n -= head
            head = 0
        self.head = head
        if n == head:
            return None
        base = head * _STRIDE
        t = data[base]
        if t > instant_ms or instant_ms - t > tolerance:
            return None
        coins, usd, price = data[base + 1], data[base + 2], data[base + 3]
        return Point(
            t=int(t),
            coins=None if math.isnan(coins) else coins,
            usd=usd,
            price=None if math.isnan(price) else price,
        )

    def __len__(self) -> int:
        return len(self.data) // _STRIDE - self.head


Changes = tuple[Change, ...]  # ordered as WINDOWS; absent windows left out
_Row = tuple[tuple[Trail, ...], float, float, float]  # a source's trails, coins, usd, price now (NaN: none)


class SignalBook:
    """Every symbol's windows, kept up to date snapshot by snapshot.

    ``observe`` records the sources whose figures are new (a new ``VenueFigure``) and recomputes
    the windows of the symbols whose ``SymbolTotal`` changed, and only those: an unchanged symbol
    keeps its answer (and the front doors their bytes). A symbol computed less than
    ``min_recompute_ms`` ago keeps its answer too (its new values are recorded all the same): a
    coin on 18 venues polled every 0.5 s changes 36 times a second, and computing its windows at
    each of them cost a full-scale service its whole CPU; its answer then says which instant it
    is of (``now_ms``), at most ``min_recompute_ms`` plus one reading old. ``seed`` fills the
    trails from recorded history so a restarted service has its windows at once.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        poll = self.settings.poll_interval_ms
        self._windows = tuple((name, ms, tolerance_ms(ms, poll)) for name, ms in WINDOWS.items())
        self._tolerances = tuple(tolerance for _, _, tolerance in self._windows)
        # A live value closer than this to a trail's last one is not offered to it: values read
        # at most 1.5 poll intervals apart then stay at most a tolerance apart, so the thinning
        # keeps the same samples, and a long window's trail costs one comparison per reading.
        self._no_skips = (0,) * len(self._tolerances)  # history: its values may be further apart
        self._skips = tuple(
            max(0, tolerance - round(TOLERANCE_POLLS * poll)) for tolerance in self._tolerances
        )
        self._trails: dict[tuple[str, str], tuple[Trail, ...]] = {}
        self._seen: dict[tuple[str, str], VenueFigure] = {}
        self._totals: dict[str, SymbolTotal] = {}
        self.changes: dict[str, Changes] = {}
        self._computed_at: dict[str, int] = {}
        self._swept_ms = 0

    def record(self, symbol: str, source: str, point: Point) -> None:
        """Add one (symbol, source) value (from a reading, or from history when seeding)."""
        self._record_row(symbol, source, point_row(point), self._no_skips)

    def _record_row(self, symbol: str, source: str, row: array[float], skips: tuple[int, ...]) -> None:
        trails = self._trails.get((symbol, source))
        if trails is None:
            trails = self._trails[(symbol, source)] = tuple(Trail() for _ in self._windows)
        t = row[0]
        for trail, spacing, skip in zip(trails, self._tolerances, skips, strict=True):
            data = trail.data
            if data:
                gap = t - data[-_STRIDE]
                if gap <= 0 or gap < skip:
                    continue  # history overlapping what is held, or too close to the last value
                n = len(data) >> 2
                if n - trail.head >= 2 and t - data[(n - 2) << 2] <= spacing:
                    data[(n - 1) << 2 :] = row  # the middle one is redundant
                    continue
            data.extend(row)

    def observe(self, snapshot: Snapshot) -> dict[str, Changes]:
        """Take a snapshot; every symbol's changes (the same tuple objects where unchanged)."""
        now_ms = snapshot.built_at_ms
        for symbol in self._totals.keys() - snapshot.symbols.keys():
            del self._totals[symbol]
            self.changes.pop(symbol, None)
            self._computed_at.pop(symbol, None)
        every = self.settings.min_recompute_ms
        seen = self._seen
        for symbol, total in snapshot.symbols.items():
            if self._totals.get(symbol) is total:
                continue
            self._totals[symbol] = total
            rows: list[_Row] = []
            for figure in total.venues:
                key = (symbol, figure.source)
                sums = figure.sums
                coins = math.nan if figure.oi_base is None else figure.oi_base
                price = sums.price_x_usd / sums.priced_usd if sums.priced_usd > 0 else math.nan
                if seen.get(key) is not figure:
                    seen[key] = figure
                    row = array("d", (float(figure.updated_at_ms), coins, figure.oi_usd, price))
                    self._record_row(symbol, figure.source, row, self._skips)
                rows.append((self._trails[key], coins, figure.oi_usd, price))
            if now_ms - self._computed_at.get(symbol, now_ms - every) >= every:
                self._computed_at[symbol] = now_ms
                self.changes[symbol] = self._compute(total, rows, now_ms)
        if now_ms - self._swept_ms >= SWEEP_MS:
            self._swept_ms = now_ms
            self._forget_gone(snapshot)
        return self.changes

    def _compute(self, total: SymbolTotal, rows: list[_Row], now_ms: int) -> Changes:
        """``compare`` for every window, inlined over the trails' arrays: this loop runs for
        every (source, window) of every symbol a reading touched, so it avoids building a
        ``Point`` or a dict per past value (see bench/signals.py)."""
        funded = math.fsum(f.sums.funded_usd for f in total.venues)
        funding = math.fsum(f.sums.funding_x_usd for f in total.venues) / funded if funded > 0 else None
        total_usd = total.total_oi_usd
        settings = self.settings
        answers: list[Change] = []
        for index, (name, window_ms, tolerance) in enumerate(self._windows):
            instant = now_ms - window_ms
            floor = instant - tolerance
            usd_now = usd_then = coins_now = coins_then = coins_usd = 0.0
            px_now = px_then = w_then = 0.0
            coin_sources = compared = 0
            w_now = 0.0
            oldest = float(instant)
            for trails, c_now, u_now, p_now in rows:
                trail = trails[index]
                data = trail.data
                n = len(data) >> 2
                head = trail.head
                while n - head >= 2 and data[(head + 1) << 2] <= instant:
                    head += 1
                if head > 32 and 2 * head > n:
                    del data[: head << 2]
                    n -= head
                    head = 0
                trail.head = head
                if n == head:
                    continue
                base = head << 2
                t = data[base]
                if t > instant or t < floor:
                    continue
                compared += 1
                oldest = min(oldest, t)
                u_then = data[base + 2]
                usd_now += u_now
                usd_then += u_then
                c_then = data[base + 1]
                if not (isnan(c_now) or isnan(c_then)):  # NaN: no coins
                    coins_now += c_now
                    coins_then += c_then
                    coins_usd += u_now
                    coin_sources += 1
                p_then = data[base + 3]
                if not (isnan(p_now) or isnan(p_then)):
                    px_now += p_now * u_now
                    w_now += u_now
                    px_then += p_then * u_then
                    w_then += u_then
            if not compared or usd_then <= 0 or usd_now <= 0:
                continue
            oi_pct = pct(coins_now, coins_then) if coin_sources and coins_then > 0 else None
            price_then = px_then / w_then if w_then > 0 else None
            price_now = px_now / w_now if w_now > 0 else None
            price_pct = pct(price_now, price_then) if price_now is not None and price_then else None
            oi_usd_pct = pct(usd_now, usd_then)
            oi_move = oi_usd_pct if oi_pct is None else oi_pct
            oi_band = settings.oi_bands[name]
            answers.append(
                Change(
                    window=name,
                    oi_pct=oi_pct,
                    oi_usd_pct=oi_usd_pct,
                    price_pct=price_pct,
                    signal=label(oi_move, price_pct, oi_band, settings.price_bands[name]),
                    crowding=crowding(oi_move, oi_band, funding, settings.crowding_threshold),
                    now_ms=now_ms,
                    then_ms=instant,
                    oldest_ms=int(oldest),
                    oi_coins=(coins_then, coins_now) if oi_pct is not None else None,
                    oi_usd=(usd_then, usd_now),
                    price_usd=(price_then, price_now)
                    if price_pct is not None and price_then and price_now
                    else None,
                    coverage=usd_now / total_usd if total_usd > 0 else 0.0,
                    coins_coverage=coins_usd / total_usd if total_usd > 0 else 0.0,
                    sources=compared,
                )
            )
        return tuple(answers)

    def _forget_gone(self, snapshot: Snapshot) -> None:
        """Drop the series of (symbol, source) pairs no longer counted and past every window."""
        horizon = snapshot.built_at_ms - max(ms + tol for _, ms, tol in self._windows)
        for key in list(self._trails):
            total = snapshot.symbols.get(key[0])
            counted = total is not None and any(f.source == key[1] for f in total.venues)
            newest = self._trails[key][-1]
            if not counted and (not len(newest) or newest.data[-_STRIDE] < horizon):
                del self._trails[key]
                self._seen.pop(key, None)

    def sample_count(self) -> int:
        """Samples held over every trail (for the memory figures)."""
        return sum(len(t) for trails in self._trails.values() for t in trails)
