"""Every symbol's signal windows, kept up to date snapshot by snapshot (the definitions, and the
straightforward computation its answers equal: ``core/signals.py``).

Every (symbol, source) pair has a row in each window's trails (``core/trails.py``), so a snapshot
is a few array operations per window over all the pairs it touches. Kept apart from the
definitions so that what only serves answers (an api replica, the bus codec) does not import
numpy (~0.1 s of a start).
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice, pairwise, repeat
from operator import getitem, is_not
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from server.core.model import Snapshot, SourceFigures, SymbolTotal
from server.core.signals import (
    NAN,
    SAMPLE_FIELDS,
    SWEEP_MS,
    TOLERANCE_POLLS,
    WINDOWS,
    Change,
    Changes,
    Crowding,
    Point,
    Settings,
    Signal,
    by_source,
    tolerance_ms,
)
from server.core.trails import COINS, EMPTY, FIELDS, PX, USD, Flags, Floats, Ints, T, WindowTrails

CURRENT: Final = FIELDS + 1  # ``SignalBook._current``'s columns: a sample's but t, and funding's two

# A label or crowding code as computed over arrays (see ``_answers``), and what it stands for.
SIGNALS: Final = np.array(
    [Signal.NEUTRAL, Signal.NEW_LONGS, Signal.NEW_SHORTS, Signal.SHORT_COVERING, Signal.LONG_LIQUIDATION],
    dtype=object,
)
CROWDINGS: Final = np.array([None, Crowding.LONGS, Crowding.SHORTS], dtype=object)


class _Pair:
    """One (symbol, source): its row in every window's trails."""

    __slots__ = ("counted", "row", "source", "symbol")

    def __init__(self, symbol: str, source: str, row: int) -> None:
        self.symbol = symbol
        self.source = source
        self.row = row
        self.counted = False  # in the source's counted reading


class _Symbol:
    """One symbol's pairs (by source: the order every sum is taken in) and which are counted now."""

    __slots__ = ("computed_at", "counted", "ordered", "pairs", "total")

    def __init__(self) -> None:
        self.pairs: dict[str, _Pair] = {}
        self.ordered: list[_Pair] = []
        self.counted: Ints = EMPTY  # the rows of the sources counted now, by source
        self.total: SymbolTotal | None = None
        self.computed_at: int | None = None


class _Taken:
    """A source's figures last taken in, the names of their symbols and their pairs, in order."""

    __slots__ = ("figures", "pairs", "rows", "symbols")

    def __init__(self, figures: SourceFigures, symbols: list[str], pairs: list[_Pair]) -> None:
        self.figures = figures
        self.symbols = symbols
        self.pairs = pairs
        self.rows = np.array([pair.row for pair in pairs], dtype=np.int64)


