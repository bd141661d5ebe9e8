"""The latest good reading per source, turned into a new snapshot whenever the figures change.

Rebuilt after accepted readings and on a clock tick (so a silent source still drops out when it
goes stale). Readings that arrive within ``coalesce_s`` of each other share one rebuild: with 18
venues polled independently, a snapshot per reading would wake every watcher 18 times per poll
interval with nearly the same data; one snapshot per burst costs at most ``coalesce_s`` of
freshness. A rebuild whose figures equal the previous snapshot's publishes nothing: watchers are
woken only by real changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from server.core.aggregate import Aggregator, is_fresh
from server.core.model import Snapshot, VenueReading


class ReadingsBook:
    def __init__(
        self,
        *,
        stale_after_ms: Callable[[str], int],
        clock_ms: Callable[[], int],
        on_snapshot: Callable[[Snapshot], None],
        coalesce_s: float = 0.0,
    ) -> None:
        self._stale_after_ms = stale_after_ms
        self._clock_ms = clock_ms
        self._on_snapshot = on_snapshot
        self._coalesce_s = coalesce_s
        self._pending: asyncio.TimerHandle | None = None
        self.readings: dict[str, VenueReading] = {}
        self.last: Snapshot | None = None
        self._next_expiry_ms: int | None = None  # when the first counted reading goes stale
        self._aggregator = Aggregator()

    def accept(self, reading: VenueReading) -> None:
        self.readings[reading.source] = reading
        if self._coalesce_s <= 0:
            self.rebuild()
        elif self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._coalesce_s, self.rebuild)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def fresh_sources(self) -> list[str]:
        now = self._clock_ms()
        return [s for s, r in self.readings.items() if is_fresh(r, now, self._stale_after_ms(s))]

    def expire(self) -> None:
        """Rebuild only if a counted reading has gone stale since the last rebuild (the clock tick:
        re-aggregating an unchanged book every tick would cost more than the polls themselves)."""
        if self._next_expiry_ms is not None and self._clock_ms() > self._next_expiry_ms:
            self.rebuild()

    def rebuild(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        now = self._clock_ms()
        limits = {source: self._stale_after_ms(source) for source in self.readings}
        snapshot = self._aggregator.build(self.readings, now_ms=now, stale_after_ms=limits)
        deadlines = [
            r.fetched_at_ms + limits[s] for s, r in self.readings.items() if is_fresh(r, now, limits[s])
        ]
        self._next_expiry_ms = min(deadlines, default=None)
        if self.last is not None and snapshot.same_figures(self.last):
            return
        self.last = snapshot
        self._on_snapshot(snapshot)
