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

Memory: each (symbol, source) keeps, per window, a compact trail (one ``array('d')``, shared by
the windows of one tolerance: ``core/trails.py``) of the values it may still compare against:
samples older than W + tolerance go, and a sample is dropped when the ones either side of it are
within the tolerance of each other, unless it is a window's current past value (the kept ones
stay at most one tolerance apart, so the past value used is the last kept one at or before
now − W, and it is within the tolerance whenever readings arrived). Pure apart from that state:
the clock is each snapshot's build time.
"""

from __future__ import annotations

import math
from array import array
from bisect import insort
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import msgspec

from server.core.model import Snapshot, SymbolTotal, VenueFigure
from server.core.trails import NEVER, STRIDE, Cursor, Pasts, Series, masked_pasts, pasts

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


class Change(msgspec.Struct, frozen=True, kw_only=True, gc=False):
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


# The members as plain names: an enum attribute costs ~60 ns in Python 3.11, and ``label`` runs
# for every window of every symbol a reading touches.
_NEUTRAL: Final = Signal.NEUTRAL
_NEW_LONGS: Final = Signal.NEW_LONGS
_NEW_SHORTS: Final = Signal.NEW_SHORTS
_SHORT_COVERING: Final = Signal.SHORT_COVERING
_LONG_LIQUIDATION: Final = Signal.LONG_LIQUIDATION


def label(oi_move: float, price_move: float | None, oi_band: float, price_band: float) -> Signal:
    """The quadrant, with a move whose size is at most the band taken as flat (so a move of
    exactly the band is flat: "beyond the band" means strictly larger)."""
    if price_move is None or abs(oi_move) <= oi_band or abs(price_move) <= price_band:
        return _NEUTRAL
    if oi_move > 0:
        return _NEW_LONGS if price_move > 0 else _NEW_SHORTS
    return _SHORT_COVERING if price_move > 0 else _LONG_LIQUIDATION


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


def point_row(point: Point) -> array[float]:
    """``point`` as one trail row (t, coins, usd, price × usd; NaN for None)."""
    return array(
        "d",
        (
            point.t,
            math.nan if point.coins is None else point.coins,
            point.usd,
            math.nan if point.price is None else point.price * point.usd,
        ),
    )


Changes = tuple[Change, ...]  # ordered as WINDOWS; absent windows left out


class _Symbol:
    """One symbol's series, the sources counted now, and what each window last found."""

    __slots__ = ("computed_at", "current", "due", "lanes", "ordered", "pasts", "series", "total", "wake")

    def __init__(self, windows: int) -> None:
        self.series: dict[str, Series] = {}
        self.ordered: list[Series] = []  # by source: the order every sum is taken in
        self.total: SymbolTotal | None = None
        self.current: list[Series] = []  # the sources counted now, by source
        self.lanes: list[list[Cursor]] = [[] for _ in range(windows)]  # per window: their cursors
        self.pasts: list[Pasts | None] = [None] * windows  # per window: its past side, as last found
        self.due: list[float] = [-NEVER] * windows  # per window: from this instant on, look again
        self.wake = False  # some window's past side can change with the next value pushed
        self.computed_at: int | None = None


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

    A computation sums the current values once per symbol, and a window's past side only when one
    of its past values can have changed (``trails.pasts`` says from which instant): at a 30 s poll
    the 4h and 24h windows' past values move every few minutes, not at every reading. Sums run
    over the sources in name order, so the answer does not depend on how the venues rank.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        poll = self.settings.poll_interval_ms
        self._windows = tuple((name, ms, tolerance_ms(ms, poll)) for name, ms in WINDOWS.items())
        self._plan = tuple(
            (index, name, ms, tolerance, self.settings.oi_bands[name], self.settings.price_bands[name])
            for index, (name, ms, tolerance) in enumerate(self._windows)
        )
        # A live value closer than this to a trail's last one is not offered to it: values read
        # at most 1.5 poll intervals apart then stay at most a tolerance apart, so the thinning
        # keeps the same samples, and a long window's trail costs one comparison per reading.
        # Windows of one tolerance share a trail (the tolerance only grows with the window).
        sharing = Counter(tolerance for _, _, tolerance in self._windows)
        skips = {tolerance: max(0, tolerance - round(TOLERANCE_POLLS * poll)) for tolerance in sharing}
        self._groups = tuple(
            (tolerance, skips[tolerance], count, skips[tolerance] > poll)
            for tolerance, count in sharing.items()
        )
        self._symbols: dict[str, _Symbol] = {}  # every symbol with a series, counted now or not
        self._present: dict[str, _Symbol] = {}  # those in the last snapshot
        self.changes: dict[str, Changes] = {}
        self._swept_ms = 0

    def record(self, symbol: str, source: str, point: Point) -> None:
        """Add one (symbol, source) value (from a reading, or from history when seeding)."""
        state = self._state(symbol)
        series = state.series.get(source) or self._add(state, source)
        series.push(point_row(point), False)
        state.due = [-NEVER] * len(self._windows)  # it may be some cursor's next value: look again

    def _state(self, symbol: str) -> _Symbol:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _Symbol(len(self._windows))
        return state

    def _add(self, state: _Symbol, source: str) -> Series:
        series = state.series[source] = Series(source, self._groups, len(self._windows))
        insort(state.ordered, series, key=lambda s: s.source)
        return series

    def observe(self, snapshot: Snapshot) -> dict[str, Changes]:
        """Take a snapshot; every symbol's changes (the same tuple objects where unchanged)."""
        now_ms = snapshot.built_at_ms
        present = self._present
        for symbol in present.keys() - snapshot.symbols.keys():
            state = present.pop(symbol)
            state.total = None
            state.computed_at = None
            _count(state, ())
            self.changes.pop(symbol, None)
        every = self.settings.min_recompute_ms
        for symbol, total in snapshot.symbols.items():
            held = present.get(symbol)
            if held is None:
                state = present[symbol] = self._state(symbol)
            elif held.total is total:
                continue
            else:
                state = held
            state.total = total
            series = state.series
            same = len(total.venues) == len(state.current)  # and every one counted already
            pushed = False
            for figure in total.venues:
                one = series.get(figure.source) or self._add(state, figure.source)
                if one.figure is not figure:
                    one.figure = figure
                    coins = figure.oi_base
                    usd = figure.oi_usd
                    sums = figure.sums
                    px = sums.price_x_usd / sums.priced_usd * usd if sums.priced_usd > 0 else None
                    one.now = (usd, coins, px)
                    coins_or_nan = NAN if coins is None else coins
                    px_or_nan = NAN if px is None else px
                    one.push(array("d", (figure.updated_at_ms, coins_or_nan, usd, px_or_nan)), True)
                    pushed = True
                if not one.counted:
                    same = False
            if not same:
                _count(state, [series[f.source] for f in total.venues])
            elif pushed and state.wake:
                state.due = [-NEVER] * len(self._windows)
            if state.computed_at is None or now_ms - state.computed_at >= every:
                state.computed_at = now_ms
                self.changes[symbol] = self._compute(state, total, now_ms)
        if now_ms - self._swept_ms >= SWEEP_MS:
            self._swept_ms = now_ms
            self._forget_gone(snapshot)
        return self.changes

    def _compute(self, state: _Symbol, total: SymbolTotal, now_ms: int) -> Changes:
        """Every window of one symbol: the current side summed once, each window's past side
        reused until it can have changed (the same arithmetic as ``compare``, inlined: this runs
        for every symbol a reading touched, see bench/signals.py)."""
        current = state.current
        usd_now = coins_now = coins_usd = px_now = w_now = 0.0
        with_coins = with_price = 0
        bit = 1
        for one in current:  # each source's current values (those of its last push), by source
            usd, coins, px = one.now
            usd_now += usd
            if coins is not None:
                with_coins |= bit
                coins_now += coins
                coins_usd += usd
            if px is not None:
                with_price |= bit
                px_now += px
                w_now += usd
            bit <<= 1
        # Each current sum is over one set of sources (bits): USD over the compared ones, coins
        # over those counting coins at both ends, prices over those priced at both ends. Every
        # current source at first; a window comparing another set sums that part again, and the
        # next window comparing the same set reuses it.
        usd_over, coins_over, priced_over = bit - 1, with_coins, with_price
        total_usd = total.total_oi_usd
        coverage, coins_coverage = _share(usd_now, total_usd), _share(coins_usd, total_usd)
        price_now = _price(px_now, w_now)
        funding: float | None = None  # worked out once a window's OI is up beyond its band
        funding_known = False
        threshold = self.settings.crowding_threshold
        answers: list[Change] = []
        wake = False
        due = state.due
        found = state.pasts
        for index, name, window_ms, tolerance, oi_band, price_band in self._plan:
            instant = now_ms - window_ms
            past = found[index]
            if past is None or instant >= due[index]:
                past = found[index] = pasts(state.lanes[index], instant, tolerance)
                due[index] = past[0]
            _, woke, compared, coins, priced, usd_then, coins_then, px_then, w_then, oldest = past
            if woke:
                wake = True
            if not compared:
                continue
            if coins & ~with_coins or priced & ~with_price:  # compared only where both ends have it
                coins &= with_coins
                priced &= with_price
                usd_then, coins_then, px_then, w_then = masked_pasts(
                    state.lanes[index], compared, coins, priced
                )
            if compared != usd_over:
                usd_over, usd_now = compared, _usd_over(current, compared)
                coverage = _share(usd_now, total_usd)
            if coins != coins_over:
                coins_over, (coins_now, coins_usd) = coins, _coins_over(current, coins)
                coins_coverage = _share(coins_usd, total_usd)
            if priced != priced_over:
                priced_over, (px_now, w_now) = priced, _priced_over(current, priced)
                price_now = _price(px_now, w_now)
            if usd_then <= 0 or usd_now <= 0:
                continue
            # pct(), inlined
            oi_pct = 100.0 * (coins_now / coins_then - 1.0) if coins and coins_then > 0 else None
            price_then = px_then / w_then if w_then > 0 else None
            price_pct = None
            if price_now is not None and price_then:
                price_pct = 100.0 * (price_now / price_then - 1.0)
            oi_usd_pct = 100.0 * (usd_now / usd_then - 1.0)
            oi_move = oi_usd_pct if oi_pct is None else oi_pct
            crowded = None
            if oi_move > oi_band:
                if not funding_known:
                    funding, funding_known = _funding_8h(total), True
                crowded = crowding(oi_move, oi_band, funding, threshold)
            answers.append(
                Change(
                    window=name,
                    oi_pct=oi_pct,
                    oi_usd_pct=oi_usd_pct,
                    price_pct=price_pct,
                    signal=label(oi_move, price_pct, oi_band, price_band),
                    crowding=crowded,
                    now_ms=now_ms,
                    then_ms=instant,
                    oldest_ms=int(oldest),
                    oi_coins=(coins_then, coins_now) if oi_pct is not None else None,
                    oi_usd=(usd_then, usd_now),
                    price_usd=(price_then, price_now)
                    if price_pct is not None and price_then and price_now
                    else None,
                    coverage=coverage,
                    coins_coverage=coins_coverage,
                    sources=compared.bit_count(),
                )
            )
        state.wake = wake
        return tuple(answers)

    def _forget_gone(self, snapshot: Snapshot) -> None:
        """Drop the series of (symbol, source) pairs no longer counted and past every window, and
        trim the others (a trail seeded from history is trimmed here once its windows are found)."""
        horizon = snapshot.built_at_ms - max(ms + tol for _, ms, tol in self._windows)
        for symbol, state in list(self._symbols.items()):
            for one in list(state.ordered):
                newest = one.cursors[-1].data  # the longest window's trail
                if not one.counted and (not newest or newest[-STRIDE] < horizon):
                    del state.series[one.source]
                    state.ordered.remove(one)
                    continue
                for trail in one.every_trail():
                    trail.trim()
            if not state.series and symbol not in self._present:
                del self._symbols[symbol]

    def sample_count(self) -> int:
        """Samples held over every trail (for the memory figures)."""
        return sum(len(t) for state in self._symbols.values() for s in state.ordered for t in s.every_trail())