class SignalBook:
    """Every symbol's windows, kept up to date snapshot by snapshot.

    ``observe`` records the figures that are new (a new ``VenueFigure``), taking them in by
    source as the aggregator hands them on (``Snapshot.sources``: a reading's figures with their
    values as arrays, so no figure object is read again), and recomputes the windows of the
    symbols whose ``SymbolTotal`` changed, and only those: an unchanged symbol keeps its answer
    (and the front doors their bytes). A symbol computed less than ``min_recompute_ms`` ago keeps
    its answer too (its new values are recorded all the same): a coin on 18 venues polled every
    0.5 s changes 36 times a second, and computing its windows at each of them cost a full-scale
    service its whole CPU; its answer then says which instant it is of (``now_ms``), at most
    ``min_recompute_ms`` plus one reading old. ``record`` fills the trails from recorded history
    so a restarted service has its windows at once.

    Every pair has a row in each window's trails (``core/trails.py``) and in ``_current`` (its
    current coins, USD and price × USD), so a snapshot is a few array operations per window over
    all the pairs it touches: push the new readings, move the cursors, then sum per (window,
    symbol) with ``np.bincount``, which adds in the order given (the sources in name order, as
    ``compare`` does: the answers are exactly the straightforward computation's,
    tests/core/test_signals_reference.py). At full scale a snapshot in which every source is new
    costs ~10 ms (bench/signals.py, README "Performance" row 7).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        poll = self.settings.poll_interval_ms
        self._windows = tuple((name, ms, tolerance_ms(ms, poll)) for name, ms in WINDOWS.items())
        # A live value closer than this to a trail's last one is not offered to it: values read
        # at most 1.5 poll intervals apart then stay at most a tolerance apart, so the thinning
        # keeps the same samples, and a long window's trail takes one value every few readings.
        self._trails = tuple(
            WindowTrails(ms, tolerance, max(0, tolerance - round(TOLERANCE_POLLS * poll)))
            for _, ms, tolerance in self._windows
        )
        self._names = np.array([name for name, _, _ in self._windows], dtype=object)
        self._window_ms = np.array([[ms] for _, ms, _ in self._windows], dtype=np.float64)
        self._tolerance = np.array([[tol] for _, _, tol in self._windows], dtype=np.float64)
        self._oi_bands = np.array([[self.settings.oi_bands[name]] for name, _, _ in self._windows])
        self._price_bands = np.array([[self.settings.price_bands[name]] for name, _, _ in self._windows])
        # per row, the figure now: coins, usd, price × usd (NaN: none), Σ funding_8h × USD, funded USD
        self._current: Floats = np.full((64, CURRENT), NAN)
        self._rows = 0  # rows ever given out
        self._free: list[int] = []
        self._recorded: list[tuple[int, float, float, float, float]] = []  # (row, sample) not yet pushed
        self._settled = -math.inf  # the latest snapshot's time: no later instant is before it − W
        self._symbols: dict[str, _Symbol] = {}  # every symbol with a pair, counted now or not
        self._present: dict[str, _Symbol] = {}  # those in the last snapshot
        self._taken: dict[str, _Taken] = {}  # by source, the figures of its counted reading
        self.changes: dict[str, Changes] = {}
        self._swept_ms = 0

    def record(self, symbol: str, source: str, point: Point) -> None:
        """Add one (symbol, source) value from history (taken in at the next ``flush`` or
        ``observe``, all at once: seeding records a day of values per pair)."""
        pair = self._pair(symbol, source)
        coins = NAN if point.coins is None else point.coins
        px = NAN if point.price is None else point.price * point.usd
        self._recorded.append((pair.row, point.t, coins, point.usd, px))

    def flush(self, now_ms: int) -> None:
        """Push the recorded values, no snapshot to come being before ``now_ms``: each pair's in
        the order recorded, the n-th value of every pair in one push."""
        self._settled = max(self._settled, float(now_ms))
        if not self._recorded:
            return
        recorded = np.array(self._recorded, dtype=np.float64)
        self._recorded = []
        rows = recorded[:, 0].astype(np.int64)
        order = np.argsort(rows, kind="stable")
        ranks = np.empty(len(rows), dtype=np.int64)
        sorted_rows = rows[order]
        starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
        counts = np.diff(np.r_[starts, len(rows)])
        ranks[order] = np.arange(len(rows)) - np.repeat(starts, counts)
        by_rank = np.argsort(ranks, kind="stable")
        bounds = np.searchsorted(ranks[by_rank], np.arange(int(counts.max()) + 1))
        for first, last in pairwise(bounds.tolist()):
            chosen = by_rank[first:last]
            self._push(rows[chosen], recorded[chosen, 1:], live=False)

    def _push(self, rows: Ints, samples: Floats, *, live: bool) -> None:
        for trails in self._trails:
            trails.push(rows, samples, live=live, settled=self._settled)

    def _state(self, symbol: str) -> _Symbol:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _Symbol()
        return state

    def _pair(self, symbol: str, source: str) -> _Pair:
        state = self._state(symbol)
        return state.pairs.get(source) or self._add(state, symbol, source)

    def _add(self, state: _Symbol, symbol: str, source: str) -> _Pair:
        if self._free:
            row = self._free.pop()
        else:
            row = self._rows
            self._rows += 1
            if row >= len(self._current):
                self._current = np.concatenate([self._current, np.full((len(self._current), CURRENT), NAN)])
            for trails in self._trails:
                trails.add_rows(row + 1)
        pair = state.pairs[source] = _Pair(symbol, source, row)
        insort(state.ordered, pair, key=lambda p: p.source)
        return pair

    def _drop(self, state: _Symbol, pair: _Pair) -> None:
        del state.pairs[pair.source]
        state.ordered.remove(pair)
        for trails in self._trails:
            trails.clear(pair.row)
        self._current[pair.row] = NAN
        self._free.append(pair.row)

    def observe(self, snapshot: Snapshot) -> dict[str, Changes]:
        """Take a snapshot; every symbol's changes (the same tuple objects where unchanged)."""
        now_ms = snapshot.built_at_ms
        self.flush(now_ms)
        recount: dict[str, _Symbol] = {}
        rows, samples = self._take(snapshot.sources or by_source(snapshot.symbols), recount)
        for state in recount.values():
            _count(state)
        present = self._present
        for symbol in present.keys() - snapshot.symbols.keys():
            state = present.pop(symbol)
            state.total = None
            state.computed_at = None
            self.changes.pop(symbol, None)
        every = self.settings.min_recompute_ms
        due: list[_Symbol] = []
        for symbol, total in snapshot.symbols.items():
            held = present.get(symbol)
            if held is None:
                state = present[symbol] = self._state(symbol)
            elif held.total is total:
                continue
            else:
                state = held
            state.total = total
            if state.computed_at is None or now_ms - state.computed_at >= every:
                state.computed_at = now_ms
                due.append(state)
        if rows:
            pushed = np.concatenate(rows)
            values = np.concatenate(samples)
            self._current[pushed] = values[:, 1:]
            self._push(pushed, values[:, :FIELDS], live=True)
        if due:
            self._compute(due, now_ms)
        if now_ms - self._swept_ms >= SWEEP_MS:
            self._swept_ms = now_ms
            self._forget_gone(snapshot)
        return self.changes

    def _take(
        self, sources: Mapping[str, SourceFigures], recount: dict[str, _Symbol]
    ) -> tuple[list[Ints], list[Floats]]:
        """The rows whose figures are new, and their samples, source by source; ``recount``
        gets the symbols whose counted sources changed. A source whose reading is the one taken
        costs one comparison; a new reading of the same symbols, one array of which are new."""
        rows: list[Ints] = []
        samples: list[Floats] = []
        for source in self._taken.keys() - sources.keys():
            self._uncount(self._taken.pop(source).pairs, recount)
        for source, figures in sources.items():
            taken = self._taken.get(source)
            if taken is not None and taken.figures is figures:
                continue
            symbols = list(figures.figures)
            values = np.frombuffer(figures.samples).reshape(len(symbols), SAMPLE_FIELDS)
            if taken is not None and symbols == taken.symbols:
                before = taken.figures.figures.values()
                new = np.fromiter(map(is_not, figures.figures.values(), before), np.bool_, len(symbols))
                taken.figures = figures
            else:
                held = {} if taken is None else taken.figures.figures
                new = np.fromiter(
                    (held.get(symbol) is not figure for symbol, figure in figures.figures.items()),
                    np.bool_,
                    len(symbols),
                )
                if taken is not None:
                    self._uncount(taken.pairs, recount)
                pairs = [self._pair(symbol, source) for symbol in symbols]
                for pair in pairs:
                    pair.counted = True
                    recount[pair.symbol] = self._symbols[pair.symbol]
                taken = self._taken[source] = _Taken(figures, symbols, pairs)
            rows.append(taken.rows[new])
            samples.append(values[new])
        return rows, samples

    def _uncount(self, pairs: Iterable[_Pair], recount: dict[str, _Symbol]) -> None:
        for pair in pairs:
            pair.counted = False
            recount[pair.symbol] = self._symbols[pair.symbol]

    def _compute(self, due: list[_Symbol], now_ms: int) -> None:
        """Every window of the ``due`` symbols: each window's cursors moved to its instant, the
        past values found, then ``compare``'s sums and arithmetic for every (window, symbol)."""
        for state in due:
            assert state.total is not None
            if not len(state.counted):
                self.changes[state.total.symbol] = ()
        due = [state for state in due if len(state.counted)]
        if not due:
            return
        rows = np.concatenate([state.counted for state in due])
        past = np.empty((len(self._trails), len(rows), FIELDS))
        held = np.empty((len(self._trails), len(rows)), dtype=np.bool_)
        for index, trails in enumerate(self._trails):
            trails.move(rows, now_ms - trails.window_ms)
            past[index], held[index] = trails.pasts(rows)
        instants = now_ms - self._window_ms
        compared = held & (past[:, :, T] <= instants) & (past[:, :, T] >= instants - self._tolerance)
        counts = np.array([len(state.counted) for state in due])
        current = self._current[rows]
        sums = _sums(past, compared, current, counts)
        funding = _Funding(current[:, 3], current[:, 4], counts)
        totals = [state.total for state in due if state.total is not None]
        for total, answer in zip(totals, self._answers(totals, sums, funding, now_ms), strict=True):
            self.changes[total.symbol] = answer

    def _answers(
        self, totals: Sequence[SymbolTotal], sums: _Sums, funding_of: _Funding, now_ms: int
    ) -> list[Changes]:
        """``compare``'s arithmetic over every (window, symbol) at once, then its ``Change``s."""
        usd = np.array([total.total_oi_usd for total in totals])
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (sums.sources > 0) & (sums.usd_then > 0) & (sums.usd_now > 0)
            has_oi = (sums.coin_sources > 0) & (sums.coins_then > 0)
            oi_pct = 100.0 * (sums.coins_now / sums.coins_then - 1.0)
            oi_usd_pct = 100.0 * (sums.usd_now / sums.usd_then - 1.0)
            price_then = sums.px_then / sums.w_then
            price_now = sums.px_now / sums.w_now
            has_price = (sums.w_then > 0) & (sums.w_now > 0) & (price_then != 0)
            price_pct = 100.0 * (price_now / price_then - 1.0)
            shown = has_price & (price_now != 0)  # (then, now) shown where both are non-zero
            coverage = np.where(usd > 0, sums.usd_now / usd, 0.0)
            coins_coverage = np.where(usd > 0, sums.coins_usd / usd, 0.0)
        oi_move = np.where(has_oi, oi_pct, oi_usd_pct)
        # ``label`` and ``crowding``, as codes into SIGNALS and CROWDINGS
        flat = ~has_price | (np.abs(oi_move) <= self._oi_bands) | (np.abs(price_pct) <= self._price_bands)
        labels = np.where(flat, 0, 1 + 2 * (oi_move <= 0) + (price_pct <= 0))
        rising = ok & (oi_move > self._oi_bands)
        funding = np.full(len(totals), NAN)  # worked out for the symbols some window may call crowded
        threshold = self.settings.crowding_threshold
        for index in np.flatnonzero(rising.any(axis=0) & funding_of.may_reach(threshold)).tolist():
            funding[index] = funding_of.rate(index)
        longs, shorts = rising & (funding >= threshold), rising & (funding <= -threshold)
        crowded = np.where(longs, 1, np.where(shorts, 2, 0))  # (as ``crowding``: longs first)
        # every answered (window, symbol), symbol by symbol, each symbol's windows in order; the
        # fields are read off the arrays one at a time as the Changes are made (no list of each
        # field: ~15 lists of 4,500 items made the cyclic GC traverse them at every collection)
        symbol_at, window_at = np.nonzero(ok.T)
        at = window_at, symbol_at
        changes = map(
            Change,
            self._names[window_at],
            _shown(oi_pct[at], has_oi[at]),
            _each(oi_usd_pct[at]),
            _shown(price_pct[at], has_price[at]),
            SIGNALS[labels[at]],
            CROWDINGS[crowded[at]],
            repeat(now_ms),
            np.array([now_ms - ms for _, ms, _ in self._windows], dtype=object)[window_at],
            _each(sums.oldest[at].astype(np.int64)),
            _then_now(sums.coins_then[at], sums.coins_now[at], has_oi[at]),
            _then_now(sums.usd_then[at], sums.usd_now[at], None),
            _then_now(price_then[at], price_now[at], shown[at]),
            _each(coverage[at]),
            _each(coins_coverage[at]),
            _each(sums.sources[at].astype(np.int64)),
        )
        return [tuple(islice(changes, count)) for count in np.count_nonzero(ok, axis=0).tolist()]

    def _forget_gone(self, snapshot: Snapshot) -> None:
        """Drop the pairs no longer counted whose newest value is past every window."""
        horizon = snapshot.built_at_ms - max(ms + tol for _, ms, tol in self._windows)
        longest = self._trails[-1]
        for symbol, state in list(self._symbols.items()):
            for pair in list(state.ordered):
                newest = longest.newest(pair.row)
                if not pair.counted and (newest is None or newest < horizon):
                    self._drop(state, pair)
            if not state.pairs and symbol not in self._present:
                del self._symbols[symbol]

    def sample_count(self) -> int:
        """Samples held over every trail (for the memory figures)."""
        rows = np.arange(self._rows, dtype=np.int64)
        return sum(trails.held(rows) for trails in self._trails)


