"""An API replica's copy of the collector's state, fed message by message. Pure: no I/O, the
clock is an argument.

Messages come in the order the collector wrote them (one JetStream stream), so when a
``snapshot`` record arrives the readings and signal windows it refers to are already here: the
replica then rebuilds that snapshot from those readings with the collector's own aggregation.
If the collector stops publishing, the replica's clock ages the counted readings out by the
usual rule (``expire``), so old figures are never served as fresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.bus.codec import Message, ReadingMessage, SignalsMessage, SnapshotMessage, StatusMessage
from server.core.aggregate import Aggregator, is_fresh
from server.core.model import Snapshot, VenueReading
from server.core.signals import Changes
from server.core.sources import SourceRecord


@dataclass(slots=True, kw_only=True)
class Built:
    """A snapshot the replica can publish, with the signal windows of its symbols and the bus
    version it stands for (None for a local rebuild: a source aged out)."""

    snapshot: Snapshot
    changes: dict[str, Changes]
    version: int | None


@dataclass(slots=True)
class ReplicaState:
    readings: dict[str, VenueReading] = field(default_factory=dict)
    stale_after_ms: dict[str, int] = field(default_factory=dict)
    records: dict[str, SourceRecord] = field(default_factory=dict)
    changes: dict[str, Changes] = field(default_factory=dict)
    meta: SnapshotMessage | None = None
    version: int = 0  # the last bus version built
    _aggregator: Aggregator = field(default_factory=Aggregator)
    _counted: frozenset[str] = frozenset()  # sources the last build counted
    _next_expiry_ms: int | None = None

    def apply(self, message: Message) -> SnapshotMessage | None:
        """Take one message; the ``snapshot`` record when it is one (the caller then builds)."""
        if isinstance(message, ReadingMessage):
            self.readings[message.reading.source] = message.reading
            self.stale_after_ms[message.reading.source] = message.stale_after_ms
        elif isinstance(message, StatusMessage):
            self.records[message.record.source] = message.record
        elif isinstance(message, SignalsMessage):
            self.changes[message.symbol] = message.changes
        else:
            self.meta = message
            return message
        return None

    def complete(self) -> bool:
        """A snapshot record is held and every reading it counted is here."""
        return self.meta is not None and all(s in self.readings for s in self.meta.counted)

    def build(self, now_ms: int | None = None) -> Built | None:
        """The snapshot of the last record, from the readings it counted: at its own build time,
        or at ``now_ms`` without the readings stale by then (``expire``). None until complete."""
        meta = self.meta
        if meta is None or not self.complete():
            return None
        at = meta.built_at_ms if now_ms is None else now_ms
        limits = {s: meta.stale_after_ms.get(s, self.stale_after_ms.get(s, 0)) for s in meta.counted}
        counted = {s: self.readings[s] for s in meta.counted}
        snapshot = self._aggregator.build(counted, now_ms=at, stale_after_ms=limits)
        fresh = [s for s, r in counted.items() if is_fresh(r, at, limits[s])]
        self._counted = frozenset(fresh)
        self._next_expiry_ms = min((counted[s].fetched_at_ms + limits[s] for s in fresh), default=None)
        changes = {symbol: self.changes[symbol] for symbol in snapshot.symbols if symbol in self.changes}
        if now_ms is None:
            self.version = meta.version
        return Built(snapshot=snapshot, changes=changes, version=meta.version if now_ms is None else None)

    def expire(self, now_ms: int) -> Built | None:
        """A rebuild at ``now_ms`` if a counted reading has gone stale since the last build."""
        if self._next_expiry_ms is None or now_ms <= self._next_expiry_ms:
            return None
        return self.build(now_ms)

    def fresh_sources(self, now_ms: int) -> list[str]:
        return [
            s
            for s in self._counted
            if s in self.readings and is_fresh(self.readings[s], now_ms, self.stale_after_ms.get(s, 0))
        ]