def _funding_8h(total: SymbolTotal) -> float | None:
    """The symbol's OI-weighted funding per 8 h (None where no market has funding)."""
    funded = math.fsum([f.sums.funded_usd for f in total.venues])
    return math.fsum([f.sums.funding_x_usd for f in total.venues]) / funded if funded > 0 else None


def _count(state: _Symbol, counted: Sequence[Series]) -> None:
    """The sources counted now changed: each window's past side is to be found again."""
    for one in state.current:
        one.counted = False
    for one in counted:
        one.counted = True
    state.current = [one for one in state.ordered if one.counted]
    state.lanes = [[one.cursors[index] for one in state.current] for index in range(len(state.lanes))]
    state.pasts = [None] * len(state.lanes)
    state.due = [-NEVER] * len(state.lanes)


def _share(usd: float, total_usd: float) -> float:
    """A part's share of the symbol's current total (0 where the total is not positive)."""
    return usd / total_usd if total_usd > 0 else 0.0


def _price(px: float, usd: float) -> float | None:
    """The OI-weighted price from Σ price × USD and Σ USD (None where nothing is priced)."""
    return px / usd if usd > 0 else None


def _usd_over(current: Sequence[Series], bits: int) -> float:
    """Σ current USD over some of the current sources (bit i: the i-th), in their order."""
    usd_now = 0.0
    bit = 1
    for one in current:
        if bits & bit:
            usd_now += one.now[0]
        bit <<= 1
    return usd_now


def _coins_over(current: Sequence[Series], bits: int) -> tuple[float, float]:
    """Σ current coins and Σ their USD over some of the current sources (all counting coins)."""
    coins_now = coins_usd = 0.0
    bit = 1
    for one in current:
        if bits & bit:
            usd, coins, _ = one.now
            if coins is not None:  # (the bit says it is)
                coins_now += coins
                coins_usd += usd
        bit <<= 1
    return coins_now, coins_usd


def _priced_over(current: Sequence[Series], bits: int) -> tuple[float, float]:
    """Σ current price × USD and Σ their USD over some of the current sources (all priced)."""
    px_now = w_now = 0.0
    bit = 1
    for one in current:
        if bits & bit:
            usd, _, px = one.now
            if px is not None:  # (the bit says it is)
                px_now += px
                w_now += usd
        bit <<= 1
    return px_now, w_now