class _Funding:
    """The computed symbols' funding: each pair's Σ funding_8h × USD and funded USD, the symbols'
    pairs one after the other (``counts`` per symbol)."""

    def __init__(self, funding_x_usd: Floats, funded_usd: Floats, counts: Ints) -> None:
        self.funding_x_usd = funding_x_usd.tolist()
        self.funded_usd = funded_usd.tolist()
        ends = np.cumsum(counts)
        self.ends = ends.tolist()
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = np.where(funded_usd > 0, np.abs(funding_x_usd) / funded_usd, 0.0)
        self.largest = np.maximum.reduceat(rates, ends - counts)  # the largest |rate| of one pair
        self.unbounded = np.minimum.reduceat(funded_usd, ends - counts) < 0  # (never, with OI ≥ 0)

    def may_reach(self, threshold: float) -> Flags:
        """The symbols whose funding can be at or beyond ±``threshold``: an OI-weighted mean is
        never larger than its largest term, so the others need no exact sum (the margin, 1e-9 of
        the threshold, is far beyond the rounding of either)."""
        return (self.largest >= threshold * (1 - 1e-9)) | self.unbounded

    def rate(self, symbol: int) -> float:
        """The symbol's OI-weighted funding per 8 h over all its markets (NaN where none has
        funding), each sum exactly rounded (``math.fsum``), as ``compare`` is given it."""
        first, end = self.ends[symbol - 1] if symbol else 0, self.ends[symbol]
        funded = math.fsum(self.funded_usd[first:end])
        return math.fsum(self.funding_x_usd[first:end]) / funded if funded > 0 else NAN


