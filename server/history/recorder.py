"""Records what the service serves as candles, off the request path (issue 13).

Three tasks, none on a request's path:

- **sampler**: every ``sample_every_s`` (5 s) it takes the hub's latest snapshot, the one being
  served, and folds one sample per series (each symbol's aggregate, and each source of it) into
  the open 1-minute candles. Sampling the served state on a clock rather than per snapshot version
  bounds the work (at most one sample per series per 5 s, whatever the snapshot rate) and makes
  the bucket's funding a time-weighted mean; a series nobody serves gets no sample, so its minute
  is absent (a gap). When a minute ends, the closed 1-minute candles and the rollup candles they
  update (5m, 15m, 1h, 4h, 1d, each the whole open bucket so far) go to the writer as one batch.
- **writer**: upserts batches through the store. The queue holds at most ``max_queued_batches``
  minutes; a full queue drops its oldest minute (counted, logged once): memory never grows with
  an outage. Batches wait in the queue while the store fails and are retried with backoff, so an
  outage shorter than the queue loses nothing; past it, the dropped minutes stay a gap (their
  rollups are rewritten whole by the next minute of the same bucket). The first failure is
  logged in one line and the state says ``unavailable``; the first success after it logs once
  and writing carries on by itself.
- **retention**: hourly, ``delete_before`` per resolution with its configured age.

``stop()`` writes the open minute as it stands (and the rollups including it) within a bounded
time. ``start()`` continues the open buckets the store already holds (the open rollup buckets,
and the open minute when the service restarts within it), so a restart never overwrites a
bucket with the part recorded since; a store that opens only later (down at start) has its open
rollup buckets put in front of what was recorded meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeVar

from server.api.convert import PreparedSnapshot
from server.core.hub import SnapshotHub
from server.core.model import SymbolTotal
from server.history.candles import (
    ROLLUPS,
    Sample,
    SeriesKey,
    bucket_start,
    fold_minute,
    fold_sample,
    open_candle,
    symbol_samples,
)
from server.history.model import Candle, HistoryStore, HistoryUnavailable, Interval
from server.history.retention import DEFAULT_RETENTION_MS

log = logging.getLogger("oi.history")

R = TypeVar("R")

STEP_SERIES: Final = 100  # series folded between two yields to the event loop
# Candles per store call: a store turns candles into rows on the event loop before its own
# thread writes them; a whole minute at full scale (33,372) in one call held the loop for
# hundreds of milliseconds. A multiple of 6 (a 1m candle and its 5 rollups) keeps a series'
# candles of one minute in one transaction.
UPSERT_CHUNK: Final = 6 * 500
MAX_BATCH_CANDLES: Final = 100_000  # per upsert when catching up (one minute at full scale is ~35k)


class RecorderState(StrEnum):
    OK = "ok"  # the last store operation succeeded and nothing was lost recently
    DEGRADED = "degraded"  # writing, but catching up or minutes were dropped in the last hour
    UNAVAILABLE = "unavailable"  # the store fails (or never opened): history reads answer 503


@dataclass(frozen=True, slots=True, kw_only=True)
class RecorderStatus:
    """What ``GET /v1/history/status`` shows; every time is unix ms or None."""

    state: RecorderState
    store: str
    last_error: str | None
    last_error_at: int | None
    failures: int
    last_write_at: int | None
    last_write_duration_ms: float | None
    candles_written: int
    queue_depth: int
    queued_candles: int
    dropped_minutes: int
    dropped_candles: int
    open_series: int

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "store": self.store,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "failures": self.failures,
            "last_write_at": self.last_write_at,
            "last_write_duration_ms": self.last_write_duration_ms,
            "candles_written": self.candles_written,
            "queue_depth": self.queue_depth,
            "queued_candles": self.queued_candles,
            "dropped_minutes": self.dropped_minutes,
            "dropped_candles": self.dropped_candles,
            "open_series": self.open_series,
        }


class SnapshotSampler:
    """The samples of a prepared snapshot, at most one per series. A symbol whose ``SymbolTotal``
    is the same object as last time (the aggregator keeps unchanged symbols' objects) reuses its
    samples with the new time, so a tick costs in proportion to what changed."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[SymbolTotal, list[tuple[str, Sample]]]] = {}

    def __call__(self, prepared: PreparedSnapshot, t_ms: int) -> Iterator[tuple[SeriesKey, Sample]]:
        """The samples, lazily: a caller that yields between them spreads the work."""
        cache: dict[str, tuple[SymbolTotal, list[tuple[str, Sample]]]] = {}
        for symbol, piece in prepared.pieces.items():
            kept = self._cache.get(symbol)
            if kept is not None and kept[0] is piece.total:
                samples = [(source, _at(sample, t_ms)) for source, sample in kept[1]]
            else:
                samples = symbol_samples(
                    piece.total,
                    piece.stats,
                    total_cents=piece.row.total_cents,
                    source_cents={e.source: e.oi_usd_cents for e in piece.row.exchanges},
                    t_ms=t_ms,
                )
            cache[symbol] = (piece.total, samples)
            for source, sample in samples:
                yield (symbol, source), sample
        self._cache = cache


def _at(sample: Sample, t_ms: int) -> Sample:
    return Sample(
        t_ms=t_ms,
        oi_usd=sample.oi_usd,
        oi_coins=sample.oi_coins,
        price_usd=sample.price_usd,
        exchange_count=sample.exchange_count,
        funding_8h=sample.funding_8h,
    )


Extract = Callable[[PreparedSnapshot, int], Iterable[tuple[SeriesKey, Sample]]]
CandleKey = tuple[str, str, Interval, int]


class BatchQueue:
    """Minutes waiting for the writer, oldest first, at most ``capacity``: a full queue drops its
    oldest minute. The writer reads without taking (``pending``) and removes what it wrote
    (``done``), so a minute stays queued, and retried, until it is written or dropped."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._items: deque[tuple[int, list[Candle]]] = deque()
        self._seq = 0
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self.dropped_batches = 0
        self.dropped_candles = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def candles(self) -> int:
        return sum(len(batch) for _, batch in self._items)

    def put(self, batch: list[Candle]) -> bool:
        """Queue ``batch``; False when the oldest minute had to go to make room."""
        dropped = False
        while len(self._items) >= self.capacity:
            _, old = self._items.popleft()
            self.dropped_batches += 1
            self.dropped_candles += len(old)
            dropped = True
        self._seq += 1
        self._items.append((self._seq, batch))
        self._ready.set()
        self._empty.clear()
        return not dropped

    async def wait(self) -> None:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()

    def pending(self, max_candles: int) -> tuple[int, list[Candle]]:
        """(last sequence number, candles) of the oldest minutes, up to ``max_candles`` (at least
        one minute); a candle queued twice (a rollup rewritten each minute) is sent once, newest."""
        if len(self._items) == 1:  # the usual case: one minute, nothing to merge
            seq, batch = self._items[0]
            return seq, batch
        chosen: dict[CandleKey, Candle] = {}
        last = 0
        count = 0
        for seq, batch in self._items:
            if count and count + len(batch) > max_candles:
                break
            for candle in batch:
                chosen[(candle.symbol, candle.source, candle.interval, candle.t)] = candle
            count += len(batch)
            last = seq
        return last, list(chosen.values())

    def done(self, last_seq: int) -> None:
        """Forget every minute up to ``last_seq`` (written; those dropped meanwhile are gone)."""
        while self._items and self._items[0][0] <= last_seq:
            self._items.popleft()
        if not self._items:
            self._empty.set()

    async def drained(self) -> None:
        """Return once every queued minute is written (or dropped)."""
        await self._empty.wait()


class HistoryRecorder:
    """Follows ``hub`` and writes candles through ``store``; see the module docstring.

    Also the front doors' reader (``read``, ``has_symbol``): it answers HistoryUnavailable while
    the store is not open, and when the store does not answer within ``read_timeout_s``.
    """

    def __init__(
        self,
        store: HistoryStore,
        hub: SnapshotHub[PreparedSnapshot],
        clock_ms: Callable[[], int],
        *,
        describe: str = "history store",
        extract: Extract | None = None,
        sample_every_s: float = 5.0,
        retention_ms: Mapping[Interval, int | None] = DEFAULT_RETENTION_MS,
        retention_every_s: float = 3600.0,
        max_queued_batches: int = 30,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        open_timeout_s: float = 3.0,
        write_timeout_s: float = 30.0,
        read_timeout_s: float = 5.0,
        stop_timeout_s: float = 1.5,
        fatal: tuple[type[HistoryUnavailable], ...] = (),
        on_write: Callable[[float, bool], None] | None = None,
    ) -> None:
        self._store = store
        self._hub = hub
        self._clock_ms = clock_ms
        self._describe = describe
        self._extract: Extract = extract if extract is not None else SnapshotSampler()
        self._sample_every_s = sample_every_s
        self._retention_ms = dict(retention_ms)
        self._retention_every_s = retention_every_s
        self._backoff_s = backoff_s
        self._open_timeout_s = open_timeout_s
        self._write_timeout_s = write_timeout_s
        self._read_timeout_s = read_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._fatal = fatal
        self._on_write = on_write  # (seconds, ok) of each batch written or failed: the metrics' hook
        self.queue = BatchQueue(max_queued_batches)
        # the open minute's candles, and per (series, rollup) the open bucket with the version of
        # the open minute it already holds (a partial minute written at a shutdown, see fold_minute)
        self._minute: int | None = None
        self._open: dict[SeriesKey, Candle] = {}
        self._rollups: dict[tuple[SeriesKey, Interval], tuple[Candle, Candle | None]] = {}
        self._opened = False
        self._failing = False
        self._drop_logged = False
        self._last_error: str | None = None
        self._last_error_at: int | None = None
        self._failures = 0
        self._last_write_at: int | None = None
        self._last_write_duration_ms: float | None = None
        self._last_drop_at: int | None = None
        self._written = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and continue its open buckets (bounded in time: a store that cannot
        be reached leaves the state ``unavailable`` and the writer retrying), then start the tasks.
        A ``fatal`` error (another process holds the store) is raised instead, with nothing started."""
        try:
            async with asyncio.timeout(self._open_timeout_s):
                await self._store.open()
                self._opened = True
                await self._load(self._clock_ms())
        except self._fatal:
            with contextlib.suppress(Exception):
                await self._store.close()
            self._opened = False
            raise
        except (HistoryUnavailable, TimeoutError) as error:
            self._failed(error)
        self._tasks = [
            asyncio.create_task(self._sample_loop(), name="history-sampler"),
            asyncio.create_task(self._write_loop(), name="history-writer"),
            asyncio.create_task(self._retention_loop(), name="history-retention"),
        ]
        log.info("history recording to %s", self._describe, extra={"state": self.status().state.value})

    async def stop(self) -> None:
        """Write the open minute as it stands, wait for the writer up to ``stop_timeout_s`` in
        all, then close the store. Anything still queued then is lost (a gap)."""
        deadline = time.monotonic() + self._stop_timeout_s
        sampler, writer, retention = self._tasks or (None, None, None)
        self._stopping.set()  # the sampler finishes the observation it is in (closing a minute)
        if sampler is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._stop_timeout_s / 2):
                    await asyncio.shield(sampler)
            sampler.cancel()
        if retention is not None:
            retention.cancel()
        await asyncio.gather(*(t for t in (sampler, retention) if t is not None), return_exceptions=True)
        flushed = self._flush_batch()
        if flushed:
            self.queue.put(flushed)
        if writer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic() - 0.2)):
                    await self.queue.drained()
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        if len(self.queue):
            log.warning("history: %d minute(s) not written at shutdown (a gap)", len(self.queue))
        self._tasks = []
        if self._opened:
            self._opened = False
            with contextlib.suppress(HistoryUnavailable, TimeoutError):
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    await self._store.close()

    async def _load(self, now_ms: int) -> None:
        """Continue the buckets that are open now from what the store holds."""
        minute = bucket_start(now_ms, Interval.M1)
        for candle in await self._store.since(Interval.M1, minute):
            if candle.t == minute:
                self._open[(candle.symbol, candle.source)] = candle
        if self._open:
            self._minute = minute
        for interval in ROLLUPS:
            for candle in await self._store.since(interval, bucket_start(now_ms, interval)):
                key = (candle.symbol, candle.source)
                held = self._open.get(key)
                inside = held if held is not None and held.close_at_ms <= candle.close_at_ms else None
                self._rollups[(key, interval)] = (candle, inside)
        log.info(
            "history: continuing %d open minute(s) and %d open rollup bucket(s)",
            len(self._open),
            len(self._rollups),
        )

    async def _merge_stored(self, now_ms: int) -> None:
        """The store opened only after recording began (it was down at start): put what it holds
        of the open rollup buckets in front of what this run recorded since, so those buckets are
        continued rather than overwritten."""
        stored: list[tuple[Interval, Candle]] = []
        for interval in ROLLUPS:
            stored.extend(
                (interval, c) for c in await self._store.since(interval, bucket_start(now_ms, interval))
            )
        for interval, candle in stored:
            held_key = ((candle.symbol, candle.source), interval)
            held = self._rollups.get(held_key)
            if held is None:
                self._rollups[held_key] = (candle, None)
            elif held[0].t == candle.t and candle.close_at_ms < held[0].close_at_ms:
                self._rollups[held_key] = (fold_minute(candle, held[0], interval), held[1])

    # --- sampling and closing minutes ----------------------------------------------------------

    async def _sample_loop(self) -> None:
        """One observation every ``sample_every_s`` until ``stop()``, handing the event loop back
        every ``STEP_SERIES`` series: at full scale (5,562 series) one tick is tens of
        milliseconds of work and closing a minute more, which must never stall serving."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sample_every_s):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            for _ in self._observe_steps(self._hub.latest, self._clock_ms()):
                await asyncio.sleep(0)

    def observe(self, prepared: PreparedSnapshot, now_ms: int) -> None:
        """Close the open minute if ``now_ms`` is past it, then record ``prepared`` at ``now_ms``."""
        for _ in self._observe_steps(prepared, now_ms):
            pass

    def _observe_steps(self, prepared: PreparedSnapshot, now_ms: int) -> Iterator[None]:
        """``observe`` in steps: yields between slices of work (the caller may run others)."""
        minute = bucket_start(now_ms, Interval.M1)
        if self._minute is not None and minute < self._minute:
            return  # the clock stepped back: nothing is recorded into a closed minute
        if self._minute is not None and minute > self._minute:
            yield from self._close_steps(minute)
        self._minute = minute
        for count, (key, sample) in enumerate(self._extract(prepared, now_ms), 1):
            held = self._open.get(key)
            if held is None:
                self._open[key] = open_candle(key[0], key[1], sample)
            else:
                self._open[key] = fold_sample(held, sample)
            if count % STEP_SERIES == 0:
                yield

    def _close_steps(self, next_minute: int) -> Iterator[None]:
        closing, self._open = self._open, {}
        batch: list[Candle] = []
        for count, (key, minute) in enumerate(closing.items(), 1):
            batch.append(minute)
            for interval in ROLLUPS:
                updated = self._rolled(key, interval, minute)
                self._rollups[(key, interval)] = (updated, None)
                batch.append(updated)
            if count % STEP_SERIES == 0:
                yield
        ended = [held for held, (candle, _) in self._rollups.items() if candle.t + held[1].ms <= next_minute]
        for held in ended:
            del self._rollups[held]
        if batch:
            self._enqueue(batch)

    def _rolled(self, key: SeriesKey, interval: Interval, minute: Candle) -> Candle:
        held = self._rollups.get((key, interval))
        if held is None or held[0].t != bucket_start(minute.t, interval):
            return fold_minute(None, minute, interval)
        return fold_minute(held[0], minute, interval, replacing=held[1])

    def _flush_batch(self) -> list[Candle]:
        """The open minute as it stands, with the rollups including it (the state is left alone)."""
        batch: list[Candle] = []
        for key, minute in self._open.items():
            batch.append(minute)
            batch.extend(self._rolled(key, interval, minute) for interval in ROLLUPS)
        return batch

    def _enqueue(self, batch: list[Candle]) -> None:
        if not self.queue.put(batch):
            self._last_drop_at = self._clock_ms()
            if not self._drop_logged:
                self._drop_logged = True
                log.warning(
                    "history: write queue full (%d minutes); dropping the oldest minutes (they stay a gap)",
                    self.queue.capacity,
                )

    # --- writing -------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        delay = self._backoff_s[0]
        while True:
            await self.queue.wait()
            last_seq, candles = self.queue.pending(MAX_BATCH_CANDLES)
            started = time.perf_counter()
            try:
                if not self._opened:
                    async with asyncio.timeout(self._open_timeout_s):
                        await self._store.open()
                        await self._merge_stored(self._clock_ms())
                    self._opened = True
                for i in range(0, len(candles), UPSERT_CHUNK):
                    async with asyncio.timeout(self._write_timeout_s):
                        await self._store.upsert(candles[i : i + UPSERT_CHUNK])
            except Exception as error:  # HistoryUnavailable, a timeout, or a store bug: counted, retried
                if self._on_write is not None:
                    self._on_write(time.perf_counter() - started, False)
                self._failed(error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_s[1])
                continue
            delay = self._backoff_s[0]
            if self._on_write is not None:
                self._on_write(time.perf_counter() - started, True)
            self.queue.done(last_seq)
            self._written += len(candles)
            self._last_write_at = self._clock_ms()
            self._last_write_duration_ms = round((time.perf_counter() - started) * 1000, 3)
            self._recovered()

    def _failed(self, error: BaseException) -> None:
        message = str(error) or type(error).__name__
        if isinstance(error, TimeoutError):
            message = f"{self._describe} did not answer in time"
        elif not isinstance(error, HistoryUnavailable):
            message = f"{type(error).__name__}: {message}"
        self._failures += 1
        self._last_error = message.splitlines()[0][:300]
        self._last_error_at = self._clock_ms()
        if not self._failing:
            self._failing = True
            log.warning(
                "history store unavailable: %s; live endpoints keep serving, history answers 503, "
                "retrying with backoff",
                self._last_error,
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            self._drop_logged = False
            log.info("history store back: writing resumed (%d failed attempts so far)", self._failures)

    # --- retention -----------------------------------------------------------------------------

    async def _retention_loop(self) -> None:
        while True:
            if self._opened:
                await self.apply_retention(self._clock_ms())
            await asyncio.sleep(self._retention_every_s)

    async def apply_retention(self, now_ms: int) -> dict[Interval, int]:
        """Delete what is older than each resolution's retention; how many candles went, per
        resolution (a failure is counted like a failed write and retried next hour)."""
        deleted: dict[Interval, int] = {}
        for interval, keep_ms in self._retention_ms.items():
            if keep_ms is None:
                continue
            cutoff = bucket_start(now_ms - keep_ms, interval)
            try:
                async with asyncio.timeout(self._write_timeout_s):
                    deleted[interval] = await self._store.delete_before(interval, cutoff)
            except (HistoryUnavailable, TimeoutError) as error:
                self._failed(error)
                break
        if any(deleted.values()):
            log.info(
                "history retention: deleted %s",
                ", ".join(f"{n} {interval}" for interval, n in deleted.items() if n),
            )
        return deleted

    # --- what the front doors see --------------------------------------------------------------

    def status(self) -> RecorderStatus:
        now = self._clock_ms()
        if self._failing or not self._opened:
            state = RecorderState.UNAVAILABLE
        elif len(self.queue) > 2 or (self._last_drop_at is not None and now - self._last_drop_at < 3_600_000):
            state = RecorderState.DEGRADED
        else:
            state = RecorderState.OK
        return RecorderStatus(
            state=state,
            store=self._describe,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            failures=self._failures,
            last_write_at=self._last_write_at,
            last_write_duration_ms=self._last_write_duration_ms,
            candles_written=self._written,
            queue_depth=len(self.queue),
            queued_candles=self.queue.candles,
            dropped_minutes=self.queue.dropped_batches,
            dropped_candles=self.queue.dropped_candles,
            open_series=len(self._open),
        )

    def status_json(self) -> dict[str, object]:
        return self.status().as_json()

    async def read(
        self,
        *,
        symbol: str,
        source: str,
        interval: Interval,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> list[Candle]:
        self._check_open()
        return await self._bounded(
            self._store.read(
                symbol=symbol, source=source, interval=interval, start_ms=start_ms, end_ms=end_ms, limit=limit
            )
        )

    async def has_symbol(self, symbol: str) -> bool:
        self._check_open()
        return await self._bounded(self._store.has_symbol(symbol))

    def _check_open(self) -> None:
        if not self._opened:
            why = f": {self._last_error}" if self._last_error else ""
            raise HistoryUnavailable(f"{self._describe} is not open{why}")

    async def _bounded(self, call: Awaitable[R]) -> R:
        try:
            async with asyncio.timeout(self._read_timeout_s):
                return await call
        except TimeoutError:
            raise HistoryUnavailable(
                f"{self._describe} did not answer within {self._read_timeout_s:g} s"
            ) from None
