"""The latest good reading of every source: screened where it is accepted, and turned into a new
snapshot whenever the figures change.

A reading arrives with the staleness limit its source works to (3 × the source's effective poll
interval: data, not a call back into whoever polls). It is screened here against the source's
previous good reading and the other sources' latest prices (``core/quarantine.py``), because
this is where all of them are; the caller gets the ``Screened`` verdict to report, and a refused
reading leaves the previous one in place.

Rebuilt after accepted readings and on a clock tick (so a silent source still drops out when it
goes stale). Readings that arrive within ``coalesce_s`` of each other share one rebuild: with 18
venues polled independently, a snapshot per reading would wake every watcher 18 times per poll
interval with nearly the same data; one snapshot per burst costs at most ``coalesce_s`` of
freshness. A rebuild whose figures equal the previous snapshot's publishes nothing: watchers are
woken only by real changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from server.core import quarantine
from server.core.aggregate import Aggregator, is_fresh
from server.core.model import Snapshot, VenueReading
from server.core.quarantine import Screened


class Screen(Protocol):
    """``core.quarantine.screen``'s signature (injectable, so tests can make screening fail)."""

    def __call__(
        self,
        reading: VenueReading,
        *,
        previous: VenueReading | None,
        others: Iterable[VenueReading] = (),
        votes: Mapping[str, Mapping[str, float]] | None = None,
        skipped_symbols: Iterable[str] = (),
        stale_after_ms: int,
    ) -> Screened: ...


class Submit(Protocol):
    """How a poller hands over a fresh reading: ``LatestReadings.accept``, or a test's stand-in."""

    def __call__(
        self, reading: VenueReading, *, skipped_symbols: Sequence[str], stale_after_ms: int
    ) -> Screened: ...


class LatestReadings:
    def __init__(
        self,
        *,
        clock_ms: Callable[[], int],
        on_snapshot: Callable[[Snapshot], None],
        coalesce_s: float = 0.0,
        screen: Screen = quarantine.screen,
    ) -> None:
        self._clock_ms = clock_ms
        self._on_snapshot = on_snapshot
        self._coalesce_s = coalesce_s
        self._screen = screen
        self._pending: asyncio.TimerHandle | None = None
        self.readings: dict[str, VenueReading] = {}
        self.stale_after_ms: dict[str, int] = {}
        self._votes: dict[str, dict[str, float]] = {}  # each kept reading's price votes, made once
        self.last: Snapshot | None = None
        self._next_expiry_ms: int | None = None  # when the first counted reading goes stale
        self._aggregator = Aggregator()

    def accept(
        self, reading: VenueReading, *, skipped_symbols: Sequence[str] = (), stale_after_ms: int
    ) -> Screened:
        """Screen ``reading``; keep it (and schedule a rebuild) unless it is refused."""
        screened = self._screen(
            reading,
            previous=self.readings.get(reading.source),
            votes=self._votes,
            skipped_symbols=skipped_symbols,
            stale_after_ms=stale_after_ms,
        )
        if screened.refused is not None:
            return screened
        self.readings[reading.source] = screened.reading
        self._votes[reading.source] = quarantine.price_votes(screened.reading)
        self.stale_after_ms[reading.source] = stale_after_ms
        if self._coalesce_s <= 0:
            self.rebuild()
        elif self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._coalesce_s, self.rebuild)
        return screened

    def restore(self, readings: Mapping[str, VenueReading], stale_after_ms: Mapping[str, int]) -> None:
        """Take readings already screened elsewhere (a collector taking over from what the bus
        holds), with their true fetch times: a stale one drops out by the usual rule."""
        for source, reading in readings.items():
            self.readings[source] = reading
            self._votes[source] = quarantine.price_votes(reading)
            self.stale_after_ms[source] = stale_after_ms[source]
        self.rebuild()

    def counted(self) -> dict[str, VenueReading]:
        """The readings the last snapshot was built from."""
        return self._aggregator.counted()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def fresh_sources(self) -> list[str]:
        now = self._clock_ms()
        return [s for s, r in self.readings.items() if is_fresh(r, now, self.stale_after_ms[s])]

    def expire(self) -> None:
        """Rebuild only if a counted reading has gone stale since the last rebuild (the clock tick:
        re-aggregating unchanged readings every tick would cost more than the polls themselves)."""
        if self._next_expiry_ms is not None and self._clock_ms() > self._next_expiry_ms:
            self.rebuild()

    def rebuild(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        now = self._clock_ms()
        limits = self.stale_after_ms
        snapshot = self._aggregator.build(self.readings, now_ms=now, stale_after_ms=limits)
        deadlines = [
            r.fetched_at_ms + limits[s] for s, r in self.readings.items() if is_fresh(r, now, limits[s])
        ]
        self._next_expiry_ms = min(deadlines, default=None)
        if self.last is not None and snapshot.same_figures(self.last):
            return
        self.last = snapshot
        self._on_snapshot(snapshot)


def accept_all(sink: Callable[[VenueReading], object]) -> Submit:
    """A ``Submit`` that keeps every reading as it is (no screening): for tools and tests that
    want a poller's raw output."""

    def submit(reading: VenueReading, *, skipped_symbols: Sequence[str], stale_after_ms: int) -> Screened:
        sink(reading)
        return Screened(reading=reading, rejections=())

    return submit