class _Sums(NamedTuple):
    """``compare``'s sums per (window, symbol): rows are windows, columns the symbols computed."""

    sources: Floats
    coin_sources: Floats
    usd_then: Floats
    usd_now: Floats
    coins_then: Floats
    coins_now: Floats
    coins_usd: Floats
    px_then: Floats
    w_then: Floats
    px_now: Floats
    w_now: Floats
    oldest: Floats


def _sums(past: Floats, compared: Flags, current: Floats, counts: Ints) -> _Sums:
    """``compare``'s sums for every (window, symbol). ``past``: per window, each pair's past
    sample (symbol by symbol, each symbol's sources in name order, ``counts`` per symbol);
    ``compared``: which are within their window's tolerance; ``current``: each pair's coins, USD
    and price × USD now. ``np.bincount`` adds each bin's weights in the order given, so every sum
    is taken in source order, as ``compare`` takes it (a source left out adds 0.0: no change)."""
    windows, pairs = compared.shape
    symbols = len(counts)
    coins_now, usd_now, px_now = current[:, 0], current[:, 1], current[:, 2]
    with_coins = compared & ~np.isnan(past[:, :, COINS]) & ~np.isnan(coins_now)
    priced = compared & ~np.isnan(past[:, :, PX]) & ~np.isnan(px_now)
    bins = (np.arange(windows)[:, None] * symbols + np.repeat(np.arange(symbols), counts)).ravel()

    def total(over: Flags, values: Floats) -> Floats:
        weights = np.where(over, values, 0.0).ravel()
        summed = np.bincount(bins, weights=weights, minlength=windows * symbols)
        return summed.reshape(windows, symbols).astype(np.float64, copy=False)

    ones = np.ones(pairs)
    starts = (np.arange(windows)[:, None] * pairs + (np.cumsum(counts) - counts)).ravel()
    oldest = np.minimum.reduceat(np.where(compared, past[:, :, T], math.inf).ravel(), starts)
    return _Sums(
        sources=total(compared, ones),
        coin_sources=total(with_coins, ones),
        usd_then=total(compared, past[:, :, USD]),
        usd_now=total(compared, usd_now),
        coins_then=total(with_coins, past[:, :, COINS]),
        coins_now=total(with_coins, coins_now),
        coins_usd=total(with_coins, usd_now),
        px_then=total(priced, past[:, :, PX]),
        w_then=total(priced, past[:, :, USD]),
        px_now=total(priced, px_now),
        w_now=total(priced, usd_now),
        oldest=oldest.reshape(windows, symbols),
    )


def _each(values: NDArray[Any]) -> Iterator[Any]:
    """The values one by one as Python numbers (a memoryview yields them without a list)."""
    return iter(values.data)


def _then_now(then: Floats, now: Floats, shown: Flags | None) -> Iterator[tuple[float, float] | None]:
    """(then, now) pairs, None where not ``shown`` (None: every one is)."""
    pairs = zip(_each(then), _each(now), strict=True)
    return pairs if shown is None else _where(pairs, shown)


def _shown(values: Floats, shown: Flags) -> Iterator[float | None]:
    """``values`` with None where not ``shown``."""
    return _where(_each(values), shown)


def _where(values: Iterator[Any], shown: Flags) -> Iterator[Any]:
    """Each value, or None where not ``shown``: ``(None, value)[show]`` taken by C iterators
    alone (a generator's frame per item cost about a third of making the answers)."""
    if shown.all():
        return values
    return map(getitem, zip(repeat(None), values), _each(shown))


def _count(state: _Symbol) -> None:
    """The symbol's counted sources changed: its rows, by source."""
    state.counted = np.array([pair.row for pair in state.ordered if pair.counted], dtype=np.int64)
