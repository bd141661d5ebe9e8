"""The latest good reading per source, turned into a new snapshot whenever the figures change.

Rebuilt on every accepted reading and on a clock tick (so a silent source still drops out when it
goes stale). A rebuild whose figures equal the previous snapshot's publishes nothing: watchers
are woken only by real changes.
"""

from __future__ import annotations

from collections.abc import Callable

from server.core.aggregate import aggregate, is_fresh
from server.core.model import Snapshot, VenueReading


class ReadingsBook:
    def __init__(
        self,
        *,
        stale_after_ms: Callable[[str], int],
        clock_ms: Callable[[], int],
        on_snapshot: Callable[[Snapshot], None],
    ) -> None:
        self._stale_after_ms = stale_after_ms
        self._clock_ms = clock_ms
        self._on_snapshot = on_snapshot
        self.readings: dict[str, VenueReading] = {}
        self.last: Snapshot | None = None

    def accept(self, reading: VenueReading) -> None:
        self.readings[reading.source] = reading
        self.rebuild()

    def fresh_sources(self) -> list[str]:
        now = self._clock_ms()
        return [s for s, r in self.readings.items() if is_fresh(r, now, self._stale_after_ms(s))]

    def rebuild(self) -> None:
        snapshot = aggregate(
            self.readings,
            now_ms=self._clock_ms(),
            stale_after_ms={source: self._stale_after_ms(source) for source in self.readings},
        )
        if self.last is not None and snapshot.same_figures(self.last):
            return
        self.last = snapshot
        self._on_snapshot(snapshot)
